"""The data-sensitivity diagnostic (tier 5 of the CPU plan): how much does a further loss of the copy's kind cost CE?

Every stored row lies below the paper's number, and the first suspect is the data: the CIFAR-10 of these machines is
a JPEG-q75 copy, 30.5 dB (median PSNR) from the official pixels. Without the official images that loss cannot be
measured, but the next one can: :func:`runs` trains SMART Table 1's CE row (plain CE, CMO's schedule, seed 0) again
on the copy changed once more (:mod:`ltlib.data.recompress`, training and test images alike), one change per run:

* re-encoded as JPEG at quality 55, which moves the copy's pixels by a median PSNR of 30.5 dB (every 5th test image,
  2026-12-04; each run's data label gives the value over its own images): a second loss as large as the one the copy
  already carries;
* re-encoded at quality 30 (27.8 dB from the copy), a larger one;
* its chroma pooled over 4 x 4 pixel blocks (40.9 dB from the copy; 2,000 training images, 2026-12-05, 93 % of the
  change in Cb and Cr). The copy's JPEG had already halved the chroma resolution (4:2:0), so its chroma carries
  almost no detail for the q55 step to remove again: of the q55 step's squared error 61 % lies in the luma (Y). The
  two JPEG steps therefore repeat the copy's quantisation, not its chroma subsampling; this step repeats the latter,
  halving the chroma grid once more (16 x 16 to 8 x 8) the way 4:2:0 does.

The reading (:mod:`ltlib.compressionreport`) is a bound under a stated assumption, not a measurement of the copy's
own cost: if each part of the copy's loss (its quantisation, its chroma subsampling) cost CE no more than the next
step of the same kind (the q55 step, the chroma step), the copy cost CE at most the two steps' costs together. A step
within the seed-to-seed spread (tier 7) says nothing either way.
"""
from __future__ import annotations

from ltlib import tables

#: the re-encoding qualities, mildest first: one more loss of the copy's size (q55), then a larger one (q30)
QUALITIES = (55, 30)
#: the chroma step's block side: 4:2:0's grid (2) halved once more
CHROMA_BLOCK = 4
TIER = "5 data: CE on the copy re-encoded as JPEG (q55, q30) and with its chroma grid halved again"


def baseline(profile_name: str = "paper", seed: int = 0, dataset: str = "cifar10"):
    """The CE run the diagnostic re-trains: SMART Table 1's CE row (on the data as loaded)."""
    return tables.smart_base(profile_name, dataset=dataset, imbalance_factor=100, seed=seed)


def step_name(config) -> str:
    """How the report names a step's data: ``"JPEG q55"``, ``"chroma 4 x 4"``."""
    if config.jpeg_quality:
        return f"JPEG q{config.jpeg_quality}"
    return f"chroma {config.chroma_block} x {config.chroma_block}"


def runs(profile_name: str = "paper", seed: int = 0, dataset: str = "cifar10") -> list[tuple[str, object]]:
    """``[(name, config), ...]``: :func:`baseline` on the data re-encoded at each of :data:`QUALITIES`, then with its
    chroma pooled over :data:`CHROMA_BLOCK`, in that order, each named by :func:`step_name`; each config differs from
    the baseline in one data field alone."""
    base = baseline(profile_name, seed, dataset)
    configs = [*(base.replace(jpeg_quality=quality) for quality in QUALITIES), base.replace(chroma_block=CHROMA_BLOCK)]
    return [(step_name(config), config) for config in configs]
