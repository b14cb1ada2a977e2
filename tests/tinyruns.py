"""A tiny real data path for campaign and store tests: fake official CIFAR-10 pickles and 1-epoch configs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import write_official_cifar
from ltlib.config import RunConfig, StageTwoConfig

TINY = dict(max_per_class=50, imbalance_factor=10, epochs=1, batch_size=16, warmup_epochs=0, milestones=(),
            test_per_class=5, device="cpu")


def tiny_cifar(folder: Path) -> Path:
    """CIFAR-10 of random pixels, 60 training and 5 test images per class, in the official layout."""
    return write_official_cifar(folder, "cifar10", 60, 5, 10)


def tiny_runset(profile_name: str, dataset="cifar10", imbalance_factor=10, seed=0) -> dict:
    """A notebook's run set in miniature: two stage-I runs and a stage-II run on one of them."""
    base = RunConfig(seed=seed, **TINY)
    stage1 = base.replace(mixup_alpha=1.0)
    return {"CE": base, "BSCE": base.replace(loss="bsce"),
            "DR+H2T": StageTwoConfig(stage1=stage1, h2t_p=0.25, epochs=1, batch_size=16, seed=seed, device="cpu")}


def run_concurrently(script: str, count: int = 2) -> list:
    """Run ``script`` (formatted with ``tests`` = this folder) in ``count`` processes at once; what each process
    printed as JSON after ``trained `` on one line, in process order. Fails with their output if one fails."""
    env = {**os.environ, "TQDM_DISABLE": "1"}
    code = script.format(tests=str(Path(__file__).parent))
    processes = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True)
                 for _ in range(count)]
    outputs = [process.communicate(timeout=600)[0] for process in processes]
    assert all(process.returncode == 0 for process in processes), outputs
    return [json.loads(line.removeprefix("trained ")) for out in outputs for line in out.splitlines()
            if line.startswith("trained ")]
