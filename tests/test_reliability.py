"""Fault injection: a run killed with SIGKILL resumes to the same result; damaged cache entries are rejected."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import json, os, signal, sys
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


import ltlib.methods.base as base
real_loss = base.SupervisedObjective.loss

def loss_then_die(self, step, epoch):  # SIGKILL in the middle of the epoch after the checkpoint of {kill_after}
    if epoch == {kill_after} and step == 1:  # its step 0 already moved the weights: work no checkpoint holds
        os.kill(os.getpid(), signal.SIGKILL)
    return real_loss(self, step, epoch)

base.SupervisedObjective.loss = loss_then_die

output = train_stage_one(config, tiny_data(), progress=False, checkpointer=Recording({checkpoint!r}))
history = {{k: v for k, v in output.metrics["history"].items() if "seconds" not in k}}
json.dump({{"history": history, "final": output.metrics["final"], "resumed_after": loaded}}, open({out!r}, "w"))
"""


def run_script(tmp_path: Path, name: str, method: str, mixup: float, kill_after: int | None):
    """Train the tiny run in a fresh process; with ``kill_after``, a first process SIGKILLs itself at the second step
    of the epoch after that epoch's checkpoint (deterministic: no race with a timer; the step before is lost work),
    then a second one resumes."""
    checkpoint, out = tmp_path / f"{name}.ckpt", tmp_path / f"{name}.json"
    env = {**os.environ, "TQDM_DISABLE": "1"}

    def script(kill):
        return SCRIPT.format(tests=str(Path(__file__).parent), method=method, mixup=mixup, checkpoint=str(checkpoint),
                             out=str(out), kill_after=kill)

    if kill_after is not None:
        killed = subprocess.run([sys.executable, "-c", script(kill_after)], env=env, capture_output=True, text=True,
                                timeout=600)
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
        assert checkpoint.exists() and not out.exists()
    done = subprocess.run([sys.executable, "-c", script(None)], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text())


@pytest.mark.parametrize("method, mixup, kill_after", [("none", 1.0, 2), ("smart", 0.0, 3)])
def test_sigkill_then_rerun_gives_the_uninterrupted_result(tmp_path, method, mixup, kill_after):
    uninterrupted = run_script(tmp_path, "clean", method, mixup, kill_after=None)
    resumed = run_script(tmp_path, "killed", method, mixup, kill_after=kill_after)
    assert uninterrupted.pop("resumed_after") == [None]
    # the rerun read the killed run's checkpoint: a resume from its epoch, not a restart
    assert resumed.pop("resumed_after") == [kill_after]
    assert resumed == uninterrupted


def test_a_damaged_checkpoint_is_ignored(tmp_path):
    from ltlib.checkpoint import Checkpointer

    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"\x80\x02 half a pickle")
    assert Checkpointer(path).load() is None
