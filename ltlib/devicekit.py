"""The device kit: what a GPU machine needs to run the campaign, small enough to travel with the repository.

A GPU machine lent for a session sees only the repository (at most 64 MiB travel with it) and has neither
the CIFAR-10 copy nor WordNet. :func:`build` writes one file, ``device_data/kit.tar.xz`` (git-ignored), with

* ``data/cifar10_{train,test}_kit.npz``: the npz layout of :mod:`ltlib.data.cifar`, full length (so the
  long-tailed subset draw, which depends on the labels alone, selects the same rows), with the pixels of
  only the rows that the planned runs select and zeros elsewhere; an ``available`` mask says which rows
  hold an image, and loading a subset that needs any other row is an error naming it, so a kit can never
  train on blank images. ``source`` keeps the label of the copy the kit was cut from (JPEG-q75 here).
* ``cache/semantics/*.npy``: the class-similarity matrices of SMART's offline head choices, so the
  machine needs neither nltk nor gensim.
* ``kit.json``: the git commit of the checkout when the kit was built (``+dirty`` with uncommitted code
  changes); the machine gets no ``.git``, so its results carry this commit (``$LTLIB_GIT_COMMIT``).
  Build the kit right before the calls, from the code that travels with them.

The rows are those of every run :func:`ltlib.plans.plan` lists at the kit's profiles (for CIFAR-10-LT:
the IF 50 subset, which holds the IF 100 and IF 200 ones, and the full test set: 13,996 + 10,000 images,
70.3 MiB of pixels). xz (preset 6) packs them into 52.9 MiB, measured on the JPEG-q75 copy; zlib, as in
``np.savez_compressed``, keeps about 92 % of such pixels (the shared test npz) and would not fit.

On the device (``bench/device_session.sh`` does this)::

    python3 -m tarfile -e device_data/kit.tar.xz /tmp/kit
    LTLIB_DATA=/tmp/kit/data LTLIB_CACHE=/tmp/kit/cache python3 -m ltlib campaign ...
"""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import numpy as np

from ltlib import plans
from ltlib.config import RunConfig, stage_one
from ltlib.data import long_tailed_selection
from ltlib.data.cifar import DataError, load_cifar
from ltlib.semantics import cache_path, class_similarity
from ltlib.storage import git_commit

#: where the kit is written (git-ignored; name it in the device call's ``carry``)
KIT_FILE = Path("device_data") / "kit.tar.xz"
#: the device call carries at most 64 MiB with the working tree
CARRY_LIMIT_BYTES = 64 * 2**20


def stage_one_configs(profiles=("paper",), seeds=(0,)) -> list[RunConfig]:
    """The distinct stage-I configs (a stage-II run's included) of the campaign at ``profiles``."""
    configs = {}
    for name in profiles:
        for run in plans.plan(name, seeds):
            config = stage_one(run.config)
            configs[config.hash()] = config
    return list(configs.values())


def needed_rows(configs, dataset: str, train_labels: np.ndarray, test_labels: np.ndarray):
    """Boolean masks of the training and test rows that ``configs`` of ``dataset`` select."""
    train, test = np.zeros(len(train_labels), bool), np.zeros(len(test_labels), bool)
    for config in configs:
        if config.dataset != dataset:
            continue
        keep, test_keep, _ = long_tailed_selection(dataset, train_labels, test_labels, float(config.imbalance_factor),
                                                   config.imbalance_type, config.test_per_class or None,
                                                   config.max_per_class or None)
        train[keep], test[test_keep] = True, True
    return train, test


def _npz_bytes(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # uncompressed inside: xz compresses the whole tarball far better than zlib
    return buffer.getvalue()


def _add(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(payload), 0
    archive.addfile(info, io.BytesIO(payload))


def build(out: Path = KIT_FILE, profiles=("paper", "quick"), dataset: str = "cifar10", root=None,
          preset: int = 6, configs=None) -> dict:
    """Write the kit for the campaign at ``profiles`` (or for stage-I ``configs``); returns what it holds."""
    configs = stage_one_configs(profiles) if configs is None else list(configs)
    train, test = load_cifar(dataset, "train", root), load_cifar(dataset, "test", root)
    train_rows, test_rows = needed_rows(configs, dataset, train.labels, test.labels)
    if not train_rows.any():
        raise ValueError(f"no {dataset} run among the {len(configs)} configs: nothing to put in a kit")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    names = np.asarray(train.class_names)
    semantics = sorted({c.smart_head_choice for c in configs if c.method == "smart" and c.smart_head_choice != "online"})
    with tarfile.open(out.with_suffix(".tmp"), "w:xz", preset=preset) as archive:
        for split, rows, part in (("train", train_rows, train), ("test", test_rows, test)):
            images = np.where(rows[:, None, None, None], part.images, 0).astype(np.uint8)
            _add(archive, f"data/{dataset}_{split}_kit.npz",
                 _npz_bytes(**{f"x_{split}": images, f"y_{split}": part.labels, "available": rows,
                               "class_names": names, "source": np.asarray(part.source)}))
        for source in semantics:
            class_similarity(list(train.class_names), source)  # computed here (nltk/gensim), cached, then packed
            path = cache_path(list(train.class_names), source)
            _add(archive, f"cache/semantics/{path.name}", path.read_bytes())
        _add(archive, "kit.json", json.dumps({"git_commit": git_commit(), "configs": len(configs),
                                              "profiles": list(profiles)}).encode())
    shutil.move(out.with_suffix(".tmp"), out)
    size = out.stat().st_size
    if size > CARRY_LIMIT_BYTES:
        raise DataError(f"the kit {out} is {size / 2**20:.1f} MiB, over the {CARRY_LIMIT_BYTES / 2**20:.0f} MiB a device "
                        "call carries; build it for fewer profiles")
    return {"file": str(out), "bytes": size, "train_rows": int(train_rows.sum()), "test_rows": int(test_rows.sum()),
            "configs": len(configs), "semantics": semantics, "source": train.source}


def unpack(kit: Path, into: Path) -> Path:
    """Unpack a kit (what ``python3 -m tarfile -e`` does on the device); returns ``into``."""
    with tarfile.open(kit, "r:xz") as archive:
        archive.extractall(into, filter="data")
    return Path(into)
