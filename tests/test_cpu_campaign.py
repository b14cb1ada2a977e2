"""The CPU campaign: its tiered plan, a run in progress carried by git to another machine and resumed to the
uninterrupted result, and a failing run recorded and skipped while the campaign goes on."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

import ltlib.checkpoint
import ltlib.train
from ltlib import campaign, compression, plans, replicates, runsets, store, tables
from ltlib.config import StageTwoConfig
from ltlib.results import describe, get_or_train, load_result
from tinyruns import TINY, tiny_runset
from ltlib.config import RunConfig


def test_the_cpu_plan_trains_the_h2t_core_then_the_smart_core_once_each():
    tiers = plans.cpu_core_tiers("paper")
    names = [name for name, _ in tiers]
    assert [name[0] for name in names] == ["1", "2", "3", "4", "5", "6", "7", "8", "9"]
    configs = [config for _, group in tiers[:4] for config in group]
    assert {c.seed for _, group in tiers[:4] for c in group} == {0}
    hashes = [config.hash() for config in configs]
    assert len(hashes) == len(set(hashes))
    h2t = runsets.h2t_stage_two("paper")
    assert hashes[0] == h2t["stage I"].hash()  # the backbone every H2T run needs comes first
    assert {c.hash() for c in tiers[0][1][1:]} >= {h2t["DR"].hash(), h2t["DR+H2T"].hash()}
    assert all(isinstance(c, StageTwoConfig) and c.stage1 == h2t["stage I"] for _, g in tiers[:2] for c in g[1:]
               if c is not h2t["stage I"])
    assert {c.hash() for c in tiers[2][1]} == {c.hash() for c in runsets.margins("paper").values()}
    needed = [*runsets.confusion("paper").values(), *runsets.p_sweep("paper").values(),
              *(c for rows in (tables.smart_table1_rows("paper"), tables.h2t_table6_rows("paper"),
                               tables.h2t_table5_rows("paper"), tables.h2t_table7_rows("paper")) for _, _, c in rows),
              *runsets.quickstart("paper").values()]
    assert {c.hash() for c in needed} <= set(hashes)
    position = {digest: index for index, digest in enumerate(hashes)}
    assert all(position[c.stage1.hash()] < position[c.hash()] for c in configs if isinstance(c, StageTwoConfig))
    assert {c.imbalance_factor for c in configs if not isinstance(c, StageTwoConfig)} == {100.0}
    assert {c.eval_every for c in configs if not isinstance(c, StageTwoConfig)} == {10}
    rest = tiers[3][1]  # single-batch runs first, then SMART with the paper's head rule first
    kinds = [(c.method == "smart", c.method == "smart" and c.smart_head_rule != "many") for c in rest]
    assert kinds == sorted(kinds) and kinds[0] == (False, False) and (True, False) in kinds and (True, True) in kinds


def test_tier_six_builds_smart_up_from_its_two_batches_then_its_augmentation():
    parts = plans.cpu_core_tiers("paper")[5][1]
    ce, smart = runsets.margins("paper")["CE"], runsets.margins("paper")["SMART"]
    assert [(c.method, c.smart_augment, c.smart_weights) for c in parts] == [("smart", False, False),
                                                                            ("smart", True, False)]
    assert all(c.replace(smart_augment=True, smart_weights=True) == smart for c in parts)  # only the parts differ
    rows = {label: config for label, _, config in tables.smart_parts_rows("paper")}
    assert rows["CE"] == ce and rows[f"{tables.SMART_LABEL}, Eq. 11 share"] == smart
    table4 = {label: config for label, _, config in tables.smart_table4_rows("paper")}
    assert table4["Minority Aug. + CE"] == parts[1]  # the paper's Table 4 row, trained once


def test_tier_five_retrains_the_ce_row_on_the_copy_changed_once_more_and_nothing_else():
    tiers = plans.cpu_core_tiers("paper")
    earlier = {c.hash() for _, group in tiers[:4] for c in group}
    data = tiers[4][1]
    base = compression.baseline("paper")
    assert base.hash() in earlier and (base.method, base.loss, base.mixup_alpha, base.jpeg_quality,
                                       base.chroma_block) == ("none", "ce", 0, 0, 0)
    assert [(c.jpeg_quality, c.chroma_block) for c in data] == [(55, 0), (30, 0), (0, 4)]
    assert not {c.hash() for c in data} & earlier
    assert all(c.replace(jpeg_quality=0, chroma_block=0) == base for c in data)  # only the data differs
    assert ["re-encoded as JPEG q" in describe(c) for c in data] == [True, True, False]
    assert "data's chroma pooled over 4 x 4" in describe(data[2])


def test_tier_seven_retrains_the_central_comparisons_at_the_next_seed_and_nothing_else():
    tiers = plans.cpu_core_tiers("paper")
    earlier = {c.hash() for _, group in tiers[:4] for c in group}
    second = tiers[6][1]
    assert len(second) == 7 and {c.seed for c in second} == {1}
    twins = [config.replace(seed=0, stage1=config.stage1.replace(seed=0)) if isinstance(config, StageTwoConfig)
             else config.replace(seed=0) for config in second]
    for config, twin in zip(second, twins):  # each is a seed-0 run of tiers 1-4 with only its seed changed
        assert twin.hash() in earlier and config.hash() not in earlier
    stage_two = [c for c in second if isinstance(c, StageTwoConfig)]
    assert {c.h2t_p for c in stage_two} == {0.0, 0.25} and all(c.stage1 == second[0] for c in stage_two)
    single = [c for c in second if not isinstance(c, StageTwoConfig)]
    assert [(c.method, c.loss) for c in single] == [("none", "ce"), ("none", "bsce"), ("smart", "bsce"),
                                                    ("none", "ce"), ("smart", "ce")]
    assert single[0].mixup_alpha > 0 and {c.smart_head_rule for c in single if c.method == "smart"} == {"many"}
    # --seeds 0 1 plans seed 1's runs once: tier 7 of seed 0 is seed 1's tiers' subset
    both = plans.plan_named("cpu-core", "paper", (0, 1))
    assert len({run.hash for run in both}) == len(both)
    assert [run.tier[0] for run in both if run.hash == second[-1].hash()] == ["7"]
    assert all(run.seed == run.config.seed for run in both)
    # the report's pairing: each seed-1 run beside the seed-0 run it retrains
    assert [(zero, one) for _, _, zero, one in replicates.twins("paper")] == list(zip(twins, second))


def test_tiers_eight_and_nine_train_every_other_smart_ablation_row_and_the_tau_sweep_once_at_seed_zero():
    tiers = plans.cpu_core_tiers("paper")
    earlier = {c.hash() for _, group in tiers[:7] for c in group}
    ablations, sweep = tiers[7][1], tiers[8][1]
    rows = [c for rows in (tables.smart_table4_rows("paper"), tables.smart_table5_rows("paper"),
                           tables.smart_parts_rows("paper")) for _, _, c in rows]
    assert {c.hash() for c in ablations} == {c.hash() for c in rows} - earlier  # every row, each once
    smart = runsets.margins("paper")["SMART"]
    # first the other reading of the tail-dominated batch: SMART as in tier 3 but for its sampler
    assert ablations[0].smart_tail_sampler == "reverse" and ablations[0].replace(smart_tail_sampler="balanced") == smart
    assert "tail_sampler reverse" in describe(ablations[0]) and "tail_sampler" not in describe(smart)
    ablations = ablations[1:]
    assert ablations[0] == tables.smart_table4_rows("paper")[2][2]  # Minority Aug. + BSCE: completes Table 4
    assert (ablations[0].method, ablations[0].loss, ablations[0].smart_weights) == ("smart", "bsce", False)
    assert [(c.loss, c.smart_augment, c.smart_weights) for c in ablations[1:3]] == [("ce", False, True),
                                                                                    ("bsce", False, True)]  # W alone
    assert [c.smart_layer for c in ablations[3:6]] == [1, 2, 3]
    assert [c.smart_momentum for c in ablations[6:9]] == [0.01, 0.05, 0.10]
    assert ablations[9].smart_weight_form == "frobenius" and len(ablations) == 10
    grid = runsets.tau_sweep("paper")
    assert {c.hash() for c in sweep} == {c.hash() for c in grid.values()} - earlier - {c.hash() for c in ablations}
    assert len(sweep) == len(grid) - 1  # the default (online, tau = 1) is SMART's tier-3 run
    assert {c.seed for c in ablations + sweep} == {0} and all(c.method == "smart" for c in ablations + sweep)


def test_the_dry_run_prints_each_tier_with_labelled_runs(capsys, tmp_path, monkeypatch):
    from ltlib.cli import main

    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    assert main(["campaign", "--plan", "cpu-core", "--seeds", "0", "--dry-run", "--seconds-per-epoch", "50"]) == 0
    out = capsys.readouterr().out
    for name, group in plans.cpu_core_tiers("paper"):
        assert f"tier {name}: {len(group)} runs" in out
    assert "mixup 1" in out and "schedule cmo" in out and "p=0.25" in out and "wd 0.0005" in out


class Interrupted(Exception):
    """Stands for the end of a session: the process stops right after a checkpoint."""


def test_a_run_in_progress_trains_before_the_runs_planned_ahead_of_it(tiny_world, monkeypatch):
    first, second = (plans.PlannedRun(RunConfig(**{**TINY, "epochs": 3, "warmup_epochs": 0}, seed=seed), 0)
                     for seed in (0, 1))
    save = ltlib.checkpoint.Checkpointer.save

    def save_then_stop(self, state):
        save(self, state)
        raise Interrupted

    monkeypatch.setattr(ltlib.checkpoint.Checkpointer, "save", save_then_stop)
    with pytest.raises(Interrupted):  # the second run was begun (one epoch) when the session ended
        get_or_train(second.config, progress=False)
    monkeypatch.setattr(ltlib.checkpoint.Checkpointer, "save", save)
    plan = campaign.describe_plan([first, second], [first, second], 10.0, 1)
    assert "runs in progress train first" in plan and "(in progress: 1/3 epochs)" in plan
    said = []
    assert campaign.work([first, second], progress=False, log=said.append) == [second.hash, first.hash]
    assert said[0].endswith("resuming after epoch 1/3")


def test_a_run_in_progress_committed_and_cloned_resumes_to_the_uninterrupted_result(tiny_world, monkeypatch):
    config = RunConfig(**{**TINY, "epochs": 4, "warmup_epochs": 1, "milestones": (3,)}, mixup_alpha=1.0)
    run = plans.PlannedRun(config, 0)
    monkeypatch.setenv("LTLIB_CACHE", str(tiny_world / "uninterrupted"))
    uninterrupted = get_or_train(config, progress=False).metrics

    monkeypatch.setenv("LTLIB_CACHE", str(tiny_world / "session-1"))
    save = ltlib.checkpoint.Checkpointer.save

    def save_then_stop(self, state):
        save(self, state)
        if state["epoch"] == 2:
            raise Interrupted

    monkeypatch.setattr(ltlib.checkpoint.Checkpointer, "save", save_then_stop)
    with pytest.raises(Interrupted):
        get_or_train(config, progress=False)
    monkeypatch.setattr(ltlib.checkpoint.Checkpointer, "save", save)
    repo = tiny_world / "repo"
    monkeypatch.setenv("LTLIB_STORE", str(repo / "results"))
    [record] = campaign.save_progress([run])
    assert record["epochs_done"] == 2 and store.partial_path(config).is_file()
    assert store.partial_record(config).items() <= record.items()  # what the store keeps, read back

    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "-C", str(repo), "add", "-A"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "run in progress"], check=True)
    clone = tiny_world / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    monkeypatch.setenv("LTLIB_STORE", str(clone / "results"))  # a new machine: the clone and an empty cache
    monkeypatch.setenv("LTLIB_CACHE", str(tiny_world / "session-2"))
    loaded, load = [], ltlib.checkpoint.Checkpointer.load

    def recording_load(self):
        state = load(self)
        loaded.append(None if state is None else state["epoch"])
        return state

    monkeypatch.setattr(ltlib.checkpoint.Checkpointer, "load", recording_load)
    said = []
    assert campaign.work([run], progress=False, log=said.append) == [run.hash]
    assert said[0].endswith("resuming after epoch 2/4")  # the log says where the run picks up
    assert loaded == [2]  # and training did: from the committed checkpoint, not from scratch
    resumed = load_result(config).metrics
    assert {k: v for k, v in resumed["history"].items() if "seconds" not in k} == \
        {k: v for k, v in uninterrupted["history"].items() if "seconds" not in k}
    assert resumed["final"] == uninterrupted["final"] and resumed["best_top1"] == uninterrupted["best_top1"]
    # the timings of both sessions' epochs are kept, not the last session's alone
    assert len(resumed["history"]["seconds"]) == len(resumed["history"]["train_seconds"]) == config.epochs
    assert resumed["train_seconds"] == pytest.approx(sum(resumed["history"]["seconds"]))
    assert not store.partial_path(config).exists()  # stored: the partial entry is gone
    assert store.has_entry(config)


def test_a_failing_run_is_recorded_skipped_and_not_retried(tiny_world, monkeypatch, capsys):
    runs_by_label = tiny_runset("quick")
    monkeypatch.setitem(runsets.NOTEBOOK_RUNSETS, "99_tiny", tiny_runset)
    runs = plans.plan("quick", only=["99_tiny"])  # CE, BSCE, the stage I of DR+H2T, DR+H2T
    bad = runs_by_label["DR+H2T"].stage1
    real, calls = ltlib.train.train_stage_one, []

    def failing(config, *args, **kwargs):
        calls.append(config.hash())
        if config.hash() == bad.hash():
            raise FloatingPointError("non-finite loss at step 3")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ltlib.train, "train_stage_one", failing)
    done = campaign.work(runs, progress=False)
    assert set(done) == {runs_by_label["CE"].hash(), runs_by_label["BSCE"].hash()}
    record = json.loads(campaign.failure_path(bad).read_text())
    assert record["hash"] == bad.hash() and "FloatingPointError: non-finite loss at step 3" in record["error"]
    assert campaign.failure(runs_by_label["DR+H2T"]) == record  # the stage II is skipped with its stage I
    assert calls.count(bad.hash()) == 1  # the stage II did not try its stage I again
    assert "FAILED" in capsys.readouterr().out
    calls.clear()
    assert campaign.work(runs, progress=False) == [] and calls == []  # not retried
    assert campaign.clear_failures(runs) == 1
    monkeypatch.setattr(ltlib.train, "train_stage_one", real)
    assert set(campaign.work(runs, progress=False)) == {bad.hash(), runs_by_label["DR+H2T"].hash()}


@pytest.mark.parametrize("path, error", [("stages", "inductor: C++ compile failed"), ("bf16", "non-finite loss")])
def test_a_run_failing_on_a_fast_path_runs_once_more_on_eager_and_says_so(tiny_world, monkeypatch,
                                                                          path, error):
    config = RunConfig(**TINY)
    real, paths = ltlib.train.train_stage_one, []

    def fails_when_fast(config, *args, **kwargs):
        paths.append(os.environ.get("LTLIB_FAST"))
        if os.environ.get("LTLIB_FAST") == path:
            raise RuntimeError(error)
        return real(config, *args, **kwargs)

    monkeypatch.setattr(ltlib.train, "train_stage_one", fails_when_fast)
    monkeypatch.setenv("LTLIB_FAST", path)  # a compiled path (bf16 + inductor) or bf16 autocast on the CPU
    assert campaign.work([plans.PlannedRun(config, 0)], progress=False) == [config.hash()]
    assert paths == [path, "0"] and os.environ["LTLIB_FAST"] == path  # the environment is restored
    metrics = store.read_entry(config)[1]
    assert metrics["fast_path_fallback"] == f"RuntimeError: {error}"
    assert metrics["fast_path"]["compile"] is None and metrics["fast_path"]["dtype"] == "float32"
    assert campaign.failure(config) is None


def test_where_cuda_is_required_a_run_never_trains_on_the_cpu(tiny_world, monkeypatch):
    from ltlib.train import DeviceUnavailable

    config = RunConfig(**{**TINY, "device": "auto"})
    monkeypatch.setenv("LTLIB_REQUIRE_CUDA", "1")
    monkeypatch.setattr(ltlib.train.torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailable, match="LTLIB_REQUIRE_CUDA=1"):
        campaign.work([plans.PlannedRun(config, 0)], progress=False)
    assert campaign.failure(config) is None and load_result(config) is None  # not a failed run: nothing ran


def test_with_stage_one_puts_each_stage_one_once_before_its_stage_twos():
    found = runsets.h2t_stage_two("paper")
    ordered = runsets.with_stage_one([found["DR"], found["DR+H2T"], found["stage I"], found["DR"]])
    assert [c.hash() for c in ordered] == [found["stage I"].hash(), found["DR"].hash(), found["DR+H2T"].hash()]
    ce = runsets.quickstart("paper")["CE"]
    assert runsets.with_stage_one([ce]) == [ce]


def test_stage_one_fast_applies_to_stage_one_runs_only(monkeypatch):
    h2t = runsets.h2t_stage_two("paper")
    seen = {}

    def record(config, progress, log):
        seen[config.hash()] = os.environ.get("LTLIB_FAST")

    monkeypatch.setattr(campaign, "train_or_fall_back", record)
    monkeypatch.setattr(campaign, "store_run", lambda config: None)
    monkeypatch.setattr(campaign.store, "has_entry", lambda config, root=None, weights=None: False)
    monkeypatch.setattr(campaign, "failure", lambda config, root=None: None)
    monkeypatch.delenv("LTLIB_FAST", raising=False)
    planned = [plans.PlannedRun(h2t["DR+H2T"], 0), plans.PlannedRun(runsets.margins("paper")["SMART"], 0)]
    monkeypatch.setattr(campaign, "claim", lambda config: __import__("contextlib").nullcontext(True))
    campaign.work(planned, progress=False, log=lambda *a: None, stage_one_fast="bf16")
    assert seen == {h2t["stage I"].hash(): "bf16", h2t["DR+H2T"].hash(): None,
                    runsets.margins("paper")["SMART"].hash(): "bf16"}
    assert "LTLIB_FAST" not in os.environ
    assert campaign.resolve_stage_one_fast("0") == "0" and campaign.resolve_stage_one_fast(None) is None


def test_the_estimate_counts_only_the_epochs_a_run_in_progress_has_left(capsys, tmp_path, monkeypatch):
    import torch

    from ltlib.cli import main
    from ltlib.results import run_folder
    from ltlib.store import partial_path

    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    runs = plans.plan_named("cpu-core", "paper")
    first, second = runs[0], runs[-1]  # a stage I and, last in the plan, another stage I
    run_folder(first.config).mkdir(parents=True)
    history = {"train_seconds": [40.0] * 3, "seconds": [45.0] * 3}  # three epochs timed: the dry run's rate
    torch.save({"epoch": 50, "history": history}, run_folder(first.config) / "checkpoint.pt")  # this machine's cache
    record = partial_path(second.config).with_suffix(".json")  # saved by an earlier session
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"epochs_done": 20}))
    done = {run.hash: plans.epochs_done(run.config) for run in runs}
    assert done[first.hash] == 50 and done[second.hash] == 20 and sum(done.values()) == 70
    full = plans.estimate_minutes(runs, 60.0)
    left = plans.estimate_minutes(runs, 60.0, done=done)
    assert first.config.method == "none" and second.config.method == "smart" and second.config.smart_batches == "full"
    # 50 of a CE run's 200 epochs, and 20 of a SMART run's 200, each of which costs two reference epochs: 90 minutes
    assert full - left == pytest.approx((50 + 2 * 20) * 60.0 / 60)
    assert main(["campaign", "--plan", "cpu-core", "--seeds", "0", "--dry-run", "--seconds-per-epoch", "60"]) == 0
    out = capsys.readouterr().out
    assert f"{first.hash:<16}" in out and "(in progress: 50/200 epochs)" in out and "(in progress: 20/200 epochs)" in out
    assert f"about {left:.1f} min" in out
    plans._summary.cache_clear()  # without a given rate the dry run times epochs from the same checkpoint
    loads, load = [], torch.load
    monkeypatch.setattr(torch, "load", lambda path, *a, **k: loads.append(str(path)) or load(path, *a, **k))
    assert main(["campaign", "--plan", "cpu-core", "--seeds", "0", "--dry-run"]) == 0
    assert loads == [str(run_folder(first.config) / "checkpoint.pt")]  # and reads it once
    assert "(in progress: 50/200 epochs)" in capsys.readouterr().out
