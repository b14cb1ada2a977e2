"""The campaign: its plan covers every notebook, it resumes after a kill, packed workers give the runs
they give alone, and the store of the full CIFAR-10-LT campaign fits its budget."""
from __future__ import annotations

import io

import pytest
import torch

import ltlib.train
from ltlib import campaign, plans, runsets
from ltlib.config import StageTwoConfig, stage_one
from ltlib.models import build_model
from ltlib.results import load_result
from ltlib.store import keeps_weights
from tinyruns import run_concurrently, tiny_runset


def test_the_paper_plan_holds_every_notebook_run_in_value_order():
    runs = plans.plan("paper", seeds=(0, 1, 2))
    hashes = [run.hash for run in runs]
    assert len(hashes) == len(set(hashes))
    for name in runsets.NOTEBOOK_RUNSETS:
        for seed in (0, 1, 2):
            assert {c.hash() for c in runsets.notebook_configs(name, "paper", seed)} <= set(hashes), name
    seeds = [run.seed for run in runs]
    assert seeds == sorted(seeds)  # every run of seed 0 before any of seed 1
    position = {digest: index for index, digest in enumerate(hashes)}
    for run in runs:
        if isinstance(run.config, StageTwoConfig):
            assert position[run.config.stage1.hash()] < position[run.hash]
    factors = {run.config.imbalance_factor for run in runs if not isinstance(run.config, StageTwoConfig)}
    assert factors == {200.0, 100.0, 50.0}  # H2T Table 6 and SMART Table 1 columns
    with pytest.raises(ValueError, match="--only \\['99'\\] matches no notebook"):
        plans.plan("paper", only=["99"])


def test_the_cifar100_plan_is_the_same_plan_on_cifar100_with_its_own_paper_numbers():
    from ltlib import tables

    ten, hundred = plans.plan("paper", seeds=(0,)), plans.plan("paper", seeds=(0,), dataset="cifar100")
    assert len(hundred) == len(ten)
    stage_ones = [stage_one(r.config) for r in hundred]
    assert {c.dataset for c in stage_ones} == {"cifar100"}
    assert not {r.hash for r in ten} & {r.hash for r in hundred}
    rows = dict((label, value) for label, value, _ in tables.smart_table1_rows("paper", dataset="cifar100"))
    assert rows["LDAM+DRW"] == 42.0 and rows["CE+CMO"] == 43.9  # SMART Table 1, CIFAR100-LT IF 100
    h2t = dict((label.split(" (")[0], value) for label, value, _ in
               tables.h2t_table6_rows("paper", dataset="cifar100", imbalance_factor=200))
    assert h2t["DR"] == 41.73 and h2t["DR+H2T"] == 43.95  # H2T Table 1, rho = 200 ("DR+MU")


def state_bytes(state: dict) -> int:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return len(buffer.getvalue())


def test_the_stored_campaign_fits_in_40_mb():
    runs = plans.plan("paper", seeds=(0, 1, 2))
    model = build_model("resnet32", 10)
    full = state_bytes({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()})
    delta = state_bytes({k: v.half() if v.is_floating_point() else v for k, v in model.state_dict().items()
                         if k.startswith("classifier") or "running" in k or "num_batches" in k})
    metrics = 64 * 1024  # a 200-epoch metrics.json is about 25 kB; counted generously
    kinds = [keeps_weights(run.config) for run in runs]
    total = kinds.count("full") * full + kinds.count("delta") * delta + len(runs) * metrics
    assert total < 40e6, f"{total / 1e6:.1f} MB for {len(runs)} runs"


def test_a_campaign_killed_midway_trains_only_what_is_missing(tiny_world, monkeypatch):
    monkeypatch.setitem(runsets.NOTEBOOK_RUNSETS, "99_tiny", tiny_runset)
    runs = plans.plan("quick", only=["99_tiny"])
    assert len(runs) == 4  # CE, BSCE, the stage I of DR+H2T, DR+H2T
    trained, real = [], ltlib.train.train_stage_one

    def killed_at_the_second(config, *args, **kwargs):
        trained.append(config.hash())
        if len(trained) == 2:
            raise KeyboardInterrupt("killed")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ltlib.train, "train_stage_one", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        campaign.run_campaign("quick", (0,), ["99_tiny"], progress=False)
    assert load_result(runs[0].config) is not None and load_result(runs[1].config) is None
    trained.clear()
    monkeypatch.setattr(ltlib.train, "train_stage_one", lambda config, *a, **k: trained.append(config.hash()) or
                        real(config, *a, **k))
    campaign.run_campaign("quick", (0,), ["99_tiny"], progress=False)
    assert trained == [runs[1].hash, runs[2].hash]  # the first run was not trained again
    assert all(load_result(run.config) is not None for run in runs)


WORKER = """
import json, sys
sys.path.insert(0, {tests!r})
from tinyruns import tiny_runset
from ltlib import campaign, plans, runsets
runsets.NOTEBOOK_RUNSETS["99_tiny"] = tiny_runset
print("trained", json.dumps(campaign.work(plans.plan("quick", only=["99_tiny"]), progress=False, poll_seconds=0.2)))
"""


def test_packed_workers_train_each_run_once_and_give_what_each_gives_alone(tiny_world, monkeypatch):
    done = [digest for trained in run_concurrently(WORKER) for digest in trained]
    monkeypatch.setitem(runsets.NOTEBOOK_RUNSETS, "99_tiny", tiny_runset)
    runs = plans.plan("quick", only=["99_tiny"])
    # every run trained exactly once between the two workers (how they split it depends on when each started)
    assert sorted(done) == sorted(run.hash for run in runs)
    packed = {run.hash: load_result(run.config).metrics for run in runs}
    monkeypatch.setenv("LTLIB_CACHE", str(tiny_world / "alone"))
    for run in runs:  # each run alone, in a fresh cache
        alone = ltlib.results.get_or_train(run.config, progress=False)
        timing = lambda m: {k: v for k, v in m["history"].items() if "seconds" not in k}  # noqa: E731
        assert timing(alone.metrics) == timing(packed[run.hash]) and alone.metrics["final"] == packed[run.hash]["final"]


def test_dry_run_prints_the_plan_and_trains_nothing(capsys, tmp_path, monkeypatch):
    from ltlib.cli import main

    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    assert main(["campaign", "--profile", "paper", "--seeds", "0", "--only", "06_tau", "--dry-run",
                 "--seconds-per-epoch", "1.45"]) == 0
    out = capsys.readouterr().out
    runs = plans.plan("paper", seeds=(0,), only=["06_tau"])
    assert f"{len(runs)} runs planned, 0 already cached or stored, {len(runs)} to train" in out
    minutes = plans.estimate_minutes(runs, 1.45)
    assert f"about {minutes:.1f} min" in out and minutes == pytest.approx(12 * 200 * 2 * 1.45 / 60)
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("metrics.json"))
