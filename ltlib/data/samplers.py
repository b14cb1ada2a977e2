"""Batch index samplers for long-tailed training, on any device.

Each sampler is described by the probability ``q_c`` of drawing class ``c``; inside a class
every image is equally likely, so an image of class ``c`` has weight ``q_c / n_c``:

* ``instance``: ``q_c = n_c / N`` (uniform over images; drawn as a permutation per epoch,
  i.e. without replacement, as a shuffled ``DataLoader`` does);
* ``balanced``: ``q_c = 1 / C`` (class-balanced; with replacement);
* ``reverse``:  ``q_c ∝ 1 / n_c`` (tail-biased, BBN's reversed sampler; with replacement).

All three serve stage I, stage II, and the second branch of SMART and H2T.
"""
from __future__ import annotations

import torch

from ltlib.checks import one_of

SAMPLERS = ("instance", "balanced", "reverse")


def check_sampler(name: str) -> str:
    return one_of("sampler", name, SAMPLERS)


def class_probabilities(name: str, class_counts) -> torch.Tensor:
    """``q_c`` of sampler ``name`` for ``class_counts`` (float64, sums to 1)."""
    check_sampler(name)
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    if (counts <= 0).any():
        raise ValueError(f"every class needs at least one image, got counts {counts.tolist()}")
    weights = {"instance": counts, "balanced": torch.ones_like(counts), "reverse": 1.0 / counts}[name]
    return weights / weights.sum()


class Sampler:
    """Draws index batches into a dataset of labels ``labels`` (``(N,)`` long tensor).

    ``epoch_batches(batch_size, generator)`` returns a ``(steps, batch_size)`` long tensor with
    ``steps = N // batch_size`` (the last partial batch is dropped so every step has the same
    shape), on ``labels.device``.
    """

    def __init__(self, name: str, labels: torch.Tensor, num_classes: int):
        self.name = check_sampler(name)
        self.labels = labels
        counts = torch.bincount(labels.cpu(), minlength=num_classes)
        self.class_counts = counts
        probs = class_probabilities(name, counts.clamp(min=1)) * (counts > 0)
        probs = probs / probs.sum()
        self.sample_weights = (probs / counts.clamp(min=1))[labels.cpu()].to(torch.float32).to(labels.device)

    def epoch_batches(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        num = self.labels.numel()
        if batch_size > num:
            raise ValueError(f"batch_size {batch_size} is larger than the dataset ({num} images)")
        steps = num // batch_size
        device = self.labels.device
        if self.name == "instance":
            order = torch.randperm(num, generator=generator, device=generator.device).to(device)
        else:
            order = torch.multinomial(self.sample_weights.to(generator.device), steps * batch_size,
                                      replacement=True, generator=generator).to(device)
        return order[: steps * batch_size].view(steps, batch_size)
