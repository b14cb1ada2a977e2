"""``python -m ltlib campaign``: train every run the notebooks and tables need at a profile, then store them.

* **Plan** (:func:`plan`): the configs come from :mod:`ltlib.runsets`, the functions the notebooks call
  themselves, for every notebook (``--only`` picks some), at IF 100 and at the papers' other
  CIFAR-10-LT columns (:data:`ltlib.runsets.PAPER_VARIANTS`), for each seed. Ordered by value: seed 0
  of every notebook first (notebook order), then seed 1, ...; a stage-I run always comes before the
  stage-II runs that need it; duplicates are planned once.
* **Skip** what is cached or already in the results store.
* **Run** with ``workers`` processes (``--workers K``, several runs share one GPU): each claims the
  next unclaimed run through a lock file, so runs are split without a coordinator, and a worker that
  needs a stage I another one is training waits for it (:func:`ltlib.results.run_lock`). A run does
  not depend on what else shares the GPU, so a packed run gives the result it gives alone.
* **Resume**: every run checkpoints each epoch, so a campaign killed at any moment continues where it
  stopped when started again, re-training nothing that finished.
* **Store**: each finished run is written to the results store (:mod:`ltlib.store`); ``--export DIR``
  packs the store entries of this plan into tarballs of at most 15 MiB for the trip home.
* **Failures**: a run that raises (a non-finite loss, any exception) is recorded in the store's
  ``failed/<hash>.json`` with its error and skipped, and the campaign goes on with the next run; a
  recorded failure is not retried (``--retry-failed`` clears the records), and a stage II whose stage I
  failed is skipped with it.

**Plans** (``--plan``): ``notebooks`` (every run of every notebook, as above) or ``cpu-core``
(:func:`cpu_core_tiers`): the two papers' cores at one seed, in four tiers of value, the plan the
2-core CPU trains in the background of every session.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from ltlib import runsets, store, tables
from ltlib.config import StageTwoConfig, train_counts
from ltlib.results import describe, get_or_train, load_result, run_folder
from ltlib.storage import file_lock

#: seconds per stage-I epoch of CIFAR-10-LT IF 100 (12,406 images, ResNet-32, batch 128) assumed by
#: ``--dry-run`` when none is given: cpu = 96 steps at 0.422 s (bench/results/step-overhead-cpu-20261123-083628.json,
#: 2 threads); cuda = the eager GPU-resident anchor of one H100 in shared/docs/FACTS.md (1.45 s)
DEFAULT_SECONDS_PER_EPOCH = {"cpu": 41.0, "cuda": 1.45}
REFERENCE_IMAGES = 12406


PLANS = ("notebooks", "cpu-core")


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
    4. SMART rest: the other rows of SMART Table 1 (BSCE, BSCE+SMART, LDAM-DRW, LA, the head = half rule) and the
       plain CE of the quickstart and of H2T Table 6.
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
    ]
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
    :func:`cpu_core_tiers` for each seed, each run labelled with its tier and the notebooks that use it."""
    from ltlib.checks import one_of

    one_of("plan", name, PLANS)
    if name == "notebooks":
        return plan(profile_name, seeds, only, dataset)
    users = {run.hash: run.notebooks for run in plan(profile_name, seeds, None, dataset)}
    runs = []
    for seed in seeds:
        for tier, configs in cpu_core_tiers(profile_name, seed, dataset):
            runs += [PlannedRun(config, seed, users.get(config.hash(), []), tier) for config in configs]
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
    import torch

    from ltlib.evaluate import predict
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
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    steps_per_epoch = objective.start_epoch(0)
    started = 0.0
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        loss = objective.loss(step, 0)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    per_step = (time.perf_counter() - started) / steps
    sample = data.test_images[:1024]
    started = time.perf_counter()
    predict(model, sample)
    per_pass = (time.perf_counter() - started) * data.test_labels.numel() / sample.shape[0]
    share = sum(evaluates_at(config, e) for e in range(config.epochs)) / config.epochs
    return {"seconds_per_step": per_step, "steps_per_epoch": steps_per_epoch, "seconds_per_test_pass": per_pass,
            "seconds_per_epoch": per_step * steps_per_epoch + share * per_pass, "device": str(device)}


