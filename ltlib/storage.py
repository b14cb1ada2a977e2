"""The floor every other module stands on: where ltlib keeps files, how it writes them, what it ran with.

* :func:`cache_root` is ``$LTLIB_CACHE`` or ``~/.cache/ltlib``; :func:`cache_folder` names a part of it
  (``runs``, ``data``, ``semantics``, ``vectors``, ``nltk_data``).
* :func:`atomic_write_bytes` / :func:`atomic_write_json` write to a temporary name in the target folder,
  fsync and rename, so a reader never sees half a file (also after a kill); :func:`file_lock` is the
  one inter-process lock (a run trained once; a campaign worker's claim on a run).
* :data:`REPO_ROOT` is the checkout ltlib is imported from (figures, notebooks, the lock file).
* :func:`software_versions` records what a result or benchmark ran with: ltlib, torch, Python and the
  sha256 of ``requirements-lock.txt`` (the exact versions CI and the benchmarks use).

Nothing here imports another ltlib module, so every module may import this one.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = REPO_ROOT / "requirements-lock.txt"


@contextlib.contextmanager
def environment(**values):
    """Set the environment variables that are not None for the duration, then restore them."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update({name: value for name, value in values.items() if value is not None})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cache_root() -> Path:
    """``$LTLIB_CACHE`` when set, else ``~/.cache/ltlib``."""
    cache = os.environ.get("LTLIB_CACHE")
    return Path(cache).expanduser() if cache else Path.home() / ".cache" / "ltlib"


def cache_folder(name: str) -> Path:
    """A named part of the cache, e.g. ``cache_folder("semantics")``."""
    return cache_root() / name


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, value) -> None:
    atomic_write_bytes(path, json.dumps(value, indent=1, sort_keys=True).encode())


@contextlib.contextmanager
def file_lock(path: Path, wait: bool = True):
    """An exclusive ``flock`` on ``path`` (created if missing) for the duration: yields True once held;
    with ``wait=False`` yields False at once when another process holds it."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


# What ltlib writes itself (the results store, rendered figures, the generated reports): changes there do
# not make the code differ from its commit, so they do not make a checkout ``+dirty``.
GENERATED_PATHS = ("results", "figures", "README.md", "REPRODUCTION.md")


@functools.lru_cache(maxsize=1)
def git_commit() -> str:
    """Short commit of the checkout, ``+dirty`` when a tracked file outside :data:`GENERATED_PATHS` has
    uncommitted changes; outside a git checkout (a GPU machine gets the files without ``.git``)
    ``$LTLIB_GIT_COMMIT``, else ``unknown``."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        code = [".", *(f":(exclude,top){path}" for path in GENERATED_PATHS)]
        if commit and subprocess.run(["git", "diff", "--quiet", "HEAD", "--", *code], cwd=REPO_ROOT,
                                     timeout=10).returncode == 1:
            commit += "+dirty"
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return commit or os.environ.get("LTLIB_GIT_COMMIT", "unknown")


def device_name(device) -> str:
    """``NVIDIA H100 80GB HBM3`` for a CUDA device, ``cpu (x86_64, 2 threads)`` for the CPU."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def software_versions() -> dict:
    """ltlib, torch and Python versions and the lock file's sha256 (``None`` when there is none)."""
    import torch

    from ltlib.version import __version__

    return {"ltlib": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "lock_sha256": sha256_file(LOCK_FILE) if LOCK_FILE.is_file() else None}
