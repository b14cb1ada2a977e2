"""The explorer: a control that redraws from existing results, and a static figure when headless."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

from ltlib import widgets  # noqa: E402


def test_moving_the_control_calls_draw_with_the_new_value(monkeypatch):
    monkeypatch.delenv("LTLIB_STATIC_WIDGETS", raising=False)
    drawn = []
    box = widgets.explorer(drawn.append, [("all", ("a", "b")), ("a", ("a",))], description="choice", kind="toggle")
    control = box.children[0]
    assert drawn == [("a", "b")]
    control.value = ("a",)
    assert drawn == [("a", "b"), ("a",)]


def test_headless_it_draws_once_makes_no_widget_and_shows_no_duplicate(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("LTLIB_STATIC_WIDGETS", "1")
    kept = plt.figure()  # a figure of an earlier cell stays open
    drawn = []

    def draw(value):
        drawn.append(value)
        return plt.subplots()[0]

    assert widgets.explorer(draw, [0.0, 0.5, 1.0], 0.5, "p", kind="slider") is None
    assert drawn == [0.5] and plt.get_fignums() == [kept.number]
    assert "explorer over p: interactive in JupyterLab" in capsys.readouterr().out
    plt.close(kept)
