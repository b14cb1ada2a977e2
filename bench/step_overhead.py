"""Per-step cost of SMART over plain CE (stage I) and of H2T over plain cRT (stage II).

ResNet-32, batch 128, real CIFAR-10-LT (LTLIB_DATA). Times ``--steps`` training steps of each
objective after ``--warmup`` steps, on ``--device``; prints the ratios and writes
``bench/results/step-overhead-<device>-<time>.json``.

    python bench/step_overhead.py --device cpu --steps 20
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
from ltlib.methods.h2t import StageTwoObjective  # noqa: E402
from ltlib.models import build_model  # noqa: E402
from ltlib.results import data_for  # noqa: E402
from ltlib.methods import build_objective  # noqa: E402
from ltlib.train import resolve_device, seeded_generator  # noqa: E402


def time_steps(objective, parameters, steps: int, warmup: int, device) -> float:
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9)
    objective.start_epoch(0)
    for step in range(warmup + steps):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        loss = objective.loss(step, 0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - started) / steps


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    base = ltlib.profile("paper", device=device.type)
    data = data_for(base).to(device)
    seconds = {}
    for name, config in (("ce", base), ("smart", base.replace(method="smart"))):
        model = build_model("resnet32", data.num_classes).to(device).train()
        objective = build_objective(config, data, model, seeded_generator(0, device))
        seconds[name] = time_steps(objective, model.parameters(), args.steps, args.warmup, device)
    for name, p in (("crt", 0.0), ("h2t", 0.25)):
        model = build_model("resnet32", data.num_classes).to(device).train()
        for parameter in model.backbone_parameters():
            parameter.requires_grad_(False)
        config = stage_two_profile("paper", base, h2t_p=p, device=device.type)
        objective = StageTwoObjective(config, data, model, seeded_generator(0, device), model.prepool_seam)
        seconds[name] = time_steps(objective, model.classifier.parameters(), args.steps, args.warmup, device)
    report = {"data": data.source, "batch": 128, "seconds_per_step": seconds,
              "smart_over_ce": seconds["smart"] / seconds["ce"], "h2t_over_crt": seconds["h2t"] / seconds["crt"]}
    for name, value in seconds.items():
        print(f"{name:<6} {1000 * value:8.1f} ms/step")
    print(f"SMART / CE = {report['smart_over_ce']:.3f}, H2T / cRT = {report['h2t_over_crt']:.3f}")
    write_report(report, "step-overhead", device)
    return report


if __name__ == "__main__":
    main()
