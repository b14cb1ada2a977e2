"""REPRODUCTION.md's per-class table: each stored run's final-epoch top-1 on every test class, classes ordered from
head to tail with their training images. The many / medium / few splits average whole groups (on CIFAR-10-LT IF 100
the medium split is two classes and the few split is empty), so a method meant for the tail is read here class by
class: where it gains and where it loses, against the baseline row above it."""
from __future__ import annotations

from ltlib.significance import wilson_interval
from ltlib.storeview import StoreView


def section(view: StoreView, rows: dict[str, list]) -> list[str]:
    """The per-class table of the stored runs among ``rows`` (``{table: [(label, paper value, config), ...]}``, in
    order); a run that several rows share (the Logit Adj. row reads BSCE's run; LDAM-DRW is in both papers'
    tables) appears once, under its first label, naming the others."""
    stored, also = {}, {}  # run hash: (table, label, metrics) of its first row; the other rows reading it
    for table, table_rows in rows.items():
        for label, _, config in table_rows:
            key = config.hash()
            if key in stored:
                also[key].append(f"{table}: {label}")
            elif (metrics := view.metrics(config)) is not None and "per_class_accuracy" in metrics.get("final", {}):
                stored[key], also[key] = (table, label, metrics), []
    if not stored:
        return ["No run is stored yet."]
    first = next(iter(stored.values()))[2]
    counts = first["class_counts"]
    order = sorted(range(len(counts)), key=lambda index: -counts[index])  # head to tail (CIFAR-LT's class order)
    images = [sum(row) for row in first["final"]["confusion"]]  # test images per class: the confusion's rows
    widest = max((high - low) / 2 for low, high in (wilson_interval(n // 2, n) for n in images))
    lines = [f"Final-epoch top-1 on each test class ({' / '.join(sorted({str(n) for n in images}))} test images per "
             f"class: a cell's 95 % interval is at most ±{widest:.1f} points), classes from head to tail with their "
             "training images. One row per stored run.", "",
             "| table | row | " + " | ".join(f"{first['class_names'][i]} ({counts[i]})" for i in order) + " |",
             "|---|---|" + "---|" * len(order)]
    for key, (table, label, metrics) in stored.items():
        label += f" (also {'; '.join(also[key])})" if also[key] else ""
        accuracy = metrics["final"]["per_class_accuracy"]
        lines.append(f"| {table} | {label} | " + " | ".join(f"{accuracy[i]:.1f}" for i in order) + " |")
    return lines
