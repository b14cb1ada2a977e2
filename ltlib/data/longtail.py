"""Long-tailed subsets of a balanced dataset and the many/medium/few class splits.

The construction is the one every peer uses (LDAM-DRW, MiSLAS, H2T, CMO):

* ``exp``:  ``n_i = int(n_max * (1 / IF) ** (i / (C - 1)))`` for classes in label order;
* ``step``: the first ``C // 2`` classes keep ``n_max``, the rest get ``int(n_max / IF)``;
* selection: ``np.random.seed(0)`` once, then for each class ``c`` in order:
  ``idx = np.where(y == c)[0]; np.random.shuffle(idx); keep idx[:n_c]``.

Only the within-class order of the source matters for which images are kept, so the
class-major npz copy and the official interleaved pickles select the same images.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ltlib.checks import one_of

IMBALANCE_TYPES = ("exp", "step")
SPLIT_RULES = ("counts", "ranges")
#: H2T's index ranges for CIFAR-100 (many [0, 36), medium [36, 71), few [71, 100)).
H2T_CIFAR100_RANGES = ((0, 36), (36, 71), (71, 100))
#: H2T's index ranges for CIFAR-10 (its Appendix D: "Classes 0-3 are head classes and Classes 6-9 are tail
#: classes"; medium is what is left, 4-5).
H2T_CIFAR10_RANGES = ((0, 4), (4, 6), (6, 10))
#: the ``ranges`` rule per dataset: ``(number of classes, ranges, by_rank)``. CIFAR: H2T's ranges of label indices
#: (CIFAR-LT's labels are in decreasing count order). The large benchmarks: the ranges of MiSLAS's configs, which
#: H2T's code inherits (``head/med/tail_class_idx``), cut over the classes ranked by decreasing training count
#: (MiSLAS relabels them so).
SPLIT_RANGES = {"cifar10": (10, H2T_CIFAR10_RANGES, False), "cifar100": (100, H2T_CIFAR100_RANGES, False),
                "imagenet_lt": (1000, ((0, 390), (390, 835), (835, 1000)), True),
                "inat2018": (8142, ((0, 842), (842, 4543), (4543, 8142)), True),
                "places_lt": (365, ((0, 131), (131, 288), (288, 365)), True)}


def check_imbalance_factor(value) -> float:
    try:
        factor = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"imbalance_factor must be a number >= 1, got {value!r}") from None
    if not math.isfinite(factor) or factor < 1:
        raise ValueError(f"imbalance_factor must be a finite number >= 1, got {value!r}")
    return factor


def long_tailed_counts(n_max: int, num_classes: int, imbalance_factor: float,
                       imbalance_type: str = "exp") -> list[int]:
    """Images per class, class 0 the largest (``n_0 = n_max``, ``n_{C-1} ~ n_max / IF``)."""
    factor = check_imbalance_factor(imbalance_factor)
    one_of("imbalance_type", imbalance_type, IMBALANCE_TYPES)
    if num_classes < 1 or n_max < 1:
        raise ValueError(f"need num_classes >= 1 and n_max >= 1, got {num_classes}, {n_max}")
    if imbalance_type == "step":
        half = num_classes // 2
        return [n_max] * half + [int(n_max / factor)] * (num_classes - half)
    if num_classes == 1:
        return [n_max]
    return [int(n_max * (1.0 / factor) ** (i / (num_classes - 1))) for i in range(num_classes)]


def long_tailed_indices(labels: np.ndarray, counts: list[int], seed: int = 0) -> np.ndarray:
    """Indices into ``labels`` of the long-tailed subset, class by class (peers' order)."""
    rng_state = np.random.get_state()
    np.random.seed(seed)  # the peers seed numpy's global RNG; restore it afterwards
    try:
        kept = []
        for cls, count in enumerate(counts):
            idx = np.where(labels == cls)[0]
            if len(idx) < count:
                raise ValueError(f"class {cls} has {len(idx)} images, the long tail asks for {count}")
            np.random.shuffle(idx)
            kept.append(idx[:count])
        return np.concatenate(kept)
    finally:
        np.random.set_state(rng_state)


@dataclass(frozen=True)
class ClassSplits:
    """Which classes are many / medium / few, and the rule that decided it."""

    rule: str  # e.g. "counts: many >100, medium 20-100, few <20 train images"
    many: tuple[int, ...]
    medium: tuple[int, ...]
    few: tuple[int, ...]

    def as_dict(self) -> dict[str, tuple[int, ...]]:
        return {"many": self.many, "medium": self.medium, "few": self.few}


def splits_by_counts(class_counts, many_above: int = 100, few_below: int = 20) -> ClassSplits:
    """The standard rule: many ``> 100``, medium ``20..100``, few ``< 20`` training images.

    A class with exactly 20 images is *medium*, as in the code of OLTR (Liu et al. 2019), whose split both papers
    cite, and in SMART's wording ("medium (20 to 100 images), and few (less than 20 images)"). H2T's text writes
    ``20 < n_i <= 100`` and ``n_i <= 20``, which would make it *few*. Decided for OLTR's code; it decides nothing on
    CIFAR-10-LT (no class has 20 images at IF 10-200) and one class of CIFAR-100-LT at IF 50, 100 and 200
    (class 81, 69, 60).
    """
    counts = np.asarray(class_counts)
    classes = np.arange(len(counts))
    return ClassSplits(
        rule=f"counts: many >{many_above}, medium {few_below}-{many_above}, few <{few_below} train images",
        many=tuple(classes[counts > many_above].tolist()),
        medium=tuple(classes[(counts >= few_below) & (counts <= many_above)].tolist()),
        few=tuple(classes[counts < few_below].tolist()),
    )


def splits_by_ranges(ranges=H2T_CIFAR100_RANGES) -> ClassSplits:
    """Explicit index ranges ``((a0, b0), (a1, b1), (a2, b2))`` for many/medium/few (H2T's rule)."""
    if len(ranges) != 3:
        raise ValueError(f"ranges must hold three (start, stop) pairs, got {ranges!r}")
    many, medium, few = (tuple(range(a, b)) for a, b in ranges)
    text = ", ".join(f"{n} [{a},{b})" for n, (a, b) in zip(("many", "medium", "few"), ranges))
    return ClassSplits(rule=f"ranges: {text}", many=many, medium=medium, few=few)


def splits_by_ranks(class_counts, ranges) -> ClassSplits:
    """Ranges ``((a0, b0), (a1, b1), (a2, b2))`` of *ranks*: the classes ordered by decreasing training count (ties
    by the lower label, a decision: MiSLAS's ``np.argsort(-counts)`` leaves tied classes in no stated order), as
    MiSLAS relabels a list benchmark's classes before cutting its index ranges."""
    order = np.argsort(-np.asarray(class_counts), kind="stable")
    many, medium, few = (tuple(sorted(order[a:b].tolist())) for a, b in ranges)
    text = ", ".join(f"{n} ranks [{a},{b})" for n, (a, b) in zip(("many", "medium", "few"), ranges))
    return ClassSplits(rule=f"ranges by decreasing count: {text}", many=many, medium=medium, few=few)


def class_splits(class_counts, rule: str = "counts", dataset: str | None = None) -> ClassSplits:
    """Splits by ``rule``: ``counts`` (default, :func:`splits_by_counts`) or ``ranges``, the papers' ranges of
    ``dataset`` (:data:`SPLIT_RANGES`; without a name, the dataset of that many classes): H2T's index ranges for
    CIFAR-10-LT and CIFAR-100-LT, whose classes are in decreasing count order, and MiSLAS's for ImageNet-LT,
    iNaturalist 2018 and Places-LT over the classes ranked by count (:func:`splits_by_ranks`). Any other class list
    (another dataset, a partial list, CIFAR classes not in count order) raises rather than cut indices that say
    nothing about its counts."""
    if rule == "counts":
        return splits_by_counts(class_counts)
    if rule != "ranges":
        one_of("split rule", rule, SPLIT_RULES)
    named = [name for name, (classes, _, _) in SPLIT_RANGES.items()
             if name == dataset or (dataset is None and classes == len(class_counts))]
    if not named:
        raise ValueError(f"split rule 'ranges' is H2T's index ranges of CIFAR-10-LT and CIFAR-100-LT (10 or 100 "
                         f"classes) and MiSLAS's of ImageNet-LT, iNaturalist 2018 and Places-LT (1000, 8142, 365); "
                         f"this dataset{'' if dataset is None else f' ({dataset})'} has {len(class_counts)}: use "
                         "'counts'")
    classes, ranges, by_rank = SPLIT_RANGES[named[0]]
    if len(class_counts) != classes:
        raise ValueError(f"split rule 'ranges' of {named[0]} cuts its {classes} classes; these counts hold "
                         f"{len(class_counts)} (a partial list?): use 'counts'")
    if by_rank:
        return splits_by_ranks(class_counts, ranges)
    if np.any(np.diff(np.asarray(class_counts)) > 0):
        raise ValueError("split rule 'ranges' needs the classes in decreasing count order (CIFAR-LT's label "
                         "order); these counts are not: use 'counts'")
    return splits_by_ranges(ranges)
