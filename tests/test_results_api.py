"""``Result``'s accessors (what notebooks read) agree with the stored metrics and with each other."""
from __future__ import annotations

import numpy as np
import pytest

from ltlib.config import profile, profile_of, stage_two_profile
from ltlib.plots import profile_from
from ltlib.results import save_result
from ltlib.train import train_stage_one
from test_train import tiny_config, tiny_data


@pytest.fixture(scope="module")
def tiny_result(tmp_path_factory):
    config = tiny_config()
    output = train_stage_one(config, tiny_data(), progress=False)
    return save_result(config, output.model, output.metrics, tmp_path_factory.mktemp("api"))


def test_both_split_rules_have_one_shape(tiny_result):
    counts, ranges = tiny_result.splits("counts"), tiny_result.splits("ranges")
    assert set(counts) == set(ranges) == {"rule", "many", "medium", "few", "many_classes", "medium_classes",
                                          "few_classes"}
    assert counts["rule"].startswith("counts") and ranges["rule"].startswith("ranges")
    classes = tiny_result.split_classes("ranges")
    assert len(classes.many) + len(classes.medium) + len(classes.few) == len(tiny_result.class_names)
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
    assert profile_of(profile("paper", seed=2)) == "paper" and profile_of(profile("quick", loss="bsce")) == "quick"
    assert profile_of(stage_two_profile("quick", profile("quick"), h2t_p=0.3)) == "quick"
    assert profile_of(profile("quick", epochs=7)) == "custom"
    assert profile_from({"CE": {"profile": "paper"}, "SMART": {"profile": "paper"}}) == "paper"
    with pytest.raises(ValueError, match="names \\['paper', 'quick'\\] profile"):
        profile_from({"CE": {"profile": "paper"}, "SMART": {"profile": "quick"}})
