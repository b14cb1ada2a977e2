"""CMO's CutMix box, its paste and area-mixed loss in a real step, its epoch window and its samplers."""
from __future__ import annotations

import random

import torch

from ltlib.methods.cmo import background_share, box_mask, cutmix_box


def test_box_area_follows_lambda_when_not_clipped():
    rng = random.Random(0)
    areas = []
    for _ in range(2000):
        y0, y1, x0, x1 = cutmix_box(0.75, 32, 32, rng)  # side sqrt(0.25) = half the image
        assert 0 <= y0 <= y1 <= 32 and 0 <= x0 <= x1 <= 32
        areas.append((y1 - y0) * (x1 - x0))
    assert max(areas) == 16 * 16 and min(areas) < 16 * 16  # clipped at the borders sometimes


def test_box_mask_marks_the_box_and_the_background_share_is_the_rest():
    mask = box_mask((2, 6, 0, 4), 8, 8, "cpu")
    assert mask[2:6, 0:4].all() and mask.sum() == 16
    assert background_share((2, 6, 0, 4), 8, 8) == 1 - 16 / 64


def cmo_objective(**changes):
    """A CmoObjective on the tiny synthetic data whose network records its input and returns fixed logits (a
    linear map of each image's mean colour), so the loss has a reference computed here."""
    from ltlib.methods.cmo import CmoObjective
    from ltlib.models import build_model
    from test_train import tiny_config, tiny_data

    config = tiny_config(method="cmo", epochs=10, cmo_skip_epochs=3, **changes)
    objective = CmoObjective.from_config(config, tiny_data(), build_model("resnet32", 3),
                                         torch.Generator().manual_seed(0))
    weights, seen = torch.randn(3, 3, generator=torch.Generator().manual_seed(1)), []

    def network(images):
        seen.append(images.clone())
        return images.mean(dim=(2, 3)) @ weights

    objective.network = network
    return objective, seen, weights


def test_cmo_pastes_the_foreground_box_onto_the_background_and_mixes_the_loss_by_area():
    import torch.nn.functional as F

    from ltlib.data.augment import batch_images

    objective, seen, weights = cmo_objective(cmo_prob=1.0)
    partial = 0
    for epoch in (4, 5, 6):
        for step in range(objective.start_epoch(epoch)):
            inputs = objective.step_inputs(step, epoch)
            cutmix = inputs["cutmix"]
            box, foreground = cutmix["box"], batch_images(cutmix["foreground"])
            background = batch_images(inputs)
            loss = objective.compute(inputs)
            pasted = seen[-1]
            assert torch.equal(pasted[:, :, box], foreground[:, :, box])  # inside the box: the foreground image
            assert torch.equal(pasted[:, :, ~box], background[:, :, ~box])  # outside: the background image
            rows, cols = box.any(dim=1).nonzero(), box.any(dim=0).nonzero()
            if len(rows):  # one rectangle
                assert box.sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
            lam = 1 - box.sum().item() / box.numel()
            partial += 0 < lam < 1
            logits = pasted.mean(dim=(2, 3)) @ weights
            expected = (lam * F.cross_entropy(logits, inputs["targets"])
                        + (1 - lam) * F.cross_entropy(logits, cutmix["foreground"]["targets"]))
            assert torch.allclose(loss, expected, atol=1e-6)
    assert partial >= 10  # most of the 15 steps cut a box that is neither empty nor the whole image


def test_cmo_mixes_only_inside_its_epoch_window_with_probability_cmo_prob_and_a_balanced_foreground():
    objective, _, _ = cmo_objective(cmo_prob=0.5)
    assert [epoch for epoch in range(10) if objective.active(epoch)] == [4, 5, 6]  # 3 < e < 10 - 3, as CMO's code
    objective.start_epoch(0)
    assert "cutmix" not in objective.step_inputs(0, 0)
    boxes, foreground, background = [], [], []
    for _ in range(80):
        for step in range(objective.start_epoch(5)):
            inputs = objective.step_inputs(step, 5)
            boxes.append(bool(inputs["cutmix"]["box"].any()))
            foreground.append(inputs["cutmix"]["foreground"]["targets"])
            background.append(inputs["targets"])
    assert 0.4 < sum(boxes) / len(boxes) < 0.6  # 400 coins of p = 0.5 (Beta(1, 1) boxes are rarely empty)
    shares = lambda labels: torch.bincount(torch.cat(labels), minlength=3) / torch.cat(labels).numel()  # noqa: E731
    assert torch.allclose(shares(foreground), torch.full((3,), 1 / 3), atol=0.04)  # classes equally likely
    assert torch.allclose(shares(background), torch.tensor([24, 12, 6]) / 42, atol=0.04)  # the instance sampler
    never, _, _ = cmo_objective(cmo_prob=0.0)
    never.start_epoch(5)
    inputs = never.step_inputs(0, 5)
    assert not inputs["cutmix"]["box"].any() and inputs["cutmix"]["lam"] == 1 and inputs["cutmix"]["rest"] == 0
