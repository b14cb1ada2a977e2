"""Training end to end (tiny synthetic data and the quick profile on real CIFAR-10-LT) and the cache."""
from __future__ import annotations

import math

import pytest
import torch

import ltlib
from ltlib.config import RunConfig
from ltlib.data import LongTailedData
from ltlib.results import get_or_train
from ltlib.schedules import learning_rate
from ltlib.train import NonFiniteLossError, train_stage_one


def tiny_data(counts=(24, 12, 6), test_per_class=4, seed=0) -> LongTailedData:
    """Learnable synthetic images: each class is a different colour plus noise."""
    generator = torch.Generator().manual_seed(seed)

    def images_for(per_class):
        labels = torch.repeat_interleave(torch.arange(len(per_class)), torch.tensor(per_class))
        base = (labels[:, None, None, None] * 90 + 20).expand(-1, 3, 32, 32).float()
        noise = torch.randint(-20, 21, base.shape, generator=generator)
        return (base + noise).clamp(0, 255).to(torch.uint8), labels

    train_images, train_labels = images_for(list(counts))
    test_images, test_labels = images_for([test_per_class] * len(counts))
    return LongTailedData(train_images, train_labels, test_images, test_labels, tuple(counts),
                          tuple(f"c{i}" for i in range(len(counts))), "synthetic")


def tiny_config(**changes) -> RunConfig:
    settings = dict(epochs=3, batch_size=8, warmup_epochs=1, milestones=(2,), device="cpu", lr=0.05)
    return RunConfig(**{**settings, **changes})


def test_learning_rate_schedule():
    lr = lambda e: learning_rate(e, 0.1, 200, 5, "multistep", (160, 180))  # noqa: E731
    assert [round(lr(e), 6) for e in (0, 4, 5, 159, 160, 179, 180, 199)] == [0.02, 0.1, 0.1, 0.1, 0.01, 0.01,
                                                                              0.001, 0.001]
    cosine = lambda e: learning_rate(e, 0.02, 10, 0, "cosine")  # noqa: E731
    assert cosine(0) == 0.02 and math.isclose(cosine(5), 0.01) and cosine(9) < 0.001


@pytest.mark.parametrize("loss, sampler, mixup, drw", [("ce", "instance", 0.0, 0), ("bsce", "balanced", 1.0, 0),
                                                      ("ldam", "reverse", 0.0, 1), ("la", "instance", 0.0, 0)])
def test_every_loss_and_sampler_trains_on_tiny_data(loss, sampler, mixup, drw):
    output = train_stage_one(tiny_config(loss=loss, sampler=sampler, mixup_alpha=mixup, drw_epoch=drw),
                             tiny_data(), progress=False)
    metrics = output.metrics
    assert len(metrics["history"]["loss"]) == 3 and all(math.isfinite(v) for v in metrics["history"]["loss"])
    confusion = torch.tensor(metrics["final"]["confusion"], dtype=torch.float64)
    assert metrics["final_top1"] == pytest.approx(100 * float(confusion.trace() / confusion.sum()))
    assert metrics["best_top1"] == max(metrics["history"]["test_top1"])
    assert len(metrics["final"]["confusion"]) == 3 and len(metrics["final"]["per_class_margin"]) == 3


@pytest.mark.parametrize("method, changes", [
    ("smart", dict(smart_head_rule="half")),
    ("smart", dict(smart_head_rule="half", smart_augment=False, loss="bsce", smart_covariance="head")),
    ("smart", dict(smart_head_rule="half", smart_layer=1, smart_momentum=0.1, smart_tail_sampler="reverse")),
    ("smart", dict(smart_head_rule="relative")),
    ("cmo", dict(cmo_skip_epochs=0, cmo_prob=1.0)),
])
def test_methods_train_on_tiny_data(method, changes):
    output = train_stage_one(tiny_config(method=method, **changes), tiny_data(), progress=False)
    assert all(math.isfinite(v) for v in output.metrics["history"]["loss"])


def test_same_seed_gives_bit_identical_metrics_on_cpu():
    first = train_stage_one(tiny_config(mixup_alpha=1.0), tiny_data(), progress=False).metrics
    second = train_stage_one(tiny_config(mixup_alpha=1.0), tiny_data(), progress=False).metrics
    timing = lambda m: {k: v for k, v in m["history"].items() if "seconds" not in k}  # noqa: E731
    assert timing(first) == timing(second) and first["final"] == second["final"]
    other = train_stage_one(tiny_config(mixup_alpha=1.0, seed=1), tiny_data(), progress=False).metrics
    assert other["history"]["loss"] != first["history"]["loss"]


