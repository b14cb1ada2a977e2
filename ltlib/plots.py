"""Plotting: one ``savefig`` that decides where and how every figure is written, plus figure helpers.

``savefig(fig, name, data, provenance)`` writes ``<folder>/<name>.png`` (dpi 150) and
``<name>.pdf`` (no creation date, so files are byte-stable) and a ``<name>.json`` sidecar with
the plotted numbers and the provenance (config hashes, data source, profile, seed, device,
ltlib version and git commit). The folder is ``figures/`` for the ``paper`` profile and
``build/figures/quick/`` otherwise, so quick runs never overwrite committed figures.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ltlib.checks import one_of
from ltlib.version import __version__
from ltlib.storage import REPO_ROOT, atomic_write_bytes, atomic_write_json, git_commit

DPI = 150


def figure_folder(profile: str) -> Path:
    """``figures/`` for paper-profile figures, ``build/figures/<profile>/`` for any other."""
    override = os.environ.get("LTLIB_FIGURES")
    if override:
        return Path(override)
    return REPO_ROOT / "figures" if profile == "paper" else REPO_ROOT / "build" / "figures" / profile


def profile_from(provenance: dict) -> str:
    """The profile a figure's provenance names: its ``profile`` key, else the one profile shared by
    the nested provenances of its runs (``{"CE": result.provenance(), ...}``)."""
    if "profile" in provenance:
        return provenance["profile"]
    found = {value["profile"] for value in provenance.values() if isinstance(value, dict) and "profile" in value}
    if len(found) != 1:
        raise ValueError(f"the provenance names {sorted(found) or 'no'} profile(s); a figure needs exactly one "
                         "(add 'profile' to the provenance)")
    return found.pop()


def _collect(provenance: dict, key: str) -> list:
    """The distinct values of ``key`` in a provenance and in the nested provenances of its runs, in order."""
    found = []
    for value in [provenance.get(key)] + [v.get(key) for v in provenance.values() if isinstance(v, dict)]:
        if value is not None and value not in found:
            found.append(value)
    return found


def provenance_line(provenance: dict, profile: str) -> str:
    """What a figure is, in one line printed on the image: the profile (a quick figure says it is a pipeline
    check, not a result), seeds, data, device and epochs of its runs."""
    def joined(key, fmt="{}"):
        return " / ".join(fmt.format(v) for v in _collect(provenance, key))

    epochs = _collect(provenance, "epochs")
    if profile == "quick":
        head = (f"quick profile: a {'/'.join(map(str, epochs)) or 'few'}-epoch pipeline check, not a result")
    else:
        head = f"{profile} profile"
    seeds = _collect(provenance, "seed")
    seed = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else ""
    data = joined("benchmark")
    parts = [head, seed, f"{data} from {joined('data_source')}" if data else joined("data_source"), joined("device")]
    if profile != "quick" and epochs:
        parts.append(f"{' / '.join(map(str, epochs))} epochs")
    return " · ".join(part for part in parts if part)


def savefig(fig, name: str, data: dict, provenance: dict, profile: str | None = None) -> Path:
    """Save ``fig`` as PNG + PDF and ``data`` + ``provenance`` as JSON; returns the PNG path.

    The folder follows the profile (:func:`figure_folder`), taken from ``provenance`` (see
    :func:`profile_from`) unless ``profile`` is given. The image carries its :func:`provenance_line`
    at the bottom (and in the sidecar), so a figure seen alone still says what it is.
    """
    profile = profile or profile_from(provenance)
    line = provenance_line(provenance, profile)
    if not any(getattr(text, "_ltlib_provenance", False) for text in fig.texts):
        bottom = fig.get_tightbbox(fig.canvas.get_renderer()).y0 / fig.get_figheight()  # below tick labels
        text = fig.text(0.5, min(0.0, bottom) - 0.01, line, ha="center", va="top", fontsize=7, color="0.35")
        text._ltlib_provenance = True
    folder = figure_folder(profile)
    folder.mkdir(parents=True, exist_ok=True)
    for suffix, extra in (("png", {}), ("pdf", {"metadata": {"CreationDate": None}})):
        buffer = io.BytesIO()
        fig.savefig(buffer, format=suffix, dpi=DPI, bbox_inches="tight", **extra)
        atomic_write_bytes(folder / f"{name}.{suffix}", buffer.getvalue())
    sidecar = {"figure": name, "profile": profile, "provenance_line": line, "ltlib_version": __version__,
               "git_commit": git_commit(), **provenance, "data": data}
    atomic_write_json(folder / f"{name}.json", sidecar)
    return folder / f"{name}.png"


def class_count_curve(class_counts, class_names=None, splits=None, ax=None):
    """Bar chart of training images per class (log scale), coloured by many/medium/few."""
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    counts = np.asarray(class_counts)
    colours = np.array(["tab:blue"] * len(counts), dtype=object)
    if splits is not None:
        for name, colour in (("medium", "tab:orange"), ("few", "tab:red")):
            colours[list(getattr(splits, name))] = colour
    ax.bar(np.arange(len(counts)), counts, color=list(colours))
    ax.set_yscale("log")
    ax.set_xlabel("class index (sorted by training count)")
    ax.set_ylabel("training images")
    if class_names is not None and len(class_names) <= 20:
        ax.set_xticks(np.arange(len(counts)), class_names, rotation=45, ha="right")
    if splits is not None:
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=c, label=n) for n, c in
                           (("many", "tab:blue"), ("medium", "tab:orange"), ("few", "tab:red"))
                           if getattr(splits, n)], title=splits.rule.split(":")[0])  # an empty split has no entry
    return ax


def per_class_accuracy_bars(per_class_accuracy, class_names=None, ax=None, label=None):
    """Per-class test accuracy (%) as bars, in class-index order."""
    ax = ax or plt.subplots(figsize=(7, 3))[1]
    values = np.asarray(per_class_accuracy, dtype=float)
    ax.bar(np.arange(len(values)), values, label=label)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test accuracy (%)")
    if class_names is not None and len(class_names) <= 20:
        ax.set_xticks(np.arange(len(values)), class_names, rotation=45, ha="right")
    return ax


def summary_table(results: dict) -> str:
    """A plain-text table of ``{name: Result}``: final/best top-1 and many/medium/few."""
    width = max([24, *(len(name) + 2 for name in results)])
    header = f"{'run':<{width}}{'final top1':>11}{'best top1':>10}{'many':>8}{'medium':>8}{'few':>8}"
    rows = [header, "-" * len(header)]
    fmt = lambda v: f"{v:8.2f}" if v is not None else f"{'-':>8}"  # noqa: E731
    for name, result in results.items():
        s = result.summary()
        rows.append(f"{name:<{width}}{s['final top1']:11.2f}{s['best top1']:10.2f}{fmt(s['many'])}"
                    f"{fmt(s['medium'])}{fmt(s['few'])}")
    return "\n".join(rows)


def cluster_order(similarity) -> list[int]:
    """Class order that puts similar classes together (average-linkage on ``1 - similarity``)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    distance = 1.0 - np.asarray(similarity, dtype=float)
    distance = (distance + distance.T) / 2
    np.fill_diagonal(distance, 0.0)
    return leaves_list(linkage(squareform(distance.clip(min=0), checks=False), "average")).tolist()


