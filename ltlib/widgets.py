"""Controls over stored results, for teaching: moving a control redraws a figure from runs that exist.

:func:`explorer` puts one control (a dropdown, a slider over values, or toggle buttons) above an output
area and calls ``draw(value)`` there each time the control moves. ``draw`` only reads results the
notebook already has (cached or stored runs, embeddings it computed): no control ever trains. Under
papermill the notebook's static figure (drawn by an ordinary cell) is what the executed copy shows;
the explorer adds the interactive view in JupyterLab.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

from ltlib.checks import one_of

KINDS = ("dropdown", "slider", "toggle")


def explorer(draw, options, value=None, description: str = "", kind: str = "dropdown"):
    """A control over ``options`` (``(label, value)`` pairs or plain values) and an output redrawn by
    ``draw(value)`` whenever it changes; returns the ``ipywidgets.VBox`` to display."""
    import ipywidgets

    one_of("widget kind", kind, KINDS)
    make = {"dropdown": ipywidgets.Dropdown, "slider": ipywidgets.SelectionSlider,
            "toggle": ipywidgets.ToggleButtons}[kind]
    options = list(options)
    values = [option[1] if isinstance(option, tuple) else option for option in options]
    control = make(options=options, value=values[0] if value is None else value, description=description,
                   style={"description_width": "initial"})
    output = ipywidgets.Output()

    def show(change=None):
        with output:
            output.clear_output(wait=True)
            draw(control.value)
            plt.show()

    control.observe(show, names="value")
    show()
    return ipywidgets.VBox([control, output])
