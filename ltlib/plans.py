"""What the campaign trains, in which order, and how long it should take.

* :func:`plan` (``--plan notebooks``): every run the notebooks ask for, from :mod:`ltlib.runsets` (the
  functions the notebooks call themselves; ``--only`` picks notebooks), at IF 100 and at the papers' other
  CIFAR-10-LT columns (:data:`ltlib.runsets.PAPER_VARIANTS`), for each seed. Ordered by value: seed 0 of every
  notebook first (notebook order), then seed 1, ...; a stage-I run always comes before the stage-II runs that
  need it; duplicates are planned once.
* :func:`cpu_core_tiers` (``--plan cpu-core``): the two papers' cores at one seed, in four tiers of value, CE on
  the data changed once more (tier 5, :mod:`ltlib.compression`), SMART built up one part at a time (tier 6) and
  the central comparisons at the next seed (tier 7, :mod:`ltlib.replicates`), then SMART's ablations (tier 8) and
  its tau sweep (tier 9): the plan the 2-core CPU trains in the background of every session.
* ``--plan device``: the CPU plan's tiers first, then every other run of the notebooks (a GPU fills first what
  the CPU has not reached).
* Estimates: reference epochs per run (:func:`epochs_of`) times seconds per reference epoch, observed in this
  machine's runs (:func:`observed_seconds_per_epoch`) or measured (:func:`measure_seconds_per_epoch`).
"""
from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from ltlib import compression, replicates, runsets, tables
from ltlib.config import StageTwoConfig, train_counts
from ltlib.results import run_folder

#: seconds per stage-I epoch of CIFAR-10-LT IF 100 (12,406 images, ResNet-32, batch 128) assumed by
#: ``--dry-run`` when none is given: cpu = 96 steps at 0.422 s (bench/results/step-overhead-cpu-20261123-083628.json,
#: 2 threads); cuda = an eager GPU-resident bf16 anchor of one H100 from the workplace's notes (1.45 s per epoch,
#: ResNet-32 + mixup, batch 128; not measured by ltlib)
DEFAULT_SECONDS_PER_EPOCH = {"cpu": 41.0, "cuda": 1.45}
REFERENCE_IMAGES = 12406


PLANS = ("notebooks", "cpu-core", "device")


@dataclass
class PlannedRun:
    config: object
    seed: int
    notebooks: list[str] = field(default_factory=list)
    tier: str = ""

    @property
    def hash(self) -> str:
        return self.config.hash()


def plan(profile_name: str, seeds=(0,), only=None, dataset: str = "cifar10") -> list[PlannedRun]:
    """Every run the chosen notebooks need at ``profile_name`` on ``dataset`` (CIFAR-10-LT, the one here; CIFAR-100-LT
    where it can be downloaded), seed by seed (see the module docstring)."""
    names = [name for name in runsets.NOTEBOOK_RUNSETS if not only or any(o in name for o in only)]
    if only and not names:
        raise ValueError(f"--only {list(only)} matches no notebook; have: {', '.join(runsets.NOTEBOOK_RUNSETS)}")
    planned: dict[str, PlannedRun] = {}
    for seed in seeds:
        for name in names:
            variants = [(100, None)] + (runsets.PAPER_VARIANTS.get(name, []) if profile_name == "paper" else [])
            for factor, runset in variants:
                for config in runsets.notebook_configs(name, profile_name, seed, dataset, factor, runset):
                    entry = planned.setdefault(config.hash(), PlannedRun(config, seed))
                    if name not in entry.notebooks:
                        entry.notebooks.append(name)
    return list(planned.values())


