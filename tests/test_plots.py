"""savefig writes PNG, PDF and a provenance sidecar, byte-stable, in the profile's folder; legends name what a panel
shows."""
from __future__ import annotations

import json

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ltlib import plots  # noqa: E402


def test_savefig_is_byte_stable_with_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_FIGURES", str(tmp_path))
    fig, ax = plt.subplots()
    plots.class_count_curve([500, 50, 5], ["a", "b", "c"], ax=ax)
    png = plots.savefig(fig, "demo", {"counts": [500, 50, 5]}, {"config_hash": "abc", "seed": 0, "profile": "quick"})
    first = {s: (tmp_path / f"demo.{s}").read_bytes() for s in ("png", "pdf")}
    plots.savefig(fig, "demo", {"counts": [500, 50, 5]}, {"config_hash": "abc", "seed": 0, "profile": "quick"})
    assert png == tmp_path / "demo.png" and first["png"][:4] == b"\x89PNG" and first["pdf"][:4] == b"%PDF"
    assert all(first[s] == (tmp_path / f"demo.{s}").read_bytes() for s in ("png", "pdf"))
    sidecar = json.loads((tmp_path / "demo.json").read_text())
    assert sidecar["data"]["counts"] == [500, 50, 5] and sidecar["config_hash"] == "abc"
    assert {"ltlib_version", "git_commit"} <= set(sidecar) and sidecar["profile"] == "quick"
    plt.close(fig)


def test_the_profile_comes_from_the_provenance(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_FIGURES", str(tmp_path))
    fig, _ = plt.subplots()
    plots.savefig(fig, "runs", {}, {"CE": {"profile": "paper"}, "SMART": {"profile": "paper"}})
    assert json.loads((tmp_path / "runs.json").read_text())["profile"] == "paper"
    plt.close(fig)


def test_quick_figures_never_go_to_the_committed_folder(monkeypatch):
    monkeypatch.delenv("LTLIB_FIGURES", raising=False)
    assert plots.figure_folder("paper") == plots.REPO_ROOT / "figures"
    assert plots.figure_folder("quick") == plots.REPO_ROOT / "build" / "figures" / "quick"


def test_every_saved_figure_says_what_it_is_on_the_image(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_FIGURES", str(tmp_path))
    run = {"data_source": "CIFAR-10 (JPEG-q75 copy)", "seed": 0, "device": "cpu", "epochs": 200, "profile": "paper"}
    line = plots.provenance_line({"CE": run, "SMART": run}, "paper")
    assert line == "paper profile · seed 0 · CIFAR-10 (JPEG-q75 copy) · cpu · 200 epochs"
    quick = plots.provenance_line({**run, "epochs": 3, "profile": "quick"}, "quick")
    assert quick.startswith("quick profile: a 3-epoch pipeline check, not a result · seed 0")
    assert "· seeds 0, 1 ·" in plots.provenance_line({"a": run, "b": {**run, "seed": 1}}, "paper")
    stage_two = {**run, "benchmark": "CIFAR-10-LT IF 100", "epochs": "200 + 10"}
    assert (plots.provenance_line({"stage I": {**run, "benchmark": "CIFAR-10-LT IF 100"}, "DR": stage_two}, "paper")
            == "paper profile · seed 0 · CIFAR-10-LT IF 100 from CIFAR-10 (JPEG-q75 copy) · cpu · 200 / 200 + 10 epochs")
    fig, _ = plt.subplots()
    plots.savefig(fig, "runs", {}, {"CE": run})
    plots.savefig(fig, "runs", {}, {"CE": run})  # saved twice: one line on the image
    assert [t.get_text() for t in fig.texts] == [line]
    assert json.loads((tmp_path / "runs.json").read_text())["provenance_line"] == line
    plt.close(fig)


def test_a_region_has_the_colour_of_its_class_points():
    import numpy as np

    rng = np.random.default_rng(0)
    # two classes, 0 and 8, in two clusters; the model predicts every point's true class
    embedding = np.concatenate([rng.normal(-3, 0.5, (40, 2)), rng.normal(3, 0.5, (40, 2))])
    labels = np.repeat([0, 8], 40)
    fig, ax = plt.subplots()
    plots.decision_regions(embedding, labels, labels, ax=ax, class_names=[str(i) for i in range(10)], classes=[0, 8])
    [mesh], [points] = ax.images, ax.collections
    regions = np.asarray(mesh.get_array())
    assert regions.shape == (200, 200) and mesh.origin == "lower"  # row 0 at the bottom: the lowest y
    assert set(np.unique(regions)) == {0, 8}
    # the grid corner near each cluster is that class's region, painted in the colour of that class's points
    region_colour = mesh.to_rgba(np.array([regions[0, 0], regions[-1, -1]]))[:, :3]
    point_colour = points.to_rgba(np.array([0, 8]))[:, :3]
    assert (regions[0, 0], regions[-1, -1]) == (0, 8)
    assert np.allclose(region_colour, point_colour)
    assert np.allclose(point_colour, [plt.get_cmap("tab10")(c)[:3] for c in (0, 8)])
    # the image lies where the points are: the pixel under each point is painted with that point's prediction
    x0, x1, y0, y1 = mesh.get_extent()
    column = ((embedding[:, 0] - x0) / (x1 - x0) * 200).astype(int)
    row = ((embedding[:, 1] - y0) / (y1 - y0) * 200).astype(int)
    assert (regions[row, column] == labels).all()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "8"]
    plt.close(fig)
    # a class that is only predicted (no point of it on the panel) still gets a legend entry, marked as such
    fig, ax = plt.subplots()
    predictions = np.where(labels == 8, 1, labels)  # class 8's points predicted as class 1
    plots.decision_regions(embedding, labels, predictions, ax=ax, class_names=[str(i) for i in range(10)])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["0", "1 (region only)", "8"]
    plt.close(fig)


def test_the_class_count_legend_lists_only_the_splits_that_have_classes():
    from ltlib.data.longtail import splits_by_counts

    fig, ax = plt.subplots()
    plots.class_count_curve([500, 200, 50], splits=splits_by_counts([500, 200, 50]), ax=ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["many", "medium"]
    plt.close(fig)


def test_plane_regions_name_the_classes_of_their_points():
    import numpy as np

    points = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    fig, ax = plt.subplots()
    plots.plane_regions(lambda grid: (grid[:, 0] > 1).astype(int) * 2, points, np.array([0, 0, 2]), ax=ax,
                        class_names=["head", "middle", "tail"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["head", "tail"]
    plt.close(fig)


def test_a_row_of_region_panels_can_share_one_legend_outside():
    import numpy as np

    embedding, labels = np.random.default_rng(0).normal(size=(20, 2)), np.repeat([0, 1], 10)
    fig, (left, right) = plt.subplots(1, 2)
    plots.decision_regions(embedding, labels, labels, ax=left, class_names=["a", "b"], legend=None)
    plots.decision_regions(embedding, labels, labels, ax=right, class_names=["a", "b"], legend="outside")
    assert left.get_legend() is None and right.get_legend().get_bbox_to_anchor().x0 > right.bbox.x1
    with pytest.raises(ValueError, match="unknown legend 'left'"):
        plots.decision_regions(embedding, labels, labels, ax=left, class_names=["a", "b"], legend="left")
    plt.close(fig)