def similarity_heatmap(similarity, class_names, ax=None, title: str = ""):
    """Seaborn heatmap of a class-similarity matrix, classes ordered by clustering."""
    import seaborn as sns

    order = cluster_order(similarity)
    matrix = np.asarray(similarity)[np.ix_(order, order)]
    names = [class_names[i] for i in order]
    ax = ax or plt.subplots(figsize=(8, 7))[1]
    show_names = len(names) <= 40
    sns.heatmap(matrix, ax=ax, cmap="viridis", square=True, cbar_kws={"shrink": 0.6},
                xticklabels=names if show_names else False, yticklabels=names if show_names else False)
    if not show_names:
        ax.set_yticks(np.arange(len(names))[::4] + 0.5, names[::4], fontsize=7, rotation=0)
    ax.set_title(title)
    return ax


def confusion_block(confusion, classes, class_names, ax=None, title: str = ""):
    """Row-normalised confusion (%) restricted to ``classes`` (SMART Fig. 3: a tail class first,
    then its most similar head classes); rows are true classes, columns predictions."""
    import seaborn as sns

    matrix = np.asarray(confusion, dtype=float)
    block = matrix[np.ix_(classes, classes)] / np.maximum(matrix[classes].sum(1, keepdims=True), 1) * 100
    names = [class_names[c] for c in classes]
    ax = ax or plt.subplots(figsize=(6, 5))[1]
    sns.heatmap(block, ax=ax, annot=len(classes) <= 11, fmt=".0f", cmap="Blues", vmin=0, vmax=100,
                xticklabels=names, yticklabels=names, cbar_kws={"label": "% of the true class"})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return ax


