"""Batched crop/flip equals torchvision's per-image semantics; mixup and normalisation."""
from __future__ import annotations

import torch
import torchvision.transforms.functional as TF

from ltlib.data.augment import CIFAR_MEAN, CIFAR_STD, Mixup, crop_flip_with, draw_crop_flip, normalize


def test_crop_flip_matches_torchvision_for_given_offsets():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=generator)
    offsets = torch.randint(0, 9, (16, 2), generator=generator)
    flips = torch.rand(16, generator=generator) < 0.5
    ours = crop_flip_with(images, offsets, flips)
    for i in range(16):
        padded = TF.pad(images[i], [4, 4, 4, 4], fill=0)  # RandomCrop(32, padding=4)'s zero fill
        expected = TF.crop(padded, int(offsets[i, 0]), int(offsets[i, 1]), 32, 32)
        if flips[i]:
            expected = TF.hflip(expected)
        assert torch.equal(ours[i], expected), i


def test_extreme_offsets_show_the_zero_padding():
    image = torch.full((1, 3, 32, 32), 200, dtype=torch.uint8)
    corner = crop_flip_with(image, torch.tensor([[0, 0]]), torch.tensor([False]))
    assert (corner[0, :, :4, :] == 0).all() and (corner[0, :, 4:, 4:] == 200).all()
    centre = crop_flip_with(image, torch.tensor([[4, 4]]), torch.tensor([False]))
    assert torch.equal(centre, image)


def test_random_offsets_cover_0_to_8_evenly_flip_half_the_time_and_move_the_image_as_drawn():
    images = torch.zeros(4000, 1, 32, 32, dtype=torch.uint8)
    images[:, :, 16, 16], images[:, :, 16, 17] = 255, 128  # an asymmetric marker: its place gives offset and flip
    offsets, flips = draw_crop_flip(len(images), torch.Generator().manual_seed(0), "cpu")
    out = crop_flip_with(images, offsets, flips)
    bright = (out[:, 0] == 255).nonzero()
    assert torch.equal(bright[:, 0], torch.arange(4000))  # every marker stays inside the crop, once
    row, col = bright[:, 1], bright[:, 2]
    seen_flipped = out[:, 0][torch.arange(4000), row, col - 1] == 128  # the dimmer pixel now left of the bright one
    # the marker sits at (20, 20) of the zero-padded image: a crop from (dy, dx) puts it at (20 - dy, 20 - dx),
    # and a flip of the crop moves column c to 31 - c
    dy, dx = 20 - row, torch.where(seen_flipped, col - 11, 20 - col)
    assert torch.equal(dy, offsets[:, 0]) and torch.equal(dx, offsets[:, 1]) and torch.equal(seen_flipped, flips)
    for drawn in (dy, dx):
        shares = torch.bincount(drawn, minlength=9) / len(drawn)
        assert len(shares) == 9 and torch.allclose(shares, torch.full((9,), 1 / 9), atol=0.02)
    assert abs(flips.float().mean().item() - 0.5) < 0.03


def test_normalize_uses_cifar_statistics():
    images = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = normalize(images)
    expected = [(1 - m) / s for m, s in zip(CIFAR_MEAN, CIFAR_STD)]
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor(expected))


def test_normalize_is_the_per_channel_formula_with_its_constants_made_once(monkeypatch):
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = torch.tensor(CIFAR_MEAN).view(1, -1, 1, 1), torch.tensor(CIFAR_STD).view(1, -1, 1, 1)
    expected = (images.float() / 255 - mean) / std
    assert torch.equal(normalize(images), expected)

    def copy_from_the_host(*args, **kwargs):
        raise AssertionError("normalize made a tensor from a Python list again")

    monkeypatch.setattr(torch, "tensor", copy_from_the_host)  # a training step must not wait for such a copy
    assert torch.equal(normalize(images), expected)


def test_normalize_traces_as_one_graph_even_when_it_makes_its_constants():
    images = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    mean, std = (0.25, 0.5, 0.75), (0.5, 0.25, 0.125)  # not yet made: the trace makes them
    traced = torch.compile(normalize, backend="eager", fullgraph=True)
    expected = (images.float() / 255 - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    assert torch.equal(traced(images, mean, std), expected) and torch.equal(traced(images, mean, std), expected)


def test_mixup_is_a_convex_combination_and_off_at_alpha_zero():
    inputs = torch.randn(8, 3)
    draws = Mixup(1.0, seed=0).draws(8, torch.Generator().manual_seed(0), "cpu")
    mixed, perm, lam = Mixup.mix(inputs, draws), draws["perm"], float(draws["lam"])
    assert 0 < lam < 1
    torch.testing.assert_close(mixed, lam * inputs + (1 - lam) * inputs[perm])
    off = Mixup(0.0, seed=0).draws(8, torch.Generator(), "cpu")
    same, one = Mixup.mix(inputs, off), float(off["lam"])
    assert one == 1.0 and torch.equal(same, inputs)
