"""Runs of the tiny list-file benchmark, in one process or as one of several started by torchrun.

``python tests/ddp_runs.py OUT IMAGES CACHE [--die-after-checkpoint]`` trains, on the tiny benchmark of
``tests/listdata.py``, a CE run and a SMART run (2 epochs each, global batch 8) and H2T's stage II on the CE
run (p = 0.5, 1 epoch), with :class:`TinyNet`, a
network without BatchNorm (per-process batch statistics are the one thing that makes N processes differ
from one; see ``ltlib.distributed``). Rank 0 writes ``OUT`` (JSON: each run's loss history, top-1 and
cache folder) and ``OUT.loads`` (JSON: the epoch of each checkpoint that training read, null where it started
afresh). ``--die-after-checkpoint``: rank 0 SIGKILLs itself right after writing its first checkpoint.
"""
from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import torch
from torch import nn

from ltlib.models.seams import SeamNet


class TinyNet(SeamNet):
    """Four conv stages (no BatchNorm) -> pool -> linear: a SeamNet small enough for CPU tests."""

    def __init__(self, num_classes: int):
        def conv(a, b, stride):
            return nn.Sequential(nn.Conv2d(a, b, 3, stride, 1), nn.ReLU())

        stages = [("stem", conv(3, 8, 1)), ("s1", conv(8, 8, 2)), ("s2", conv(8, 16, 2)), ("s3", conv(16, 16, 1))]
        super().__init__(stages, feature_dim=16, num_classes=num_classes)


def tiny_configs():
    from ltlib.recipes import large_profile, large_stage_two

    base = large_profile("imagenet_lt", "smart", "quick", model="resnet32", image_size=16, batch_size=8, lr=0.05,
                         epochs=2, device="cpu")
    return {"ce": base, "smart": base.replace(method="smart", smart_head_rule="half", smart_block=8),
            "h2t": large_stage_two(base, epochs=1, batch_size=8, lr=0.02, h2t_p=0.5, device="cpu")}


def main(out: str, images: str, cache: str, die_after_checkpoint: bool = False) -> None:
    import ltlib.results
    import ltlib.train
    from ltlib.checkpoint import Checkpointer
    from ltlib.distributed import finish, init_from_environment, is_main
    from ltlib.results import get_or_train

    ltlib.train.build_model = ltlib.results.build_model = lambda name, classes, **options: TinyNet(classes)
    if die_after_checkpoint:
        save = Checkpointer.save

        def save_then_die(self, state):
            save(self, state)
            os.kill(os.getpid(), signal.SIGKILL)

        Checkpointer.save = save_then_die
    loads, load = [], Checkpointer.load

    def recording_load(self):
        state = load(self)
        loads.append(None if state is None else state["epoch"])
        return state

    Checkpointer.load = recording_load
    os.environ["LTLIB_WORKERS"] = "0"
    init_from_environment()
    torch.manual_seed(0)
    summary = {}
    for name, config in tiny_configs().items():
        result = get_or_train(config, data_root=images, progress=False, cache=Path(cache))
        summary[name] = {"loss": result.history["loss"], "top1": result.final_top1, "folder": str(result.folder),
                         "processes": result.metrics["processes"]}
    if is_main():
        Path(out).write_text(json.dumps(summary))
        Path(out + ".loads").write_text(json.dumps(loads))
    finish()


if __name__ == "__main__":
    main(*sys.argv[1:4], die_after_checkpoint="--die-after-checkpoint" in sys.argv)
