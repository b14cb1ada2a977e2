"""Where and how the benchmark scripts write their JSON results."""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def write_report(report: dict, name: str, device: torch.device) -> Path:
    """``bench/results/<name>-<device type>-<time>.json``, with torch's version added."""
    report = {"device": device_name(device), "torch": torch.__version__, **report}
    out = Path(__file__).resolve().parent / "results" / f"{name}-{device.type}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"written {out}")
    return out
