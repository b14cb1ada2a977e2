"""The standard stage-I objective that methods extend: sample, augment, forward, weighted loss.

An *objective* is what :func:`ltlib.train.fit` drives: ``start_epoch(epoch)`` draws the epoch's
index batches and returns the number of steps; ``loss(step, epoch)`` returns one step's loss.
Methods (SMART, CMO) subclass :class:`SupervisedObjective` and change only what they change:
which batches are drawn, how features are transformed at a seam, how samples are weighted.

**A step in two parts.** ``loss(step, epoch)`` is ``compute(step_inputs(step, epoch))``:

* :meth:`~SupervisedObjective.step_inputs` does everything random or host-side, eagerly: it reads the
  step's batch (images and the draws of their augmentation), draws mixup's ``lam`` and permutation, CMO's
  box, SMART's head classes or H2T's channels, and looks up what the epoch decides (DRW's class weights).
  It returns a dict of tensors of fixed shapes (plus ``None`` or sub-dicts that change at most from one
  epoch to the next);
* :meth:`~SupervisedObjective.compute` is tensor arithmetic on that dict: augmentation, mixing, the
  network with its seam hooks, the loss. No randomness, no host read-back, no branch on a drawn value,
  so the fast path can compile it, backward included, as one graph and replay it as a CUDA graph
  (:func:`ltlib.fast.accelerate_objective`); eager ``compute`` stays the reference.

Every objective draws the *global* index batches of an epoch (the same on every process) and keeps
this process's share (:meth:`SupervisedObjective.draw`); it reads their images through a stream
(:mod:`ltlib.data.streaming`: in-memory CIFAR tensors or files decoded by loader workers) and calls the
network through ``self.network``, which is the model itself or its ``DistributedDataParallel`` wrapper.
"""
from __future__ import annotations

import torch

from ltlib.data import LongTailedData, Sampler
from ltlib.data.augment import Mixup, batch_images, draw_crop_flip
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
        self.loss_fn = LongTailLoss(config.loss, data.class_counts, config.drw_epoch).to(data.train_labels.device)
        self.mixup = Mixup(config.mixup_alpha, config.seed)
        self.network = model  # what the loss calls: the model, or its DistributedDataParallel wrapper
        self.augment = True  # crop/flip (stage II may turn it off)
        self.batches, self.layout, self.stream = None, None, None
        self.compiled_compute = None  # the fast path's compiled compute (ltlib.fast.accelerate_objective)
        self.stepped = False  # the first step runs eagerly (it may create state, e.g. SMART's statistics)

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
        positions = shard_positions(size, rank, world).to(batches.device)  # on the device: steps copy nothing
        return batches[:, positions], Layout(positions, size)

    def open_stream(self, name: str, batches: torch.Tensor, layout: Layout, augment: bool | None = None):
        """A stream over ``batches``: decoded from files for streaming data, else read from memory."""
        augment = self.augment if augment is None else augment
        if getattr(self.data, "streaming", False):
            return self.data.stream(name, batches, layout, self.generator, augment)
        return TensorStream(batches, layout, lambda indices, where: self.read_batch(indices, where, augment))

    def read_batch(self, indices: torch.Tensor, layout: Layout | None = None, augment: bool = True) -> dict:
        """The batch dict of in-memory ``indices`` (:mod:`ltlib.data.augment`): ``raw`` uint8 images
        ``(B, 3, 32, 32)``, the draws ``offsets`` / ``flips`` of their crop and flip when ``augment``, ``targets``."""
        batch = {"raw": self.data.train_images[indices], "targets": self.data.train_labels[indices]}
        if augment:
            positions, total = (None, None) if layout is None or layout.total == len(indices) else (
                layout.positions, layout.total)
            batch["offsets"], batch["flips"] = draw_crop_flip(len(indices), self.generator, batch["raw"].device,
                                                              positions=positions, total=total)
        return batch

    def augmented_batch(self, indices: torch.Tensor, layout: Layout | None = None):
        """Normalised crop/flip images ``(B, 3, 32, 32)`` and labels ``(B,)`` of ``indices``."""
        batch = self.read_batch(indices, layout, augment=True)
        return batch_images(batch), batch["targets"]

    def plain_batch(self, indices: torch.Tensor, layout: Layout | None = None):
        """Normalised images and labels of ``indices`` without augmentation."""
        batch = self.read_batch(indices, layout, augment=False)
        return batch_images(batch), batch["targets"]

    def weighted_loss(self, logits, targets, class_weights=None, sample_weights=None) -> torch.Tensor:
        """The long-tailed loss of ``logits``, reduced with the epoch's ``class_weights`` (DRW, or None)."""
        return reduce_loss(self.loss_fn.per_sample(logits, targets), targets, class_weights, sample_weights)

    def step_inputs(self, step: int, epoch: int) -> dict:
        """Everything random or host-side of a step (module docstring): the batch, DRW's class weights of
        the epoch, and mixup's draws when mixup is on."""
        inputs = self.stream.inputs(step)
        inputs["class_weights"] = self.loss_fn.class_weights(epoch)
        if self.mixup.alpha > 0:
            targets = inputs["targets"]
            inputs["mixup"] = self.mixup.draws(targets.shape[0], self.generator, targets.device, self.layout)
        return inputs

    def compute(self, inputs: dict) -> torch.Tensor:
        """The step's loss from its inputs: crop/flip, mixup, the network, ``lam * L(y) + (1 - lam) * L(y[perm])``."""
        images, targets, weights = batch_images(inputs), inputs["targets"], inputs["class_weights"]
        mixup = inputs.get("mixup")
        if mixup is None:
            return self.weighted_loss(self.network(images), targets, weights)
        logits = self.network(Mixup.mix(images, mixup))
        return (mixup["lam"] * self.weighted_loss(logits, targets, weights)
                + mixup["rest"] * self.weighted_loss(logits, targets[mixup["perm"]], weights))

    def loss(self, step: int, epoch: int) -> torch.Tensor:
        """One step's loss: :meth:`compute` of :meth:`step_inputs`, compiled after the first step on the
        fast path's whole-step scope."""
        inputs = self.step_inputs(step, epoch)
        if self.compiled_compute is not None and self.stepped:
            return self.compiled_compute(inputs)
        self.stepped = True
        if self.compiled_compute is not None:  # the eager first step of the step scope compiles no stage graph
            with torch.compiler.set_stance("force_eager"):  # (it would be built for this one step and never used)
                return self.compute(inputs)
        return self.compute(inputs)

    def static_state(self) -> list[torch.Tensor]:
        """Tensors that ``compute`` updates in place (method state, e.g. SMART's statistics): a CUDA graph
        keeps them at fixed addresses (:func:`ltlib.fast.accelerate_objective`)."""
        return []
