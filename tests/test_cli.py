"""The command line: every config field documented, clear errors, a summary table."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from ltlib.cli import build_parser, main
from ltlib.config import RunConfig


def test_help_documents_every_config_field():
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    text = train.format_help()
    for item in dataclasses.fields(RunConfig):
        assert "--" + item.name.replace("_", "-") in text


def test_bad_value_exits_2_with_the_field_named(capsys):
    assert main(["train", "--imbalance-factor", "0.5"]) == 2
    assert "imbalance_factor=0.5 is not allowed" in capsys.readouterr().err


def test_train_prints_a_summary_from_the_cache(quick_ce_result, capsys):
    assert main(["train", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "CIFAR-10 (JPEG-q75 copy)" in out and "final top1" in out and str(quick_ce_result.folder) in out
    assert f"{quick_ce_result.metrics['final_top1']:.2f}" in out


def test_module_entry_point_runs():
    done = subprocess.run([sys.executable, "-m", "ltlib", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "train" in done.stdout and "figures" in done.stdout


def test_missing_data_folder_is_one_line_and_exit_2(tmp_path):
    env = {**os.environ, "LTLIB_DATA": str(tmp_path / "nowhere"), "LTLIB_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "ltlib", "train", "--no-progress"], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cifar10 not found in") and "Traceback" not in done.stderr


def test_reproduction_writes_the_report_and_the_readme_status_from_one_store_read(tmp_path, monkeypatch, capsys):
    from ltlib import readmestatus, storeview

    reads = []
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: reads.append(config.hash()))
    readme, report = tmp_path / "README.md", tmp_path / "REPRODUCTION.md"
    readme.write_text(f"# ltlib\n\n{readmestatus.BEGIN}\nstale\n{readmestatus.END}\n")
    monkeypatch.setattr(readmestatus, "README", readme)
    assert main(["reproduction", "--out", str(report)]) == 0
    assert f"wrote {report} and the status atop {readme}" in capsys.readouterr().out
    assert "stale" not in readme.read_text() and "0 of " in readme.read_text()  # nothing stored
    assert report.read_text().count("pending") > 20 and reads and len(reads) == len(set(reads))
    before = readme.read_text()
    assert main(["reproduction", "--out", str(report), "--no-readme"]) == 0
    assert readme.read_text() == before and "status atop" not in capsys.readouterr().out
