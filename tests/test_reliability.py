"""Fault injection: a run killed with SIGKILL resumes to the same result; damaged cache entries are rejected."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = """
import json, sys
sys.path.insert(0, {tests!r})
from test_train import tiny_config, tiny_data
from ltlib.checkpoint import Checkpointer
from ltlib.train import train_stage_one
config = tiny_config(epochs=5, method={method!r}, smart_head_rule="half", mixup_alpha={mixup})
loaded = []

class Recording(Checkpointer):
    def load(self):
        state = super().load()
        loaded.append(None if state is None else state["epoch"])
        return state

output = train_stage_one(config, tiny_data(), progress=False, checkpointer=Recording({checkpoint!r}))
history = {{k: v for k, v in output.metrics["history"].items() if "seconds" not in k}}
json.dump({{"history": history, "final": output.metrics["final"], "resumed_after": loaded}}, open({out!r}, "w"))
"""


def run_script(tmp_path: Path, name: str, method: str, mixup: float, kill_after_checkpoint: bool):
    checkpoint, out = tmp_path / f"{name}.ckpt", tmp_path / f"{name}.json"
    script = SCRIPT.format(tests=str(Path(__file__).parent), method=method, mixup=mixup, checkpoint=str(checkpoint),
                           out=str(out))
    env = {**os.environ, "TQDM_DISABLE": "1"}
    if kill_after_checkpoint:
        process = subprocess.Popen([sys.executable, "-c", script], env=env)
        deadline = time.time() + 300
        while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(random.Random(0).uniform(0.0, 0.5))  # somewhere inside a later epoch
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert process.returncode == -signal.SIGKILL and checkpoint.exists() and not out.exists()
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("method, mixup", [("none", 1.0), ("smart", 0.0)])
def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path, method, mixup):
    uninterrupted = run_script(tmp_path, "clean", method, mixup, kill_after_checkpoint=False)
    resumed = run_script(tmp_path, "killed", method, mixup, kill_after_checkpoint=True)
    assert uninterrupted.pop("resumed_after") == [None]
    [after] = resumed.pop("resumed_after")  # the rerun read the killed run's checkpoint: a resume, not a restart
    assert after is not None and 1 <= after < 5
    assert resumed == uninterrupted


def test_a_damaged_checkpoint_is_ignored(tmp_path):
    from ltlib.checkpoint import Checkpointer

    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"\x80\x02 half a pickle")
    assert Checkpointer(path).load() is None
