"""ImageNet-LT / Places-LT / iNaturalist-2018 style datasets: a list file plus an image root.

A list file has one ``relative/path.jpg label`` per line (the format of the official
``ImageNet_LT_train.txt``, ``Places_LT_train.txt`` and ``iNaturalist18_train.txt``); labels are
integers ``0..C-1``. Images are decoded with Pillow and transformed by a torchvision transform.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ltlib.data.cifar import DataError


def read_list_file(list_file) -> tuple[list[str], np.ndarray]:
    """``(relative paths, labels)`` from a ``path label`` list file; malformed lines are errors."""
    list_path = Path(list_file)
    if not list_path.is_file():
        raise DataError(f"list file {list_path} does not exist")
    paths, labels = [], []
    for number, line in enumerate(list_path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit() or int(parts[1]) < 0:
            raise DataError(f"{list_path}:{number}: expected 'relative/path label' with a label >= 0, got {line!r}")
        paths.append(parts[0])
        labels.append(int(parts[1]))
    if not paths:
        raise DataError(f"list file {list_path} holds no entries")
    return paths, np.asarray(labels, dtype=np.int64)


class ListDataset(torch.utils.data.Dataset):
    """Images named by a list file under ``root``; ``class_counts`` counts labels ``0..C-1``."""

    def __init__(self, root, list_file, transform=None, num_classes: int | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"image root {self.root} is not a folder")
        self.paths, labels = read_list_file(list_file)
        self.labels = torch.from_numpy(labels)
        self.num_classes = num_classes or int(labels.max()) + 1
        if labels.max() >= self.num_classes:
            raise DataError(f"{list_file}: label {labels.max()} >= num_classes {self.num_classes}")
        self.class_counts = tuple(np.bincount(labels, minlength=self.num_classes).tolist())
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        from PIL import Image

        path = self.root / self.paths[index]
        if not path.is_file():
            raise DataError(f"image {path} (line {index + 1} of the list) does not exist")
        with Image.open(path) as image:
            image = image.convert("RGB")
        return (self.transform(image) if self.transform else image), int(self.labels[index])


#: per-channel mean and std of the input normalisation: ImageNet's, except iNaturalist 2018's own statistics
#: (as MiSLAS, whose stage-1 configs H2T builds on, and the decoupling code normalise it)
NORMALISATION = {"default": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                 "inat2018": ((0.466, 0.471, 0.380), (0.195, 0.194, 0.192))}


def imagenet_transforms(train: bool, size: int = 224, dataset: str = "imagenet_lt"):
    """The large benchmarks' transforms, as in MiSLAS's code (H2T's stage I): training takes a
    random-resized crop, a horizontal flip and a colour jitter (brightness, contrast and saturation 0.4, no hue);
    testing resizes to ``size * 256 / 224`` and takes the centre crop. Normalised with :data:`NORMALISATION`.
    SMART states no transforms; the decoupling code (Kang et al.) has the same ones except no jitter on
    iNaturalist."""
    from torchvision import transforms

    normal = transforms.Normalize(*NORMALISATION.get(dataset, NORMALISATION["default"]))
    if train:
        return transforms.Compose([transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip(),
                                   transforms.ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0),
                                   transforms.ToTensor(), normal])
    return transforms.Compose([transforms.Resize(int(size * 256 / 224)), transforms.CenterCrop(size),
                               transforms.ToTensor(), normal])
