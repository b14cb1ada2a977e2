"""Regenerate every figure by executing the notebooks headless with papermill.

Each ``notebooks/NN_*.ipynb`` runs with ``profile`` injected into its ``parameters`` cell and is
written executed to :func:`executed_folder`: ``figures/notebooks/`` for ``paper`` (committed with their outputs, so
that the paper-scale notebooks can be read without running anything), ``build/notebooks/<profile>/`` otherwise; the
sources are never modified, and an executed copy is replaced only by a successful execution (a failed one goes to
``build/notebooks/failed/``). An executed paper notebook keeps no timings or machine paths (:func:`tidy`), so it
changes in git only when its outputs do. A summary line per notebook (status, seconds) is printed at the end, and a
failure names the notebook and the failing cell.

A paper rendering is skipped when its executed copy is up to date: it records a fingerprint of its inputs
(:func:`render_inputs`: the notebook, its parameters, ltlib's sources and the store entries of its runs), and the
same inputs give the same figures; ``force=True`` (``python -m ltlib figures --force``) re-executes anyway.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ltlib.storage import REPO_ROOT, environment

NOTEBOOK_FOLDER = REPO_ROOT / "notebooks"
#: a cell that runs longer fails with a clear error instead of hanging the executor (a quick-profile cell
#: takes at most a few minutes on a 2-core CPU; paper-profile cells only read stored runs)
CELL_TIMEOUT_S = 1800


@dataclass
class NotebookRun:
    name: str
    seconds: float
    error: str | None = None
    skipped: str | None = None  # why it was not executed (paper runs not stored yet)


def notebooks(selected=None) -> list[Path]:
    """The figure notebooks in order, or those whose file name contains any of ``selected``."""
    found = sorted(NOTEBOOK_FOLDER.glob("[0-9][0-9]_*.ipynb"))
    if selected:
        found = [nb for nb in found if any(s in nb.name for s in selected)]
        if not found:
            raise ValueError(f"no notebook matches {selected}; have: {[p.name for p in notebooks()]}")
    return found


def executed_folder(profile: str) -> Path:
    """Where executed notebooks go: ``figures/notebooks/`` (paper, committed), ``build/notebooks/<profile>/``."""
    return REPO_ROOT / "figures" / "notebooks" if profile == "paper" else REPO_ROOT / "build" / "notebooks" / profile


#: where a notebook that failed is written, executed up to its failing cell (git-ignored)
FAILED_FOLDER = REPO_ROOT / "build" / "notebooks" / "failed"
#: papermill's per-run metadata that differs on every execution (timings, the machine's paths)
VOLATILE_METADATA = ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables")


#: the executed paper notebook's metadata key holding :func:`render_inputs` of its execution
INPUTS_KEY = "ltlib_render_inputs"
#: ltlib modules no notebook's output depends on (they plan, train and report runs; the notebooks read the store),
#: left out of :func:`render_inputs` so that editing them does not re-execute every paper notebook
NOT_RENDERING = ("__main__.py", "campaign.py", "classreport.py", "cli.py", "compression.py", "compressionreport.py",
                 "devicekit.py", "plans.py", "readmestatus.py", "replicates.py", "reproduction.py", "seedreport.py",
                 "storeview.py")
#: the notebook parameters that choose its runs (passed on to :func:`ltlib.runsets.notebook_configs`)
RUN_PARAMETERS = ("seed", "dataset", "imbalance_factor")


def render_inputs(path: Path, profile: str, parameters: dict | None = None) -> str:
    """sha256 over what a rendering of notebook ``path`` depends on: the notebook file, ``profile`` and
    ``parameters``, every source file of ltlib, and for each run the notebook uses its config hash and its store
    entry's ``config.json`` (which holds the sha256 of the entry's files), or "absent" where it is not stored.
    Not covered: the installed packages, the image data (a store entry names its data source) and the modules of
    :data:`NOT_RENDERING`."""
    import hashlib
    import json

    from ltlib import runsets
    from ltlib.store import entry_folder

    parameters = parameters or {}
    digest = hashlib.sha256(path.read_bytes())
    digest.update(json.dumps({"profile": profile, **parameters}, sort_keys=True, default=str).encode())
    package = Path(__file__).resolve().parent
    for source in sorted(package.rglob("*.py")):
        if source.parent == package and source.name in NOT_RENDERING:
            continue
        digest.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes())
    if path.stem in runsets.NOTEBOOK_RUNSETS:
        chosen = {name: parameters[name] for name in RUN_PARAMETERS if name in parameters}
        for config in runsets.notebook_configs(path.stem, profile, **chosen):
            entry = entry_folder(config) / "config.json"
            digest.update(config.hash().encode() + (entry.read_bytes() if entry.is_file() else b"absent"))
    return digest.hexdigest()


def recorded_inputs(executed: Path) -> str | None:
    """The :func:`render_inputs` an executed notebook was rendered from (None: not recorded, or no such file)."""
    import json

    try:
        return json.loads(executed.read_text()).get("metadata", {}).get(INPUTS_KEY)
    except (OSError, ValueError):
        return None


def tidy(path: Path, inputs: str | None = None) -> None:
    """Drop what differs between two executions of the same notebook on the same runs: papermill's timings and
    absolute paths, the cells' execution timings, the injected cell's random id, and widget state; record
    ``inputs`` (:func:`render_inputs`) when given."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    if inputs is not None:
        notebook.metadata[INPUTS_KEY] = inputs
    notebook.metadata.pop("widgets", None)  # widget state (progress bars) that no static reader shows
    for key in VOLATILE_METADATA:
        notebook.metadata.get("papermill", {}).pop(key, None)
    for cell in notebook.cells:
        for key in VOLATILE_METADATA:
            cell.metadata.get("papermill", {}).pop(key, None)
        cell.metadata.pop("execution", None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell["id"] = "injected-parameters"  # papermill draws a new random id each time
    nbformat.write(notebook, path)


def describe_failure(error: Exception) -> str:
    """One readable paragraph: the failing cell's number, its first source line and the error."""
    cell = getattr(error, "exec_count", None)
    source = (getattr(error, "source", "") or "").strip().splitlines()
    ename, evalue = getattr(error, "ename", type(error).__name__), getattr(error, "evalue", str(error))
    where = f"cell [{cell}] starting {source[0]!r}" if source else "a cell"
    return f"{where}: {ename}: {evalue}"


def unstored_runs(path: Path, profile: str) -> list:
    """The runs notebook ``path`` needs at ``profile`` that are neither cached nor in the results store."""
    from ltlib import runsets
    from ltlib.results import missing_runs

    stem = path.stem
    return missing_runs(runsets.notebook_configs(stem, profile)) if stem in runsets.NOTEBOOK_RUNSETS else []


def run_notebook(path: Path, profile: str, output_folder: Path, parameters: dict | None = None,
                 force: bool = False) -> NotebookRun:
    """Execute one notebook. At ``paper`` nothing is trained (``LTLIB_TRAIN=0``): a notebook whose runs
    are not all stored is skipped, naming the campaign command that produces them, except one that renders
    partially (:data:`ltlib.runsets.RENDERS_PARTIALLY`, the tables) once any of its runs is stored; and one whose
    executed copy was rendered from the same :func:`render_inputs` is skipped as up to date unless ``force``."""
    import papermill

    from ltlib.runsets import RENDERS_PARTIALLY, notebook_configs

    if profile == "paper":
        missing = unstored_runs(path, profile)
        partial = path.stem in RENDERS_PARTIALLY and len(missing) < len(notebook_configs(path.stem, profile))
        if missing and not partial:
            return NotebookRun(path.name, 0.0, skipped=f"{len(missing)} paper runs not stored yet; produce them "
                                                        f"with: python -m ltlib campaign --profile paper "
                                                        f"--only {path.stem}")
    inputs = render_inputs(path, profile, parameters) if profile == "paper" else None
    if inputs is not None and not force and recorded_inputs(output_folder / path.name) == inputs:
        return NotebookRun(path.name, 0.0, skipped="up to date (its executed copy was rendered from the same "
                                                   "notebook, ltlib sources and stored runs; --force re-executes)")
    output_folder.mkdir(parents=True, exist_ok=True)
    executing = output_folder / f".{path.stem}.executing.ipynb"  # replaces the executed copy only when it succeeds
    started = time.perf_counter()
    try:
        # the kernel inherits these: paper figures never train; explorers draw static figures (ltlib.widgets)
        # paper notebooks are committed executed: no progress bars in them
        with environment(LTLIB_TRAIN="0" if profile == "paper" else None, LTLIB_STATIC_WIDGETS="1",
                         TQDM_DISABLE="1" if profile == "paper" else os.environ.get("TQDM_DISABLE")):
            papermill.execute_notebook(str(path), str(executing), kernel_name="python3",
                                       parameters={"profile": profile, **(parameters or {})},
                                       cwd=str(path.parent), progress_bar=False,
                                       execution_timeout=CELL_TIMEOUT_S)
    except Exception as error:  # papermill raises PapermillExecutionError for cell failures
        message = describe_failure(error)
        if executing.is_file():  # kept for reading, away from the (committed) executed copies
            failed = FAILED_FOLDER / path.name
            failed.parent.mkdir(parents=True, exist_ok=True)
            os.replace(executing, failed)
            message += f" (the failed execution: {failed})"
        return NotebookRun(path.name, time.perf_counter() - started, message)
    tidy(executing, inputs)
    os.replace(executing, output_folder / path.name)
    return NotebookRun(path.name, time.perf_counter() - started)


def regenerate(profile: str = "quick", selected=None, parameters: dict | None = None,
               output_folder: Path | None = None, force: bool = False) -> list[NotebookRun]:
    output_folder = output_folder or executed_folder(profile)
    if os.environ.get("CI"):  # kernels inherit it: no progress bars in CI logs
        os.environ.setdefault("TQDM_DISABLE", "1")
    runs = []
    for path in notebooks(selected):
        print(f"running {path.name} ({profile}) ...", flush=True)
        runs.append(run_notebook(path, profile, output_folder, parameters, force))
        state = "skipped" if runs[-1].skipped else "ok" if runs[-1].error is None else "FAILED"
        print(f"  {state} in {runs[-1].seconds:.0f} s", flush=True)
    print("\nsummary")
    for run in runs:
        status = f"skipped: {run.skipped}" if run.skipped else "ok" if run.error is None else f"FAILED: {run.error}"
        print(f"  {run.name:<40} {run.seconds:7.1f} s  {status}")
    print(f"executed notebooks: {output_folder}")
    return runs
