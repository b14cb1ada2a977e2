"""Batch streams: how an objective reads the images of its index batches, from memory or from disk.

An objective draws each epoch's index batches with a sampler (the *global* order, the same on every
process) and keeps this process's share (:class:`Layout`: where its samples sit in each global batch).
It then reads step ``s`` of a stream as ``stream[s]`` -> ``(normalised float images, labels)`` on its
device. Two data paths feed the one training loop:

* :class:`TensorStream` (CIFAR): the uint8 images live on the device; crop/flip happens when a step is
  read, with draws made for the global batch (identical on every process);
* :class:`LoaderStream` (ImageNet-LT, iNaturalist 2018, Places-LT, :class:`StreamingData`): JPEGs are
  decoded and transformed by ``DataLoader`` workers ahead of the loop, into pinned memory. Each sample
  carries a seed drawn for its global position, and its random transform runs under that seed, so a
  run gives the same images whatever the number of workers or processes.

Steps of a stream are read in increasing order; a step an objective skips (CMO's foreground batch
when no mixing happens) is loaded and dropped.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ltlib.data.augment import batch_images
from ltlib.data.cifar import DataError
from ltlib.data.lists import ListDataset, imagenet_transforms
from ltlib.data.longtail import class_splits

IMAGES_ENV = "LTLIB_IMAGES"
LISTS_ENV = "LTLIB_LISTS"
WORKERS_ENV = "LTLIB_WORKERS"


@dataclass(frozen=True)
class Layout:
    """Where this process's samples sit in each global step batch: ``positions`` ``(b,)`` of ``total``."""

    positions: torch.Tensor
    total: int

    @classmethod
    def whole(cls, size: int) -> "Layout":
        return cls(torch.arange(size), size)

    def then(self, other: "Layout") -> "Layout":
        """The layout of two global batches laid side by side (this one first)."""
        return Layout(torch.cat([self.positions, other.positions + self.total]), self.total + other.total)


class TensorStream:
    """Steps of in-memory index ``batches`` ``(steps, b)``, read by ``read(indices, layout)``, which returns a
    step's batch dict (:func:`ltlib.data.augment.batch_images`: ``raw`` images with their crop/flip draws)."""

    def __init__(self, batches: torch.Tensor, layout: Layout, read):
        self.batches, self.layout, self.read = batches, layout, read

    def inputs(self, step: int) -> dict:
        """Step ``step``'s batch dict: the images and the draws of their augmentation, nothing computed yet."""
        return self.read(self.batches[step], self.layout)

    def __getitem__(self, step: int):
        batch = self.inputs(step)
        return batch_images(batch), batch["targets"]


@dataclass(frozen=True)
class ListSpec:
    """An official long-tailed benchmark: its list files and number of classes."""

    title: str
    train_list: str
    test_list: str
    num_classes: int


#: the list-file benchmarks, their official list files (test = the split the papers report) and class count
#: (the classes of a run are those of its training list: every official list has them all)
LIST_DATASETS = {
    "imagenet_lt": ListSpec("ImageNet-LT", "ImageNet_LT_train.txt", "ImageNet_LT_test.txt", 1000),
    "inat2018": ListSpec("iNaturalist 2018", "iNaturalist18_train.txt", "iNaturalist18_val.txt", 8142),
    "places_lt": ListSpec("Places-LT", "Places_LT_train.txt", "Places_LT_test.txt", 365),
}
#: image side of each benchmark's crops (the papers' 224)
DEFAULT_IMAGE_SIZE = 224


def image_root(root=None) -> Path:
    """The folder the list files' image paths are relative to: ``root``, else ``$LTLIB_IMAGES``."""
    chosen = root or os.environ.get(IMAGES_ENV)
    if not chosen:
        raise DataError(f"no image folder named: pass --images DIR (or images=...) or set {IMAGES_ENV}; the list "
                        "files' paths are relative to it (see README, 'Large-scale benchmarks')")
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DataError(f"image folder {path} does not exist (from {'the argument' if root else IMAGES_ENV})")
    return path


