"""Where and how the benchmark scripts write their JSON results."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from ltlib.storage import device_name, software_versions


#: where the reports go
RESULTS = Path(__file__).resolve().parent / "results"


def write_report(report: dict, name: str, device: torch.device, out: Path | None = None, quiet: bool = False) -> Path:
    """``bench/results/<name>-<device type>-<time>.json`` (or ``out``, to rewrite a report as it grows), with the
    device and software versions added (ltlib, torch, Python and the sha256 of requirements-lock.txt). Written to a
    temporary file renamed over ``out``, so a run killed while writing leaves the previous report whole."""
    versions = software_versions()
    report = {"device": device_name(device), "torch": versions["torch"], "software": versions, **report}
    if out is None:
        out = RESULTS / f"{name}-{device.type}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.write_text(json.dumps(report, indent=1))
    partial.replace(out)
    if not quiet:
        print(f"written {out}")
    return out
