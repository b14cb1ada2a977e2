"""``python -m ltlib campaign``: train the runs of a plan (:mod:`ltlib.plans`), store them, lose nothing.

* **Skip** what is cached or already in the results store.
* **Run** with ``workers`` processes (``--workers K``, several runs share one GPU): each claims the
  next unclaimed run through a lock file, so runs are split without a coordinator, and a worker that
  needs a stage I another one is training waits for it (:func:`ltlib.results.run_lock`). A run does
  not depend on what else shares the GPU, so a packed run gives the result it gives alone.
* **Resume**: every run checkpoints each epoch, so a campaign killed at any moment continues where it
  stopped when started again, re-training nothing that finished; ``--save-progress`` copies the checkpoints
  of unfinished runs into the store (``partial/``) so that another machine resumes them.
* **Store**: each finished run is written to the results store (:mod:`ltlib.store`); ``--export DIR``
  packs the store entries of this plan into tarballs of at most 15 MiB for the trip home.
* **Failures**: a run that raises (a non-finite loss, any exception) is recorded in the store's
  ``failed/<hash>.json`` with its error and skipped, and the campaign goes on with the next run; a
  recorded failure is not retried (``--retry-failed`` clears the records), and a stage II whose stage I
  failed is skipped with it. A run on a fast path (compiled, or bf16) that fails is first retried once on eager
  float32 (its metrics name the fallback and why). A run that would fall back to the CPU where CUDA is required
  (``$LTLIB_REQUIRE_CUDA=1``, the device call) stops the worker instead of being recorded.
"""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

from ltlib import plans, store
from ltlib.config import StageTwoConfig
from ltlib.plans import plan_named
from ltlib.results import describe, get_or_train, load_result, run_folder
from ltlib.runsets import with_stage_one
from ltlib.storage import environment, file_lock
from ltlib.train import DeviceUnavailable

def describe_plan(runs, todo, seconds_per_epoch: float, workers: int) -> str:
    """The dry run's text: counts, an estimate (runs in progress count only their epochs left), each tier and run."""
    done = {run.hash: plans.epochs_done(run.config) for run in todo}
    lines = [f"{len(runs)} runs planned, {len(runs) - len(todo)} already cached or stored, {len(todo)} to train "
             f"(about {plans.estimate_minutes(todo, seconds_per_epoch, workers, done):.1f} min at "
             f"{seconds_per_epoch:g} s per stage-I epoch, {workers} worker(s))"]
    if any(done[run.hash] and not failure(run.config) for run in todo):
        lines.append("runs in progress train first, then the rest in this order")
    tier = None
    for run in todo:
        if run.tier and run.tier != tier:
            tier = run.tier
            in_tier = [r for r in todo if r.tier == tier]
            lines.append(f"tier {tier}: {len(in_tier)} runs, about "
                         f"{plans.estimate_minutes(in_tier, seconds_per_epoch, workers, done) / 60:.1f} h")
        failed = " FAILED before (see failed/)" if failure(run.config) else ""
        started = f" (in progress: {done[run.hash]}/{run.config.epochs} epochs)" if done[run.hash] else ""
        lines.append(f"  {run.hash:<16} seed {run.seed}  {describe(run.config):<58} {', '.join(run.notebooks)}"
                     f"{started}{failed}")
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
    result = load_result(config)
    if isinstance(config, StageTwoConfig):
        import torch

        stage1 = load_result(config.stage1)
        if not store.has_entry(config.stage1, root, weights="full"):
            store.write_entry(stage1, root, weights="full")  # the backbone its delta applies to
        stage1_state = torch.load(stage1.folder / "model.pt", map_location="cpu", weights_only=True)
        path = store.write_entry(result, root, stage1_state=stage1_state)
    else:
        path = store.write_entry(result, root)
    for finished in with_stage_one([config]):
        store.remove_partial(finished, root)
    return path


def train_or_fall_back(config, progress: bool = True, log=print):
    """:func:`get_or_train`; when the run fails on a fast path (compiled, or bf16: a non-finite loss, a compile
    error), once more on eager float32 from its start, with ``metrics["fast_path_fallback"]`` naming the error
    (``metrics["fast_path"]`` then says eager)."""
    try:
        return get_or_train(config, progress=progress, train=True)
    except DeviceUnavailable:
        raise
    except Exception as error:
        from ltlib.checkpoint import Checkpointer
        from ltlib.fast import fast_path
        from ltlib.train import resolve_device

        path = fast_path(resolve_device(config.device))
        if not path.enabled:
            raise
        reason = f"{type(error).__name__}: {error}"[:400]
        log(f"[pid {os.getpid()}] {config.hash()} failed on the fast path {path.label} ({reason}); once more on eager")
        Checkpointer(run_folder(config) / "checkpoint.pt").remove()  # no epoch of the failed path is kept
        with environment(LTLIB_FAST="0", LTLIB_FAST_FALLBACK=reason):
            return get_or_train(config, progress=progress, train=True)


