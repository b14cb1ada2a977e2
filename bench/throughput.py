"""Benchmark: peer-style pipeline vs ltlib's tensor data path, same config, one process.

ResNet-32, CIFAR-10-LT IF 100 (LTLIB_DATA or --data), batch 128, CE + mixup. For each pipeline:
per-epoch training seconds (evaluation excluded), projected 200-epoch time, and test top-1 after a
short fixed schedule, over --seeds seeds. Writes ``bench/results/throughput-<device>-<time>.json``.

    python bench/throughput.py --epochs 3 --seeds 3           # on the GPU machine
    python bench/throughput.py --epochs 1 --seeds 1 --device cpu --test-per-class 50   # smoke run
"""
from __future__ import annotations

import argparse
import statistics
import sys
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
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    config = ltlib.profile("paper", epochs=args.epochs, warmup_epochs=0, milestones=(), mixup_alpha=1.0,
                           device=device.type, test_per_class=args.test_per_class)
    data = data_for(config, args.data)
    report = {"ltlib": ltlib.__version__, "data": data.source,
              "epochs": args.epochs, "seeds": args.seeds, "peer_workers": args.workers, "runs": {}}
    for name in ("peer", "ltlib"):
        per_epoch, accuracy = [], []
        for seed in range(args.seeds):
            if name == "peer":
                model, seconds = train_epochs(data.to(device), args.epochs, device, args.workers, seed)
            else:
                output = train_stage_one(config.replace(seed=seed), data, progress=False)
                model, seconds = output.model, output.history.train_seconds
            logits, _ = predict(model, data.test_images.to(device))
            accuracy.append(top1(logits, data.test_labels))
            per_epoch.extend(seconds[1:] or seconds)  # the first epoch carries warm-up costs
        report["runs"][name] = {"seconds_per_epoch": statistics.mean(per_epoch),
                                "projected_200_epochs_s": 200 * statistics.mean(per_epoch),
                                "top1_mean": statistics.mean(accuracy),
                                "top1_std": statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0,
                                "top1": accuracy}
        print(f"{name:<6} {report['runs'][name]['seconds_per_epoch']:.3f} s/epoch, "
              f"200 epochs ~{report['runs'][name]['projected_200_epochs_s']:.0f} s, "
              f"top-1 {report['runs'][name]['top1_mean']:.2f} ± {report['runs'][name]['top1_std']:.2f}")
    report["speedup"] = report["runs"]["peer"]["seconds_per_epoch"] / report["runs"]["ltlib"]["seconds_per_epoch"]
    print(f"speed-up of ltlib over the peer pipeline: {report['speedup']:.2f}x")
    write_report(report, "throughput", device)
    return report


if __name__ == "__main__":
    main()
