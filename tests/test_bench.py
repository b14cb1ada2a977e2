"""The step check's verdicts, which choose the campaign's fast path on a GPU machine (bench/step_overhead.py)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from step_overhead import check_first_step, fastest  # noqa: E402


def timing(ms: float, **extra) -> dict:
    return {"seconds_per_step": ms / 1000, "losses": [2.0], **extra}


def test_the_fastest_path_is_the_quickest_one_that_worked():
    results = {"eager": {"ce": timing(9.0), "smart": timing(12.0)},
               "stages": {"ce": timing(3.0), "smart": timing(5.0)},
               "graphs": {"ce": timing(1.0), "smart": {"error": "RuntimeError: capture failed"}}}
    assert fastest(results) == "stages"  # graphs failed on one objective
    results["graphs"]["smart"] = timing(2.0, host_sync="step 4: synchronizing operation")
    assert fastest(results) == "stages"  # a step that waits for the host is not a working fast path
    results["graphs"]["smart"] = timing(2.0)
    assert fastest(results) == "graphs"


def test_paths_are_compared_on_the_objectives_all_of_them_measured():
    results = {"eager": {"ce": timing(9.0), "smart": timing(12.0)}, "stages": {"ce": timing(3.0)}, "graphs": {}}
    assert fastest(results) == "stages"  # a time limit stopped the check: compare what was measured
    assert fastest({"eager": {}}) is None


def test_a_first_loss_off_eager_marks_the_path_wrong():
    eager = timing(9.0)
    close, far, broken = timing(1.0, losses=[2.03]), timing(1.0, losses=[2.5]), timing(1.0, losses=[float("nan")])
    for found in (close, far, broken):
        check_first_step(found, eager, "graphs")
    assert "wrong" not in close and close["first_step_deviation"] < 0.02
    assert "wrong" in far and "wrong" in broken
    assert fastest({"eager": {"ce": eager}, "graphs": {"ce": far}}) == "eager"


def test_ratios_skip_what_failed():
    from step_overhead import add_ratios

    report = {"results": {"eager": {"ce": timing(10.0), "smart": timing(15.0)},
                          "graphs": {"ce": timing(2.0), "smart": {"error": "ImportError: file too short"}}}}
    add_ratios(report)
    assert report["smart_over_ce_eager"] == 1.5 and "smart_over_ce_graphs" not in report
