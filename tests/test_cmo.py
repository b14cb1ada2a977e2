"""CMO's CutMix box, area-mixed labels and its sampling."""
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


def test_paste_copies_the_box_and_returns_the_background_share():
    background = torch.zeros(2, 3, 8, 8)
    foreground = torch.ones(2, 3, 8, 8)
    box = (2, 6, 0, 4)
    mixed = torch.where(box_mask(box, 8, 8, "cpu"), foreground, background)  # the paste of CmoObjective.compute
    lam = background_share(box, 8, 8)
    assert mixed[:, :, 2:6, 0:4].eq(1).all() and mixed.sum() == 2 * 3 * 16
    assert lam == 1 - 16 / 64
    assert background.sum() == 0  # inputs untouched
