"""H2T: feature fusion from head to tail (AAAI 2024, §3.3, Eq. 1-2, Algorithm 1), in stage II.

Stage II re-trains only the classifier of a stage-I model (decoupling, after cRT of Kang et al. 2020, but
fine-tuned from stage I's classifier as H2T's Algorithm 1 and official code do, where cRT re-initialises it).
Each step draws two batches:

* the **fused** branch: a class-balanced batch ``(x^B, y^B)`` (Eq. 2, ``p_i^B = 1/C``); its labels
  are the targets (no label mixing);
* the **fusing** branch: a batch from the ``fusing_sampler``: ``instance`` (IS, default, Eq. 2
  ``p_i^I = n_i / N``), ``balanced`` (CS) or ``reverse`` (RS) — Table 5.

Both pass the frozen backbone up to a seam (default: the last map before pooling). Eq. 1 then
replaces ``int(p * d)`` of the fused map's ``d`` channels with the fusing map's channels (H2T's
official code, Listing 1: ``x1[:, index] = x2[:, index]`` with ``int(rho * d)`` channels; the
paper's text says ``[d * p]`` with rounding and draws the masks the other way round — we follow
the code). The channel set is drawn once per batch; ``selection`` picks it (Table 7):

* ``random``: a uniformly random set of ``k = int(p * d)`` channels (default);
* ``first``: channels ``0 .. k-1``; ``middle``: ``(d-k)//2 .. (d-k)//2 + k - 1``; ``last``: ``d-k .. d-1``.

``p = 0`` is plain cRT (DR); ``p = 1`` replaces every channel.
"""
from __future__ import annotations

import torch

from ltlib.checks import require, require_one_of
from ltlib.data import Sampler
from ltlib.data.augment import batch_images, normalize
from ltlib.methods.base import SupervisedObjective

SELECTIONS = ("random", "first", "middle", "last")


def fused_channel_count(p: float, channels: int) -> int:
    require(0 <= p <= 1, "h2t_p", p, "must be in [0, 1]")
    return int(p * channels)


