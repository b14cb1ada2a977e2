"""What Eq. 4-6 do to a tail-class feature map, measured on a SMART run's own class statistics.

SMART's Eq. 6 replaces a tail sample's map ``F`` (whitened by the tail's diagonal variance) by ``F @ Sigma_th``
(plus the tail mean): how much of the tail's own channel structure survives depends on ``Sigma_th`` (Eq. 4-5).
This script reads the class statistics (Eq. 2-3) from a SMART run's checkpoint (a run in progress keeps them in
``checkpoint.pt``; a finished run does not) and, for every tail-head pair of the run's head rule and at several
``tau``, reports:

* ``effective_rank``: ``exp`` of the entropy of ``Sigma_th``'s normalised singular values (``C`` for a full-rank
  isotropic matrix, 1 for rank one): how many directions the augmented map is made of;
* ``diagonal_share``: ``sum_j |Sigma_th[j, j]| / sum_jk |Sigma_th[j, k]|`` (1 for a diagonal matrix: each channel
  kept, only rescaled);
* ``gain``: per channel, the standard deviation of the augmented map over the tail's own (from the covariance
  ``M^T R_t M`` of ``whitened @ M``, ``R_t`` the tail's correlation matrix and ``M`` Eq. 6's matrix: ``Sigma_th``
  times the tail's RMS standard deviation under ``normalize``), as median, min and max over the channels;
* ``diagonal_argmax``: the share of rows of ``S`` (Eq. 4, normalised as the run does) whose largest entry is on the
  diagonal (a sharp softmax keeps a channel only where it is).

    python bench/smart_transfer.py ~/.cache/ltlib/runs/v0.1.0/<hash>/checkpoint.pt --taus 0.1 1 10 100

It writes ``bench/results/smart-transfer-<checkpoint's run>-epoch<k>-cpu-<time>.json``. Seconds of CPU.
"""
from __future__ import annotations

import argparse
import statistics as stats
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import write_report  # noqa: E402

from ltlib import plans  # noqa: E402
from ltlib.methods.smart import normalized_transfer, transfer_covariance  # noqa: E402
from ltlib.methods.smart_heads import candidates_of, head_choice_table, head_class_mask  # noqa: E402
from ltlib.config import train_counts  # noqa: E402
from ltlib.results import describe  # noqa: E402


def effective_rank(matrix: torch.Tensor) -> float:
    """``exp(H(p))`` with ``p`` the singular values of ``matrix`` over their sum."""
    values = torch.linalg.svdvals(matrix.double())
    p = values / values.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def pair_structure(sigma_tail: torch.Tensor, sigma_head: torch.Tensor, tau: float, normalize: bool = True) -> dict:
    """The measures of the module docstring for one tail covariance and one head covariance ``(C, C)``."""
    sigma_th = transfer_covariance(sigma_tail[None], sigma_head[None], tau, normalize=normalize)[0].double()
    variance = sigma_tail.diagonal().double()
    matrix = sigma_th * variance.mean().sqrt() if normalize else sigma_th
    correlation = sigma_tail.double() / torch.sqrt(variance[:, None] * variance[None, :])
    gain = torch.sqrt((matrix.T @ correlation @ matrix).diagonal().clamp(min=0) / variance)
    similarity = sigma_tail.T @ sigma_head
    if normalize:
        similarity = normalized_transfer(similarity[None])[0]
    channels = torch.arange(len(variance))
    return {"effective_rank": effective_rank(sigma_th),
            "diagonal_share": float(sigma_th.diagonal().abs().sum() / sigma_th.abs().sum()),
            "gain": {"median": float(gain.median()), "min": float(gain.min()), "max": float(gain.max())},
            "diagonal_argmax": float((similarity.argmax(dim=1) == channels).double().mean())}


def structure(checkpoint: dict, config: dict, taus: list[float]) -> dict:
    """Every tail-head pair of the run's head rule at each ``tau`` (a tail class with each of its online head
    classes: under ``relative`` the classes with more images than its own; an offline run's top-k are among them),
    and each measure's range over the pairs."""
    statistics = checkpoint["objective"]["statistics"]
    covariance, seen = statistics["covariance"], statistics["seen"]
    counts, rule = config["class_counts"], config["smart_head_rule"]
    head = head_class_mask(counts, rule)
    table, sizes = head_choice_table(counts, rule)
    pairs = [(t, h) for t in range(len(head)) if not head[t] for h in candidates_of(table, sizes, t).tolist()
             if seen[h] > 0]
    report = {"epoch": checkpoint["epoch"], "channels": covariance.shape[-1], "pairs": len(pairs), "by_tau": {}}
    for tau in taus:
        found = [pair_structure(covariance[t], covariance[h], tau, config["smart_normalize"]) for t, h in pairs]
        summary = {name: [min(f[name] for f in found), stats.median(f[name] for f in found),
                          max(f[name] for f in found)] for name in ("effective_rank", "diagonal_share", "diagonal_argmax")}
        summary["gain_median"] = [min(f["gain"]["median"] for f in found), stats.median(f["gain"]["median"] for f in found),
                                  max(f["gain"]["median"] for f in found)]
        summary["gain_range"] = [min(f["gain"]["min"] for f in found), max(f["gain"]["max"] for f in found)]
        report["by_tau"][str(tau)] = summary
    return report


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="checkpoint.pt of a SMART run in progress")
    parser.add_argument("--taus", type=float, nargs="+", default=[0.1, 1.0, 10.0, 100.0])
    args = parser.parse_args(argv)
    checkpoint = torch.load(args.checkpoint, map_location="cpu", weights_only=False)
    run = args.checkpoint.parent.name  # the run cache's folder is the run's hash
    planned = {entry.hash: entry.config for entry in plans.plan_named("cpu-core", "paper", [0, 1])}
    if run not in planned:
        raise SystemExit(f"{run} is not a run of the CPU plan (seeds 0 and 1): its head rule and tau are unknown")
    found = planned[run]
    config = {"smart_head_rule": found.smart_head_rule, "smart_normalize": found.smart_normalize,
              "class_counts": list(train_counts(found))}
    report = {"run": run, "described": describe(found), "head_rule": found.smart_head_rule,
              "normalize": found.smart_normalize, "run_tau": found.smart_tau, **structure(checkpoint, config, args.taus)}
    print(f"{run} ({report['described']}), epoch {report['epoch']}: min / median / max over {report['pairs']} "
          "tail-head pairs")
    for tau, summary in report["by_tau"].items():
        print(f"tau {tau:>5}: effective rank " + " / ".join(f"{v:.1f}" for v in summary["effective_rank"])
              + f" of {report['channels']}; diagonal share " + " / ".join(f"{v:.3f}" for v in summary["diagonal_share"])
              + "; median gain " + " / ".join(f"{v:.3g}" for v in summary["gain_median"]))
    return write_report(report, f"smart-transfer-{run}-epoch{report['epoch']}", torch.device("cpu"))


if __name__ == "__main__":
    main()
