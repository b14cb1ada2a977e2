"""Controls over stored results, for teaching: moving a control redraws a figure from runs that exist.

:func:`explorer` puts one control (a dropdown, a slider over values, or toggle buttons) above an output
area and calls ``draw(value)`` there each time the control moves. ``draw`` only reads results the
notebook already has (cached or stored runs, embeddings it computed): no control ever trains.

Headless (``LTLIB_STATIC_WIDGETS=1``, which ``python -m ltlib figures`` and the tests set for their
kernels) the explorer creates no widget: it draws ``draw(value)`` once, so the callback is exercised, closes that
figure (every notebook's explorer starts on the view the figure above it already shows) and says so: nbclient,
which papermill runs on, can block on a cell that creates widgets (jupyter/nbclient#312; seen here:
a kernel idle for minutes while the executor waited), so executed notebooks never hold one.
"""
from __future__ import annotations

import os

import matplotlib.pyplot as plt

from ltlib.checks import one_of

KINDS = ("dropdown", "slider", "toggle")


def explorer(draw, options, value=None, description: str = "", kind: str = "dropdown"):
    """A control over ``options`` (``(label, value)`` pairs or plain values) and an output redrawn by
    ``draw(value)`` whenever it changes; returns the ``ipywidgets.VBox`` to display."""
    one_of("widget kind", kind, KINDS)
    options = list(options)
    values = [option[1] if isinstance(option, tuple) else option for option in options]
    if os.environ.get("LTLIB_STATIC_WIDGETS", "").lower() in ("1", "true", "yes"):
        before = set(plt.get_fignums())
        draw(values[0] if value is None else value)
        for number in set(plt.get_fignums()) - before:  # the figure above already shows this view
            plt.close(number)
        print(f"explorer over {description or 'its options'}: interactive in JupyterLab; headless, its first view "
              "was drawn (not shown again)")
        return None
    import ipywidgets

    make = {"dropdown": ipywidgets.Dropdown, "slider": ipywidgets.SelectionSlider,
            "toggle": ipywidgets.ToggleButtons}[kind]
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
