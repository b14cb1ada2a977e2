"""The seam protocol every ltlib model follows, so methods act on features without forking models.

A :class:`SeamNet` is an ordered list of named stages, then global average pooling (seam
``pooled``) and a classifier. Methods hook in at a seam by name:

* ``forward(x, hook, start)`` calls ``hook(seam_name, tensor)`` after every seam and continues with
  what it returns (SMART replaces a stage's output with its augmented map there);
* ``forward_to(x, seam)`` / ``forward_from(h, seam)`` split the network at a seam (H2T fuses
  pre-pool maps between the two halves; feature extraction stops at ``pooled``).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch import nn

Hook = Callable[[str, torch.Tensor], torch.Tensor]


class NormedLinear(nn.Module):
    """Cosine classifier (LDAM-DRW's ``NormedLinear``): ``normalize(x) @ normalize(W)``, no bias.

    Initialised as LDAM-DRW's: uniform in [-1, 1], then every class vector rescaled to unit norm
    (``uniform_(-1, 1).renorm_(2, ., 1e-5).mul_(1e5)``). The forward pass does not see the norm, but the gradient
    on a normalised weight scales as ``1 / ||w||``: a larger start (Kaiming's ~1.3-1.7) would train the cosine
    head at a smaller effective learning rate than the official code's."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        with torch.no_grad():  # rows are class vectors here (LDAM-DRW stores the transpose and renorms dim 1)
            self.weight.uniform_(-1, 1).renorm_(2, 0, 1e-5).mul_(1e5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=1).t()


class SeamNet(nn.Module):
    """Stages ``[(name, module), ...]`` -> avgpool (``pooled``) -> ``classifier``."""

    def __init__(self, stages, feature_dim: int, num_classes: int, normed_classifier: bool = False):
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.feature_dim = feature_dim
        self.num_classes = num_classes
        self.classifier = (NormedLinear if normed_classifier else nn.Linear)(feature_dim, num_classes)

    @property
    def seams(self) -> tuple[str, ...]:
        return tuple(self.stages.keys()) + ("pooled",)

    @property
    def prepool_seam(self) -> str:
        return tuple(self.stages.keys())[-1]

    def check_seam(self, seam: str) -> str:
        if seam not in self.seams:
            raise ValueError(f"unknown seam {seam!r}; this model has: {', '.join(self.seams)}")
        return seam

    def _run(self, h: torch.Tensor, start: int, stop_seam: Optional[str], hook: Optional[Hook]):
        names = self.seams
        for name in names[start:]:
            h = torch.flatten(F.adaptive_avg_pool2d(h, 1), 1) if name == "pooled" else self.stages[name](h)
            if hook is not None:
                h = hook(name, h)
            if name == stop_seam:
                return h
        return self.classifier(h)

    def forward(self, x: torch.Tensor, hook: Optional[Hook] = None, start: Optional[str] = None) -> torch.Tensor:
        """Logits ``(B, num_classes)`` for images ``(B, 3, H, W)``, or for the activation ``x`` taken at seam
        ``start`` (what ``forward_from`` does, through ``forward`` so a ``DistributedDataParallel`` wrapper
        sees the call)."""
        first = 0 if start is None else self.seams.index(self.check_seam(start)) + 1
        return self._run(x, first, None, hook)

    def forward_to(self, x: torch.Tensor, seam: str, hook: Optional[Hook] = None) -> torch.Tensor:
        """The activation at ``seam`` (e.g. ``(B, 64, 8, 8)`` at ResNet-32's ``layer3``)."""
        return self._run(x, 0, self.check_seam(seam), hook)

    def forward_from(self, h: torch.Tensor, seam: str, hook: Optional[Hook] = None,
                     until: Optional[str] = None) -> torch.Tensor:
        """Logits from an activation ``h`` taken at ``seam`` (or the activation at seam ``until``)."""
        stop = None if until is None else self.check_seam(until)
        return self._run(h, self.seams.index(self.check_seam(seam)) + 1, stop, hook)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, feature_dim)``."""
        return self.forward_to(x, "pooled")

    def backbone_parameters(self):
        return self.stages.parameters()