def grouped_bars(values: dict, labels, ax=None, ylabel: str = ""):
    """Bars of several series ``{name: (K,)}`` side by side over ``labels``."""
    ax = ax or plt.subplots(figsize=(8, 3))[1]
    width = 0.8 / len(values)
    for offset, (name, series) in enumerate(values.items()):
        ax.bar(np.arange(len(labels)) + (offset - (len(values) - 1) / 2) * width, series, width, label=name)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=45, ha="right")
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def class_colours(count: int):
    """``(colormap, norm)`` that give class ``c`` (an integer label, ``0 <= c < count``) its own colour, the same
    in every panel: tab10 up to 10 classes, tab20 beyond (cycled)."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    palette = plt.get_cmap("tab10" if count <= 10 else "tab20")
    return ListedColormap([palette(i % palette.N) for i in range(count)]), BoundaryNorm(np.arange(count + 1) - 0.5, count)


def decision_regions(embedding, labels, predictions, ax=None, title: str = "", class_names=None,
                     classes=None, resolution: int = 200, legend: str | None = "best"):
    """2-D embedding coloured by true label over the regions of a model's predictions: a kNN classifier fitted on
    the embedded points and their predictions (:func:`ltlib.embedding.region_classifier`), evaluated on a
    ``resolution`` x ``resolution`` grid. A region and a point of the same class have the same colour
    (:func:`class_colours`, keyed by the class label itself, so a panel of classes 0 and 8 uses their colours).
    With ``class_names`` a legend names every colour: inside the panel (``legend="best"``), to its right
    (``"outside"``, one legend for a row of panels) or none (``None``)."""
    from ltlib.embedding import region_classifier

    embedding, labels, predictions = map(np.asarray, (embedding, labels, predictions))
    if classes is not None:
        keep = np.isin(labels, classes)
        embedding, labels, predictions = embedding[keep], labels[keep], predictions[keep]
    ax = ax or plt.subplots(figsize=(5, 5))[1]
    colours, norm = class_colours(int(max(labels.max(), predictions.max())) + 1)
    low, high = embedding.min(axis=0), embedding.max(axis=0)
    pad = 0.05 * np.maximum(high - low, 1e-9)
    xs, ys = (np.linspace(low[d] - pad[d], high[d] + pad[d], resolution) for d in range(2))
    grid = np.meshgrid(xs, ys)
    regions = region_classifier(embedding, predictions).predict(np.c_[grid[0].ravel(), grid[1].ravel()])
    # a raster image, one pixel per grid point (a vector mesh of resolution**2 cells makes the PDF ~50x slower)
    half_x, half_y = (xs[1] - xs[0]) / 2, (ys[1] - ys[0]) / 2
    ax.imshow(regions.reshape(grid[0].shape), origin="lower", extent=(xs[0] - half_x, xs[-1] + half_x,
              ys[0] - half_y, ys[-1] + half_y), cmap=colours, norm=norm, alpha=0.25, interpolation="nearest",
              aspect="auto", zorder=0)
    ax.scatter(embedding[:, 0], embedding[:, 1], c=labels, cmap=colours, norm=norm, s=4, zorder=1)
    if class_names is not None and legend is not None:  # every colour on the panel: points' and predicted-only
        from matplotlib.lines import Line2D

        one_of("legend", legend, ("best", "outside"))
        shown = set(np.unique(labels).tolist())
        place = {"loc": "best"} if legend == "best" else {"loc": "center left", "bbox_to_anchor": (1.01, 0.5)}
        ax.legend(handles=[Line2D([], [], marker="o" if c in shown else "s", ls="", color=colours(norm(c)),
                                  alpha=1 if c in shown else 0.4,
                                  label=class_names[c] + ("" if c in shown else " (region only)"))
                           for c in sorted(shown | set(np.unique(regions).tolist()))], fontsize=7, **place)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    return ax


def margin_curves(margins: dict, class_names, ax=None):
    """SMART Fig. 4b: the average margin of every class ``{run: (C,)}``, classes in training-count order."""
    ax = ax or plt.subplots(figsize=(9, 3.5))[1]
    for label, values in margins.items():
        ax.plot(range(len(values)), values, marker="o", label=label)
    ax.axhline(0, color="grey", lw=0.8)
    if len(class_names) <= 20:
        ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_xlabel("class (training count falls to the right)")
    ax.set_ylabel("average margin")
    ax.legend()
    return ax


def sweep_plot(x, series: dict, ax=None, xlabel: str = "", ylabel: str = "top-1 (%)", log_x: bool = False):
    """Lines ``{name: (len(x),)}`` over a swept hyper-parameter (tau, p)."""
    ax = ax or plt.subplots(figsize=(5, 3.5))[1]
    for name, values in series.items():
        ax.plot(x, values, marker="o", label=name)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def covariance_ellipses(means, covariances, ax=None, labels=None, scale: float = 2.0):
    """One ellipse per class (``means`` ``(K, 2)``, ``covariances`` ``(K, 2, 2)``): axes along the
    covariance's eigenvectors, ``scale`` standard deviations long (SMART Eq. 2-3 in two dimensions)."""
    from matplotlib.patches import Ellipse

    ax = ax or plt.subplots(figsize=(5, 5))[1]
    palette = plt.get_cmap("tab10")
    for k, (mean, cov) in enumerate(zip(np.asarray(means), np.asarray(covariances))):
        values, vectors = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vectors[1, -1], vectors[0, -1]))
        width, height = 2 * scale * np.sqrt(np.clip(values[::-1], 0, None))
        ax.add_patch(Ellipse(mean, width, height, angle=angle, fill=False, color=palette(k % 10), lw=2,
                             label=None if labels is None else labels[k]))
        ax.plot(*mean, "x", color=palette(k % 10))
    ax.autoscale_view()
    return ax


