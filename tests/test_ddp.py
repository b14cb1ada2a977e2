"""Data parallelism end to end on the tiny list-file benchmark, launched by torchrun with gloo on CPUs.

Two processes with a global batch of 8 (4 each) equal one process with batch 8 for CE, SMART (class
statistics pooled across ranks) and H2T stage II (each rank fuses its own batches); a run whose rank 0 is
SIGKILLed right after a checkpoint resumes to the uninterrupted result; ``torchrun -m ltlib train`` trains a
streamed SMART run with loader workers and only rank 0 writes and prints. The equality runs use a network
without BatchNorm (``tests/ddp_runs.py``): BatchNorm statistics are per process, as in the peers' runs.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from listdata import write_list_benchmark

TESTS = Path(__file__).resolve().parent
#: losses and weights of 2 processes vs 1 agree to float32 reduction-order noise over the 6 + 6 + 3 steps
TOLERANCE = dict(rtol=1e-4, atol=1e-5)


def launch(out: Path, images: Path, cache: Path, processes: int, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    script = [str(TESTS / "ddp_runs.py"), str(out), str(images), str(cache), *extra]
    command = [sys.executable, *script] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}",
        "--monitor-interval=0.1", *script]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny benchmark and its runs in one process and in two (uninterrupted)."""
    folder = tmp_path_factory.mktemp("ddp")
    images = write_list_benchmark(folder / "images")
    done = {}
    for processes in (1, 2):
        process = launch(folder / f"{processes}.json", images, folder / f"cache{processes}", processes)
        assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
        done[processes] = json.loads((folder / f"{processes}.json").read_text())
    return folder, images, done


def weights(folder: str) -> dict:
    return torch.load(Path(folder) / "model.pt", weights_only=True)


def assert_same_runs(got: dict, expected: dict) -> None:
    for name in expected:
        torch.testing.assert_close(torch.tensor(got[name]["loss"]), torch.tensor(expected[name]["loss"]), **TOLERANCE)
        assert got[name]["top1"] == pytest.approx(expected[name]["top1"])
        for key, value in weights(expected[name]["folder"]).items():
            torch.testing.assert_close(weights(got[name]["folder"])[key], value, **TOLERANCE, msg=f"{name}: {key}")


def test_two_processes_equal_one_process_with_the_same_global_batch(runs):
    _, _, done = runs
    assert [done[2][name]["processes"] for name in done[2]] == [2, 2, 2]
    assert_same_runs(done[2], done[1])
    assert done[2]["smart"]["loss"] != done[2]["ce"]["loss"]  # SMART changed training


def test_a_run_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result(runs):
    folder, images, done = runs
    cache = folder / "cache-killed"
    killed = launch(folder / "killed.json", images, cache, 2, "--die-after-checkpoint")
    assert killed.returncode != 0 and not (folder / "killed.json").exists()
    checkpoints = list(cache.glob("runs/*/*/checkpoint.pt"))
    assert len(checkpoints) == 1, killed.stderr[-3000:]  # rank 0 died after the CE run's first epoch
    resumed = launch(folder / "resumed.json", images, cache, 2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert not checkpoints[0].exists()  # the finished run removed its checkpoint
    loads = json.loads((folder / "resumed.json.loads").read_text())
    assert loads[0] == 1 and not any(loads[1:])  # the CE run resumed after its first epoch; the others started afresh
    assert_same_runs(json.loads((folder / "resumed.json").read_text()), done[2])


def test_torchrun_trains_a_streamed_smart_run_with_loader_workers_and_rank_zero_writes(runs, tmp_path):
    _, images, _ = runs
    env = {**os.environ, "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1", "LTLIB_CACHE": str(tmp_path)}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", "-m", "ltlib",
               "train", "--dataset", "imagenet_lt", "--profile", "quick", "--images", str(images), "--image-size", "16",
               "--batch-size", "8", "--epochs", "1", "--workers", "1", "--method", "smart", "--smart-head-rule",
               "half", "--smart-block", "8", "--device", "cpu", "--no-progress"]
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]
    assert process.stdout.count("cached in") == 1  # only rank 0 prints
    entries = list(tmp_path.glob("runs/*/*/metrics.json"))
    assert len(entries) == 1
    metrics = json.loads(entries[0].read_text())
    assert metrics["processes"] == 2 and metrics["test_images"] == 12
    assert metrics["class_names"][:2] == ["n00000000", "n00000001"] and metrics["class_counts"] == [16, 8, 4, 2]
