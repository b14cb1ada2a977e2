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


def test_headless_it_draws_once_and_makes_no_widget(monkeypatch):
    monkeypatch.setenv("LTLIB_STATIC_WIDGETS", "1")
    drawn = []
    assert widgets.explorer(drawn.append, [0.0, 0.5, 1.0], 0.5, "p", kind="slider") is None
    assert drawn == [0.5]
