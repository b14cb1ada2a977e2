"""Sampler class frequencies over many draws, and their batch shapes."""
from __future__ import annotations

import pytest
import torch

from ltlib.data.samplers import Sampler, class_probabilities

COUNTS = [400, 150, 60, 20, 5]


def labels_for(counts):
    return torch.repeat_interleave(torch.arange(len(counts)), torch.tensor(counts))


def test_class_probabilities_formulas():
    counts = torch.tensor(COUNTS, dtype=torch.float64)
    torch.testing.assert_close(class_probabilities("instance", COUNTS), counts / counts.sum())
    torch.testing.assert_close(class_probabilities("balanced", COUNTS), torch.full((5,), 0.2, dtype=torch.float64))
    reverse = (1 / counts) / (1 / counts).sum()
    torch.testing.assert_close(class_probabilities("reverse", COUNTS), reverse)


@pytest.mark.parametrize("name", ["instance", "balanced", "reverse"])
def test_empirical_class_frequencies(name):
    """Over 200 epochs (~24k draws) each class frequency is within 0.01 of q_c (> 5 sigma)."""
    labels = labels_for(COUNTS)
    sampler = Sampler(name, labels, len(COUNTS))
    generator = torch.Generator().manual_seed(0)
    draws = torch.cat([sampler.epoch_batches(32, generator).flatten() for _ in range(200)])
    frequency = torch.bincount(labels[draws], minlength=5).double() / draws.numel()
    expected = class_probabilities(name, COUNTS)
    assert (frequency - expected).abs().max() < 0.01, (frequency, expected)


def test_instance_epoch_is_a_permutation_without_replacement():
    labels = labels_for(COUNTS)
    batches = Sampler("instance", labels, 5).epoch_batches(7, torch.Generator().manual_seed(1))
    assert batches.shape == (len(labels) // 7, 7)
    assert batches.flatten().unique().numel() == batches.numel()


def test_within_class_draws_are_uniform():
    labels = labels_for([2, 1000])
    sampler = Sampler("balanced", labels, 2)
    draws = torch.cat([sampler.epoch_batches(100, torch.Generator().manual_seed(s)).flatten() for s in range(20)])
    tail_draws = draws[draws < 2]
    share = (tail_draws == 0).double().mean()
    assert abs(share - 0.5) < 0.03  # both images of the tiny class are used equally


def test_batch_larger_than_dataset():
    with pytest.raises(ValueError, match="batch_size 500 is larger than the dataset"):
        Sampler("instance", labels_for([3, 2]), 2).epoch_batches(500, torch.Generator())


def test_unknown_sampler():
    with pytest.raises(ValueError, match="unknown sampler 'square'.*instance, balanced, reverse"):
        Sampler("square", labels_for([3, 2]), 2)
