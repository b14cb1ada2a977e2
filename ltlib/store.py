"""The results store committed to the repository: finished runs every user reads without a GPU.

``results/<config hash>/`` holds what the figures need and nothing more:

* ``config.json``: ltlib version, hash, the config's identity, provenance (device name, software
  versions with the lock's sha256, git commit, seconds, data source) and the sha256 of every file;
* ``metrics.json``: everything the run's cache entry holds (accuracies, splits, confusion, margins,
  history);
* weights only where a figure needs a model (the t-SNE notebooks embed stage-II features): H2T's
  stage-I runs (the backbones of stage II) keep ``weights.pt`` in float16 (0.9 MB for ResNet-32),
  and a stage-II run keeps ``delta.pt``: only the tensors stage II changes (the classifier and the
  BatchNorm statistics), a few kB, applied on top of its stage I's weights.

**Runs in progress** (``partial/<hash>.pt`` + ``.json``): the training checkpoint of a run not finished yet
(model, optimiser, the objective's generators, history; ~6 MB for ResNet-32), committed at the end of a
session so that the next session, on this machine or a new one, resumes the run from its last epoch
(:func:`save_partial`, :func:`restore_partial`); removed once the run is stored.

A store entry is read through the local cache: :func:`ltlib.results.from_store` writes a cache entry from it
(weights restored to float32), so :class:`~ltlib.results.Result` has one layout to read. The store
moves between machines as tarballs of at most 15 MiB (:func:`export_bundles` / :func:`import_bundles`).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from pathlib import Path

import torch

from ltlib.storage import REPO_ROOT, atomic_write_bytes, atomic_write_json, git_commit, sha256_file
from ltlib.version import __version__

#: most bytes one exported bundle may hold (the GPU machine returns files of at most 16 MiB)
BUNDLE_LIMIT = 15 * 1024 * 1024


class StoreError(RuntimeError):
    """A store entry is damaged or incomplete; the message names it."""


def store_root() -> Path:
    """``$LTLIB_STORE`` when set, else ``results/`` in the repository."""
    override = os.environ.get("LTLIB_STORE")
    return Path(override).expanduser() if override else REPO_ROOT / "results"


def entry_folder(config, root: Path | None = None) -> Path:
    return (root or store_root()) / config.hash()


def keeps_weights(config) -> str | None:
    """``full`` for H2T stage-I runs (stage II re-trains on them), ``delta`` for stage-II runs, else None."""
    from ltlib.config import StageTwoConfig

    if isinstance(config, StageTwoConfig):
        return "delta"
    return "full" if config.mixup_alpha > 0 and config.method == "none" else None


def _tensor_bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def _half(state: dict) -> dict:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def stage_two_delta(final_state: dict, stage1_state: dict) -> dict:
    """The tensors of a stage-II model that differ from its stage I (classifier, BatchNorm statistics)."""
    return {k: v for k, v in final_state.items() if k not in stage1_state or not torch.equal(v, stage1_state[k])}


def write_entry(result, root: Path | None = None, stage1_state: dict | None = None, weights: str = "auto") -> Path:
    """Store a cached ``Result`` (see the module docstring for what is kept); ``weights`` ``full`` keeps
    this run's weights whatever :func:`keeps_weights` says (a stage I under a stored stage II)."""
    folder = entry_folder(result.config, root)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "metrics.json", result.metrics)
    files = ["metrics.json"]
    kind = keeps_weights(result.config) if weights == "auto" else weights
    if kind is not None:
        state = torch.load(result.folder / "model.pt", map_location="cpu", weights_only=True)
        if kind == "delta":
            if stage1_state is None:
                raise ValueError(f"storing stage-II run {result.config.hash()} needs its stage-I weights")
            state = stage_two_delta(state, stage1_state)
        name = "weights.pt" if kind == "full" else "delta.pt"
        atomic_write_bytes(folder / name, _tensor_bytes(_half(state)))
        files.append(name)
    provenance = {key: result.metrics.get(key) for key in ("device", "device_name", "software", "train_seconds",
                                                           "data_source")}
    atomic_write_json(folder / "config.json", {
        "ltlib_version": __version__, "hash": result.config.hash(), "config": result.config.identity(),
        "kind": type(result.config).__name__, "weights": kind, "provenance": {**provenance, "git_commit": git_commit()},
        "sha256": {name: sha256_file(folder / name) for name in files}})
    return folder