def observed_seconds_per_epoch(runs) -> dict | None:
    """One reference epoch as the planned runs trained it on this machine: from the newest checkpoint (or cached
    result) of a planned stage-I run with at least 3 epochs, the median training seconds of its epochs, scaled to
    the reference epoch, plus its mean evaluation seconds per epoch. None when no such run exists here."""
    import statistics

    import torch

    found = []
    for run in runs:
        if isinstance(run.config, StageTwoConfig):
            continue
        folder = run_folder(run.config)
        if (folder / "metrics.json").is_file():
            history = json.loads((folder / "metrics.json").read_text())["history"]
            when = (folder / "metrics.json").stat().st_mtime
        elif (folder / "checkpoint.pt").is_file():
            history = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=False)["history"]
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


def estimate_minutes(runs, seconds_per_epoch: float, workers: int = 1) -> float:
    return sum(epochs_of(run.config) for run in runs) * seconds_per_epoch / 60 / max(1, workers)


def describe_plan(runs, todo, seconds_per_epoch: float, workers: int) -> str:
    lines = [f"{len(runs)} runs planned, {len(runs) - len(todo)} already cached or stored, {len(todo)} to train "
             f"(about {estimate_minutes(todo, seconds_per_epoch, workers):.1f} min at {seconds_per_epoch:g} s per "
             f"stage-I epoch, {workers} worker(s))"]
    tier = None
    for run in todo:
        if run.tier and run.tier != tier:
            tier = run.tier
            in_tier = [r for r in todo if r.tier == tier]
            lines.append(f"tier {tier}: {len(in_tier)} runs, about "
                         f"{estimate_minutes(in_tier, seconds_per_epoch, workers) / 60:.1f} h")
        failed = " FAILED before (see failed/)" if failure(run.config) else ""
        lines.append(f"  {run.hash:<16} seed {run.seed}  {describe(run.config):<58} {', '.join(run.notebooks)}{failed}")
    return "\n".join(lines)


def failure_path(config, root: Path | None = None) -> Path:
    return (root or store.store_root()) / "failed" / f"{config.hash()}.json"


def failure(config, root: Path | None = None) -> dict | None:
    """The recorded failure of ``config`` (or of the stage I it needs), else None."""
    for c in (config, getattr(config, "stage1", None)):
        if c is not None and failure_path(c, root).is_file():
            return json.loads(failure_path(c, root).read_text())
    return None


def record_failure(config, error: BaseException, root: Path | None = None) -> Path:
    """Write ``failed/<hash>.json``: the run, its error and the last lines of its traceback."""
    from ltlib.storage import atomic_write_bytes, git_commit

    lines = traceback.format_exception(type(error), error, error.__traceback__)
    record = {"hash": config.hash(), "run": describe(config), "config": config.to_dict(),
              "error": f"{type(error).__name__}: {error}", "traceback": "".join(lines[-6:]),
              "when": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "commit": git_commit()}
    path = failure_path(config, root)
    atomic_write_bytes(path, json.dumps(record, indent=1, default=str).encode())
    return path


def clear_failures(runs, root: Path | None = None) -> int:
    cleared = 0
    for run in runs:
        if failure_path(run.config, root).is_file():
            failure_path(run.config, root).unlink()
            cleared += 1
    return cleared


def claim(config):
    """Hold ``<run>.claim`` without waiting: yields True when this worker got the run, False when another has it."""
    return file_lock(run_folder(config).with_suffix(".claim"), wait=False)


def store_run(config, root: Path | None = None) -> Path:
    """Write a cached run (and, for stage II, its stage I with full weights) to the results store; their runs in
    progress (``partial/``) are removed."""
    for finished in (config, getattr(config, "stage1", None)):
        if finished is not None and load_result(finished) is not None:
            store.remove_partial(finished, root)
    result = load_result(config)
    if isinstance(config, StageTwoConfig):
        import torch

        stage1 = load_result(config.stage1)
        if not store.has_entry(config.stage1, root, weights="full"):
            store.write_entry(stage1, root, weights="full")  # the backbone its delta applies to
        stage1_state = torch.load(stage1.folder / "model.pt", map_location="cpu", weights_only=True)
        return store.write_entry(result, root, stage1_state=stage1_state)
    return store.write_entry(result, root)


