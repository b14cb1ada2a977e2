"""A second training seed of the central comparisons: which runs (tier 7 of the CPU plan), and how a pair's
difference at that seed stands to seed 0's.

Every row of REPRODUCTION.md is one training seed (0), so each verdict ends "one seed cannot say whether it
survives another". Tier 7 (:func:`runs`) retrains at seed 1 the runs of the comparisons the verdicts lean on most:

* H2T Table 6: its stage I (CE + mixup, MiSLAS's schedule), DR and DR+H2T (p = 0.25, H2T's weight decay) on it;
* SMART Table 1: BSCE and BSCE+SMART, then CE and SMART (the paper's head rule, many), on CMO's schedule.

Seed 1 draws a new initialisation, data order, augmentation and mixing; the long-tailed draw and the test images
stay (ltlib.data). Both runs of a pair train at seed 1 on the same numerics, so a pair's difference at seed 1 is a
comparison as clean as at seed 0 (:func:`direction` says how the two stand; :mod:`ltlib.seedreport` sets them
side by side in REPRODUCTION.md). One configuration's seed 1 minus seed 0 measures the seed-to-seed spread on
CIFAR-10-LT, which nobody here had measured: where the two seeds' runs were computed differently (the first stage-I
runs in float32, the later ones with bf16 autocast: a row names both), that difference holds the change of numerics
as well.
"""
from __future__ import annotations

from ltlib import runsets, tables
from ltlib.significance import LEVEL

#: the second seed; every other row of the report is seed 0
SEED = 1
TIER = "7 second seed: DR+H2T vs DR, BSCE+SMART vs BSCE, SMART vs CE"


def runs(profile_name: str = "paper", seed: int = SEED, dataset: str = "cifar10") -> list[tuple[str, str, object]]:
    """``[(table, row label, config), ...]`` of tier 7 at ``seed`` in training order (a stage I before the stage
    II runs on it; the cheaper single-batch run of each SMART pair before its SMART run). The same call at
    ``seed=0`` gives the seed-0 twin of each run, position by position."""
    common = dict(dataset=dataset, imbalance_factor=100, seed=seed)
    h2t = runsets.h2t_stage_two(profile_name, **common)
    wanted = {h2t[key].hash() for key in ("stage I", "DR", "DR+H2T")}
    chosen = [("H2T Table 6", label, config) for label, _, config in tables.h2t_table6_rows(profile_name, **common)
              if config.hash() in wanted]
    smart = {label: config for label, _, config in tables.smart_table1_rows(profile_name, **common)}
    head = ", head = many"
    for label in ("BSCE", f"BSCE+{tables.SMART_LABEL}{head}", "CE", f"{tables.SMART_LABEL}{head}"):
        chosen.append(("SMART Table 1", label, smart[label]))
    if len(chosen) != 7:
        raise RuntimeError(f"tier 7 expects 7 runs, found {[label for _, label, _ in chosen]}: have the tables' "
                           "row labels changed?")
    return chosen


def twins(profile_name: str = "paper", dataset: str = "cifar10") -> list[tuple[str, str, object, object]]:
    """``[(table, row label, seed-0 config, seed-1 config), ...]``: each run of tier 7 beside its seed-0 twin, in
    :func:`runs`' order."""
    return [(table, label, zero, one) for (table, label, zero), (_, _, one)
            in zip(runs(profile_name, 0, dataset), runs(profile_name, SEED, dataset))]


def direction(first: dict, second: dict) -> str:
    """How seed 1's difference of a pair stands to seed 0's: the same sign or the other, and whether each is
    beyond the test set's sampling (exact McNemar p < 0.05)."""
    same = (first["difference"] > 0) == (second["difference"] > 0)
    unclear = " and ".join(f"seed {seed}" for seed, item in ((0, first), (SEED, second)) if item["p_value"] >= LEVEL)
    if not unclear:
        return f"{'kept' if same else 'reversed'}, beyond the test set's sampling at both seeds"
    return f"{'the same sign' if same else 'reversed in sign'}; not told apart at {unclear}"
