"""The results store: found without training, damaged entries named, provenance kept, export/import round trip,
and two processes asking for one run train it once."""
from __future__ import annotations

import json
import subprocess

import pytest
import torch

from ltlib import store
from ltlib.campaign import store_run
from ltlib.results import RunsNotStored, get_or_train, get_runs, load_result
from tinyruns import run_concurrently, tiny_runset


def trained_and_stored(runs: dict) -> dict:
    results = get_runs(runs, progress=False)
    for config in runs.values():
        store_run(config)
    return results


def test_a_stored_run_is_read_without_training_and_keeps_its_provenance(tiny_world, monkeypatch):
    runs = tiny_runset("quick")
    trained = trained_and_stored(runs)
    monkeypatch.setenv("LTLIB_CACHE", str(tiny_world / "fresh-cache"))  # another machine: only the store
    again = get_runs(runs, train=False, progress=False)
    for label in runs:
        assert again[label].metrics == trained[label].metrics
    stored = json.loads((store.entry_folder(runs["CE"]) / "config.json").read_text())
    assert {"device", "device_name", "software", "train_seconds", "data_source", "git_commit"} <= set(stored["provenance"])
    assert stored["provenance"]["software"]["lock_sha256"] is not None
    assert again["CE"].metrics_only and stored["weights"] is None  # a CE run keeps metrics only
    with pytest.raises(FileNotFoundError, match="keeps no final weights"):
        again["CE"].load_model()
    # the stage-II run is rebuilt from its stage I's float16 weights and its own delta
    model = again["DR+H2T"].load_model()
    reference = trained["DR+H2T"].load_model()
    for name, value in model.state_dict().items():
        torch.testing.assert_close(value.float(), reference.state_dict()[name].float(), rtol=2e-3, atol=2e-3)
    delta = torch.load(store.entry_folder(runs["DR+H2T"]) / "delta.pt", weights_only=True)
    assert "classifier.weight" in delta and not any(name.endswith("conv1.weight") for name in delta)


def test_missing_runs_are_named_with_the_campaign_command(tiny_world):
    runs = tiny_runset("quick")
    with pytest.raises(RunsNotStored, match=r"3 run\(s\) are neither cached nor in the results store.*"
                                            r"python -m ltlib campaign --profile paper --only 99_tiny"):
        get_runs(runs, train=False, notebook="99_tiny")


def test_a_damaged_store_entry_is_rejected_with_a_message_naming_it(tiny_world, monkeypatch):
    runs = {"CE": tiny_runset("quick")["CE"]}
    trained_and_stored(runs)
    folder = store.entry_folder(runs["CE"])
    (folder / "metrics.json").write_text((folder / "metrics.json").read_text().replace("0", "1", 1))
    monkeypatch.setenv("LTLIB_CACHE", str(tiny_world / "fresh-cache"))
    with pytest.warns(UserWarning, match=f"results store entry {folder}: metrics.json is missing or fails its sha256"):
        with pytest.raises(RunsNotStored):
            get_or_train(runs["CE"], train=False)


def test_export_and_import_restore_identical_entries(tiny_world, monkeypatch):
    runs = tiny_runset("quick")
    trained_and_stored(runs)
    hashes = {config.hash() for config in runs.values()} | {runs["DR+H2T"].stage1.hash()}
    bundles = store.export_bundles(hashes, tiny_world / "out")
    assert bundles and all(path.stat().st_size <= store.BUNDLE_LIMIT for path in bundles)
    other = tiny_world / "other-store"
    assert set(store.import_bundles(bundles, other)) == hashes
    for digest in hashes:
        for path in (store.store_root() / digest).iterdir():
            assert (other / digest / path.name).read_bytes() == path.read_bytes()


SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from tinyruns import tiny_runset
from ltlib import results
results.get_or_train(tiny_runset("quick")["CE"], progress=False)
print("trained", len(results.TRAINED))  # a number is its own JSON
"""


def test_two_processes_asking_for_one_run_train_it_once(tiny_world):
    assert sorted(run_concurrently(SCRIPT)) == [0, 1]
    assert load_result(tiny_runset("quick")["CE"]) is not None


def test_a_checkout_is_dirty_only_where_code_changed_not_where_ltlib_writes_its_outputs(tmp_path, monkeypatch):
    from ltlib import storage

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path,
                              capture_output=True, text=True, check=True).stdout.strip()

    for name in ("ltlib/store.py", "results/partial/a.json", "figures/f.json", "README.md", "REPRODUCTION.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("committed\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "c")
    head = git("rev-parse", "--short", "HEAD")
    monkeypatch.setattr(storage, "REPO_ROOT", tmp_path)
    for name in ("results/partial/a.json", "figures/f.json", "README.md", "REPRODUCTION.md"):
        (tmp_path / name).write_text("regenerated\n")
    assert storage.git_commit.__wrapped__() == head  # uncached: git_commit() keeps its first answer
    (tmp_path / "ltlib/store.py").write_text("edited\n")
    assert storage.git_commit.__wrapped__() == head + "+dirty"


def test_a_run_in_progress_is_restored_only_when_its_record_vouches_for_it(tiny_world):
    config = tiny_runset("quick")["CE"]
    checkpoint = tiny_world / "checkpoint.pt"
    torch.save({"epoch": 3, "history": {"loss": [1.0, 0.9, 0.8]}}, checkpoint)
    record = store.save_partial(config, checkpoint)
    assert record["epochs_done"] == 3 and store.partial_record(config) == record
    target = tiny_world / "elsewhere" / "checkpoint.pt"
    target.parent.mkdir()
    assert store.restore_partial(config, target) == 3 and target.read_bytes() == checkpoint.read_bytes()
    target.write_bytes(b"newer")  # a checkpoint already in place is as new or newer: left alone
    assert store.restore_partial(config, target) is None and target.read_bytes() == b"newer"
    target.unlink()

    path = store.partial_path(config)
    other = tiny_runset("quick")["BSCE"]
    assert other.hash() != config.hash()
    path.with_suffix(".json").write_text(json.dumps({**record, "config": other.identity()}))
    with pytest.raises(store.StoreError, match="config or sha256 does not match"):
        store.restore_partial(config, target)
    path.with_suffix(".json").write_text(json.dumps(record))
    path.write_bytes(path.read_bytes() + b"\0")  # damaged in transit
    with pytest.raises(store.StoreError, match="config or sha256 does not match"):
        store.restore_partial(config, target)
    path.with_suffix(".json").unlink()  # the .pt committed without its record
    with pytest.raises(store.StoreError, match=r"its record .*\.json is missing"):
        store.restore_partial(config, target)
    assert not target.exists()  # nothing unchecked was put where training looks
