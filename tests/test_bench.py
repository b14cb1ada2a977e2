"""The step check's verdicts, which choose the campaign's fast path on a GPU machine (bench/step_overhead.py), and
the benchmarks' reports, which a time limit must not lose (bench/throughput.py)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from step_overhead import LOSS_TOLERANCE, check_losses, fastest  # noqa: E402


def timing(ms: float, **extra) -> dict:
    return {"seconds_per_step": ms / 1000, "losses": [2.0], **extra}


def test_the_fastest_path_is_the_quickest_one_that_worked():
    results = {"eager": {"ce": timing(9.0), "smart": timing(12.0)},
               "stages": {"ce": timing(3.0), "smart": timing(5.0)},
               "graphs": {"ce": timing(1.0), "smart": {"error": "RuntimeError: capture failed"}}}
    assert fastest(results, ["ce", "smart"]) == "stages"  # graphs failed on one objective
    results["graphs"]["smart"] = timing(2.0, host_sync="step 4: synchronizing operation")
    assert fastest(results, ["ce", "smart"]) == "stages"  # a step that waits for the host is not a working fast path
    results["graphs"]["smart"] = timing(2.0)
    assert fastest(results, ["ce", "smart"]) == "graphs"


def test_only_a_path_that_measured_every_objective_asked_for_is_chosen():
    objectives = ["ce", "smart", "h2t"]
    results = {"eager": {"ce": timing(9.0), "smart": timing(12.0), "h2t": timing(4.0)},
               "stages": {"ce": timing(3.0), "smart": timing(5.0), "h2t": timing(2.0)},
               "graphs": {"ce": timing(0.5)}}  # a time limit stopped it after CE, the quickest there
    assert fastest(results, objectives) == "stages"
    results["stages"]["h2t"] = timing(2.0, wrong="step 3 loss 9.0 vs eager 2.0")
    assert fastest(results, objectives) == "eager"
    results["eager"]["smart"] = {"error": "RuntimeError: out of memory"}
    assert fastest(results, objectives) is None  # no path measured everything without a fault
    assert fastest({"eager": {}, "stages": {"ce": timing(3.0)}}, objectives) is None
    assert fastest({"eager": {}}, []) is None


def test_losses_after_the_warm_up_off_eager_mark_the_path_wrong():
    eager = timing(9.0, losses=[2.0, 2.0, 1.9, 1.8])
    close = timing(1.0, losses=[2.5, 2.03, 1.92, 1.6])  # warm-up step off and the drift of step 3: not compared
    drifts = timing(1.0, losses=[2.0, 1.5, 1.9, 1.8])  # the first step matches, the first compiled one does not
    broken = timing(1.0, losses=[2.0, 2.0, float("nan"), 1.8])
    for found in (close, drifts, broken):
        check_losses(found, eager, "graphs", warmup=1)
    assert "wrong" not in close and close["loss_deviation"] < LOSS_TOLERANCE
    assert "wrong" in drifts and "step 1" in drifts["wrong"] and drifts["loss_deviation"] > 0.1
    assert "wrong" in broken and "step 2" in broken["wrong"]
    assert fastest({"eager": {"ce": eager}, "graphs": {"ce": drifts}}, ["ce"]) == "eager"
    check_losses(eager, eager, "eager", warmup=1)
    assert "wrong" not in eager and "loss_deviation" not in eager


def test_ratios_skip_what_failed():
    from step_overhead import add_ratios

    report = {"results": {"eager": {"ce": timing(10.0), "smart": timing(15.0)},
                          "graphs": {"ce": timing(2.0), "smart": {"error": "ImportError: file too short"}}}}
    add_ratios(report)
    assert report["smart_over_ce_eager"] == 1.5 and "smart_over_ce_graphs" not in report


def test_throughput_keeps_every_finished_measurement_when_stopped(monkeypatch, tmp_path):
    import report
    import throughput

    def pipeline(name, *rest):
        if name == "ltlib-fast":
            raise TimeoutError("killed by the time limit")
        seconds = {"peer": 4.0, "ltlib": 2.0}[name]
        return {"seconds_per_epoch": seconds, "projected_200_epochs_s": 200 * seconds, "top1_mean": 10.0,
                "top1_std": 0.0}, None

    monkeypatch.setattr(report, "RESULTS", tmp_path)
    monkeypatch.setattr(throughput, "data_for", lambda config, path: SimpleNamespace(source="fake"))
    monkeypatch.setattr(throughput, "pipeline", pipeline)
    with pytest.raises(TimeoutError):
        throughput.main(["--device", "cpu", "--seeds", "1"])
    (written,) = tmp_path.iterdir()  # one report, rewritten in place; no temporary file left
    saved = json.loads(written.read_text())
    assert written.name.startswith("throughput-cpu-") and set(saved["runs"]) == {"peer", "ltlib"}
    assert saved["speedup"] == 2.0 and "fast_speedup" not in saved


def test_the_transfer_structure_of_identity_covariances_keeps_every_channel_and_of_rank_one_keeps_one():
    from smart_transfer import effective_rank, pair_structure

    assert effective_rank(torch.eye(8)) == pytest.approx(8) and effective_rank(torch.ones(8, 8)) == pytest.approx(1)
    identity = pair_structure(torch.eye(8) * 4.0, torch.eye(8) * 9.0, tau=1.0)
    # S = 36 I -> N(S) = I, softmax keeps e / (e + 7) of each row on the diagonal, N(.) brings it back to I: Eq. 6 then
    # multiplies the whitened map by I * 2 (the tail's RMS standard deviation): every channel kept at its own spread
    assert identity["effective_rank"] == pytest.approx(8) and identity["diagonal_share"] == pytest.approx(1)
    assert identity["gain"] == pytest.approx({"median": 1.0, "min": 1.0, "max": 1.0})
    assert identity["diagonal_argmax"] == 1.0
    direction = torch.linspace(1, 2, 8)
    rank_one = torch.outer(direction, direction) + 1e-4 * torch.eye(8)
    collapsed = pair_structure(rank_one, rank_one, tau=1.0)
    assert collapsed["effective_rank"] < 1.1 and collapsed["diagonal_share"] < 0.2


@pytest.mark.parametrize("rule, pairs", [("many", 2 * 3), ("half", 2 * 3), ("relative", 1 + 2 + 3 + 4)])
def test_the_transfer_structure_reads_the_pairs_the_run_s_head_rule_draws(rule, pairs):
    """many and half: each of classes 3 and 4 with each of the head classes 0-2; relative: every class with each
    class that has more images (1 + 2 + 3 + 4 pairs)."""
    from smart_transfer import structure

    generator = torch.Generator().manual_seed(0)
    factors = torch.randn(5, 4, 4, generator=generator)
    checkpoint = {"epoch": 3, "objective": {"statistics": {"covariance": factors @ factors.transpose(1, 2) + torch.eye(4),
                                                           "seen": torch.ones(5)}}}
    config = {"class_counts": [500, 300, 150, 40, 10], "smart_head_rule": rule, "smart_normalize": True}
    report = structure(checkpoint, config, [1.0])
    assert report["pairs"] == pairs and report["channels"] == 4
