"""Benchmark: peer-style pipeline vs ltlib's tensor data path, and K ltlib runs packed on one device.

ResNet-32, CIFAR-10-LT IF 100 (LTLIB_DATA or --data), batch 128, CE + mixup. Pipelines: ``peer`` (PIL
transforms, DataLoader, eager fp32), ``ltlib`` (tensor data path, eager fp32: the reference) and ``ltlib-fast``
(the same with :mod:`ltlib.fast`: bf16 autocast, channels_last, compiled stages; ``--graphs`` adds CUDA graphs;
its first epoch, which compiles, is reported apart as ``compile_epoch_s``). For each pipeline:
per-epoch training seconds (evaluation excluded), projected 200-epoch time, and test top-1 after a
short fixed schedule, over --seeds seeds. ``--packed 4 8 16`` then runs K processes at once (the
campaign's ``--workers K``), each one seed, and reports the per-epoch seconds of each, the projected
runs per minute of 200-epoch runs, and their top-1 (so speed never hides a broken run). Writes
``bench/results/throughput-<device>-<time>.json``, rewritten after every measurement, so a run stopped by a time
limit keeps what it measured.

    python bench/throughput.py --epochs 3 --seeds 3 --packed 4 8 16     # on the GPU machine
    python bench/throughput.py --epochs 2 --seeds 1 --device cpu --test-per-class 10 --max-per-class 300 --packed 2
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peer_pipeline import train_epochs  # noqa: E402
from report import write_report  # noqa: E402

import ltlib  # noqa: E402
from ltlib.evaluate import predict, top1  # noqa: E402
from ltlib.results import data_for  # noqa: E402
from ltlib.train import resolve_device, train_stage_one  # noqa: E402


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (timed, then accuracy measured)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers of the peer pipeline (H2T: 0)")
    parser.add_argument("--test-per-class", type=int, default=0)
    parser.add_argument("--data", default=None)
    parser.add_argument("--max-per-class", type=int, default=0, help="n_max of a smaller subset (smoke runs; 0 = full)")
    parser.add_argument("--packed", type=int, nargs="*", default=[], help="K values: K runs at once on the device")
    parser.add_argument("--graphs", action="store_true", help="ltlib-fast and packed runs: also CUDA graphs")
    parser.add_argument("--skip-fast", action="store_true", help="leave out ltlib-fast (e.g. no C++ compiler)")
    parser.add_argument("--single", type=int, default=None, help=argparse.SUPPRESS)  # one packed run's seed
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    if args.graphs:
        os.environ["LTLIB_FAST"] = "graphs"
    config = ltlib.profile("paper", epochs=args.epochs, warmup_epochs=0, milestones=(), mixup_alpha=1.0,
                           device=device.type, test_per_class=args.test_per_class, max_per_class=args.max_per_class)
    data = data_for(config, args.data)
    if args.single is not None:  # a packed worker: one run, its numbers as JSON on stdout
        output = train_stage_one(config.replace(seed=args.single), data, progress=False)
        logits, _ = predict(output.model, data.test_images.to(device))
        print(json.dumps({"seconds": output.history.train_seconds, "top1": top1(logits, data.test_labels)}))
        return {}
    report = {"ltlib": ltlib.__version__, "data": data.source,
              "epochs": args.epochs, "seeds": args.seeds, "peer_workers": args.workers, "runs": {}}
    out = None
    for name in ("peer", "ltlib") + (() if args.skip_fast else ("ltlib-fast",)):
        run, fast_path = pipeline(name, args, config, data, device)
        report["runs"][name] = run
        if fast_path is not None:
            report.setdefault("fast_path", {})[name] = fast_path
        print(f"{name:<6} {run['seconds_per_epoch']:.3f} s/epoch, 200 epochs ~{run['projected_200_epochs_s']:.0f} s, "
              f"top-1 {run['top1_mean']:.2f} ± {run['top1_std']:.2f}", flush=True)
        if name == "ltlib":
            report["speedup"] = report["runs"]["peer"]["seconds_per_epoch"] / run["seconds_per_epoch"]
            print(f"speed-up of ltlib over the peer pipeline: {report['speedup']:.2f}x", flush=True)
        if name == "ltlib-fast":
            report["fast_speedup"] = report["runs"]["ltlib"]["seconds_per_epoch"] / run["seconds_per_epoch"]
            print(f"speed-up of the fast path over ltlib eager: {report['fast_speedup']:.2f}x", flush=True)
        out = write_report(report, "throughput", device, out, quiet=True)
    for k in args.packed:
        report["runs"][f"packed-{k}"] = packed(k, args)
        print(f"packed K={k}: {report['runs'][f'packed-{k}']['runs_per_minute_200_epochs']:.2f} runs/min of 200 epochs",
              flush=True)
        out = write_report(report, "throughput", device, out, quiet=True)
    print(f"written {out}")
    return report


def pipeline(name: str, args, config, data, device) -> tuple[dict, dict | None]:
    """One pipeline over ``--seeds`` seeds: per-epoch seconds (first epoch dropped: it carries warm-up costs,
    reported as ``compile_epoch_s``), projected 200-epoch time, top-1; and the fast path it ran on (ltlib's)."""
    per_epoch, accuracy, first, fast_path = [], [], [], None
    for seed in range(args.seeds):
        if name == "peer":
            model, seconds = train_epochs(data.to(device), args.epochs, device, args.workers, seed)
        else:
            output = train_stage_one(config.replace(seed=seed), data, progress=False, fast=name == "ltlib-fast")
            model, seconds = output.model, output.history.train_seconds
            fast_path = output.metrics["fast_path"]
        first.append(seconds[0])
        logits, _ = predict(model, data.test_images.to(device))
        accuracy.append(top1(logits, data.test_labels))
        per_epoch.extend(seconds[1:] or seconds)
    run = {"seconds_per_epoch": statistics.mean(per_epoch), "compile_epoch_s": max(first),
           "projected_200_epochs_s": 200 * statistics.mean(per_epoch), "top1_mean": statistics.mean(accuracy),
           "top1_std": statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0, "top1": accuracy}
    return run, fast_path


def packed(k: int, args) -> dict:
    """K processes at once, seeds 0..K-1: per-epoch seconds (first epoch dropped), runs per minute, top-1."""
    command = [sys.executable, __file__, "--single", "0", "--epochs", str(args.epochs), "--device", args.device,
               "--test-per-class", str(args.test_per_class), "--max-per-class", str(args.max_per_class)]
    command += ["--data", args.data] if args.data else []
    started = time.perf_counter()
    workers = [subprocess.Popen(command[:3] + [str(seed)] + command[4:], stdout=subprocess.PIPE, text=True,
                                env={**os.environ, "TQDM_DISABLE": "1"}) for seed in range(k)]
    outputs = [json.loads(worker.communicate()[0].strip().splitlines()[-1]) for worker in workers]
    wall = time.perf_counter() - started
    per_epoch = statistics.mean(s for out in outputs for s in (out["seconds"][1:] or out["seconds"]))
    accuracy = [out["top1"] for out in outputs]
    return {"k": k, "wall_s": wall, "seconds_per_epoch_each": per_epoch,
            "runs_per_minute_200_epochs": k / (200 * per_epoch / 60),
            "top1_mean": statistics.mean(accuracy), "top1": accuracy}


if __name__ == "__main__":
    main()
