"""The command line: every config field documented, clear errors, a summary table."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

from ltlib import plans
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


def test_train_prints_a_summary_from_the_cache(quick_ce_result, real_cifar10, capsys):
    assert main(["train", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert real_cifar10.source in out and "final top1" in out and str(quick_ce_result.folder) in out
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
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))  # no committed entry or run in progress
    monkeypatch.setattr(storeview, "stored_metrics", lambda config, root=None: reads.append(config.hash()))
    readme, report = tmp_path / "README.md", tmp_path / "REPRODUCTION.md"
    readme.write_text(f"# ltlib\n\n{readmestatus.BEGIN}\nstale\n{readmestatus.END}\n")
    monkeypatch.setattr(readmestatus, "README", readme)
    assert main(["reproduction", "--out", str(report)]) == 0
    assert f"wrote {report} and the status atop {readme}" in capsys.readouterr().out
    tiers = plans.cpu_core_tiers("paper")
    status = readme.read_text()  # nothing stored: every tier at 0 of its runs
    assert "stale" not in status and f"0 of {sum(len(configs) for _, configs in tiers)} runs of its plan" in status
    assert all(f"tier {name.split()[0]}: 0 / {len(configs)}" in status for name, configs in tiers)
    assert report.read_text().count("pending") > 20 and reads and len(reads) == len(set(reads))
    before = readme.read_text()
    assert main(["reproduction", "--out", str(report), "--no-readme"]) == 0
    assert readme.read_text() == before and "status atop" not in capsys.readouterr().out


def test_stage_two_options_are_typed_by_the_config_and_bad_ones_name_the_allowed_fields(capsys):
    from ltlib.cli import stage_two_overrides

    assert stage_two_overrides(["h2t_p=0.3", "epochs=5", "bn-train=false", "milestones=3,7", "sampler=instance"]) == \
        {"h2t_p": 0.3, "epochs": 5, "bn_train": False, "milestones": (3, 7), "sampler": "instance"}
    assert main(["train", "--stage-two", "p=0.3"]) == 2  # before any data is read or any run trained
    error = capsys.readouterr().err
    assert "--stage-two 'p=0.3' is not allowed" in error and "h2t_p" in error and "stage1," not in error
    assert main(["train", "--stage-two", "epochs=ten"]) == 2
    assert "epochs takes an integer, got 'ten'" in capsys.readouterr().err
    assert main(["train", "--stage-two", "h2t_p=1.5"]) == 2
    assert "h2t_p=1.5 is not allowed" in capsys.readouterr().err


def test_train_with_stage_two_trains_dr_h2t_on_the_stage_one_run(tiny_world, capsys):
    from tinyruns import tiny_cifar

    from ltlib.config import profile, stage_two_profile

    folder = tiny_cifar(tiny_world / "given")  # named by --data; the fresh cache and store come from tiny_world
    stage1 = profile("quick", max_per_class=50, imbalance_factor=10, epochs=1, batch_size=16, warmup_epochs=0,
                     milestones=(), test_per_class=5, device="cpu", mixup_alpha=1.0)
    expected = stage_two_profile("quick", stage1, h2t_p=0.25, epochs=1, batch_size=16)
    assert main(["train", "--no-progress", "--data", str(folder), "--max-per-class", "50", "--imbalance-factor", "10",
                 "--epochs", "1", "--batch-size", "16", "--warmup-epochs", "0", "--milestones", "--test-per-class",
                 "5", "--device", "cpu", "--mixup-alpha", "1", "--stage-two", "h2t_p=0.25", "epochs=1",
                 "batch_size=16"]) == 0
    out = capsys.readouterr().out
    assert f"none/ce ({stage1.hash()})" in out and f"DR+H2T p=0.25 ({expected.hash()})" in out
    assert out.count("cached in") == 2 and expected.hash() in out.splitlines()[-1]


def test_stage_two_of_a_list_dataset_takes_the_large_recipe(monkeypatch, capsys):
    from ltlib import cli, results

    built, real = [], cli.large_stage_two
    monkeypatch.setattr(cli, "large_stage_two", lambda stage1, **changes: built.append(real(stage1, **changes))
                        or built[-1])

    def stop(config, **kwargs):
        raise ValueError(f"stopped before training {config.dataset}")

    monkeypatch.setattr(results, "get_or_train", stop)
    assert main(["train", "--dataset", "imagenet_lt", "--recipe", "h2t", "--profile", "paper", "--device", "cpu",
                 "--stage-two", "h2t_p=0.3", "epochs=12"]) == 2
    assert "stopped before training imagenet_lt" in capsys.readouterr().err and len(built) == 1
    second = built[0]
    assert second.stage1.model == "resnet50" and second.stage1.epochs == 180  # MiSLAS's ImageNet-LT stage I
    assert (second.h2t_p, second.lr, second.batch_size, second.epochs, second.weight_decay) == \
        (0.3, 0.005, 256, 12, 5e-4)
