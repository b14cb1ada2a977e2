"""A tiny long-tailed list-file benchmark written by the tests: a few classes of small JPEGs laid out like
ImageNet-LT (``train/<wnid>/<file>.JPEG`` and the official list-file names)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: training images per class (long-tailed) and test images per class
TRAIN_COUNTS = (16, 8, 4, 2)
TEST_PER_CLASS = 3


def write_list_benchmark(folder: Path, counts=TRAIN_COUNTS, test_per_class: int = TEST_PER_CLASS, size: int = 20,
                         seed: int = 0) -> Path:
    """Write the images and ``ImageNet_LT_train.txt`` / ``ImageNet_LT_test.txt`` under ``folder``; returns it.

    Each class has its own mean colour plus noise, so a network can learn something in a few steps."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    colours = rng.integers(30, 226, (len(counts), 3))
    lines = {"train": [], "test": []}
    for split, per_class in (("train", counts), ("test", [test_per_class] * len(counts))):
        for label, count in enumerate(per_class):
            wnid = f"n0{label:07d}"
            (folder / split / wnid).mkdir(parents=True, exist_ok=True)
            for i in range(count):
                pixels = np.clip(colours[label] + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
                relative = f"{split}/{wnid}/{wnid}_{i}.JPEG"
                Image.fromarray(pixels).save(folder / relative, quality=90)
                lines[split].append(f"{relative} {label}")
    (folder / "ImageNet_LT_train.txt").write_text("\n".join(lines["train"]) + "\n")
    (folder / "ImageNet_LT_test.txt").write_text("\n".join(lines["test"]) + "\n")
    return folder
