"""Every figure notebook: committed without outputs, has a parameters cell, runs under papermill (quick)."""
from __future__ import annotations

import nbformat
import pytest

from ltlib.regenerate import notebooks, run_notebook

NOTEBOOKS = notebooks()


def test_there_are_notebooks():
    assert any(nb.name.startswith("00_quickstart") for nb in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_parameters(path):
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not cell.outputs and cell.execution_count is None for cell in code), "strip outputs"
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1 and 'profile = "quick"' in tagged[0].source
    # papermill injects new values in a cell *after* this one: anything computed here from another
    # parameter would keep the default's value, so the parameters cell holds literals only
    import ast

    for statement in ast.parse(tagged[0].source).body:
        assert isinstance(statement, ast.Assign), ast.dump(statement)
        ast.literal_eval(statement.value)
    assert notebook.cells[0].cell_type == "markdown" and notebook.cells[-1].cell_type == "markdown"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_in_quick_profile(path, tmp_path, real_cifar10):
    run = run_notebook(path, "quick", tmp_path)
    assert run.error is None, f"{path.name} failed at {run.error}"
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    shown = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
             if {"image/png", "text/html"} & set(o.get("data", {}))]
    assert shown, "the notebook shows no figure or table"
