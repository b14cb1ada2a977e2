"""One frozen configuration per run, its two profiles, validation and its hash.

A :class:`RunConfig` names everything that changes a run's result; its :meth:`RunConfig.hash`
names the run's cache folder. :func:`profile` gives the two sizes every notebook runs at:

* ``quick``: CPU, minutes: ResNet-32 on the full CIFAR-LT training subset, a short schedule
  (5 epochs, 1 warm-up, decay at 4) and 200 test images per class;
* ``paper``: the papers' schedule: 200 epochs, 5 warm-up, x0.1 at 160 and 180, full test set.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from ltlib.data.cifar import DATASETS
from ltlib.data.longtail import IMBALANCE_TYPES, check_imbalance_factor
from ltlib.data.samplers import SAMPLERS
from ltlib.methods.losses import LOSSES
from ltlib.models import MODELS

PROFILES = ("quick", "paper")
LR_SCHEDULES = ("multistep", "cosine")
DEVICES = ("auto", "cpu", "cuda")


def _field(default, help_text: str, **kwargs):
    return field(default=default, metadata={"help": help_text, **kwargs})


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one stage-I training run (fields are documented for the CLI)."""

    dataset: str = _field("cifar10", f"dataset: {', '.join(DATASETS)}")
    imbalance_factor: float = _field(100.0, "imbalance factor n_max / n_min (>= 1; 1 = balanced)")
    imbalance_type: str = _field("exp", f"long-tail profile: {', '.join(IMBALANCE_TYPES)}")
    test_per_class: int = _field(0, "keep the first k test images per class (0 = full test set)")
    model: str = _field("resnet32", f"model: {', '.join(MODELS)}")
    loss: str = _field("ce", f"loss: {', '.join(LOSSES)}")
    drw_epoch: int = _field(0, "deferred re-weighting starts at this epoch (0 = off; LDAM-DRW uses 160)")
    sampler: str = _field("instance", f"training sampler: {', '.join(SAMPLERS)}")
    mixup_alpha: float = _field(0.0, "mixup Beta(alpha, alpha) on every batch (0 = off; H2T stage I uses 1.0)")
    epochs: int = _field(200, "training epochs")
    batch_size: int = _field(128, "batch size")
    lr: float = _field(0.1, "peak learning rate (SGD)")
    momentum: float = _field(0.9, "SGD momentum")
    weight_decay: float = _field(2e-4, "weight decay")
    lr_schedule: str = _field("multistep", f"learning-rate schedule after warm-up: {', '.join(LR_SCHEDULES)}")
    warmup_epochs: int = _field(5, "linear warm-up epochs")
    milestones: tuple[int, ...] = _field((160, 180), "multistep: epochs where lr is multiplied by gamma")
    gamma: float = _field(0.1, "multistep decay factor")
    seed: int = _field(0, "seed of initialisation, sampling and augmentation")
    device: str = _field("auto", f"device: {', '.join(DEVICES)} (auto = cuda when available)")

    def __post_init__(self):
        # Normalise types so equal configs hash equally (100 and 100.0, [160] and (160,)).
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, item.name, float(value))
            elif item.type.startswith("tuple") and isinstance(value, list):
                object.__setattr__(self, item.name, tuple(value))
        validate(self)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig fields {unknown}; allowed: {', '.join(sorted(known))}")
        return cls(**values)

    def hash(self) -> str:
        """12 hex digits of the sha256 of the config (device excluded: it does not change the maths)."""
        values = self.to_dict()
        values.pop("device")
        text = json.dumps(values, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def _require(condition: bool, name: str, value, allowed: str) -> None:
    if not condition:
        raise ValueError(f"{name}={value!r} is not allowed; {allowed}")


def validate(config: RunConfig) -> None:
    """Check every field; the error names the field, the bad value and what is allowed."""
    c = config
    _require(c.dataset in DATASETS, "dataset", c.dataset, f"allowed: {', '.join(DATASETS)}")
    try:
        check_imbalance_factor(c.imbalance_factor)
    except ValueError:
        _require(False, "imbalance_factor", c.imbalance_factor, "must be a finite number >= 1")
    _require(c.imbalance_type in IMBALANCE_TYPES, "imbalance_type", c.imbalance_type,
             f"allowed: {', '.join(IMBALANCE_TYPES)}")
    _require(isinstance(c.test_per_class, int) and c.test_per_class >= 0, "test_per_class",
             c.test_per_class, "must be an integer >= 0")
    _require(c.model in MODELS, "model", c.model, f"allowed: {', '.join(MODELS)}")
    _require(c.loss in LOSSES, "loss", c.loss, f"allowed: {', '.join(LOSSES)}")
    _require(c.sampler in SAMPLERS, "sampler", c.sampler, f"allowed: {', '.join(SAMPLERS)}")
    _require(isinstance(c.epochs, int) and c.epochs >= 1, "epochs", c.epochs, "must be an integer >= 1")
    _require(isinstance(c.batch_size, int) and c.batch_size >= 1, "batch_size", c.batch_size,
             "must be an integer >= 1")
    for name in ("lr", "weight_decay", "mixup_alpha", "momentum", "gamma"):
        value = getattr(c, name)
        _require(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, name, value,
                 "must be a finite number >= 0")
    _require(c.lr > 0, "lr", c.lr, "must be > 0")
    _require(c.lr_schedule in LR_SCHEDULES, "lr_schedule", c.lr_schedule, f"allowed: {', '.join(LR_SCHEDULES)}")
    _require(0 <= c.warmup_epochs < c.epochs, "warmup_epochs", c.warmup_epochs, f"must be in 0..{c.epochs - 1}")
    _require(all(isinstance(m, int) and 0 < m <= c.epochs for m in c.milestones)
             and list(c.milestones) == sorted(c.milestones), "milestones", c.milestones,
             f"must be increasing epochs in 1..{c.epochs}")
    _require(0 <= c.drw_epoch < c.epochs, "drw_epoch", c.drw_epoch, f"must be in 0..{c.epochs - 1} (0 = off)")
    _require(c.device in DEVICES, "device", c.device, f"allowed: {', '.join(DEVICES)}")


PROFILE_SETTINGS = {
    "quick": dict(epochs=5, warmup_epochs=1, milestones=(4,), test_per_class=200, device="cpu"),
    "paper": dict(epochs=200, warmup_epochs=5, milestones=(160, 180), test_per_class=0, device="auto"),
}


def profile(name: str, **overrides) -> RunConfig:
    """The ``quick`` or ``paper`` configuration, with any field overridden by keyword.

    LDAM-DRW's deferred re-weighting starts at 160 in ``paper``; in ``quick`` pass ``drw_epoch``.
    """
    if name not in PROFILES:
        raise ValueError(f"unknown profile {name!r}; allowed: {', '.join(PROFILES)}")
    return RunConfig(**{**PROFILE_SETTINGS[name], **overrides})
