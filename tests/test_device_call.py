"""The first call on a lent GPU, rehearsed on the CPU: the exact command stores a run and exports it, follows the
campaign by its pid (pgrep hidden), stops a CUDA MPS daemon whose clients see no GPU, and trains nothing on the
CPU where CUDA is required."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from conftest import write_official_cifar
from ltlib import devicekit, runsets, store

REPO = Path(__file__).resolve().parent.parent
FIRST_CALL = ["bash", "bench/device_session.sh", "first", "540"]


def fake_tools(folder: Path) -> Path:
    """A pgrep that must never run and an MPS control that logs its arguments (its daemon 'starts')."""
    folder.mkdir()
    (folder / "pgrep").write_text(f"#!/bin/sh\ntouch {folder}/pgrep-was-called\nexit 127\n")
    (folder / "nvidia-cuda-mps-control").write_text(  # commands come as arguments (-d) or on stdin (quit)
        f"#!/bin/sh\nif [ $# -gt 0 ]; then echo \"$@\"; else cat; fi >> {folder}/mps.log\n")
    for tool in folder.iterdir():
        tool.chmod(0o755)
    return folder


def call_env(tmp_path: Path, tools: Path, **extra) -> dict:
    return {**os.environ, "PATH": f"{tools}:{Path(sys.executable).parent}:{os.environ['PATH']}",
            "KIT": str(tmp_path / "kit.tar.xz"), "KIT_DIR": str(tmp_path / "kit"), "OUT": str(tmp_path / "out"),
            "LTLIB_STORE": str(tmp_path / "store"), "CAMPAIGN_LOG": str(tmp_path / "campaign.log"),
            "TORCHINDUCTOR_CACHE_DIR": str(tmp_path / "inductor"), "PROFILE": "quick", "ONLY": "00",
            "SEEDS_CAMPAIGN": "0", "WORKERS": "1", "LTLIB_FAST": "0", **extra}


def test_the_first_call_stores_and_exports_a_run_on_the_cpu(tmp_path):
    data = write_official_cifar(tmp_path / "cifar", "cifar10", 300, 30, 10)
    config = runsets.quickstart("quick")["CE"]
    devicekit.build(tmp_path / "kit.tar.xz", root=data, configs=[config])
    tools = fake_tools(tmp_path / "bin")
    done = subprocess.run(FIRST_CALL, cwd=REPO, env=call_env(tmp_path, tools, REQUIRE_CUDA="0"),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = tmp_path / "out"
    assert {"session.log", "campaign.log", "results-000.tar.gz"} <= {p.name for p in out.iterdir()}
    assert not (tools / "pgrep-was-called").exists()
    assert (tools / "mps.log").read_text().split() == ["-d", "quit"]  # no GPU for its clients: MPS stopped
    assert "MPS stopped" in done.stdout
    home = tmp_path / "home-store"
    assert store.import_bundles(sorted(out.glob("results-*.tar.gz")), home) == [config.hash()]
    metrics = store.read_entry(config, home)[1]
    assert metrics["fast_path"]["compile"] is None and metrics["final_top1"] >= 0
    assert "device session:" in (out / "session.log").read_text()


def test_where_cuda_is_required_the_call_trains_nothing_on_the_cpu(tmp_path):
    data = write_official_cifar(tmp_path / "cifar", "cifar10", 300, 30, 10)
    devicekit.build(tmp_path / "kit.tar.xz", root=data, configs=[runsets.quickstart("quick")["CE"]])
    tools = fake_tools(tmp_path / "bin")
    done = subprocess.run(FIRST_CALL, cwd=REPO, env=call_env(tmp_path, tools, MPS="0"), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 3 and "nothing is trained on the CPU" in done.stdout  # the call logs both streams
    assert not (tmp_path / "store").exists() and not (tmp_path / "campaign.log").exists()