def read_entry(config, root: Path | None = None) -> tuple[dict, dict] | None:
    """``(stored config.json, metrics)`` of ``config``'s entry, None when absent; :class:`StoreError`
    names an entry that is damaged (bad JSON, missing file, failed checksum, another config)."""
    folder = entry_folder(config, root)
    if not (folder / "config.json").is_file():
        return None
    try:
        stored = json.loads((folder / "config.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise StoreError(f"results store entry {folder}: unreadable config.json ({error})") from error
    if stored.get("config") != config.identity():
        raise StoreError(f"results store entry {folder}: its config differs from the one asked for")
    for name, digest in stored.get("sha256", {}).items():
        if not (folder / name).is_file() or sha256_file(folder / name) != digest:
            raise StoreError(f"results store entry {folder}: {name} is missing or fails its sha256 check")
    if "metrics.json" not in stored.get("sha256", {}):
        raise StoreError(f"results store entry {folder}: no checksum of metrics.json")
    return stored, json.loads((folder / "metrics.json").read_text())


def has_entry(config, root: Path | None = None, weights: str | None = None) -> bool:
    """Whether the store holds a sound entry of ``config`` (with ``weights`` ``full``/``delta`` when given);
    a damaged entry counts as absent."""
    try:
        found = read_entry(config, root)
    except StoreError:
        return False
    return found is not None and (weights is None or found[0]["weights"] == weights)


def entry_weights(config, root: Path | None = None) -> dict | None:
    """float32 weights of a stored run (a stage-II delta applied on its stored stage I), or None."""
    folder = entry_folder(config, root)
    stored, _ = read_entry(config, root)
    if stored["weights"] is None:
        return None
    if stored["weights"] == "full":
        state = torch.load(folder / "weights.pt", map_location="cpu", weights_only=True)
    else:
        base = entry_weights(config.stage1, root)
        if base is None:
            raise StoreError(f"results store entry {folder}: its stage I {config.stage1.hash()} has no weights")
        state = {**base, **torch.load(folder / "delta.pt", map_location="cpu", weights_only=True)}
    return {k: v.float() if v.is_floating_point() else v for k, v in state.items()}


def export_bundles(hashes, out: Path, root: Path | None = None, prefix: str = "results") -> list[Path]:
    """Pack the store entries ``hashes`` into ``out/<prefix>-NNN.tar.gz`` files of at most 15 MiB each."""
    root = root or store_root()
    out.mkdir(parents=True, exist_ok=True)
    bundles, members, size = [], [], 0
    for digest in sorted(hashes):
        entry_size = sum(path.stat().st_size for path in (root / digest).iterdir())
        if members and size + entry_size > BUNDLE_LIMIT:
            bundles.append(members)
            members, size = [], 0
        members.append(digest)
        size += entry_size
    if members:
        bundles.append(members)
    written = []
    for number, group in enumerate(bundles):
        path = out / f"{prefix}-{number:03d}.tar.gz"
        with tarfile.open(path, "w:gz") as archive:
            for digest in group:
                archive.add(root / digest, arcname=digest)
        written.append(path)
    return written


def import_bundles(paths, root: Path | None = None) -> list[str]:
    """Unpack exported bundles into the store; returns the hashes of the entries they held."""
    root = root or store_root()
    root.mkdir(parents=True, exist_ok=True)
    found = []
    for path in paths:
        with tarfile.open(path, "r:gz") as archive:
            names = archive.getnames()
            unsafe = [n for n in names if n.startswith(("/", "..")) or ".." in Path(n).parts]
            if unsafe:
                raise StoreError(f"{path}: refusing paths outside the store: {unsafe[:3]}")
            archive.extractall(root, filter="data")
            found += sorted({Path(n).parts[0] for n in names})
    return found


def partial_path(config, root: Path | None = None) -> Path:
    return (root or store_root()) / "partial" / f"{config.hash()}.pt"


def partial_record(config, root: Path | None = None) -> dict | None:
    """The ``.json`` record of a run in progress saved in the store (``epochs_done``, ``epochs``, ``sha256`` ...),
    or None when the store holds none for ``config``."""
    record = partial_path(config, root).with_suffix(".json")
    return json.loads(record.read_text()) if record.is_file() else None


def save_partial(config, checkpoint: Path, root: Path | None = None) -> dict | None:
    """Copy the training checkpoint of an unfinished run into the store (``partial/<hash>.pt``, with a
    ``.json`` naming the run, its completed epochs and the file's sha256); None when there is no checkpoint."""
    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        return None
    payload = checkpoint.read_bytes()  # the trainer replaces it atomically: this is one whole checkpoint
    state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)
    path = partial_path(config, root)
    atomic_write_bytes(path, payload)
    record = {"hash": config.hash(), "config": config.identity(), "epochs_done": int(state["epoch"]),
              "epochs": config.epochs, "sha256": hashlib.sha256(payload).hexdigest(), "git_commit": git_commit(),
              "saved": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    atomic_write_json(path.with_suffix(".json"), record)
    return record


def restore_partial(config, checkpoint: Path, root: Path | None = None) -> int | None:
    """Put a stored run in progress where training looks for its checkpoint, unless a checkpoint is already
    there (it is as new or newer); returns the epochs it holds, or None. A partial entry without its ``.json``
    record, or whose sha256 or config does not match it, is refused with :class:`StoreError`."""
    path, checkpoint = partial_path(config, root), Path(checkpoint)
    if checkpoint.is_file() or not path.is_file():
        return None
    record = partial_record(config, root)
    if record is None:
        raise StoreError(f"run in progress {path}: its record {path.with_suffix('.json').name} is missing, so the "
                         "checkpoint cannot be checked; delete it to start over")
    payload = path.read_bytes()
    if record.get("config") != config.identity() or hashlib.sha256(payload).hexdigest() != record.get("sha256"):
        raise StoreError(f"run in progress {path}: its config or sha256 does not match; delete it to start over")
    atomic_write_bytes(checkpoint, payload)
    return record["epochs_done"]


def remove_partial(config, root: Path | None = None) -> bool:
    path = partial_path(config, root)
    found = path.is_file()
    path.unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
    return found
