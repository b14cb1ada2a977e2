"""Baseline long-tailed losses, each a per-sample loss plus optional deferred re-weighting.

With logits ``z`` ``(B, C)``, targets ``y`` ``(B,)``, training class counts ``n_c`` and prior
``pi_c = n_c / N``:

* ``ce``:   ``-log softmax(z)_y``;
* ``bsce``: balanced softmax (Ren et al. 2020): ``-log softmax(z + log pi)_y``;
* ``la``:   logit-adjusted loss (Menon et al. 2021): ``-log softmax(z + tau log pi)_y`` with
  ``tau = 1``, the value of its CIFAR results: it is then ``bsce`` term for term, so SMART Table 1's Logit Adj.
  row reads the BSCE run (ltlib.tables.smart_table1_rows); the name is kept because the papers list both;
* ``ldam``: LDAM (Cao et al. 2019): ``-log softmax(s (z - m_y e_y))_y`` with
  ``m_c = max_m * n_c^{-1/4} / max_j n_j^{-1/4}``, ``max_m = 0.5``, ``s = 30``; LDAM is meant for
  a cosine classifier, so the trainer builds one (``NormedLinear``) when ``loss = 'ldam'``.

Deferred re-weighting (DRW, Cao et al. 2019): from ``drw_epoch`` on, class weights
``w_c = (1 - beta) / (1 - beta^{n_c})``, ``beta = 0.9999``, normalised to sum to ``C``.

:func:`reduce_loss` combines per-sample losses ``l_i``, class weights ``w`` and per-sample
method weights ``omega_i`` (SMART's Eq. 10) as ``sum_i omega_i w_{y_i} l_i / sum_i w_{y_i}``,
which is torch's weighted-mean cross-entropy when ``omega = 1`` and the plain mean of Eq. 10 when
``w = 1``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ltlib.checks import one_of

LOSSES = ("ce", "bsce", "la", "ldam")
LDAM_MAX_MARGIN = 0.5
LDAM_SCALE = 30.0
DRW_BETA = 0.9999


def check_loss(name: str) -> str:
    return one_of("loss", name, LOSSES)


def drw_class_weights(class_counts, beta: float = DRW_BETA) -> torch.Tensor:
    """Effective-number class weights (Cui et al. 2019), normalised to sum to ``C``."""
    counts = torch.as_tensor(class_counts, dtype=torch.float64)
    weights = (1.0 - beta) / (1.0 - beta ** counts)
    return (weights / weights.sum() * len(counts)).float()


def ldam_margins(class_counts, max_margin: float = LDAM_MAX_MARGIN) -> torch.Tensor:
    inv_quarter = torch.as_tensor(class_counts, dtype=torch.float64) ** -0.25
    return (inv_quarter * (max_margin / inv_quarter.max())).float()


class LongTailLoss:
    """A per-sample loss by name; ``class_weights(epoch)`` gives DRW weights or ``None``."""

    def __init__(self, name: str, class_counts, drw_epoch: int = 0):
        self.name = check_loss(name)
        counts = torch.as_tensor(class_counts, dtype=torch.float64)
        self.log_prior = torch.log(counts / counts.sum()).float()
        self.margins = ldam_margins(counts)
        self.drw_epoch = drw_epoch
        self.drw_weights = drw_class_weights(counts) if drw_epoch > 0 else None

    def to(self, device) -> "LongTailLoss":
        """Its tensors on ``device`` once, so a GPU step copies nothing from the host (a copy from pageable
        host memory makes the step wait for the GPU)."""
        self.log_prior, self.margins = self.log_prior.to(device), self.margins.to(device)
        if self.drw_weights is not None:
            self.drw_weights = self.drw_weights.to(device)
        return self

    def per_sample(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``(B,)`` float32 losses for ``logits`` ``(B, C)`` and integer ``targets`` ``(B,)``.

        The logits are cast to float32 first, whatever their dtype (bf16 under autocast): the log prior (BSCE, LA),
        LDAM's margins and scale and the cross-entropy are computed in float32, so a loss adjustment of a few
        hundredths is not rounded to bf16's ~3 significant digits."""
        logits = logits.float()
        if self.name in ("bsce", "la"):
            logits = logits + self.log_prior.to(logits.device, torch.float32)
        elif self.name == "ldam":
            margin = self.margins.to(logits.device, torch.float32)[targets]
            target_mask = F.one_hot(targets, logits.shape[1]).to(torch.float32)
            logits = LDAM_SCALE * (logits - margin[:, None] * target_mask)
        return F.cross_entropy(logits, targets, reduction="none")

    def class_weights(self, epoch: int):
        """DRW weights ``(C,)`` once ``epoch >= drw_epoch`` (0-based epochs), else ``None``."""
        if self.drw_weights is not None and epoch >= self.drw_epoch:
            return self.drw_weights
        return None


def reduce_loss(per_sample: torch.Tensor, targets: torch.Tensor, class_weights=None,
                sample_weights=None) -> torch.Tensor:
    """``sum_i omega_i w_{y_i} l_i / sum_i w_{y_i}`` (see the module docstring)."""
    weighted = per_sample if sample_weights is None else per_sample * sample_weights
    if class_weights is None:
        return weighted.mean()
    per_class = class_weights.to(per_sample.device, per_sample.dtype)[targets]
    return (weighted * per_class).sum() / per_class.sum()
