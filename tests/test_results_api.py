"""``Result``'s accessors (what notebooks read) agree with the stored metrics and with each other."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ltlib.config import RunConfig, StageTwoConfig, profile, profile_of, stage_two_profile
from ltlib.data.longtail import long_tailed_counts
from ltlib.plots import profile_from
from ltlib.results import Result, benchmark_name, save_result
from ltlib.train import train_stage_one
from test_train import tiny_config, tiny_data


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    config = tiny_config()
    output = train_stage_one(config, tiny_data(), progress=False)
    return save_result(config, output.model, output.metrics, tmp_path_factory.mktemp("api"))


def test_split_accuracy_is_read_from_the_confusion_with_todays_rule(tiny_result):
    # counts: the same numbers training stored
    assert tiny_result.splits("counts") == tiny_result.metrics["final"]["splits"]
    # ranges on a 10-class result (H2T's CIFAR-10 ranges: many 0-3, medium 4-5, few 6-9), by hand from the diagonal
    correct = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1])
    confusion = np.diag(correct)
    confusion[:, 0] += 10 - correct  # every miss predicted as class 0
    cifar = Result(config=RunConfig(), metrics={"class_counts": long_tailed_counts(5000, 10, 100),
                                         "final": {"confusion": confusion.tolist()}}, folder=Path("."))
    ranges = cifar.splits("ranges")
    assert set(ranges) == set(tiny_result.splits("counts")) == {"rule", "many", "medium", "few", "many_classes",
                                                                 "medium_classes", "few_classes"}
    assert ranges["rule"].startswith("ranges")
    assert (ranges["many"], ranges["medium"], ranges["few"]) == pytest.approx((85.0, 55.0, 25.0))
    assert (ranges["many_classes"], ranges["medium_classes"], ranges["few_classes"]) == (4, 2, 4)
    # H2T's ranges cut CIFAR-10-LT's 10 classes: the 3-class tiny run says so instead of cutting its label indices
    with pytest.raises(ValueError, match="'ranges' of cifar10 cuts its 10 classes; these counts hold 3"):
        tiny_result.splits("ranges")
    with pytest.raises(ValueError, match="unknown split rule 'median'"):
        tiny_result.splits("median")


def test_arrays_agree_with_the_confusion_matrix(tiny_result):
    confusion = tiny_result.confusion
    assert confusion.shape == (3, 3) and confusion.sum() == 12  # 4 test images per class
    np.testing.assert_allclose(tiny_result.per_class_accuracy, 100 * np.diag(confusion) / confusion.sum(1))
    assert tiny_result.per_class_margin.shape == (3,)
    assert tiny_result.final_top1 == pytest.approx(100 * np.trace(confusion) / confusion.sum())
    assert tiny_result.best_top1 == max(tiny_result.history["test_top1"])


def test_provenance_names_the_profile_and_savefig_finds_it(tiny_result):
    assert tiny_result.provenance()["profile"] == "custom"
    assert tiny_result.provenance()["benchmark"] == "CIFAR-10-LT IF 100"  # tiny_config keeps the default benchmark
    assert benchmark_name(profile("quick", dataset="cifar100", imbalance_factor=50)) == "CIFAR-100-LT IF 50"
    assert benchmark_name(profile("quick", imbalance_type="step", imbalance_factor=10)) == "CIFAR-10-LT IF 10 (step)"
    assert benchmark_name(RunConfig(dataset="places_lt", model="resnet152")) == "Places-LT"  # its own long tail
    stage_two = Result(StageTwoConfig(stage1=tiny_config(), epochs=2), {"data_source": "synthetic", "test_images": 12},
                       Path("."))
    assert stage_two.provenance()["epochs"] == "3 + 2"  # its stage I's epochs, then its own
    assert profile_of(profile("paper", seed=2)) == "paper" and profile_of(profile("quick", loss="bsce")) == "quick"
    assert profile_of(stage_two_profile("quick", profile("quick"), h2t_p=0.3)) == "quick"
    assert profile_of(profile("quick", epochs=7)) == "custom"
    assert profile_from({"CE": {"profile": "paper"}, "SMART": {"profile": "paper"}}) == "paper"
    with pytest.raises(ValueError, match="names \\['paper', 'quick'\\] profile"):
        profile_from({"CE": {"profile": "paper"}, "SMART": {"profile": "quick"}})
