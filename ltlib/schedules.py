"""Learning-rate schedules by name, and the one check of a schedule's settings.

Learning rate per epoch (0-based ``e``): linear warm-up ``lr * (e + 1) / warmup`` for ``e < warmup``;
then ``multistep`` (``lr * gamma^{#milestones <= e}``) or ``cosine``
(``lr / 2 * (1 + cos(pi * (e - warmup) / (epochs - warmup)))``).

**The two papers' stage-I schedules** (:data:`PAPER_SCHEDULES`, chosen with ``profile(...,
schedule=name)``), both SGD 0.1 / 0.9 / 2e-4, batch 128, 200 epochs, 5 warm-up epochs:

* ``mislas``: x0.1 at epoch 160 and again at 180 (MiSLAS, whose configs H2T's official code uses):
  every H2T row;
* ``cmo``: x0.01 after epoch 160 and x0.0001 after epoch 180 (CMO's and LDAM-DRW's CIFAR code, which
  SMART says it follows, its ref. [45]; SMART's own sentence, "trained for 200 epochs ... decreases by 0.1
  at epoch 220 and 260, respectively, following the training strategy in work [45]" (§4.1), names epochs
  past its 200 and CMO's factor is 0.01, so ltlib follows the cited code, not the sentence): every SMART, CMO, LDAM-DRW, logit-adjustment and BSCE row
  of SMART's tables. Their code counts epochs from 1 (``epoch = epoch + 1``; ``epoch > 160`` gives
  0.01), so "after epoch 160" is 0-based epoch ``e >= 160``: milestone 160 with ``gamma = 0.01``
  (``0.01^2 = 1e-4`` from ``e = 180``). Their warm-up ``lr * epoch / 5`` for 1-based ``epoch <= 5``
  is ``lr * (e + 1) / 5`` here.

The ``quick`` profile keeps each schedule's ``gamma`` on its own short milestones.
"""
from __future__ import annotations

import math

from ltlib.checks import one_of, require, require_one_of

LR_SCHEDULES = ("multistep", "cosine")
#: named stage-I schedules of the papers (see the module docstring); ``gamma`` per milestone
PAPER_SCHEDULES = {"mislas": {"gamma": 0.1}, "cmo": {"gamma": 0.01}}


def schedule_settings(name: str) -> dict:
    """The config fields a named paper schedule sets (on top of a profile's epochs and milestones)."""
    return dict(PAPER_SCHEDULES[one_of("schedule", name, PAPER_SCHEDULES)])


def schedule_of(config) -> str:
    """The named schedule a stage-I config follows (``mislas``, ``cmo``), else ``custom``."""
    if config.lr_schedule != "multistep":
        return "custom"
    return next((name for name, settings in PAPER_SCHEDULES.items()
                 if all(getattr(config, key) == value for key, value in settings.items())), "custom")


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


def evaluates_at(config, epoch: int) -> bool:
    """Whether a run of ``config`` evaluates the test set after 0-based ``epoch``.

    ``eval_every = k`` (1 by default, and for stage II): every ``k``-th epoch (``(epoch + 1) % k == 0``)
    until the first milestone, then every epoch from the first learning-rate decay on (where the named
    schedules put the best epoch), and always the last. The best epoch is then the best over the
    evaluated epochs. ``k = 1`` evaluates every epoch.
    """
    every = getattr(config, "eval_every", 1)
    decayed = bool(config.milestones) and epoch >= config.milestones[0]
    return every <= 1 or (epoch + 1) % every == 0 or decayed or epoch == config.epochs - 1


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