def list_file(dataset: str, which: str, images: Path, lists=None) -> Path:
    """The official ``which`` (train/test) list file of ``dataset``: in ``lists`` (else ``$LTLIB_LISTS``,
    else the image folder)."""
    spec = LIST_DATASETS[dataset]
    folder = Path(lists or os.environ.get(LISTS_ENV) or images).expanduser()
    path = folder / (spec.train_list if which == "train" else spec.test_list)
    if not path.is_file():
        raise DataError(f"{spec.title} list file {path.name} not found in {folder}; put the official list files "
                        f"there or name their folder with --lists DIR / {LISTS_ENV}")
    return path


def class_names_from_paths(paths, labels: np.ndarray, num_classes: int) -> tuple[str, ...]:
    """A name per class from its first image's folder (``n01440764`` for ImageNet, ``airfield`` for Places,
    ``Plantae/7477`` for iNaturalist, whose class folders are numbers); ``class k`` where a class has no
    training image."""
    names = [f"class {k}" for k in range(num_classes)]
    seen = set()
    for path, label in zip(paths, labels.tolist()):
        if label in seen:
            continue
        seen.add(label)
        parts = Path(path).parts
        if len(parts) >= 2:
            folder = parts[-2]
            names[label] = f"{parts[-3]}/{folder}" if folder.isdigit() and len(parts) >= 3 else folder
    return tuple(names)


def default_workers() -> int:
    """DataLoader workers per process: ``$LTLIB_WORKERS``, else up to 8 (the peers' setting), at most the CPUs."""
    if os.environ.get(WORKERS_ENV):
        return int(os.environ[WORKERS_ENV])
    return min(8, os.cpu_count() or 1)


class SeededImages(torch.utils.data.Dataset):
    """Items ``(index, seed)`` of a :class:`ListDataset`, transformed under ``torch.manual_seed(seed)``."""

    def __init__(self, images: ListDataset, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        index, seed = item
        image, label = self.images[index]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self.transform(image), label


class PlannedBatches:
    """A batch sampler whose batches are set before each epoch (the loader's workers stay alive)."""

    def __init__(self):
        self.batches: list = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class LoaderStream:
    """Steps of index ``batches`` ``(steps, b)`` decoded by a persistent ``DataLoader``, in order."""

    def __init__(self, loader, planned: PlannedBatches, batches: torch.Tensor, seeds: torch.Tensor, device):
        planned.batches = [list(zip(row, seed)) for row, seed in zip(batches.tolist(), seeds.tolist())]
        self.iterator, self.device, self.next_step = iter(loader), device, 0

    def __getitem__(self, step: int):
        if step < self.next_step:
            raise IndexError(f"step {step} of a stream was already read; steps are read in increasing order")
        while self.next_step <= step:
            images, labels = next(self.iterator)
            self.next_step += 1
        return images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)

    def inputs(self, step: int) -> dict:
        """Step ``step``'s batch dict: ``images`` already augmented and normalised by the workers."""
        images, targets = self[step]
        return {"images": images, "targets": targets}


