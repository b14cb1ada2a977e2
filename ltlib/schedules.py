"""Learning-rate schedules by name, and the one check of a schedule's settings.

Learning rate per epoch (0-based ``e``): linear warm-up ``lr * (e + 1) / warmup`` for ``e < warmup``;
then ``multistep`` (``lr * gamma^{#milestones <= e}``) or ``cosine``
(``lr / 2 * (1 + cos(pi * (e - warmup) / (epochs - warmup)))``).
"""
from __future__ import annotations

import math

from ltlib.checks import require, require_one_of

LR_SCHEDULES = ("multistep", "cosine")


def learning_rate(epoch: int, lr: float, epochs: int, warmup: int, schedule: str,
                  milestones=(), gamma: float = 0.1) -> float:
    if epoch < warmup:
        return lr * (epoch + 1) / warmup
    if schedule == "cosine":
        return 0.5 * lr * (1 + math.cos(math.pi * (epoch - warmup) / max(1, epochs - warmup)))
    return lr * gamma ** sum(epoch >= m for m in milestones)


def config_learning_rate(config, epoch: int) -> float:
    """The rate of ``epoch`` for any config with the schedule fields checked by :func:`check_schedule`."""
    return learning_rate(epoch, config.lr, config.epochs, config.warmup_epochs, config.lr_schedule,
                         config.milestones, config.gamma)


def check_schedule(config) -> None:
    """Check the optimiser and schedule fields every run config has (stage I and stage II)."""
    c = config
    require(isinstance(c.epochs, int) and c.epochs >= 1, "epochs", c.epochs, "must be an integer >= 1")
    require(isinstance(c.batch_size, int) and c.batch_size >= 1, "batch_size", c.batch_size,
            "must be an integer >= 1")
    for name in ("lr", "weight_decay", "momentum", "gamma"):
        value = getattr(c, name)
        require(isinstance(value, (int, float)) and math.isfinite(value) and value >= 0, name, value,
                "must be a finite number >= 0")
    require(c.lr > 0, "lr", c.lr, "must be > 0")
    require_one_of("lr_schedule", c.lr_schedule, LR_SCHEDULES)
    require(0 <= c.warmup_epochs < c.epochs, "warmup_epochs", c.warmup_epochs, f"must be in 0..{c.epochs - 1}")
    require(all(isinstance(m, int) and 0 < m <= c.epochs for m in c.milestones)
            and list(c.milestones) == sorted(c.milestones), "milestones", c.milestones,
            f"must be increasing epochs in 1..{c.epochs}")
