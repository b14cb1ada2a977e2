"""Every figure notebook: committed without outputs, has a parameters cell, runs under papermill (quick)."""
from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

import ltlib
from ltlib import runsets
from ltlib.regenerate import executed_folder, notebooks, regenerate, run_notebook, tidy

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


def test_executed_paper_notebooks_are_committed_without_timings_or_machine_paths(tmp_path):
    assert executed_folder("paper").parts[-2:] == ("figures", "notebooks")
    assert executed_folder("quick").parts[-3:] == ("build", "notebooks", "quick")
    injected = nbformat.v4.new_code_cell("profile = 'paper'", metadata={"tags": ["injected-parameters"]})
    cell = nbformat.v4.new_code_cell("print(1)", outputs=[nbformat.v4.new_output("stream", text="1\n")],
                                     metadata={"papermill": {"duration": 0.1, "start_time": "t", "status": "completed"},
                                               "execution": {"iopub.status.busy": "t"}, "tags": ["x"]})
    notebook = nbformat.v4.new_notebook(cells=[injected, cell], metadata={"widgets": {"state": {}}, "papermill": {
        "input_path": "/home/me/notebooks/a.ipynb", "output_path": "/home/me/figures/notebooks/a.ipynb",
        "duration": 3.0, "start_time": "t", "end_time": "t", "environment_variables": {}, "parameters": {"profile": "paper"}}})
    path = tmp_path / "a.ipynb"
    nbformat.write(notebook, path)
    tidy(path)
    kept = nbformat.read(path, as_version=4)
    assert kept.metadata == {"papermill": {"parameters": {"profile": "paper"}}}
    assert kept.cells[0].id == "injected-parameters"
    assert kept.cells[1].metadata == {"papermill": {"status": "completed"}, "tags": ["x"]}
    assert kept.cells[1].outputs[0].text == "1\n"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_headless_in_quick_profile(path, tmp_path, real_cifar10, monkeypatch):
    asked = tmp_path / "asked-runs.txt"
    monkeypatch.setenv("LTLIB_RECORD_RUNS", str(asked))  # the kernel inherits it
    run = run_notebook(path, "quick", tmp_path)
    assert run.error is None, f"{path.name} failed at {run.error}"
    if path.stem in runsets.NOTEBOOK_RUNSETS:  # the campaign plans every run the notebook asked for
        planned = {config.hash() for config in runsets.notebook_configs(path.stem, "quick")}
        assert asked.is_file() and set(asked.read_text().split()) <= planned
    executed = nbformat.read(tmp_path / path.name, as_version=4)
    shown = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs
             if {"image/png", "text/html"} & set(o.get("data", {}))]
    assert shown, "the notebook shows no figure or table"


@pytest.mark.notebook
def test_paper_profile_renders_only_from_stored_runs_and_trains_nothing(tmp_path, monkeypatch, quick_ce_result):
    import ltlib
    from ltlib import store
    from ltlib.results import Result

    monkeypatch.setenv("LTLIB_FIGURES", str(tmp_path / "figures"))  # never the committed figures/ in a test
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LTLIB_TRAIN", raising=False)
    # a stand-in store entry for the paper CE run (the quick run's metrics, in a temporary store only)
    paper_ce = ltlib.profile("paper")
    store.write_entry(Result(paper_ce, quick_ce_result.metrics, quick_ce_result.folder))
    runs = regenerate("paper", selected=["00_quickstart", "03_tail", "08_tables"], output_folder=tmp_path / "out")
    by_name = {run.name: run for run in runs}
    assert by_name["00_quickstart.ipynb"].error is None and by_name["00_quickstart.ipynb"].skipped is None
    assert (tmp_path / "figures" / "00_quickstart_cifar10_if100.png").is_file()  # rendered from the store
    skipped = by_name["03_tail_prediction_frequency.ipynb"]
    assert skipped.error is None and "python -m ltlib campaign --profile paper --only 03_tail" in skipped.skipped
    assert "LTLIB_TRAIN" not in os.environ  # training was off inside the kernels only
    # the tables render from what is stored (the plain CE row of H2T Table 6); every other row says pending
    assert by_name["08_tables.ipynb"].error is None and by_name["08_tables.ipynb"].skipped is None
    tables_text = (tmp_path / "out" / "08_tables.ipynb").read_text()
    assert "pending: not stored yet" in tables_text and f"{paper_ce.hash()}" in tables_text
    assert tables_text.count("<td>stored</td>") == 1  # the HTML table's status cell of the one stored row
    executed = nbformat.read(tmp_path / "out" / "00_quickstart.ipynb", as_version=4)  # as committed: tidy
    assert "widgets" not in executed.metadata and "duration" not in executed.metadata.papermill
    assert "injected-parameters" in [cell.get("id") for cell in executed.cells]
    assert not [o for c in executed.cells if c.cell_type == "code" for o in c.outputs  # no progress bars
                if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]


