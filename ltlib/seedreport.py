"""REPRODUCTION.md's second seed (tier 7 of the CPU plan, :mod:`ltlib.replicates`): the protocol's sentence on
seeds (:func:`seed_note`) and the section "A second seed" (:func:`section`), each tier-7 run beside its seed-0 twin
and each comparison among them at both seeds, read from the store."""
from __future__ import annotations

from ltlib.replicates import SEED, direction, twins
from ltlib.significance import wilson_interval
from ltlib.storeview import StoreView, correct_count, numerics, paired_test, state_of


def seed_note(view: StoreView, profile_name: str = "paper") -> str:
    """The protocol's sentence on seeds: what the seed-0 intervals cover and, once tier 7 has stored a run, the
    seed-to-seed differences measured here."""
    note = ("one training seed (0) per row: an interval covers the sampling of the 10,000 test images, not the "
            "seed-to-seed spread of training, which peers report at about 0.3 point (sd) for CE on CIFAR-100-LT")
    shifts = [(label, second["final_top1"] - first["final_top1"], numerics(first) != numerics(second))
              for label, first, second in _twins(view, profile_name) if first and second]
    if not shifts:
        return note + (f"; tier 7 of the CPU plan retrains the central comparisons at seed {SEED} (below, 'A "
                       "second seed'), none stored yet, so nobody here has measured that spread on CIFAR-10-LT")
    listed = "; ".join(f"{label} {shift:+.2f}{' (numerics differ too)' if mixed else ''}"
                       for label, shift, mixed in shifts)
    return note + (f"; measured here (seed {SEED} minus seed 0, final top-1, points, {len(shifts)} of the 7 runs "
                   f"of tier 7 stored): {listed}")


def _twins(view: StoreView, profile_name: str):
    """``(label, seed-0 metrics, seed-1 metrics)`` of each tier-7 run (None where not stored)."""
    return [(label, view.metrics(zero), view.metrics(one)) for _, label, zero, one in twins(profile_name)]


def _cell(metrics: dict | None, config, view: StoreView) -> str:
    if metrics is None:
        return state_of(config, view)
    low, high = wilson_interval(*correct_count(metrics))
    return f"{metrics['final_top1']:.2f} [{low:.2f}, {high:.2f}], {numerics(metrics)}"


def _reading(item: dict | None) -> str:
    if item is None:
        return "pending"
    return f"{item['difference']:+.2f} (p = {item['p_value']:.2g})"


def section(view: StoreView, at_zero: list[dict], at_one: list[dict], profile_name: str = "paper") -> list[str]:
    """The report's "A second seed" section: each tier-7 run at both seeds, and each comparison among them at both
    seeds. ``at_zero`` / ``at_one`` are the assessed comparisons (``name``, ``base``, ``method``, ``paper_delta``,
    ``difference``, ``p_value``) at seed 0 and at :data:`ltlib.replicates.SEED`, restricted to pairs of tier-7 runs."""
    lines = [f"Tier 7 retrains the runs of the central comparisons at seed {SEED} (a new initialisation, data "
             "order and augmentation; the same long-tailed draw and test images). The stage-I runs train with bf16 "
             "where the machine computes it natively, so a seed-1 run's numerics may differ from its seed-0 twin's "
             "(the table names both: such a difference holds the change of numerics too, as does a seed-1 comparison "
             "of two runs trained on different numerics, e.g. DR, a float32 stage II, against a bf16 stage I).",
             "", f"| run | seed 0: final top-1 [95 % CI], numerics | seed {SEED}: final top-1 [95 % CI], numerics | "
             f"seed {SEED} − seed 0 (points) | exact McNemar p, the two seeds' models |", "|---|---|---|---|---|"]
    for table, label, zero, one in twins(profile_name):
        first, second = view.metrics(zero), view.metrics(one)
        shift = p_value = ""
        if (test := paired_test(first, second)) is not None:
            shift, p_value = f"{test['difference']:+.2f}", f"{test['p_value']:.3g}"
        lines.append(f"| {table}, {label} | {_cell(first, zero, view)} | {_cell(second, one, view)} | {shift} | "
                     f"{p_value} |")
    later = {(item["name"], item["base"], item["method"]): item for item in at_one}
    lines += ["", f"| comparison | paper Δ | seed 0: ours Δ (p) | seed {SEED}: ours Δ (p) | "
              f"seed {SEED} against seed 0 |", "|---|---|---|---|---|"]
    for item in at_zero:
        second = later.get((item["name"], item["base"], item["method"]))
        lines.append(f"| {item['method']} vs {item['base']} | {item['paper_delta']} | {_reading(item)} | "
                     f"{_reading(second)} | {direction(item, second) if second else 'pending'} |")
    if not at_zero:
        lines.append("| (no comparison of tier 7 is stored at seed 0) | | | | |")
    return lines
