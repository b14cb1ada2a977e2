"""Per-step cost of every objective (CE + mixup, CMO, SMART; cRT and H2T in stage II), eager and fast path,
and on a GPU whether a step ever waits for the host.

ResNet-32, batch 128, real CIFAR-10-LT (LTLIB_DATA). Times ``--steps`` training steps of each objective after
``--warmup`` steps (which also compile, on the fast path), on ``--device``; prints a table with the ratios
SMART / CE and H2T / cRT and writes ``bench/results/step-overhead-<device>-<time>.json``.

On CUDA the timed steps run under ``torch.cuda.set_sync_debug_mode("error")``: a step that reads a value back
to the host (``.item()``, ``nonzero``, ``unique`` ...) stops with an error, which is recorded as that
objective's ``host_sync`` (the fast path promises none inside an epoch). ``--fast`` adds the fast path
(:mod:`ltlib.fast`) beside eager; ``LTLIB_FAST=graphs`` makes it capture CUDA graphs too.

    python bench/step_overhead.py --device cpu --steps 5 --warmup 1
    python bench/step_overhead.py --fast                     # on the GPU machine
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402

import ltlib  # noqa: E402
from ltlib.config import stage_two_profile  # noqa: E402
from ltlib.fast import EAGER, accelerate, fast_path  # noqa: E402
from ltlib.methods import build_objective  # noqa: E402
from ltlib.methods.h2t import StageTwoObjective  # noqa: E402
from ltlib.models import build_model  # noqa: E402
from ltlib.results import data_for  # noqa: E402
from ltlib.train import resolve_device, seeded_generator  # noqa: E402

STAGE_ONE = {"ce": {"mixup_alpha": 1.0}, "cmo": {"method": "cmo", "cmo_skip_epochs": 0, "cmo_prob": 1.0},
             "smart": {"method": "smart"}}
STAGE_TWO = {"crt": 0.0, "h2t": 0.25}


def time_steps(objective, parameters, steps: int, warmup: int, device, fast) -> dict:
    """Seconds per step after ``warmup`` steps, and the error of a step that synchronised with the host."""
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9, **({"fused": True} if fast.fused_sgd else {}))
    objective.start_epoch(0)
    cuda = device.type == "cuda"
    host_sync = None
    for step in range(warmup + steps):
        if step == warmup:
            if cuda:
                torch.cuda.synchronize()
                torch.cuda.set_sync_debug_mode("error")
            started = time.perf_counter()
        try:
            with fast.autocast(device):
                loss = objective.loss(step, 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        except RuntimeError as error:
            if not cuda or host_sync is not None or "synchroniz" not in str(error).lower():
                raise
            host_sync = f"step {step}: {str(error).splitlines()[0]}"  # recorded; the step runs again without the check
            torch.cuda.set_sync_debug_mode("default")
            with fast.autocast(device):
                loss = objective.loss(step, 0)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    if cuda:
        torch.cuda.set_sync_debug_mode("default")
        torch.cuda.synchronize()
    return {"seconds_per_step": (time.perf_counter() - started) / steps, "host_sync": host_sync}


def measure(name: str, base, data, device, fast, steps: int, warmup: int) -> dict:
    model = accelerate(build_model("resnet32", data.num_classes).to(device).train(), fast)
    if name in STAGE_ONE:
        objective = build_objective(base.replace(**STAGE_ONE[name]), data, model, seeded_generator(0, device))
        parameters = model.parameters()
    else:
        for parameter in model.backbone_parameters():
            parameter.requires_grad_(False)
        config = stage_two_profile("paper", base, h2t_p=STAGE_TWO[name], device=device.type)
        objective = StageTwoObjective(config, data, model, seeded_generator(0, device), model.prepool_seam)
        parameters = model.classifier.parameters()
    return time_steps(objective, parameters, steps, warmup, device, fast)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--fast", action="store_true", help="also the fast path (ltlib.fast) beside eager")
    parser.add_argument("--only", nargs="*", default=None, help=f"objectives among {[*STAGE_ONE, *STAGE_TWO]}")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    base = ltlib.profile("paper", device=device.type)
    data = data_for(base).to(device)
    paths = {"eager": EAGER} | ({"fast": fast_path(device, True)} if args.fast else {})
    names = args.only or [*STAGE_ONE, *STAGE_TWO]
    results = {path: {} for path in paths}
    for path, fast in paths.items():
        for name in names:
            results[path][name] = measure(name, base, data, device, fast, args.steps, args.warmup)
            found = results[path][name]
            print(f"{path:<6} {name:<6} {1000 * found['seconds_per_step']:8.2f} ms/step"
                  f"{'  HOST SYNC ' + found['host_sync'] if found['host_sync'] else ''}", flush=True)
    report = {"data": data.source, "batch": base.batch_size, "steps": args.steps, "warmup": args.warmup,
              "fast_path": {path: fast.describe() for path, fast in paths.items()}, "results": results}
    for path, found in results.items():
        seconds = {name: value["seconds_per_step"] for name, value in found.items()}
        if {"smart", "ce"} <= seconds.keys():
            report[f"smart_over_ce_{path}"] = seconds["smart"] / seconds["ce"]
        if {"h2t", "crt"} <= seconds.keys():
            report[f"h2t_over_crt_{path}"] = seconds["h2t"] / seconds["crt"]
    print("  ".join(f"{key} = {value:.3f}" for key, value in report.items() if key.endswith(("_eager", "_fast"))))
    write_report(report, "step-overhead", device)
    return report


if __name__ == "__main__":
    main()