def resolve_stage_one_fast(setting: str | None) -> str | None:
    """The ``$LTLIB_FAST`` for stage-I runs from ``--stage-one-fast``: ``auto`` is ``bf16`` on a CPU with native bf16
    (AMX or AVX-512 BF16, :func:`ltlib.fast.cpu_bf16_is_fast`) and nothing (the device's default) elsewhere; another
    value is kept."""
    if setting != "auto":
        return setting
    import torch

    from ltlib.fast import cpu_bf16_is_fast

    return "bf16" if not torch.cuda.is_available() and cpu_bf16_is_fast() else None


def stage_environment(config, stage_one_fast: str | None):
    """The environment a run trains in: ``$LTLIB_FAST=stage_one_fast`` for a stage I when given; a stage II trains
    as ``$LTLIB_FAST`` (unset: the device's default, float32 on the CPU) says, so every stage II of one stage I is
    computed alike whatever its stage I used."""
    return environment(LTLIB_FAST=None if isinstance(config, StageTwoConfig) else stage_one_fast)


def work(runs, progress: bool = True, log=print, poll_seconds: float = 2.0,
         stage_one_fast: str | None = None) -> list[str]:
    """One worker: train and store every run no other worker has claimed; returns the hashes it trained.
    Runs in progress (:func:`ltlib.plans.epochs_done`) come first, then the rest in plan order, so a campaign
    restarted with a changed plan finishes what it began before it begins anything new.
    ``stage_one_fast``: the ``$LTLIB_FAST`` of stage-I runs (:func:`stage_environment`)."""
    runs = list(runs)
    started_before = {run.hash for run in runs
                      if not store.has_entry(run.config) and not failure(run.config) and plans.epochs_done(run.config)}
    done, pending = [], sorted(runs, key=lambda run: run.hash not in started_before)  # stable: plan order kept
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
                behind = plans.epochs_done(run.config)  # this machine's checkpoint, else results/partial/
                log(f"[pid {os.getpid()}] {run.hash} {describe(run.config)} started {time.strftime('%H:%M:%S')}"
                    + (f", resuming after epoch {behind}/{run.config.epochs}" if behind else ""))
                try:
                    for config in with_stage_one([run.config]):  # a failing stage I is recorded as its own failure
                        current = config
                        with stage_environment(config, stage_one_fast):
                            train_or_fall_back(config, progress, log)
                    store_run(run.config)
                except DeviceUnavailable:
                    raise  # nothing may train here: the worker stops, no run is marked failed
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
                 dataset: str = "cifar10", plan_name: str = "notebooks", stage_one_fast: str | None = None) -> None:
    """Train what plan ``plan_name`` (:func:`plan_named`) lists and is missing, with ``workers`` processes
    (1: in this process); stage-I runs on ``stage_one_fast`` when given (:func:`stage_environment`)."""
    if workers <= 1:
        work(plan_named(plan_name, profile_name, seeds, only, dataset), progress=progress,
             stage_one_fast=stage_one_fast)
        return
    request = json.dumps({"profile": profile_name, "seeds": list(seeds), "only": list(only or []), "dataset": dataset,
                          "plan": plan_name, "stage_one_fast": stage_one_fast})
    command = [sys.executable, "-m", "ltlib.campaign", "--worker", request]
    processes = [subprocess.Popen(command, env={**os.environ, "TQDM_DISABLE": "1"}) for _ in range(workers)]
    failed = [p.args for p in processes if p.wait() != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} campaign worker(s) failed; run the campaign again to resume")


def save_progress(runs, root: Path | None = None) -> list[dict]:
    """Commit-ready state of the plan: the checkpoint of every unfinished run (stage I of a planned stage II
    included) copied into the store's ``partial/`` (:func:`ltlib.store.save_partial`), and partial entries of
    runs stored since removed. Returns the records of the runs saved."""
    saved = []
    for config in with_stage_one(run.config for run in runs):
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


def log_epochs(stream=None) -> None:
    """Write :data:`ltlib.train.EPOCH_LOG`'s line per finished epoch to ``stream`` (stdout): where no progress bar
    shows (the detached campaign's log, ``TQDM_DISABLE``), the log still says how far a run has got."""
    from ltlib.train import EPOCH_LOG

    if any(getattr(handler, "ltlib_epochs", False) for handler in EPOCH_LOG.handlers):
        return
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(logging.Formatter("[pid %(process)d %(asctime)s] %(message)s", "%H:%M:%S"))
    handler.ltlib_epochs = True
    EPOCH_LOG.addHandler(handler)
    EPOCH_LOG.setLevel(logging.INFO)


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
    log_epochs()  # workers run without progress bars
    work(plan_named(asked.get("plan", "notebooks"), asked["profile"], asked["seeds"], asked["only"] or None,
                    asked.get("dataset", "cifar10")), progress=False, stage_one_fast=asked.get("stage_one_fast"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        raise SystemExit(_worker_main(sys.argv[2]))
    raise SystemExit("usage: python -m ltlib campaign ... (this module's own entry is for worker processes)")
