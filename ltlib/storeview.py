"""The results store as a report reads it (:mod:`ltlib.reproduction`, the README's status): each entry read and
sha256-checked once (:class:`StoreView`), what a stored run got right, how it was computed, and what an unstored
run is (in progress, failed, pending)."""
from __future__ import annotations

from pathlib import Path

from ltlib import campaign, store
from ltlib.evaluate import decode_outcomes
from ltlib.significance import mcnemar


def stored_metrics(config, root: Path | None = None) -> dict | None:
    try:
        found = store.read_entry(config, root)
    except store.StoreError:
        return None
    return None if found is None else found[1]


class StoreView:
    """The results store as one report reads it: each entry read and sha256-checked once, however many sections
    ask for it (the status, tables, comparisons, verdicts, figures and the README's summary)."""

    def __init__(self, root: Path | None = None):
        self.root = root
        self._metrics: dict[str, dict | None] = {}

    def metrics(self, config) -> dict | None:
        """The stored metrics of ``config``, None when it is not stored (or its entry is damaged)."""
        key = config.hash()
        if key not in self._metrics:
            self._metrics[key] = stored_metrics(config, self.root)
        return self._metrics[key]


def correct_count(metrics: dict) -> tuple[int, int]:
    """(images right, test images) of a stored run's final epoch."""
    total = metrics["test_images"]
    if "test_outcomes" in metrics:
        return int(decode_outcomes(metrics["test_outcomes"])[1].sum()), total
    return round(metrics["final_top1"] * total / 100), total


def paired_test(first: dict | None, second: dict | None) -> dict | None:
    """The exact McNemar test of stored run ``second`` against ``first`` on the same test images
    (:func:`ltlib.significance.mcnemar`), None unless both are stored with per-image predictions."""
    if not first or not second or "test_outcomes" not in first or "test_outcomes" not in second:
        return None
    return mcnemar(decode_outcomes(first["test_outcomes"])[1], decode_outcomes(second["test_outcomes"])[1])


def progress_of(config, view: StoreView) -> str | None:
    """``"k/n epochs"`` of a run in progress saved in the store, else None."""
    record = store.partial_record(config, view.root)
    return f"{record['epochs_done']}/{record['epochs']} epochs" if record else None


def state_of(config, view: StoreView) -> str:
    """What an unstored run is: in progress (epochs done), failed (its error) or pending."""
    progress = progress_of(config, view)
    if progress:
        return f"in progress ({progress})"
    failed = campaign.failure(config, view.root)
    if failed:
        return f"failed: {failed['error'][:80]}"
    return "pending"


def numerics(metrics: dict) -> str:
    """How a stored run was computed: its fast path's label (``float32``, ``bfloat16+channels_last`` ...), each
    path with its first epoch where a resumed run changed path."""
    segments = metrics.get("history", {}).get("fast_paths") or []
    if len(segments) > 1:
        return ", ".join(f"{label} from epoch {first + 1}" for first, label in segments)
    if segments:
        return segments[0][1]
    path = metrics.get("fast_path") or {}
    label = path.get("dtype", "float32") + ("+channels_last" if path.get("channels_last") else "")
    return label + (f" {path['compile']} {path.get('scope', '')}".rstrip() if path.get("compile") else "")
