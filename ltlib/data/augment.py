"""Batched tensor augmentation: CIFAR crop + flip, normalisation and mixup, on any device.

:func:`draw_crop_flip` and :func:`crop_flip_with` reproduce torchvision's ``RandomCrop(32, padding=4)``
(zero fill) followed by ``RandomHorizontalFlip()`` for a whole uint8 batch at once: each image gets its own
offsets ``dy, dx`` uniform in ``0..2*padding`` and its own coin for the flip.

Every augmentation is split in two: a *draw* (random numbers from a generator or the host, made eagerly
before a training step) and an *application* (tensor arithmetic on the draws, no randomness, no host
read-back), so the application can be compiled into one graph with the rest of the step
(:mod:`ltlib.fast`). A step's batch travels as a dict: ``raw`` uint8 images with their ``offsets`` and
``flips`` (in-memory data), or finished ``images`` (streamed data, augmented by loader workers; points of the
2-D toy), and ``targets``; :func:`batch_images` turns either into normalised float images.
"""
from __future__ import annotations

import random

import torch

#: the normalisation every CIFAR-LT peer uses (LDAM-DRW and descendants)
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2023, 0.1994, 0.2010)


def crop_flip_with(images: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                   padding: int = 4) -> torch.Tensor:
    """Crop and flip ``images`` ``(B, C, H, W)`` with given ``offsets`` ``(B, 2)`` = (dy, dx) into the
    zero-padded image and boolean ``flips`` ``(B,)``; returns ``(B, C, H, W)``, same dtype."""
    batch, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (padding, padding, padding, padding))
    rows = offsets[:, 0, None] + torch.arange(height, device=images.device)  # (B, H)
    cols = offsets[:, 1, None] + torch.arange(width, device=images.device)  # (B, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)  # flipping the crop = reading columns backwards
    batch_index = torch.arange(batch, device=images.device)[:, None, None]
    cropped = padded[batch_index, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return cropped.permute(0, 3, 1, 2)


def draw_crop_flip(batch: int, generator: torch.Generator, device, padding: int = 4,
                   positions: torch.Tensor | None = None, total: int | None = None):
    """The draws of ``RandomCrop`` + ``RandomHorizontalFlip`` for ``batch`` images: ``offsets`` ``(B, 2)`` in
    ``0..2*padding`` and ``flips`` ``(B,)``, on ``device``.

    Under data parallelism the batch is this process's share of a global batch of ``total`` images at
    ``positions`` ``(B,)``: the draws are made for the whole global batch (the same on every process) and
    each image gets the draw of its global position, so the ranks together augment exactly as one process.
    """
    drawn = batch if positions is None else total
    offsets = torch.randint(0, 2 * padding + 1, (drawn, 2), generator=generator, device=generator.device)
    flips = torch.rand(drawn, generator=generator, device=generator.device) < 0.5
    if positions is not None:
        chosen = positions.to(generator.device)
        offsets, flips = offsets[chosen], flips[chosen]
    return offsets.to(device), flips.to(device)


def batch_images(batch: dict) -> torch.Tensor:
    """Normalised float images ``(B, C, H, W)`` of a step's ``batch`` dict (see the module docstring): its
    finished ``images``, or its ``raw`` uint8 images cropped and flipped by their draws, then normalised."""
    if "images" in batch:
        return batch["images"]
    raw = batch["raw"]
    if "offsets" in batch:
        raw = crop_flip_with(raw, batch["offsets"], batch["flips"])
    return normalize(raw)


def normalize(images: torch.Tensor, mean=CIFAR_MEAN, std=CIFAR_STD) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float ``(B, C, H, W)``: ``(x / 255 - mean) / std`` per channel."""
    mean_t, std_t = _channel_statistics(images.device, torch.get_default_dtype(), tuple(mean), tuple(std))
    return (images.float() / 255.0 - mean_t) / std_t


_STATISTICS: dict = {}


def _channel_statistics(device: torch.device, dtype: torch.dtype, mean: tuple, std: tuple) -> tuple:
    """``mean`` and ``std`` as ``(1, C, 1, 1)`` tensors on ``device``, made once: a tensor made from a Python
    list on every call would be a copy from the host that every training step waits for."""
    key = (device, dtype, mean, std)
    if key not in _STATISTICS:
        _STATISTICS[key] = tuple(torch.tensor(values, device=device, dtype=dtype).view(1, -1, 1, 1)
                                 for values in (mean, std))
    return _STATISTICS[key]


class Mixup:
    """Mixup (Zhang et al. 2018) as the peers apply it: one ``lam ~ Beta(alpha, alpha)`` per batch,
    images mixed with a random permutation of the batch; the loss is
    ``lam * L(y) + (1 - lam) * L(y[perm])``. ``alpha = 0`` disables it (``lam = 1``)."""

    def __init__(self, alpha: float, seed: int):
        if alpha < 0:
            raise ValueError(f"mixup_alpha must be >= 0, got {alpha}")
        self.alpha = alpha
        self.rng = random.Random(seed)  # host-side scalar draws need no device sync

    def draw(self) -> float:
        return self.rng.betavariate(self.alpha, self.alpha) if self.alpha > 0 else 1.0

    def draws(self, batch: int, generator: torch.Generator, device, layout=None) -> dict:
        """One step's draws: ``lam`` and ``rest = 1 - lam`` (0-dim tensors on ``device``, both computed on the
        host in double precision) and the permutation ``perm`` ``(B,)``.

        Under data parallelism (``layout`` of this process's share of a global batch) the permutation is
        drawn for the global batch, the same on every process, and each process pairs its own images in
        the order of their draws (images cannot be mixed across processes)."""
        lam = self.draw()
        if layout is None or layout.total == batch:
            perm = torch.randperm(batch, generator=generator, device=generator.device).to(device)
        else:
            drawn = torch.randperm(layout.total, generator=generator, device=generator.device)
            perm = torch.argsort(drawn[layout.positions.to(drawn.device)]).to(device)
        # torch.full writes the value on the device: no copy from the host that the step would wait for
        return {"lam": torch.full((), lam, device=device), "rest": torch.full((), 1.0 - lam, device=device),
                "perm": perm}

    @staticmethod
    def mix(inputs: torch.Tensor, draws: dict) -> torch.Tensor:
        """``lam * x + (1 - lam) * x[perm]``."""
        return draws["lam"] * inputs + draws["rest"] * inputs[draws["perm"]]
