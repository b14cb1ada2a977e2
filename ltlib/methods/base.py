"""The standard stage-I objective that methods extend: sample, augment, forward, weighted loss.

An *objective* is what :func:`ltlib.train.fit` drives: ``start_epoch(epoch)`` draws the epoch's
index batches and returns the number of steps; ``loss(step, epoch)`` returns one step's loss.
Methods (SMART, CMO) subclass :class:`SupervisedObjective` and change only what they change:
which batches are drawn, how features are transformed at a seam, how samples are weighted.
"""
from __future__ import annotations

import torch

from ltlib.data import LongTailedData, Sampler
from ltlib.data.augment import Mixup, normalize, random_crop_flip
from ltlib.methods.losses import LongTailLoss, reduce_loss
from ltlib.methods.registry import register_method


@register_method("none")
class SupervisedObjective:
    """Stage I without a method: sampler -> crop/flip -> mixup -> model -> long-tailed loss."""

    @classmethod
    def from_config(cls, config, data: LongTailedData, model, generator: torch.Generator):
        """The objective of ``config`` (methods override this when they need more than the config)."""
        return cls(config, data, model, generator)

    def __init__(self, config, data: LongTailedData, model, generator: torch.Generator):
        self.config, self.data, self.model, self.generator = config, data, model, generator
        self.sampler = Sampler(config.sampler, data.train_labels, data.num_classes)
        self.loss_fn = LongTailLoss(config.loss, data.class_counts, config.drw_epoch)
        self.mixup = Mixup(config.mixup_alpha, config.seed)
        self.batches = None

    def state_dict(self) -> dict:
        """What the next epoch's randomness depends on (for checkpoints)."""
        return {"generator": self.generator.get_state(), "mixup": self.mixup.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.mixup.rng.setstate(state["mixup"])

    def start_epoch(self, epoch: int) -> int:
        self.batches = self.sampler.epoch_batches(self.config.batch_size, self.generator)
        return self.batches.shape[0]

    def augmented_batch(self, indices: torch.Tensor):
        """Normalised crop/flip images ``(B, 3, 32, 32)`` and labels ``(B,)`` of ``indices``."""
        images = random_crop_flip(self.data.train_images[indices], self.generator)
        return normalize(images), self.data.train_labels[indices]

    def weighted_loss(self, logits, targets, epoch: int, sample_weights=None) -> torch.Tensor:
        per_sample = self.loss_fn.per_sample(logits, targets)
        return reduce_loss(per_sample, targets, self.loss_fn.class_weights(epoch), sample_weights)

    def loss(self, step: int, epoch: int) -> torch.Tensor:
        inputs, targets = self.augmented_batch(self.batches[step])
        inputs, perm, lam = self.mixup(inputs, self.generator)
        logits = self.model(inputs)
        loss = self.weighted_loss(logits, targets, epoch)
        if lam < 1.0:
            loss = lam * loss + (1 - lam) * self.weighted_loss(logits, targets[perm], epoch)
        return loss
