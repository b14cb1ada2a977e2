"""Long-tailed datasets: CIFAR-10/100-LT and list-file datasets (ImageNet-LT style)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ltlib.checks import require
from ltlib.data.cifar import (DATASETS, NUM_CLASSES, DataError, check_dataset, load_cifar)
from ltlib.data.longtail import (ClassSplits, class_splits, long_tailed_counts, long_tailed_indices)
from ltlib.data.recompress import (check_chroma_block, check_jpeg_quality, chroma_pool, error_shares, jpeg_reencode,
                                   median_psnr)
from ltlib.data.samplers import SAMPLERS, Sampler, class_probabilities

__all__ = ["DATASETS", "NUM_CLASSES", "SAMPLERS", "DataError", "LongTailedData", "Sampler",
           "class_probabilities", "class_splits", "load_long_tailed_cifar", "long_tailed_counts",
           "long_tailed_indices", "long_tailed_selection", "ClassSplits"]


@dataclass
class LongTailedData:
    """A long-tailed training set and its balanced test set, as uint8 tensors ``(N, 3, 32, 32)``."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    class_counts: tuple[int, ...]
    class_names: tuple[str, ...]
    source: str

    @property
    def num_classes(self) -> int:
        return len(self.class_counts)

    def splits(self, rule: str = "counts") -> ClassSplits:
        return class_splits(self.class_counts, rule)

    def to(self, device) -> "LongTailedData":
        move = {k: getattr(self, k).to(device) for k in ("train_images", "train_labels", "test_images", "test_labels")}
        return LongTailedData(**move, class_counts=self.class_counts, class_names=self.class_names, source=self.source)


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))


def load_long_tailed_cifar(dataset: str, imbalance_factor: float = 100, imbalance_type: str = "exp",
                           root=None, test_per_class: int | None = None,
                           max_per_class: int | None = None, jpeg_quality: int = 0,
                           chroma_block: int = 0) -> LongTailedData:
    """CIFAR-``dataset``-LT: the peers' long-tailed training subset and the balanced test set.

    ``test_per_class`` keeps only the first k test images of each class (quick profile); None
    keeps the full official test set. ``max_per_class`` sets ``n_max`` (the largest class) below the
    balanced source's ``N / C``; the subset then holds the first ``n_i`` images of the same per-class
    shuffle, so it is contained in the full long-tailed subset. ``jpeg_quality`` > 0 re-encodes every kept
    training and test image once more as JPEG at that quality (:mod:`ltlib.data.recompress`, the data-sensitivity
    diagnostic); ``chroma_block`` > 0 pools their chroma over blocks of that side instead (:func:`chroma_pool`). The
    source then says so, with the median PSNR of the changed images against the loaded ones. One change at a time.
    """
    check_dataset(dataset)
    check_jpeg_quality(jpeg_quality)
    check_chroma_block(chroma_block)
    require(not (jpeg_quality and chroma_block), "chroma_block", chroma_block,
            f"must be 0 beside jpeg_quality={jpeg_quality} (one change of the data at a time)")
    train = load_cifar(dataset, "train", root)
    test = load_cifar(dataset, "test", root)
    keep, test_keep, counts = long_tailed_selection(dataset, train.labels, test.labels, imbalance_factor,
                                                    imbalance_type, test_per_class, max_per_class)
    for split, rows in ((train, keep), (test, test_keep)):
        if split.available is not None and not split.available[rows].all():
            raise DataError(
                f"the {dataset} folder in use is a device kit (ltlib.devicekit) without {int((~split.available[rows]).sum())} "
                f"of the images this subset selects (IF {imbalance_factor:g}, {imbalance_type}, max_per_class "
                f"{max_per_class}, test_per_class {test_per_class}); build the kit for this run, or point LTLIB_DATA "
                "at the full copy")
    train_images, test_images, source = train.images[keep], test.images[test_keep], train.source
    if jpeg_quality or chroma_block:
        loaded = np.concatenate([train_images, test_images])
        if jpeg_quality:
            train_images, test_images = (jpeg_reencode(images, jpeg_quality) for images in (train_images, test_images))
        else:
            train_images, test_images = (chroma_pool(images, chroma_block) for images in (train_images, test_images))
        changed = np.concatenate([train_images, test_images])
        moved = f"median PSNR {median_psnr(loaded, changed):.1f} dB against it"
        if jpeg_quality:
            source = f"{source}, re-encoded as JPEG q{jpeg_quality} ({moved})"
        else:
            shares = error_shares(loaded, changed)
            source = (f"{source}, chroma pooled over {chroma_block} x {chroma_block} pixel blocks ({moved}, "
                      f"{100 * (shares['Cb'] + shares['Cr']):.0f} % of the change in Cb and Cr)")
    return LongTailedData(
        train_images=_to_tensor(train_images),
        train_labels=torch.from_numpy(train.labels[keep]),
        test_images=_to_tensor(test_images),
        test_labels=torch.from_numpy(test.labels[test_keep]),
        class_counts=tuple(counts),
        class_names=train.class_names,
        source=source,
    )


def long_tailed_selection(dataset: str, train_labels: np.ndarray, test_labels: np.ndarray, imbalance_factor: float = 100,
                          imbalance_type: str = "exp", test_per_class: int | None = None,
                          max_per_class: int | None = None) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Which rows :func:`load_long_tailed_cifar` keeps: training indices, test indices and class counts."""
    # n_max = N / C of the balanced source (5000 for CIFAR-10, 500 for CIFAR-100), as the peers compute it
    n_max = len(train_labels) // NUM_CLASSES[dataset]
    if max_per_class is not None:
        if not 1 <= max_per_class <= n_max:
            require(False, "max_per_class", max_per_class, f"must be in 1..{n_max} for {dataset}")
        n_max = max_per_class
    counts = long_tailed_counts(n_max, NUM_CLASSES[dataset], imbalance_factor, imbalance_type)
    keep = long_tailed_indices(train_labels, counts)
    test_keep = np.arange(len(test_labels))
    if test_per_class is not None:
        test_keep = np.concatenate([np.where(test_labels == c)[0][:test_per_class] for c in range(len(counts))])
    return keep, test_keep, counts
