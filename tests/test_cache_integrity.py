"""Cache entries: atomic, checksummed, rejected with a message when damaged; sweeps resume."""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import ltlib.train
from ltlib.config import RunConfig
from ltlib.models import build_model
from ltlib.results import get_or_train, load_result, save_result
from ltlib.train import History, TrainOutput


def fake_output(config, data=None, progress=True, checkpointer=None):
    torch.manual_seed(config.seed)
    metrics = {"final_top1": float(config.seed), "class_counts": [1] * 10, "data_source": "fake"}
    return TrainOutput(build_model("resnet32", 10), History(), metrics)


@pytest.fixture
def counted_training(monkeypatch, tmp_path):
    calls = []

    def train(config, data, progress=True, checkpointer=None):
        calls.append(config.seed)
        if config.seed == 99:
            raise KeyboardInterrupt("interrupted sweep")
        return fake_output(config)

    monkeypatch.setattr(ltlib.train, "train_stage_one", train)
    monkeypatch.setattr(ltlib.results, "data_for", lambda config, root=None: None)
    return calls


import ltlib.results  # noqa: E402


def test_saved_entry_carries_checksums_and_loads(tmp_path):
    config = RunConfig(epochs=2, warmup_epochs=0, milestones=())
    save_result(config, fake_output(config).model, {"final_top1": 1.0, "class_counts": [1] * 10}, tmp_path)
    stored = json.loads(next(tmp_path.rglob("config.json")).read_text())
    assert set(stored["sha256"]) == {"metrics.json", "model.pt"}
    assert load_result(config, tmp_path).metrics["final_top1"] == 1.0
    assert not list(tmp_path.rglob("*.tmp"))  # temporary files were renamed away


@pytest.mark.parametrize("damage", ["truncate_model", "corrupt_metrics", "truncate_config", "other_version",
                                    "other_config"])
def test_damaged_entries_are_rejected_with_a_message(tmp_path, damage):
    config = RunConfig(epochs=2, warmup_epochs=0, milestones=())
    result = save_result(config, fake_output(config).model, {"final_top1": 1.0, "class_counts": [1] * 10}, tmp_path)
    folder = result.folder
    if damage == "truncate_model":
        data = (folder / "model.pt").read_bytes()
        (folder / "model.pt").write_bytes(data[: len(data) // 2])
        reason = "model.pt is missing or fails its sha256 check"
    elif damage == "corrupt_metrics":
        (folder / "metrics.json").write_text(json.dumps({"final_top1": 99.0, "class_counts": [1] * 10}))
        reason = "metrics.json is missing or fails its sha256 check"
    elif damage == "truncate_config":
        (folder / "config.json").write_text((folder / "config.json").read_text()[:40])
        reason = "unreadable entry"
    elif damage == "other_version":
        stored = json.loads((folder / "config.json").read_text())
        stored["ltlib_version"] = "0.0.1"
        (folder / "config.json").write_text(json.dumps(stored))
        reason = "written by ltlib 0.0.1"
    else:  # an entry of another run in this config's place (its checksums intact)
        stored = json.loads((folder / "config.json").read_text())
        assert stored["config"]["seed"] == 0
        stored["config"]["seed"] = 5
        (folder / "config.json").write_text(json.dumps(stored))
        reason = "its stored config differs from the one asked for"
    with pytest.warns(UserWarning, match=reason):
        assert load_result(config, tmp_path) is None


def test_an_interrupted_sweep_finishes_only_the_remaining_runs(tmp_path, counted_training):
    configs = [RunConfig(seed=s, epochs=2, warmup_epochs=0, milestones=()) for s in (1, 2, 99, 4)]
    with pytest.raises(KeyboardInterrupt):
        ltlib.results.sweep(configs, cache=tmp_path, progress=False)
    assert counted_training == [1, 2, 99]
    configs[2] = RunConfig(seed=3, epochs=2, warmup_epochs=0, milestones=())
    counted_training.clear()
    results = ltlib.results.sweep(configs, cache=tmp_path, progress=False)
    assert counted_training == [3, 4]  # runs 1 and 2 came from the cache
    assert [r.metrics["final_top1"] for r in results] == [1.0, 2.0, 3.0, 4.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_or_train(configs[0], cache=tmp_path).metrics["final_top1"] == 1.0