def plane_regions(classify, points, labels, ax=None, title: str = "", margin: float = 0.5, resolution: int = 200,
                  class_names=None):
    """Decision regions of ``classify`` (``(M, 2)`` array -> ``(M,)`` labels) over the box around the 2-D
    ``points``, with the points coloured by ``labels``; ``class_names`` adds a legend of the points' classes."""
    points, labels = np.asarray(points), np.asarray(labels)
    ax = ax or plt.subplots(figsize=(5, 5))[1]
    (x0, y0), (x1, y1) = points.min(0) - margin, points.max(0) + margin
    grid_x, grid_y = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    regions = np.asarray(classify(np.stack([grid_x.ravel(), grid_y.ravel()], 1))).reshape(grid_x.shape)
    count = int(max(labels.max(), regions.max())) + 1
    ax.contourf(grid_x, grid_y, regions, levels=np.arange(count + 1) - 0.5, cmap="tab10", vmin=0, vmax=9, alpha=0.25)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", vmin=0, vmax=9, s=6)
    if class_names is not None:
        from matplotlib.lines import Line2D

        palette = plt.get_cmap("tab10")
        ax.legend(handles=[Line2D([], [], marker="o", ls="", color=palette(c % 10), label=class_names[c])
                           for c in np.unique(labels).tolist()], loc="best", fontsize=7)
    ax.set_title(title)
    return ax