def cpu_core_tiers(profile_name: str = "paper", seed: int = 0, dataset: str = "cifar10") -> list[tuple[str, list]]:
    """The cores of both papers at IF 100 and one seed, as ``[(tier name, [config, ...]), ...]`` in the order the
    CPU trains them (a run listed in an earlier tier is not listed again):

    1. H2T core: stage I (CE + mixup, MiSLAS schedule), DR (p = 0) and DR+H2T at the rows' p (notebooks 03, 04 and
       H2T Table 6's stage-II rows);
    2. H2T rest: the p sweep (notebook 07), H2T Tables 5 and 7 (all stage II on the same stage I);
    3. SMART core: CE, SMART (default form) and CE + CMO on CMO's schedule (notebooks 02 and 05);
    4. SMART rest: the other rows of SMART Table 1 (BSCE, BSCE+SMART, LDAM-DRW, LA, the head = half and relative
       rules) and the plain CE of the quickstart and of H2T Table 6; the single-batch runs first (each fills a row in
       about half a SMART run's time), then the SMART runs, the default head rule (many) before the others;
    5. data: SMART Table 1's CE on the copy re-encoded once more as JPEG, at q55 (a loss as large as the copy's own)
       and q30, and on the copy with its chroma grid halved again (:func:`ltlib.compression.runs`): what a further
       loss of each of the copy's two kinds costs, the one measurable handle on the data as a cause of the gap to
       the papers;
    6. SMART's parts (:func:`ltlib.tables.smart_parts_rows`): Algorithm 1's two batches alone, then with Eq. 6's
       augmentation (SMART Table 4's "Minority Aug. + CE"): with CE (tier 3) and SMART (tier 3) they say which part
       moves the accuracy, and which way;
    7. second seed: the runs of the central comparisons (DR+H2T vs DR, BSCE+SMART vs BSCE, SMART vs CE) at
       ``seed + 1`` (:func:`ltlib.replicates.runs`), so that a verdict can say whether its direction survives a new
       seed, and the seed-to-seed spread is measured;
    8. SMART's ablations: first SMART with its tail-dominated batch drawn by the reverse sampler (the other reading
       of "tail-class dominated": on CIFAR-10-LT the default balanced batch is 20 % tail classes, the reverse one
       64 %, so it asks how SMART fares when that batch is tail-dominated here); then the rest of SMART Table 4
       (Minority Aug. + BSCE, the row without Eq. 11's weights that BSCE+SMART is compared with; Eq. 11's weights
       without the augmentation, with CE and with BSCE), Table 5 (the feature layers 1-3, the fixed EMA momenta) and
       the other form of Eq. 11 (:func:`ltlib.tables.smart_parts_rows`); CIFAR-100-LT tables in the paper, so the
       direction only;
    9. SMART's tau sweep (notebook 06, SMART Fig. 4a): tau x the head choices, the last tier because it is the
       largest (11 SMART runs) and the one figure left that no earlier tier feeds.
    """
    common = dict(dataset=dataset, imbalance_factor=100, seed=seed)

    def row_configs(rows):
        return [config for _, _, config in rows]

    h2t = runsets.h2t_stage_two(profile_name, **common)
    tiers = [
        ("1 H2T core: stage I, DR, DR+H2T", [h2t["stage I"], h2t["DR"], h2t["DR+H2T"],
                                             *row_configs(tables.h2t_table6_rows(profile_name, **common)[3:])]),
        ("2 H2T rest: p sweep, Tables 5 and 7", [*runsets.p_sweep(profile_name, **common).values(),
                                                 *row_configs(tables.h2t_table5_rows(profile_name, **common)),
                                                 *row_configs(tables.h2t_table7_rows(profile_name, **common))]),
        ("3 SMART core: CE, SMART, CE+CMO", list(runsets.margins(profile_name, **common).values())),
        ("4 SMART rest: Table 1, plain CE", [*row_configs(tables.smart_table1_rows(profile_name, **common)),
                                             *row_configs(tables.h2t_table6_rows(profile_name, **common)[:3]),
                                             *runsets.quickstart(profile_name, **common).values()]),
        (compression.TIER, [config for _, config in compression.runs(profile_name, seed, dataset)]),
        ("6 SMART's parts: its two batches alone, then + Minority Aug.",
         [config for label, _, config in tables.smart_parts_rows(profile_name, **common)
          if label in (tables.TWO_BATCHES, tables.WITH_AUGMENTATION)]),
        (replicates.TIER, [config for _, _, config in replicates.runs(profile_name, seed + 1, dataset)]),
        ("8 SMART's ablations: the tail batch's sampler, the rest of Table 4, Table 5's layers and momenta, "
         "Eq. 11's other form",
         [*(config for label, _, config in tables.smart_parts_rows(profile_name, **common)
            if label == tables.REVERSE_TAIL),
          *row_configs(tables.smart_table4_rows(profile_name, **common)),
          *row_configs(tables.smart_table5_rows(profile_name, **common)),
          *row_configs(tables.smart_parts_rows(profile_name, **common))]),
        ("9 SMART's tau sweep (notebook 06)", list(runsets.tau_sweep(profile_name, **common).values())),
    ]
    rest = tiers[3][1]
    tiers[3] = (tiers[3][0], [c for c in rest if c.method != "smart"]
                + sorted((c for c in rest if c.method == "smart"), key=lambda c: c.smart_head_rule != "many"))
    seen, ordered = set(), []
    for name, configs in tiers:
        fresh = []
        for config in configs:
            if config.hash() not in seen:
                seen.add(config.hash())
                fresh.append(config)
        ordered.append((name, fresh))
    return ordered