def work(runs, progress: bool = True, log=print, poll_seconds: float = 2.0) -> list[str]:
    """One worker: train and store every run no other worker has claimed; returns the hashes it trained."""
    done, pending = [], list(runs)
    while pending:
        waiting = []
        for run in pending:
            if store.has_entry(run.config) or failure(run.config):  # a run cached but not stored yet is stored now
                continue
            with claim(run.config) as mine:
                if not mine:
                    waiting.append(run)
                    continue
                started = time.perf_counter()
                log(f"[pid {os.getpid()}] {run.hash} {describe(run.config)} started {time.strftime('%H:%M:%S')}")
                needed = [run.config.stage1] if isinstance(run.config, StageTwoConfig) else []
                try:
                    for config in needed + [run.config]:  # a failing stage I is recorded as its own failure
                        current = config
                        get_or_train(config, progress=progress, train=True)
                    store_run(run.config)
                except Exception as error:  # recorded and skipped: the next run goes on
                    path = record_failure(current, error)
                    log(f"[pid {os.getpid()}] {run.hash} {describe(run.config)} FAILED: {type(error).__name__}: "
                        f"{error} (recorded in {path})")
                    continue
                done.append(run.hash)
                log(f"[pid {os.getpid()}] {run.hash} {describe(run.config)} done in {time.perf_counter() - started:.0f} s")
        pending = waiting
        if pending:
            time.sleep(poll_seconds)
    return done


def run_campaign(profile_name: str, seeds, only, workers: int = 1, progress: bool = True,
                 dataset: str = "cifar10", plan_name: str = "notebooks") -> None:
    """Train what plan ``plan_name`` (:func:`plan_named`) lists and is missing, with ``workers`` processes
    (1: in this process)."""
    if workers <= 1:
        work(plan_named(plan_name, profile_name, seeds, only, dataset), progress=progress)
        return
    request = json.dumps({"profile": profile_name, "seeds": list(seeds), "only": list(only or []), "dataset": dataset,
                          "plan": plan_name})
    command = [sys.executable, "-m", "ltlib.campaign", "--worker", request]
    processes = [subprocess.Popen(command, env={**os.environ, "TQDM_DISABLE": "1"}) for _ in range(workers)]
    failed = [p.args for p in processes if p.wait() != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} campaign worker(s) failed; run the campaign again to resume")


def save_progress(runs, root: Path | None = None) -> list[dict]:
    """Commit-ready state of the plan: the checkpoint of every unfinished run (stage I of a planned stage II
    included) copied into the store's ``partial/`` (:func:`ltlib.store.save_partial`), and partial entries of
    runs stored since removed. Returns the records of the runs saved."""
    saved, seen = [], set()
    configs = [c for run in runs for c in ([run.config.stage1] if isinstance(run.config, StageTwoConfig) else [])
               + [run.config]]
    for config in configs:
        if config.hash() in seen:
            continue
        seen.add(config.hash())
        if store.has_entry(config, root):
            store.remove_partial(config, root)
            continue
        record = store.save_partial(config, run_folder(config) / "checkpoint.pt", root)
        if record is not None:
            saved.append({**record, "run": describe(config)})
    return saved


def export(runs, out: Path) -> list[Path]:
    """Tarballs (at most 15 MiB each) of the store entries of the finished planned runs."""
    hashes = {run.hash for run in runs if store.read_entry(run.config) is not None}
    hashes |= {run.config.stage1.hash() for run in runs if isinstance(run.config, StageTwoConfig)
               and run.hash in hashes}
    return store.export_bundles(hashes, Path(out))


def detach(argv: list[str], log_path: Path) -> int:
    """Start this campaign again in a new process session that outlives the caller; returns its pid, also
    written to ``<log>.pid`` so that scripts follow the campaign by its process id (no ``pgrep``)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen([sys.executable, "-m", "ltlib", *argv], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True, env={**os.environ, "TQDM_DISABLE": "1"})
    Path(f"{log_path}.pid").write_text(f"{process.pid}\n")
    return process.pid


def _worker_main(request: str) -> int:
    """Entry of a worker process: the same plan, worked through beside the other workers."""
    asked = json.loads(request)
    work(plan_named(asked.get("plan", "notebooks"), asked["profile"], asked["seeds"], asked["only"] or None,
                    asked.get("dataset", "cifar10")), progress=False)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2]))
    raise SystemExit("usage: python -m ltlib campaign ... (this module's own entry is for worker processes)")