def test_non_finite_loss_stops_training_with_a_message():
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss .* \(ce\) at step \d+ of epoch 0 .*last finite step losses"):
        train_stage_one(tiny_config(lr=1e30, warmup_epochs=0), tiny_data(), progress=False)


def test_batch_larger_than_training_set():
    with pytest.raises(ValueError, match="batch_size 64 is larger than the dataset"):
        train_stage_one(tiny_config(batch_size=64), tiny_data(), progress=False)


def test_quick_profile_on_real_cifar10_lt_learns_the_head(quick_ce_result, real_cifar10):
    # The quick profile (15 steps on 740 images) exercises the code; it is not meant to be accurate: its
    # models barely leave the head classes (top-1 near the 10 % of chance), so only learning is checked.
    metrics = quick_ce_result.metrics
    assert metrics["data_source"] == real_cifar10.source  # the run names the data it trained on
    losses = metrics["history"]["loss"]
    assert losses[-1] < 0.75 * losses[0]  # training reduces the loss
    assert metrics["final"]["splits"]["many"] > metrics["final"]["splits"]["medium"]  # the long tail shows
    assert metrics["test_images"] == 300 and sum(metrics["class_counts"]) == 740  # the quick subset


def test_cache_hit_returns_identical_metrics_without_training(quick_ce_result, monkeypatch):
    import ltlib.train

    def refuse(*args, **kwargs):
        raise AssertionError("trained although the result was cached")

    monkeypatch.setattr(ltlib.train, "train_stage_one", refuse)
    again = get_or_train(ltlib.profile("quick"), progress=False)
    assert again.metrics == quick_ce_result.metrics and again.folder == quick_ce_result.folder
    model = again.load_model()
    assert sum(p.numel() for p in model.parameters()) == 464154


def test_the_paper_profile_evaluates_sparsely_before_the_first_decay_and_every_epoch_after():
    from ltlib.config import profile
    from ltlib.schedules import evaluates_at

    paper = profile("paper")
    evaluated = [e for e in range(paper.epochs) if evaluates_at(paper, e)]
    assert evaluated == list(range(9, 160, 10)) + list(range(160, 200))  # 16 + 40 of 200 passes
    quick = profile("quick")
    assert all(evaluates_at(quick, e) for e in range(quick.epochs))
    assert profile("paper", eval_every=1).hash() != paper.hash()  # the rule is part of a run's identity
    with pytest.raises(ValueError, match="eval_every"):
        profile("paper", eval_every=0)


def test_best_epoch_is_the_best_over_the_evaluated_epochs():
    config = tiny_config(epochs=5, milestones=(4,), eval_every=2)
    output = train_stage_one(config, tiny_data(), progress=False)
    history = output.metrics["history"]
    assert history["eval_epochs"] == [1, 3, 4] and len(history["test_top1"]) == 3 and len(history["loss"]) == 5
    best = max(history["test_top1"])
    assert output.metrics["best_top1"] == best
    assert output.metrics["best_epoch"] == history["eval_epochs"][history["test_top1"].index(best)]


def test_every_finished_epoch_is_logged_once_where_the_campaign_logs_epochs(monkeypatch):
    import io
    import logging

    from ltlib import campaign

    logger = logging.getLogger("ltlib.train")
    monkeypatch.setattr(logger, "handlers", [])  # restored after the test
    monkeypatch.setattr(logger, "level", logger.level)
    stream = io.StringIO()
    campaign.log_epochs(stream)
    campaign.log_epochs(stream)  # configured twice: still one line per epoch
    config = tiny_config(epochs=5, milestones=(4,), eval_every=2)
    output = train_stage_one(config, tiny_data(), progress=False)
    lines = stream.getvalue().splitlines()
    assert [line.split(": epoch ")[1].split(",")[0] for line in lines] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    top1 = output.metrics["history"]["test_top1"]
    assert [line.split("top-1 ")[1].split(",")[0] for line in lines] == \
        ["not evaluated", f"{top1[0]:.2f}", "not evaluated", f"{top1[1]:.2f}", f"{top1[2]:.2f}"]  # eval_epochs 1, 3, 4
    assert all(line.startswith("[pid ") and config.hash() in line for line in lines)