def plan_named(name: str, profile_name: str, seeds=(0,), only=None, dataset: str = "cifar10") -> list[PlannedRun]:
    """The runs of plan ``name`` (:data:`PLANS`): ``notebooks`` = :func:`plan`; ``cpu-core`` = the tiers of
    :func:`cpu_core_tiers` for each seed, each run labelled with its tier and the notebooks that use it;
    ``device`` = ``cpu-core`` of the first seed, then the rest of ``notebooks`` (tier "8 the rest")."""
    from ltlib.checks import one_of

    one_of("plan", name, PLANS)
    if name == "notebooks":
        return plan(profile_name, seeds, only, dataset)
    every = plan(profile_name, seeds, only if name == "device" else None, dataset)
    users = {run.hash: run.notebooks for run in every}
    runs, seen = [], set()  # seed s's tier 7 is seed s + 1's: planned once
    for seed in seeds[:1] if name == "device" else seeds:
        for tier, configs in cpu_core_tiers(profile_name, seed, dataset):
            fresh = [config for config in configs if config.hash() not in seen
                     and (name == "cpu-core" or config.hash() in users)]
            seen.update(config.hash() for config in fresh)
            runs += [PlannedRun(config, config.seed, users.get(config.hash(), []), tier) for config in fresh]
    if name == "device":
        planned = {run.hash for run in runs}
        runs += [PlannedRun(run.config, run.seed, run.notebooks, "8 the rest") for run in every
                 if run.hash not in planned]
    return runs


def epochs_of(config) -> float:
    """Reference-epoch equivalents of a run: its epochs, scaled by its training-set size against
    CIFAR-10-LT IF 100; a SMART step with two full batches costs two, a stage-II epoch about three quarters
    (a frozen backbone: no backbone gradients, two branches; 380 vs 524 ms per step on the 2-core CPU)."""
    if isinstance(config, StageTwoConfig):
        return config.epochs * 0.75 * sum(train_counts(config.stage1)) / REFERENCE_IMAGES
    double = config.method == "smart" and config.smart_batches == "full"
    return config.epochs * (2 if double else 1) * sum(train_counts(config)) / REFERENCE_IMAGES


