"""The 2-D toy runs the library's own SMART and H2T code and shows their effects."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from ltlib import toy
from ltlib.methods.h2t import fusion_channels
from ltlib.methods.smart import share_weights, transfer_covariance


def test_toy_data_is_long_tailed_and_two_dimensional():
    data = toy.toy_data()
    assert data.train_images.shape == (sum(toy.TOY_COUNTS), 2) and data.class_counts == toy.TOY_COUNTS
    assert torch.bincount(data.test_labels).tolist() == [100] * len(toy.TOY_COUNTS)


def test_a_smart_step_augments_only_tail_samples_of_the_tail_batch_with_eq11_weights():
    data = toy.toy_data()
    _, objective = toy.train_toy(toy.toy_config(method="smart", epochs=3), data)
    view = toy.smart_step_view(objective)
    tail = ~objective.transfer.is_head[torch.as_tensor(view["labels"])].numpy()
    from_tail_batch = np.arange(len(view["labels"])) < objective.branch_size
    assert view["augmented"].any() and not (view["augmented"] & ~(tail & from_tail_batch)).any()
    weights = view["weights"]
    assert (weights[~view["augmented"]] == 1).all()
    assert view["covariances"].shape == (5, 2, 2) and view["transfer"].shape == (2, 2)
    covariances = torch.as_tensor(view["covariances"])
    for i in np.flatnonzero(view["augmented"]):  # Eq. 11 (share form) of the sample's own tail-head pair
        y, h = int(view["labels"][i]), int(view["heads"][i])
        assert objective.transfer.is_head[h] and not objective.transfer.is_head[y]
        sigma_th = transfer_covariance(covariances[[y]], covariances[[h]], objective.transfer.tau, "both", True)
        assert weights[i] == pytest.approx(float(share_weights(sigma_th)[0]), rel=1e-5)
    tail_class, head_class = view["pair"]
    assert not objective.transfer.is_head[tail_class] and objective.transfer.is_head[head_class]
    torch.testing.assert_close(torch.as_tensor(view["transfer"]),
                               transfer_covariance(covariances[[tail_class]], covariances[[head_class]],
                                                   objective.transfer.tau, "both", True)[0])


def test_h2t_on_two_channels_replaces_int_p_d_of_them_and_moves_the_boundary():
    assert [len(fusion_channels(p, 2, "random", torch.Generator().manual_seed(0))) for p in (0, 0.25, 0.5, 1)] == \
        [0, 0, 1, 2]
    data = toy.toy_data()
    model, _ = toy.train_toy(toy.toy_config(epochs=10), data)
    dr, fused = toy.retrain_classifier(model, data, 0.0, epochs=5), toy.retrain_classifier(model, data, 1.0, epochs=5)
    for name, value in model.state_dict().items():  # stage II never touches the backbone
        if not name.startswith("classifier"):
            assert torch.equal(value, dr.state_dict()[name]) and torch.equal(value, fused.state_dict()[name])
    assert not torch.equal(dr.classifier.weight, fused.classifier.weight)
    with torch.no_grad():  # the regions moved: the two classifiers label many test points differently
        moved = (dr(data.test_images).argmax(1) != fused(data.test_images).argmax(1)).float().mean()
    assert moved > 0.1
