"""Per-step cost of every objective (CE + mixup, CMO, SMART; cRT and H2T in stage II), eager and fast path,
and on a GPU whether a step ever waits for the host.

ResNet-32, batch 128, real CIFAR-10-LT (LTLIB_DATA). Times ``--steps`` training steps of each objective after
``--warmup`` steps (which also compile, on the fast path), on ``--device``; prints a table with the ratios
SMART / CE and H2T / cRT and writes ``bench/results/step-overhead-<device>-<time>.json``.

On CUDA the timed steps run under ``torch.cuda.set_sync_debug_mode("error")``: a step that reads a value back
to the host (``.item()``, ``nonzero``, ``unique`` ...) stops with an error, which is recorded as that
objective's ``host_sync`` (the fast path promises none inside an epoch). ``--paths`` chooses the ways of
computing the step (:mod:`ltlib.fast`): ``eager`` (float32, the reference), ``bf16`` (bf16 autocast and
channels_last, eager: the CPU's path where it has AMX), ``stages`` (bf16, compiled stages), ``step`` (bf16, the
whole step compiled), ``graphs`` (``step`` replayed as CUDA graphs); ``--fast`` is ``--paths eager bf16 stages step
graphs``. Every path starts from eager's weights and draws, so its first losses after the warm-up (the first
compiled steps: a compiled path's first step runs eagerly) must match eager's, or the path is ``wrong``. The JSON is rewritten after every measurement, so a run stopped by a time limit keeps what it measured.

    python bench/step_overhead.py --device cpu --steps 5 --warmup 1
    python bench/step_overhead.py --fast                     # on the GPU machine
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402

import ltlib  # noqa: E402
from ltlib.config import stage_two_profile  # noqa: E402
from ltlib.fast import EAGER, FastPath, accelerate, accelerate_objective, named_fast_path, time_steps  # noqa: E402
from ltlib.methods import build_objective  # noqa: E402
from ltlib.methods.h2t import StageTwoObjective  # noqa: E402
from ltlib.models import build_model  # noqa: E402
from ltlib.results import data_for  # noqa: E402
from ltlib.train import resolve_device, seeded_generator  # noqa: E402

STAGE_ONE = {"ce": {"mixup_alpha": 1.0}, "cmo": {"method": "cmo", "cmo_skip_epochs": 0, "cmo_prob": 1.0},
             "smart": {"method": "smart"}}
STAGE_TWO = {"crt": 0.0, "h2t": 0.25}
PATHS = ("eager", "bf16", "stages", "step", "graphs")


def path_of(name: str, device) -> FastPath:
    """The :class:`~ltlib.fast.FastPath` a ``--paths`` name stands for on ``device``."""
    return EAGER if name == "eager" else named_fast_path(name, device)


def measure(name: str, base, data, device, fast, steps: int, warmup: int) -> dict:
    """One objective on one path, from the same initial weights and draws on every path (seed 0)."""
    torch.manual_seed(0)
    model = accelerate(build_model("resnet32", data.num_classes).to(device).train(), fast)
    if name in STAGE_ONE:
        objective = accelerate_objective(
            build_objective(base.replace(**STAGE_ONE[name]), data, model, seeded_generator(0, device)), fast)
        parameters = model.parameters()
    else:
        for parameter in model.backbone_parameters():
            parameter.requires_grad_(False)
        config = stage_two_profile("paper", base, h2t_p=STAGE_TWO[name], device=device.type)
        objective = accelerate_objective(
            StageTwoObjective(config, data, model, seeded_generator(0, device), model.prepool_seam), fast)
        parameters = model.classifier.parameters()
    return time_steps(objective, parameters, steps, warmup, device, fast)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--paths", nargs="+", choices=PATHS, default=["eager"], help="ways of computing a step")
    parser.add_argument("--fast", action="store_true", help="all of them: --paths eager bf16 stages step graphs")
    parser.add_argument("--only", nargs="*", default=None, help=f"objectives among {[*STAGE_ONE, *STAGE_TWO]}")
    parser.add_argument("--choice-file", default=None, help="write the fastest working path's name there")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    base = ltlib.profile("paper", device=device.type)
    data = data_for(base).to(device)
    paths = {name: path_of(name, device) for name in (PATHS if args.fast else args.paths)}
    names = args.only or [*STAGE_ONE, *STAGE_TWO]
    report = {"data": data.source, "batch": base.batch_size, "steps": args.steps, "warmup": args.warmup,
              "fast_path": {path: fast.describe() for path, fast in paths.items()},
              "results": {path: {} for path in paths}}
    out = None
    for path, fast in paths.items():
        for name in names:
            try:
                found = measure(name, base, data, device, fast, args.steps, args.warmup)
            except Exception as error:  # noqa: BLE001 (a path that fails is a result: recorded, the others go on)
                found = {"error": f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"}
                print(f"{path:<6} {name:<6} FAILED {found['error']}", flush=True)
            else:
                check_losses(found, report["results"].get("eager", {}).get(name), path, args.warmup)
                print(f"{path:<6} {name:<6} {1000 * found['seconds_per_step']:8.2f} ms/step  last loss "
                      f"{found['losses'][-1]:.4f}{'  HOST SYNC ' + found['host_sync'] if found['host_sync'] else ''}"
                      f"{'  WRONG ' + found['wrong'] if found.get('wrong') else ''}", flush=True)
            report["results"][path][name] = found
            add_ratios(report)
            report["fastest"] = fastest(report["results"], names)
            out = write_report(report, "step-overhead", device, out, quiet=True)
            if args.choice_file:  # kept up to date, for a run that a time limit stops
                Path(args.choice_file).write_text(report["fastest"] or "")
    print("  ".join(f"{key} = {value:.3f}" for key, value in report.items() if key.startswith(("smart_", "h2t_"))))
    print(f"fastest working path: {report['fastest']}")
    print(f"written {out}")
    return report


#: a path's loss at a checked step (same weights, same draws as eager) may differ from eager float32's by bf16
#: rounding only, relative
LOSS_TOLERANCE = 0.02
#: how many steps after the warm-up are checked: the first compiled ones. Later steps drift apart by bf16 rounding
#: compounded through the weight updates (CE on the CPU: 0.02 % after the warm-up, 0.87 % twelve steps later; SMART
#: more), which says nothing about whether the compiled step computes the same thing
CHECKED_STEPS = 2


def check_losses(found: dict, eager: dict | None, path: str, warmup: int) -> None:
    """Mark ``found`` wrong when one of the :data:`CHECKED_STEPS` losses after the ``warmup`` steps is off eager's
    at the same step by more than :data:`LOSS_TOLERANCE`: the warm-up steps of a compiled path run (partly)
    eagerly, the next ones compiled."""
    if eager is None or "losses" not in eager or path == "eager":
        return
    window = slice(warmup, warmup + CHECKED_STEPS)
    deviations = [abs(ours - reference) / max(abs(reference), 1e-12)
                  for ours, reference in zip(found["losses"][window], eager["losses"][window])]
    found["loss_deviation"] = max(deviations, key=lambda deviation: math.inf if math.isnan(deviation) else deviation)
    off = [i for i, deviation in enumerate(deviations) if not deviation <= LOSS_TOLERANCE]  # NaN fails too
    if off:
        step = warmup + off[0]
        found["wrong"] = (f"{len(off)} of {len(deviations)} losses after the warm-up off eager's by more than "
                          f"{LOSS_TOLERANCE:.0%}, the first at step {step}: {found['losses'][step]:.4f} vs eager "
                          f"{eager['losses'][step]:.4f}")


def fastest(results: dict, objectives) -> str | None:
    """The path with the least total ms/step over ``objectives`` (all the run asked for), among the paths that
    measured every one of them with no failure, no wrong loss and no host synchronisation: a path that measured
    only some (a time limit stopped it) cannot be chosen for the others."""
    totals = {path: sum(found[name]["seconds_per_step"] for name in objectives) for path, found in results.items()
              if objectives and all(name in found and "error" not in found[name] and not found[name].get("wrong")
                                    and not found[name].get("host_sync") for name in objectives)}
    return min(totals, key=totals.get) if totals else None


def add_ratios(report: dict) -> None:
    """SMART / CE and H2T / cRT per path, where both were measured."""
    for path, found in report["results"].items():
        seconds = {name: value["seconds_per_step"] for name, value in found.items() if "seconds_per_step" in value}
        if {"smart", "ce"} <= seconds.keys():
            report[f"smart_over_ce_{path}"] = seconds["smart"] / seconds["ce"]
        if {"h2t", "crt"} <= seconds.keys():
            report[f"h2t_over_crt_{path}"] = seconds["h2t"] / seconds["crt"]


if __name__ == "__main__":
    main()
