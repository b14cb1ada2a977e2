"""The data-sensitivity diagnostic (tier 5 of the CPU plan): how much does more JPEG loss cost a CE model here?

Every stored row lies below the paper's number, and the first suspect is the data: the CIFAR-10 of these machines is
a JPEG-q75 copy, 30.5 dB (median PSNR) from the official pixels. Without the official images that step cannot be
measured, but the next one can: :func:`runs` trains SMART Table 1's CE row (plain CE, CMO's schedule, seed 0) again
on the copy re-encoded once more as JPEG (:mod:`ltlib.data.recompress`, training and test images alike):

* at quality 55, which moves the copy's pixels by a median PSNR of 30.5 dB (every 5th test image, 2026-12-04; each
  run's data label gives the value over its own images): a second loss as large as the one the copy already carries;
* at quality 30 (27.8 dB from the copy), a larger one.

The reading (:mod:`ltlib.compressionreport`) is a bound under a stated assumption, not a measurement of the copy's
own cost: if accuracy falls at least as fast with each further dB of loss as with the first, the copy cost CE at most
what the second equal step costs. A step within the seed-to-seed spread (tier 7) says nothing either way.
"""
from __future__ import annotations

from ltlib import tables

#: the re-encoding qualities, mildest first: one more loss of the copy's size (q55), then a larger one (q30)
QUALITIES = (55, 30)
TIER = "5 data: CE on the copy re-encoded as JPEG (q55, q30)"


def baseline(profile_name: str = "paper", seed: int = 0, dataset: str = "cifar10"):
    """The CE run the diagnostic re-trains: SMART Table 1's CE row (on the data as loaded)."""
    return tables.smart_base(profile_name, dataset=dataset, imbalance_factor=100, seed=seed)


def runs(profile_name: str = "paper", seed: int = 0, dataset: str = "cifar10") -> list[tuple[int, object]]:
    """``[(quality, config), ...]``: :func:`baseline` on the data re-encoded at each of :data:`QUALITIES`, in that
    order; the configs differ from the baseline in ``jpeg_quality`` alone."""
    base = baseline(profile_name, seed, dataset)
    return [(quality, base.replace(jpeg_quality=quality)) for quality in QUALITIES]
