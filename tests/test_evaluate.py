"""Accuracy, splits, confusion and margins against hand-made cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ltlib.data.longtail import splits_by_counts
from ltlib.evaluate import (confusion_matrix, per_class_accuracy, per_class_margins, sample_margins,
                            split_accuracy)
from ltlib.models.seams import NormedLinear


def test_confusion_and_per_class_accuracy():
    labels = np.array([0, 0, 1, 1, 1, 2])
    predictions = np.array([0, 1, 1, 1, 0, 0])
    matrix = confusion_matrix(predictions, labels, 3)
    assert matrix.tolist() == [[1, 1, 0], [1, 2, 0], [1, 0, 0]]
    np.testing.assert_allclose(per_class_accuracy(predictions, labels, 3), [0.5, 2 / 3, 0.0])


def test_split_accuracy_names_its_rule_and_handles_empty_splits():
    splits = splits_by_counts([500, 50, 40])
    result = split_accuracy(np.array([1.0, 0.5, 0.0]), splits)
    assert result["many"] == 100.0 and result["medium"] == 25.0 and result["few"] is None
    assert result["rule"].startswith("counts") and result["few_classes"] == 0


def test_margin_is_the_signed_distance_to_the_rival_boundary():
    classifier = torch.nn.Linear(2, 3)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[1.0, 0.0], [-1.0, 0.0], [-3.0, 0.0]]))
        classifier.bias.zero_()
    features = torch.tensor([[2.0, 0.0], [2.0, 0.0]])
    labels = torch.tensor([0, 1])
    # class 0 vs its strongest rival 1: boundary x = 0, so distance 2; class 1 sample sits at -2
    torch.testing.assert_close(sample_margins(features, labels, classifier), torch.tensor([2.0, -2.0]))
    margins = per_class_margins(features, labels, classifier, 3)
    assert margins[0] == 2.0 and margins[1] == -2.0 and math.isnan(margins[2])


def test_cosine_classifier_margins_use_normalised_features():
    classifier = NormedLinear(2, 2)
    with torch.no_grad():
        classifier.weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 1.0]]))
    features = torch.tensor([[10.0, 0.0]])
    expected = (1.0 - 0.0) / math.sqrt(2.0)  # unit vectors (1,0) and (0,1)
    torch.testing.assert_close(sample_margins(features, torch.tensor([0]), classifier), torch.tensor([expected]))


def test_prediction_frequency_of_tail_samples():
    from ltlib.evaluate import prediction_frequency

    confusion = np.array([[5, 0, 0], [1, 3, 0], [2, 1, 1]])
    np.testing.assert_allclose(prediction_frequency(confusion, [1, 2]), [37.5, 50.0, 12.5])


def test_into_similar_heads_marks_each_tail_image_predicted_as_one_of_its_similar_heads():
    from ltlib.evaluate import decode_outcomes, encode_outcomes, into_similar_heads
    from ltlib.results import Result

    rng = np.random.default_rng(0)
    classes, heads, tails = 10, [0, 1, 2, 3], [4, 6, 7, 9]
    neighbours = np.array([rng.permutation(heads)[:2] for _ in range(classes)])  # two similar heads per class
    labels, predictions = rng.integers(0, classes, 500), rng.integers(0, classes, 500)
    expected = [predictions[i] in neighbours[labels[i]] for i in range(500) if labels[i] in tails]
    found = into_similar_heads(labels, predictions, neighbours, tails)
    assert found.dtype == bool and found.tolist() == expected and 0 < found.sum() < found.size
    # the stored predictions a notebook reads through Result.test_predictions feed it unchanged
    result = Result(config=None, metrics={"test_outcomes": encode_outcomes(predictions, labels)}, folder=None)
    assert result.test_predictions.tolist() == predictions.tolist() == decode_outcomes(
        result.metrics["test_outcomes"])[0].tolist()
    with pytest.raises(ValueError, match="same images"):
        into_similar_heads(labels, predictions[:-1], neighbours, tails)