def fusion_channels(p: float, channels: int, selection: str, generator: torch.Generator) -> torch.Tensor:
    """Indices of the ``int(p * channels)`` channels to take from the fusing branch."""
    count = fused_channel_count(p, channels)
    if selection == "random":
        return torch.randperm(channels, generator=generator, device=generator.device)[:count]
    require_one_of("h2t_selection", selection, SELECTIONS)
    starts = {"first": 0, "middle": (channels - count) // 2, "last": channels - count}
    return torch.arange(starts[selection], starts[selection] + count, device=generator.device)


def channel_mask(channels: torch.Tensor, count: int, device) -> torch.Tensor:
    """Boolean ``(count,)``: True at the indices ``channels``."""
    mask = torch.zeros(count, dtype=torch.bool, device=device)
    mask[channels.to(device)] = True
    return mask


def fuse(fused: torch.Tensor, fusing: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """Eq. 1: ``fused`` ``(B, d, H, W)`` with ``channels`` (indices, or a boolean mask ``(d,)``) replaced by
    ``fusing``'s (a new tensor)."""
    if fused.shape != fusing.shape:
        raise ValueError(f"fused {tuple(fused.shape)} and fusing {tuple(fusing.shape)} maps differ in shape")
    mask = channels if channels.dtype == torch.bool else channel_mask(channels, fused.shape[1], fused.device)
    return torch.where(mask.view(1, -1, *([1] * (fused.dim() - 2))), fusing, fused)


class StageTwoObjective(SupervisedObjective):
    """cRT (``p = 0``) and H2T: frozen backbone to ``seam``, fusion, then the trainable rest."""

    def __init__(self, config, data, model, generator, seam: str):
        super().__init__(config, data, model, generator)  # self.sampler: the fused branch's sampler
        self.seam = seam
        self.augment = config.augment
        self.fusing_sampler = Sampler(config.h2t_fusing_sampler, data.train_labels, data.num_classes)
        self.fusing, self.fusing_stream = None, None
        self.feature_bank = None  # seam maps of every training image, when they cannot change
        self.channels = None  # channels d of the seam's map (seam_channels), for the fusion's channel mask

    def start_epoch(self, epoch: int) -> int:
        steps = super().start_epoch(epoch)
        self.fusing, layout = self.draw(self.fusing_sampler, self.config.batch_size)
        if self.config.h2t_p > 0:
            self.fusing_stream = self.open_stream("fusing", self.fusing, layout)
        return steps

    def uses_bank(self) -> bool:
        """Without augmentation, with the backbone's BatchNorm in eval mode and in-memory data the seam maps
        never change: they are computed once for the whole training set and indexed afterwards."""
        return not (self.config.augment or self.config.bn_train or getattr(self.data, "streaming", False))

    def bank(self) -> torch.Tensor:
        if self.feature_bank is None:
            with torch.no_grad():
                everything = torch.arange(self.data.train_labels.numel(), device=self.data.train_labels.device)
                self.feature_bank = torch.cat([self.model.forward_to(self.plain_batch(chunk)[0], self.seam)
                                               for chunk in everything.split(512)])
        return self.feature_bank

    def branch_inputs(self, stream, indices: torch.Tensor, step: int) -> dict:
        """One branch's batch: its bank ``features`` when they cannot change, else its images and draws."""
        if self.uses_bank():
            return {"features": self.bank()[indices], "targets": self.data.train_labels[indices]}
        return stream.inputs(step)

    def step_inputs(self, step: int, epoch: int) -> dict:
        """The fused (class-balanced) branch, whose labels are the targets, and for ``p > 0`` the fusing
        branch with this step's channel mask ``(d,)`` (Eq. 1; drawn once per batch)."""
        inputs = self.branch_inputs(self.stream, self.batches[step], step)
        inputs["class_weights"] = self.loss_fn.class_weights(epoch)
        if self.config.h2t_p > 0:
            inputs["fusing"] = self.branch_inputs(self.fusing_stream, self.fusing[step], step)
            if self.channels is None:
                self.channels = self.seam_channels(inputs)
            device = inputs["targets"].device
            channels = fusion_channels(self.config.h2t_p, self.channels, self.config.h2t_selection, self.generator)
            inputs["channels"] = channel_mask(channels, self.channels, device)
        return inputs

    def seam_channels(self, batch: dict) -> int:
        """``d`` of the seam's map: the classifier's input at the pre-pool seam; elsewhere from one image through
        the backbone in eval mode (no BatchNorm statistics change) with every module's mode restored."""
        if "features" in batch:
            return batch["features"].shape[1]
        if self.seam == self.model.prepool_seam:  # pooling keeps the channels the classifier reads
            return self.model.feature_dim
        modes = [(module, module.training) for module in self.model.modules()]
        self.model.eval()
        try:
            with torch.no_grad():
                return self.model.forward_to(batch_images(batch)[:1], self.seam).shape[1]
        finally:
            for module, training in modes:
                module.training = training

    def backbone_map(self, batch: dict) -> torch.Tensor:
        """The frozen backbone's map at the seam for one branch's batch."""
        if "features" in batch:
            return batch["features"]
        with torch.no_grad():
            return self.model.forward_to(batch_images(batch), self.seam)

    def compute(self, inputs: dict) -> torch.Tensor:
        features = self.backbone_map(inputs)
        if "fusing" in inputs:
            features = fuse(features, self.backbone_map(inputs["fusing"]), inputs["channels"])
        return self.weighted_loss(self.network(features, start=self.seam), inputs["targets"], inputs["class_weights"])


@torch.no_grad()
def fused_pooled_features(model, data, config, batches: int, generator: torch.Generator):
    """H2T Fig. 5 / 11 data: pooled features of ``batches`` class-balanced training batches after
    fusion with ``config.h2t_p`` (no augmentation, backbone in eval mode), their labels and the
    classifier's predictions. ``(N, D)``, ``(N,)``, ``(N,)`` on the CPU. The model's train/eval mode is restored."""
    was_training = model.training
    model.eval()
    seam = model.prepool_seam if config.h2t_seam == "prepool" else model.check_seam(config.h2t_seam)
    fused_sampler = Sampler(config.sampler, data.train_labels, data.num_classes)
    fusing_sampler = Sampler(config.h2t_fusing_sampler, data.train_labels, data.num_classes)
    fused_idx = fused_sampler.epoch_batches(config.batch_size, generator)[:batches]
    fusing_idx = fusing_sampler.epoch_batches(config.batch_size, generator)[:batches]
    features, labels = [], []
    for a, b in zip(fused_idx, fusing_idx):
        maps = model.forward_to(normalize(data.train_images[a]), seam)
        if config.h2t_p > 0:
            other = model.forward_to(normalize(data.train_images[b]), seam)
            maps = fuse(maps, other, fusion_channels(config.h2t_p, maps.shape[1], config.h2t_selection, generator))
        features.append(model.forward_from(maps, seam, until="pooled"))
        labels.append(data.train_labels[a])
    features = torch.cat(features).float().cpu()
    predictions = model.classifier(features.to(next(model.parameters()).device)).argmax(1).cpu()
    model.train(was_training)
    return features, torch.cat(labels).cpu(), predictions