def measure_seconds_per_epoch(steps: int = 4, warmup: int = 1, data_root: str | None = None) -> dict:
    """One reference epoch measured on the machine at hand: the stage-I step of H2T's paper run (CE + mixup,
    CIFAR-10-LT IF 100, eager, this device) timed over ``steps`` steps after ``warmup``, times the steps of an
    epoch, plus the paper profile's share of test passes (56 of 200 epochs evaluate; one pass timed on 1,024
    test images and scaled to the test set). Another process training beside it (the campaign) slows it."""
    from ltlib.evaluate import predict
    from ltlib.fast import EAGER, time_steps
    from ltlib.methods import build_objective
    from ltlib.models import build_model
    from ltlib.results import data_for
    from ltlib.schedules import evaluates_at
    from ltlib.train import resolve_device, seeded_generator

    config = tables.h2t_stage_one("paper")
    device = resolve_device(config.device)
    data = data_for(config, data_root).to(device)
    model = build_model(config.model, data.num_classes).to(device)
    objective = build_objective(config, data, model, seeded_generator(0, device))
    objective.network = model
    timed = time_steps(objective, model.parameters(), steps, warmup, device, EAGER)
    per_step, steps_per_epoch = timed["seconds_per_step"], timed["steps_per_epoch"]
    sample = data.test_images[:1024]
    started = time.perf_counter()
    predict(model, sample)
    per_pass = (time.perf_counter() - started) * data.test_labels.numel() / sample.shape[0]
    share = sum(evaluates_at(config, e) for e in range(config.epochs)) / config.epochs
    return {"seconds_per_step": per_step, "steps_per_epoch": steps_per_epoch, "seconds_per_test_pass": per_pass,
            "seconds_per_epoch": per_step * steps_per_epoch + share * per_pass, "device": str(device)}


@functools.lru_cache(maxsize=16)
def _summary(path: str, modified_ns: int) -> dict | None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        return {"epoch": int(state["epoch"]), "history": state.get("history", {})}
    except Exception:  # being replaced, or damaged: training tells which
        return None


def checkpoint_summary(path: Path) -> dict | None:
    """``{"epoch", "history"}`` of a training checkpoint, read once per version of the file (the dry run asks for
    it twice); None when there is none or it cannot be read."""
    try:
        return _summary(str(path), path.stat().st_mtime_ns)
    except FileNotFoundError:
        return None


def observed_seconds_per_epoch(runs) -> dict | None:
    """One reference epoch as the planned runs trained it on this machine: from the newest checkpoint (or cached
    result) of a planned stage-I run with at least 3 epochs, the median training seconds of its epochs, scaled to
    the reference epoch, plus its mean evaluation seconds per epoch. None when no such run exists here."""
    import statistics

    found = []
    for run in runs:
        if isinstance(run.config, StageTwoConfig):
            continue
        folder = run_folder(run.config)
        if (folder / "metrics.json").is_file():
            history = json.loads((folder / "metrics.json").read_text())["history"]
            when = (folder / "metrics.json").stat().st_mtime
        elif (summary := checkpoint_summary(folder / "checkpoint.pt")) is not None:
            history = summary["history"]
            when = (folder / "checkpoint.pt").stat().st_mtime
        else:
            continue
        if len(history.get("train_seconds", [])) >= 3:
            found.append((when, run, history))
    if not found:
        return None
    _, run, history = max(found, key=lambda item: item[0])
    scale = epochs_of(run.config) / run.config.epochs
    train = statistics.median(history["train_seconds"]) / scale
    evaluation = (sum(history["seconds"]) - sum(history["train_seconds"])) / len(history["seconds"])
    return {"seconds_per_epoch": train + evaluation, "run": run.hash, "epochs": len(history["train_seconds"])}


def epochs_done(config) -> int:
    """Epochs a run not yet stored has trained: its checkpoint in this machine's cache, else its partial entry in
    the store (``results/partial/``, saved by the last session), else 0."""
    from ltlib.store import partial_record

    summary = checkpoint_summary(run_folder(config) / "checkpoint.pt")
    if summary is not None:
        return summary["epoch"]
    record = partial_record(config)
    return int(record["epochs_done"]) if record else 0


def estimate_minutes(runs, seconds_per_epoch: float, workers: int = 1, done: dict | None = None) -> float:
    """Minutes to train ``runs`` at ``seconds_per_epoch`` per reference epoch with ``workers`` in parallel; ``done``
    (``{hash: epochs trained}``, :func:`epochs_done`) leaves out the epochs runs in progress have behind them."""
    done = done or {}
    left = sum(epochs_of(run.config) * (1 - done.get(run.hash, 0) / run.config.epochs) for run in runs)
    return left * seconds_per_epoch / 60 / max(1, workers)