@pytest.mark.notebook
def test_a_failing_notebook_never_replaces_its_executed_copy(tmp_path, monkeypatch):
    import ltlib.regenerate

    monkeypatch.setattr(ltlib.regenerate, "FAILED_FOLDER", tmp_path / "failed")
    source = tmp_path / "98_fails.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell('raise RuntimeError("boom")')],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), source)
    out = tmp_path / "out"
    out.mkdir()
    (out / source.name).write_text("the last good execution")
    run = run_notebook(source, "quick", out)
    assert "RuntimeError: boom" in run.error and str(tmp_path / "failed" / source.name) in run.error
    assert (out / source.name).read_text() == "the last good execution" and sorted(out.iterdir()) == [out / source.name]
    assert "boom" in (tmp_path / "failed" / source.name).read_text()


def _counting_notebook(path, marker):
    nbformat.write(nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "quick"', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(f'open({str(marker)!r}, "a").write("x")')],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), path)


@pytest.mark.notebook
def test_an_up_to_date_paper_rendering_is_not_executed_again(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    source, marker, out = tmp_path / "97_counts.ipynb", tmp_path / "executions.txt", tmp_path / "out"
    _counting_notebook(source, marker)
    assert run_notebook(source, "paper", out).skipped is None and marker.read_text() == "x"
    again = run_notebook(source, "paper", out)
    assert again.skipped.startswith("up to date") and marker.read_text() == "x"
    assert run_notebook(source, "paper", out, force=True).skipped is None and marker.read_text() == "xx"
    assert run_notebook(source, "paper", out, parameters={"seed": 1}).skipped is None and marker.read_text() == "xxx"
    assert run_notebook(source, "paper", out, parameters={"seed": 1}).skipped and marker.read_text() == "xxx"
    assert run_notebook(source, "quick", out).skipped is None and marker.read_text() == "xxxx"  # quick: always


def test_render_inputs_follow_the_store_entries_and_the_notebook(tmp_path, monkeypatch):
    from ltlib import runsets
    from ltlib.regenerate import NOTEBOOK_FOLDER, render_inputs
    from ltlib.store import entry_folder

    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    path = NOTEBOOK_FOLDER / "03_tail_prediction_frequency.ipynb"
    before = render_inputs(path, "paper")
    assert render_inputs(path, "paper") == before and render_inputs(path, "quick") != before
    assert render_inputs(path, "paper", {"seed": 1}) != before
    entry = entry_folder(runsets.notebook_configs(path.stem, "paper")[-1])
    entry.mkdir(parents=True)
    (entry / "config.json").write_text('{"sha256": {"metrics.json": "0"}}')
    stored = render_inputs(path, "paper")
    assert stored != before
    (entry / "config.json").write_text('{"sha256": {"metrics.json": "1"}}')  # the entry's content changed
    assert render_inputs(path, "paper") not in (before, stored)
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes() + b" ")
    assert render_inputs(copy, "paper") != render_inputs(path, "paper")


def test_what_render_inputs_leave_out_is_imported_by_no_notebook_and_no_module_they_cover():
    import ast
    import json

    from ltlib.regenerate import NOT_RENDERING

    left_out = {name.removesuffix(".py") for name in NOT_RENDERING}
    package = Path(ltlib.__file__).parent
    covered = [path for path in package.rglob("*.py") if not (path.parent == package and path.name in NOT_RENDERING)]
    sources = {str(path): path.read_text() for path in covered}
    sources |= {str(path): "\n".join("".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
                                     if cell["cell_type"] == "code") for path in NOTEBOOKS}
    for where, source in sources.items():
        for node in ast.walk(ast.parse(source)):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [f"{node.module}.{alias.name}" for alias in node.names] + [node.module or ""]
                     if isinstance(node, ast.ImportFrom) else [])
            hit = [n for n in names if n.split(".")[:2][-1] in left_out and n.startswith("ltlib")]
            assert not hit, f"{where} imports {hit}, which render_inputs leaves out (NOT_RENDERING)"
