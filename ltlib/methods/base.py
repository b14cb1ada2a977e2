"""The standard stage-I objective that methods extend: sample, augment, forward, weighted loss.

An *objective* is what :func:`ltlib.train.fit` drives: ``start_epoch(epoch)`` draws the epoch's
index batches and returns the number of steps; ``loss(step, epoch)`` returns one step's loss.
Methods (SMART, CMO) subclass :class:`SupervisedObjective` and change only what they change:
which batches are drawn, how features are transformed at a seam, how samples are weighted.

Every objective draws the *global* index batches of an epoch (the same on every process) and keeps
this process's share (:meth:`SupervisedObjective.draw`); it reads their images through a stream
(:mod:`ltlib.data.streaming`: in-memory CIFAR tensors or files decoded by loader workers) and calls the
network through ``self.network``, which is the model itself or its ``DistributedDataParallel`` wrapper.
"""
from __future__ import annotations

import torch

from ltlib.data import LongTailedData, Sampler
from ltlib.data.augment import Mixup, normalize, random_crop_flip
from ltlib.data.streaming import Layout, TensorStream
from ltlib.distributed import rank_and_world, shard_positions
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
        self.network = model  # what the loss calls: the model, or its DistributedDataParallel wrapper
        self.augment = True  # crop/flip (stage II may turn it off)
        self.batches, self.layout, self.stream = None, None, None

    def state_dict(self) -> dict:
        """What the next epoch's randomness depends on (for checkpoints)."""
        return {"generator": self.generator.get_state(), "mixup": self.mixup.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.mixup.rng.setstate(state["mixup"])

    def start_epoch(self, epoch: int) -> int:
        self.batches, self.layout = self.draw(self.sampler, self.config.batch_size)
        self.stream = self.open_stream("main", self.batches, self.layout)
        return self.batches.shape[0]

    def draw(self, sampler: Sampler, size: int) -> tuple[torch.Tensor, Layout]:
        """This process's share ``(steps, size / world)`` of ``sampler``'s global index batches of ``size``
        (the whole batches in one process) and where it sits in them."""
        rank, world = rank_and_world()
        batches = sampler.epoch_batches(size, self.generator)
        if world == 1:
            return batches, Layout.whole(size)
        positions = shard_positions(size, rank, world)
        return batches[:, positions.to(batches.device)], Layout(positions, size)

    def open_stream(self, name: str, batches: torch.Tensor, layout: Layout, augment: bool | None = None):
        """A stream over ``batches``: decoded from files for streaming data, else read from memory."""
        augment = self.augment if augment is None else augment
        if getattr(self.data, "streaming", False):
            return self.data.stream(name, batches, layout, self.generator, augment)
        return TensorStream(batches, layout, self.augmented_batch if augment else self.plain_batch)

    def augmented_batch(self, indices: torch.Tensor, layout: Layout | None = None):
        """Normalised crop/flip images ``(B, 3, 32, 32)`` and labels ``(B,)`` of ``indices``."""
        positions, total = (None, None) if layout is None or layout.total == len(indices) else (
            layout.positions, layout.total)
        images = random_crop_flip(self.data.train_images[indices], self.generator, positions=positions, total=total)
        return normalize(images), self.data.train_labels[indices]

    def plain_batch(self, indices: torch.Tensor, layout: Layout | None = None):
        """Normalised images and labels of ``indices`` without augmentation."""
        return normalize(self.data.train_images[indices]), self.data.train_labels[indices]

    def weighted_loss(self, logits, targets, epoch: int, sample_weights=None) -> torch.Tensor:
        per_sample = self.loss_fn.per_sample(logits, targets)
        return reduce_loss(per_sample, targets, self.loss_fn.class_weights(epoch), sample_weights)

    def loss(self, step: int, epoch: int) -> torch.Tensor:
        inputs, targets = self.stream[step]
        inputs, perm, lam = self.mixup(inputs, self.generator, self.layout)
        logits = self.network(inputs)
        loss = self.weighted_loss(logits, targets, epoch)
        if lam < 1.0:
            loss = lam * loss + (1 - lam) * self.weighted_loss(logits, targets[perm], epoch)
        return loss
