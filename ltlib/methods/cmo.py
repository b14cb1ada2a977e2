"""CMO: context-rich minority oversampling (Park et al., CVPR 2022), the SMART paper's baseline.

Each step draws a background batch from the instance sampler and a foreground batch from a
minority-weighted sampler (``balanced`` by default: CMO's ``weighted_alpha = 1`` weights images by
``1 / n_c``, which makes classes equally likely; ``reverse`` is more tail-heavy). With probability
``cmo_prob`` (0.5) one CutMix box, ``lam ~ Beta(1, 1)``, is cut from every foreground image and
pasted onto its background image; the label is mixed by area::

    loss = lam' * L(x, y_background) + (1 - lam') * L(x, y_foreground),  lam' = 1 - box area / image area

As in CMO, the mixing is active only for epochs ``skip < e < epochs - skip`` (``skip = 3``, epochs counted
from 0: the first ``skip + 1`` and the last ``skip`` epochs train on plain batches; ``skip = 0`` mixes in every
epoch, epoch 0 included). A step whose
coin says no mixing pastes an empty box with background weight ``lam' = 1``: the loss of the plain batch, from
the same computation (so a compiled step has one shape whatever the coin says).
"""
from __future__ import annotations

import math
import random

import torch

from ltlib.data import Sampler
from ltlib.data.augment import batch_images
from ltlib.methods.base import SupervisedObjective
from ltlib.methods.registry import register_method

#: samplers of the foreground (minority) batch
FOREGROUND_SAMPLERS = ("balanced", "reverse")


def cutmix_box(lam: float, height: int, width: int, rng: random.Random) -> tuple[int, int, int, int]:
    """CutMix's box: side ``sqrt(1 - lam)`` of the image, centre uniform, clipped. (y0, y1, x0, x1)."""
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    centre_y, centre_x = rng.randrange(height), rng.randrange(width)
    y0, y1 = max(centre_y - cut_h // 2, 0), min(centre_y + cut_h // 2, height)
    x0, x1 = max(centre_x - cut_w // 2, 0), min(centre_x + cut_w // 2, width)
    return y0, y1, x0, x1


def box_mask(box, height: int, width: int, device) -> torch.Tensor:
    """Boolean ``(H, W)``: True inside ``box`` = (y0, y1, x0, x1)."""
    y0, y1, x0, x1 = box
    rows, cols = torch.arange(height, device=device), torch.arange(width, device=device)
    return ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]


def background_share(box, height: int, width: int) -> float:
    """The share of the image outside ``box``: CutMix's label weight of the background."""
    y0, y1, x0, x1 = box
    return 1.0 - (y1 - y0) * (x1 - x0) / (height * width)


@register_method("cmo")
class CmoObjective(SupervisedObjective):
    def __init__(self, config, data, model, generator):
        super().__init__(config, data, model, generator)
        self.foreground_sampler = Sampler(config.cmo_sampler, data.train_labels, data.num_classes)
        self.rng = random.Random(config.seed + 1)
        self.foreground = None

    def state_dict(self) -> dict:
        return {**super().state_dict(), "cmo": self.rng.getstate()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.rng.setstate(state["cmo"])

    def start_epoch(self, epoch: int) -> int:
        steps = super().start_epoch(epoch)
        self.foreground, layout = self.draw(self.foreground_sampler, self.config.batch_size)
        self.foreground_stream = self.open_stream("foreground", self.foreground, layout)
        return steps

    def active(self, epoch: int) -> bool:
        skip = self.config.cmo_skip_epochs
        return skip < epoch < self.config.epochs - skip or skip == 0

    def step_inputs(self, step: int, epoch: int) -> dict:
        """The background batch, and in an active epoch the foreground batch with this step's box (an empty
        box, background weight 1, when the coin of ``cmo_prob`` says no mixing)."""
        inputs = super().step_inputs(step, epoch)
        if not self.active(epoch):
            return inputs
        foreground = self.foreground_stream.inputs(step)
        height, width = (inputs["raw"] if "raw" in inputs else inputs["images"]).shape[-2:]
        box = (0, 0, 0, 0)
        if self.rng.random() < self.config.cmo_prob:
            box = cutmix_box(self.rng.betavariate(1.0, 1.0), height, width, self.rng)
        share, device = background_share(box, height, width), inputs["targets"].device
        inputs["cutmix"] = {"foreground": foreground, "box": box_mask(box, height, width, device),
                            "lam": torch.full((), share, device=device),
                            "rest": torch.full((), 1.0 - share, device=device)}
        return inputs

    def compute(self, inputs: dict) -> torch.Tensor:
        """``lam' L(x, y_background) + (1 - lam') L(x, y_foreground)`` on the pasted images."""
        cutmix = inputs.get("cutmix")
        if cutmix is None:
            return super().compute(inputs)
        foreground, weights = cutmix["foreground"], inputs["class_weights"]
        mixed = torch.where(cutmix["box"], batch_images(foreground), batch_images(inputs))
        logits = self.network(mixed)
        return (cutmix["lam"] * self.weighted_loss(logits, inputs["targets"], weights)
                + cutmix["rest"] * self.weighted_loss(logits, foreground["targets"], weights))
