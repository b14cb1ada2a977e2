"""CIFAR-10 / CIFAR-100 as uint8 arrays, from a local folder or torchvision's download.

Where the data comes from, in this order (never silently anything else):

1. an explicit folder: the ``root`` argument, else the ``LTLIB_DATA`` environment variable.
   It may hold the official python pickles (``cifar-10-batches-py/``, ``cifar-100-python/``)
   or the npz layout of ``shared/data`` (``cifar10_train_part*.npz`` + ``cifar10_test.npz``,
   keys ``x_train``/``y_train``/``x_test``/``y_test``, see ``shared/data/SOURCES.md``; a device kit's
   files, :mod:`ltlib.devicekit`, add ``available`` (which rows hold an image) and ``source``).
   When a folder is given and holds neither, that is an error: we do not fall back.
2. otherwise torchvision's ``download=True`` into ``~/.cache/ltlib/data`` (or
   ``$LTLIB_CACHE/data``), which writes the official pickles, then read as in 1.

Arrays are returned as ``images`` uint8 ``(N, 32, 32, 3)`` (HWC, RGB) and ``labels`` int64 ``(N,)``.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ltlib.checks import one_of
from ltlib.storage import cache_folder, sha256_file

DATASETS = ("cifar10", "cifar100")
NUM_CLASSES = {"cifar10": 10, "cifar100": 100}
PICKLE_DIRS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
PICKLE_FILES = {
    "cifar10": {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"train": ["train"], "test": ["test"]},
}
PICKLE_LABEL_KEY = {"cifar10": b"labels", "cifar100": b"fine_labels"}
PICKLE_META = {"cifar10": ("batches.meta", b"label_names"), "cifar100": ("meta", b"fine_label_names")}

#: sha256 of the npz files staged in shared/data (SOURCES.md); other npz files are not checked.
KNOWN_NPZ_SHA256 = {
    "cifar10_train_part0.npz": "eb971f836c1986641b5a7a4b797960ca68be29b49547d601ac27d817d589dca3",
    "cifar10_train_part1.npz": "fd0523b443e0ff1b7384ccc08794cbc2013fc69cedd0d8e97b94ee3a03983610",
    "cifar10_train_part2.npz": "974a85caf9ee9f39ecca082d7d76994145cc01e15b35ceec846dd0dcd77b567e",
    "cifar10_train_part3.npz": "f2ffaafd6a43d3db74ddc139516baf14230d5465fddfddeaad857573043622f5",
    "cifar10_test.npz": "5b24e87184402c46e2f9ce084f601590d0328deff42294257c0a4f4e56c76ba4",
}
#: how results from the staged npz copy must be labelled (it was decoded from JPEG q75).
NPZ_SOURCE_LABEL = {"cifar10": "CIFAR-10 (JPEG-q75 copy)", "cifar100": "CIFAR-100 (npz copy)"}
OFFICIAL_SOURCE_LABEL = {"cifar10": "CIFAR-10 (official)", "cifar100": "CIFAR-100 (official)"}


class DataError(RuntimeError):
    """Raised when data is missing, malformed or fails a checksum; the message says what to do."""


@dataclass(frozen=True)
class ImageSplit:
    """One split of an image dataset held in memory."""

    images: np.ndarray  # (N, 32, 32, 3) uint8
    labels: np.ndarray  # (N,) int64
    class_names: tuple[str, ...]
    source: str  # human-readable provenance, e.g. "CIFAR-10 (JPEG-q75 copy)"
    #: which rows hold an image (a device kit keeps only the images its runs select); None = all
    available: np.ndarray | None = None


def check_dataset(name: str) -> str:
    return one_of("dataset", name, DATASETS)


def default_data_root() -> Path:
    return cache_folder("data")


def load_cifar(name: str, split: str, root: str | os.PathLike | None = None) -> ImageSplit:
    """Load ``split`` ('train' or 'test') of CIFAR ``name`` ('cifar10' or 'cifar100').

    ``root`` (or ``$LTLIB_DATA``) names a folder to read; without one, torchvision downloads
    the official archive into :func:`default_data_root`.
    """
    check_dataset(name)
    one_of("split", split, ("train", "test"))
    explicit = root if root is not None else os.environ.get("LTLIB_DATA")
    if explicit:
        folder = Path(explicit).expanduser()
        found = _read_folder(name, split, folder)
        if found is None:
            raise DataError(
                f"{name} not found in {folder} (from {'argument root' if root is not None else '$LTLIB_DATA'}): "
                f"looked for {folder / PICKLE_DIRS[name]}/ (official python pickles) and "
                f"{folder}/{name}_{split}*.npz (npz layout). Put one of them there, or unset "
                "LTLIB_DATA to let torchvision download the official archive."
            )
        return found
    cache = default_data_root()
    found = _read_folder(name, split, cache)
    if found is not None:
        return found
    _download(name, cache)
    found = _read_folder(name, split, cache)
    assert found is not None, f"torchvision reported success but {cache} holds no {name}"
    return found


def _download(name: str, folder: Path) -> None:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    folder.mkdir(parents=True, exist_ok=True)
    try:
        cls(str(folder), train=True, download=True)
    except Exception as error:  # network errors come in many types
        raise DataError(
            f"could not download {name} with torchvision into {folder} ({type(error).__name__}: {error}). "
            f"No local copy was given: set LTLIB_DATA (or pass root=) to a folder holding "
            f"{PICKLE_DIRS[name]}/ or the npz layout."
        ) from error


def _read_folder(name: str, split: str, folder: Path) -> ImageSplit | None:
    if (folder / PICKLE_DIRS[name]).is_dir():
        return _read_pickles(name, split, folder / PICKLE_DIRS[name])
    npz = sorted(folder.glob(f"{name}_{split}*.npz"))
    if npz:
        return _read_npz(name, split, npz)
    return None


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"missing file {path}: the official {path.parent.name}/ folder is incomplete")
    with open(path, "rb") as handle:
        return pickle.load(handle, encoding="bytes")


def _read_pickles(name: str, split: str, folder: Path) -> ImageSplit:
    images, labels = [], []
    for file_name in PICKLE_FILES[name][split]:
        batch = _unpickle(folder / file_name)
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(f"{folder / file_name}: data has shape {data.shape}, expected (N, 3072)")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(batch[PICKLE_LABEL_KEY[name]], dtype=np.int64))
    meta_file, meta_key = PICKLE_META[name]
    meta_path = folder / meta_file
    if meta_path.is_file():
        class_names = tuple(n.decode() for n in _unpickle(meta_path)[meta_key])
    else:
        class_names = tuple(str(i) for i in range(NUM_CLASSES[name]))
    return _validated(name, split, np.concatenate(images), np.concatenate(labels), class_names,
                      OFFICIAL_SOURCE_LABEL[name], folder)


def _read_npz(name: str, split: str, files: list[Path]) -> ImageSplit:
    images, labels, available, class_names, source = [], [], [], None, NPZ_SOURCE_LABEL[name]
    for path in files:
        expected = KNOWN_NPZ_SHA256.get(path.name)
        if expected is not None and sha256_file(path) != expected:
            raise DataError(f"{path} fails its sha256 check (expected {expected}); re-copy it from the source")
        with np.load(path, allow_pickle=False) as archive:
            x_key, y_key = f"x_{split}", f"y_{split}"
            if x_key not in archive or y_key not in archive:
                raise DataError(f"{path} lacks keys {x_key!r}/{y_key!r} (has {sorted(archive.keys())})")
            images.append(archive[x_key])
            labels.append(archive[y_key].astype(np.int64))
            available.append(archive["available"].astype(bool) if "available" in archive
                             else np.ones(len(labels[-1]), dtype=bool))
            if "class_names" in archive:
                class_names = tuple(str(n) for n in archive["class_names"])
            if "source" in archive:
                source = str(archive["source"])
    class_names = class_names or tuple(str(i) for i in range(NUM_CLASSES[name]))
    mask = np.concatenate(available)
    return _validated(name, split, np.concatenate(images), np.concatenate(labels), class_names,
                      source, files[0].parent, None if mask.all() else mask)


def _validated(name, split, images, labels, class_names, source, where, available=None) -> ImageSplit:
    num_classes = NUM_CLASSES[name]
    if images.dtype != np.uint8 or images.shape[1:] != (32, 32, 3):
        raise DataError(f"{where}: {split} images are {images.dtype} {images.shape}, expected uint8 (N, 32, 32, 3)")
    if labels.shape != (images.shape[0],):
        raise DataError(f"{where}: {labels.shape[0]} labels for {images.shape[0]} images")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise DataError(f"{where}: labels span {labels.min()}..{labels.max()}, expected 0..{num_classes - 1}")
    if len(class_names) != num_classes:
        raise DataError(f"{where}: {len(class_names)} class names, expected {num_classes}")
    if available is not None and available.shape != labels.shape:
        raise DataError(f"{where}: an 'available' mask of {available.shape[0]} rows for {labels.shape[0]} images")
    return ImageSplit(np.ascontiguousarray(images), labels, class_names, source, available)