@dataclass
class StreamingData:
    """A list-file benchmark read from disk as training goes (ImageNet-LT, iNaturalist 2018, Places-LT).

    Offers what objectives and evaluation use of :class:`~ltlib.data.LongTailedData` (labels, class
    counts and names, splits, source, ``to(device)``) and streams instead of image tensors.
    """

    dataset: str
    train: ListDataset
    test: ListDataset
    class_names: tuple[str, ...]
    image_size: int = DEFAULT_IMAGE_SIZE
    workers: int = 0
    device: torch.device = torch.device("cpu")
    streaming = True

    def __post_init__(self):
        self.train_labels = self.train.labels.to(self.device)
        self.test_labels = self.test.labels
        self._loaders = {}

    @property
    def class_counts(self) -> tuple[int, ...]:
        return self.train.class_counts

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    @property
    def source(self) -> str:
        """The benchmark and its image folder; a training list that holds fewer classes than the benchmark (e.g.
        H2T's ``ImageNet_LT_train_part.txt``, or a test's tiny list) says so."""
        spec = LIST_DATASETS[self.dataset]
        partial = (f", a partial list: {self.num_classes} of its {spec.num_classes} classes"
                   if self.num_classes < spec.num_classes else "")
        return f"{spec.title} ({self.train.root}{partial})"

    def splits(self, rule: str = "counts"):
        return class_splits(self.class_counts, rule, self.dataset)

    def to(self, device) -> "StreamingData":
        return dataclasses.replace(self, device=torch.device(device))

    def _loader(self, name: str, images: ListDataset, train: bool, batch_size: int | None = None):
        """One persistent loader per use (training stream of each kind, evaluation), made on first use."""
        if name not in self._loaders:
            transform = imagenet_transforms(train, self.image_size, self.dataset)
            planned = PlannedBatches()
            loader = torch.utils.data.DataLoader(
                SeededImages(images, transform), batch_sampler=planned, num_workers=self.workers,
                pin_memory=self.device.type == "cuda", persistent_workers=self.workers > 0)
            self._loaders[name] = (loader, planned)
        return self._loaders[name]

    def stream(self, name: str, batches: torch.Tensor, layout: Layout, generator: torch.Generator,
               augment: bool = True) -> LoaderStream:
        """Stream ``name`` of this epoch: ``batches`` ``(steps, b)`` of this process at ``layout``; a seed per
        sample drawn for its global position (so every process draws the same)."""
        seeds = torch.randint(0, 2**62, (batches.shape[0], layout.total), generator=generator, device=generator.device)
        seeds = seeds[:, layout.positions.to(seeds.device)]
        loader, planned = self._loader(f"{name}-{'train' if augment else 'plain'}", self.train, augment)
        return LoaderStream(loader, planned, batches.cpu(), seeds.cpu(), self.device)

    def test_batches(self, indices: torch.Tensor, batch_size: int):
        """Normalised test images of ``indices``, ``batch_size`` at a time, on this data's device."""
        loader, planned = self._loader("test", self.test, train=False)
        chunks = indices.split(batch_size)
        stream = LoaderStream(loader, planned, torch.nn.utils.rnn.pad_sequence(list(chunks), batch_first=True),
                              torch.zeros(len(chunks), batch_size, dtype=torch.long), self.device)
        for step, chunk in enumerate(chunks):
            yield stream[step][0][: len(chunk)]


def load_list_dataset(dataset: str, images=None, lists=None, image_size: int = DEFAULT_IMAGE_SIZE,
                      test_per_class: int = 0, workers: int | None = None) -> StreamingData:
    """``dataset`` (a key of :data:`LIST_DATASETS`) from its official list files and image folder."""
    spec = LIST_DATASETS[dataset]
    root = image_root(images)
    train = ListDataset(root, list_file(dataset, "train", root, lists))  # C = the largest training label + 1
    if train.num_classes > spec.num_classes:
        raise DataError(f"{spec.title} has {spec.num_classes} classes, but its training list holds label "
                        f"{train.num_classes - 1}")
    test = ListDataset(root, list_file(dataset, "test", root, lists), num_classes=train.num_classes)
    if test_per_class:
        keep = np.concatenate([np.flatnonzero(test.labels.numpy() == c)[:test_per_class]
                               for c in range(spec.num_classes)])
        keep.sort()
        test.paths = [test.paths[i] for i in keep]
        test.labels = test.labels[torch.from_numpy(keep)]
    names = class_names_from_paths(train.paths, train.labels.numpy(), spec.num_classes)
    return StreamingData(dataset, train, test, names, image_size, default_workers() if workers is None else workers)
