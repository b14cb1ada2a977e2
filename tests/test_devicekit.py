"""The device kit: a GPU machine's data and class similarities in one small file, read like the full copy."""
from __future__ import annotations

import subprocess

import numpy as np
import pytest
import torch

from ltlib import devicekit
from ltlib.data import DataError, load_long_tailed_cifar
from ltlib.semantics import cache_path
from tinyruns import TINY, tiny_cifar
from ltlib.config import RunConfig


@pytest.fixture
def kit(tmp_path, monkeypatch):
    """A kit cut from tiny fake CIFAR-10 for the IF 10 subset of n_max 50 and an offline-WordNet SMART run."""
    data = tiny_cifar(tmp_path / "data")
    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path / "cache"))
    base = RunConfig(**TINY)
    configs = [base, base.replace(imbalance_factor=20), base.replace(method="smart", smart_head_choice="wordnet")]
    names = load_long_tailed_cifar("cifar10", 10, root=data, max_per_class=50).class_names
    similarity = np.random.default_rng(0).random((10, 10))
    path = cache_path(list(names), "wordnet")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, similarity)  # as if computed with WordNet here: the kit packs the cached matrix
    made = devicekit.build(tmp_path / "device_data" / "kit.tar.xz", root=data, configs=configs)
    return data, devicekit.unpack(made["file"], tmp_path / "unpacked"), made, similarity


def test_the_kit_loads_the_same_subsets_as_the_full_copy(kit):
    data, unpacked, made, _ = kit
    assert made["train_rows"] == sum(load_long_tailed_cifar("cifar10", 10, root=data, max_per_class=50).class_counts)
    for factor in (10, 20):  # IF 20 of the same shuffle is contained in IF 10
        full = load_long_tailed_cifar("cifar10", factor, root=data, max_per_class=50, test_per_class=5)
        cut = load_long_tailed_cifar("cifar10", factor, root=unpacked / "data", max_per_class=50, test_per_class=5)
        for name in ("train_images", "train_labels", "test_images", "test_labels"):
            assert torch.equal(getattr(full, name), getattr(cut, name)), name
        assert (cut.class_counts, cut.class_names, cut.source) == (full.class_counts, full.class_names, full.source)


def test_a_subset_the_kit_was_not_built_for_is_refused_by_name(kit):
    _, unpacked, _, _ = kit
    with pytest.raises(DataError, match=r"device kit.*IF 5,"):
        load_long_tailed_cifar("cifar10", 5, root=unpacked / "data", max_per_class=50)  # needs rows the kit lacks


def test_the_kit_carries_the_class_similarities_of_offline_head_choices(kit, monkeypatch):
    _, unpacked, made, similarity = kit
    assert made["semantics"] == ["wordnet"]
    monkeypatch.setenv("LTLIB_CACHE", str(unpacked / "cache"))  # the device's cache: no nltk needed
    from ltlib.semantics import class_similarity

    names = load_long_tailed_cifar("cifar10", 10, root=unpacked / "data", max_per_class=50).class_names
    np.testing.assert_array_equal(class_similarity(list(names), "wordnet"), similarity)


def test_the_paper_campaign_needs_only_the_if50_subset_and_the_test_set():
    labels = np.repeat(np.arange(10), 5000)
    train, test = devicekit.needed_rows(devicekit.stage_one_configs(("paper", "quick")), "cifar10", labels,
                                        np.repeat(np.arange(10), 1000))
    from ltlib.data import long_tailed_selection

    if50, _, _ = long_tailed_selection("cifar10", labels, labels[:0], 50)
    assert set(np.flatnonzero(train)) == set(if50.tolist()) and test.all()


def test_the_kit_names_the_commit_it_was_built_from_for_a_machine_without_git(kit, monkeypatch):
    import json

    from ltlib import storage

    _, unpacked, _, _ = kit
    recorded = json.loads((unpacked / "kit.json").read_text())["git_commit"]
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=storage.REPO_ROOT, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert recorded.removesuffix("+dirty") == head  # the checkout's commit, asked of git directly
    monkeypatch.setattr(storage, "REPO_ROOT", unpacked)  # no .git there, as on the GPU machine
    monkeypatch.setenv("LTLIB_GIT_COMMIT", recorded)
    assert storage.git_commit.__wrapped__() == recorded  # uncached: git_commit() keeps its first answer
    monkeypatch.delenv("LTLIB_GIT_COMMIT")
    assert storage.git_commit.__wrapped__() == "unknown"
