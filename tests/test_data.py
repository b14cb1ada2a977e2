"""Long-tailed CIFAR construction, sources, splits and list datasets."""
from __future__ import annotations


import numpy as np
import pytest

from conftest import write_official_cifar
from ltlib.data import load_long_tailed_cifar
from ltlib.data.cifar import DataError, load_cifar
from ltlib.data.longtail import (class_splits, long_tailed_counts, long_tailed_indices,
                                 splits_by_counts, splits_by_ranges)
from ltlib.data.lists import ListDataset, read_list_file


@pytest.mark.parametrize("factor, expected", [(50, 12608), (100, 10847), (200, 9502)])
def test_cifar100_lt_sizes_from_official_pickles(cifar100_official, factor, expected):
    data = load_long_tailed_cifar("cifar100", factor, root=cifar100_official)
    assert data.train_labels.numel() == expected == sum(data.class_counts)
    assert data.class_counts[0] == 500 and data.class_counts[-1] == int(500 / factor)
    assert np.bincount(data.train_labels.numpy(), minlength=100).tolist() == list(data.class_counts)
    assert data.test_labels.numel() == 100 * 10  # balanced test set kept whole
    assert data.train_images.shape[1:] == (3, 32, 32)


def test_cifar10_lt_size_on_real_cifar10(real_cifar10):
    from ltlib.data.cifar import NPZ_SOURCE_LABEL, OFFICIAL_SOURCE_LABEL

    data = load_long_tailed_cifar("cifar10", 100)
    assert data.train_labels.numel() == 12406
    assert data.test_labels.numel() == 10000
    assert data.source == real_cifar10.source in (NPZ_SOURCE_LABEL["cifar10"], OFFICIAL_SOURCE_LABEL["cifar10"])


def test_a_smaller_n_max_keeps_a_subset_of_the_full_long_tail(cifar100_official):
    full = load_long_tailed_cifar("cifar100", 10, root=cifar100_official)
    small = load_long_tailed_cifar("cifar100", 10, root=cifar100_official, max_per_class=100)
    assert small.class_counts == tuple(long_tailed_counts(100, 100, 10)) and small.class_counts[0] == 100
    as_rows = lambda images: {bytes(row) for row in images.reshape(len(images), -1).numpy()}  # noqa: E731
    assert as_rows(small.train_images) <= as_rows(full.train_images)  # the same per-class shuffle, cut shorter
    with pytest.raises(ValueError, match="max_per_class=501 is not allowed; must be in 1..500"):
        load_long_tailed_cifar("cifar100", 10, root=cifar100_official, max_per_class=501)


def reference_selection(labels, counts):
    """Independent re-implementation: a private RandomState(0) instead of the global RNG."""
    rng = np.random.RandomState(0)
    keep = []
    for cls, count in enumerate(counts):
        idx = np.where(labels == cls)[0]
        rng.shuffle(idx)
        keep.extend(idx[:count].tolist())
    return np.asarray(keep)


def test_selection_matches_reference_and_restores_global_rng():
    labels = np.random.default_rng(3).integers(0, 7, 3000)
    counts = long_tailed_counts(int(np.bincount(labels).min()), 7, 10)
    np.random.seed(123)
    before = np.random.random()
    np.random.seed(123)
    chosen = long_tailed_indices(labels, counts)
    assert np.random.random() == before  # global numpy RNG untouched
    np.testing.assert_array_equal(chosen, reference_selection(labels, counts))


def test_class_major_and_interleaved_orders_select_the_same_images(tmp_path):
    """The npz copy is class-major; the pickles interleave. Same within-class order -> same images."""
    folder = write_official_cifar(tmp_path / "pickles", "cifar10", 60, 3, 10)
    official = load_cifar("cifar10", "train", folder)
    order = np.argsort(official.labels, kind="stable")  # class-major, within-class order kept
    npz_folder = tmp_path / "npz"
    npz_folder.mkdir()
    np.savez(npz_folder / "cifar10_train.npz", x_train=official.images[order], y_train=official.labels[order])
    test = load_cifar("cifar10", "test", folder)
    np.savez(npz_folder / "cifar10_test_mine.npz", x_test=test.images, y_test=test.labels)
    a = load_long_tailed_cifar("cifar10", 10, root=folder)
    b = load_long_tailed_cifar("cifar10", 10, root=npz_folder)
    assert a.class_counts == b.class_counts
    assert np.array_equal(a.train_images.numpy(), b.train_images.numpy())
    assert np.array_equal(a.train_labels.numpy(), b.train_labels.numpy())


def test_counts_exp_and_step_profiles():
    assert long_tailed_counts(5000, 10, 100) == [5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50]
    assert long_tailed_counts(500, 4, 10, "step") == [500, 500, 50, 50]
    assert long_tailed_counts(500, 5, 1) == [500] * 5
    assert long_tailed_counts(500, 1, 100) == [500]


def test_splits_by_counts_and_ranges():
    counts = long_tailed_counts(500, 100, 100)
    splits = class_splits(counts, "counts")
    assert (len(splits.many), len(splits.medium), len(splits.few)) == (35, 35, 30)
    assert "counts" in splits.rule and ">100" in splits.rule
    ranges = class_splits(counts, "ranges")
    assert (ranges.many[0], ranges.medium[0], ranges.few[0], ranges.few[-1]) == (0, 36, 71, 99)
    assert "ranges" in ranges.rule
    # CIFAR-10: H2T's Appendix D, "Classes 0-3 are head classes and Classes 6-9 are tail classes"
    cifar10 = class_splits(long_tailed_counts(5000, 10, 100), "ranges").as_dict()
    assert cifar10 == {"many": (0, 1, 2, 3), "medium": (4, 5), "few": (6, 7, 8, 9)}
    with pytest.raises(ValueError, match="10 or 100 classes.*has 12: use 'counts'"):
        class_splits(long_tailed_counts(500, 12, 10), "ranges")
    with pytest.raises(ValueError, match="decreasing count order"):
        class_splits(long_tailed_counts(5000, 10, 100)[::-1], "ranges")
    explicit = splits_by_ranges(((0, 2), (2, 3), (3, 5)))
    assert explicit.few == (3, 4)
    # exactly 20 images is medium (OLTR's code, SMART's wording), not few (H2T's text): see splits_by_counts
    assert splits_by_counts([101, 100, 20, 19]).as_dict() == {"many": (0,), "medium": (1, 2), "few": (3,)}


def test_test_per_class_keeps_k_per_class(cifar100_official):
    data = load_long_tailed_cifar("cifar100", 100, root=cifar100_official, test_per_class=3)
    assert np.bincount(data.test_labels.numpy()).tolist() == [3] * 100


@pytest.mark.parametrize("factor", [0.5, 0, -3, float("nan"), float("inf"), "many"])
def test_bad_imbalance_factor(factor):
    with pytest.raises(ValueError, match="imbalance_factor"):
        long_tailed_counts(500, 10, factor)


def test_unknown_dataset_and_imbalance_type():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*cifar10, cifar100"):
        load_cifar("mnist", "train")
    with pytest.raises(ValueError, match="unknown imbalance_type 'linear'"):
        long_tailed_counts(500, 10, 10, "linear")


def test_explicit_folder_without_data_is_an_error_naming_it(tmp_path):
    with pytest.raises(DataError, match=str(tmp_path)) as caught:
        load_cifar("cifar100", "train", tmp_path)
    assert "cifar-100-python" in str(caught.value) and "npz" in str(caught.value)


def test_env_folder_is_used_and_never_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="LTLIB_DATA"):
        load_cifar("cifar10", "test")


def test_no_folder_and_no_internet_explains_what_to_do(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.delenv("LTLIB_DATA", raising=False)
    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path))

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(torchvision.datasets, "CIFAR100", offline)
    with pytest.raises(DataError, match="could not download cifar100") as caught:
        load_cifar("cifar100", "train")
    assert "LTLIB_DATA" in str(caught.value) and str(tmp_path) in str(caught.value)


def test_malformed_pickle_shape_is_rejected(tmp_path):
    import pickle

    folder = write_official_cifar(tmp_path, "cifar100", 2, 1, 100)
    with open(folder / "cifar-100-python" / "train", "wb") as out:
        pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"fine_labels": [0, 1, 2, 3]}, out)
    with pytest.raises(DataError, match=r"expected \(N, 3072\)"):
        load_cifar("cifar100", "train", folder)


def test_a_known_npz_file_is_checked_against_its_sha256(tmp_path, monkeypatch):
    from ltlib.data import cifar
    from ltlib.storage import sha256_file

    path = tmp_path / "cifar10_test.npz"
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    np.savez(path, x_test=images, y_test=np.arange(20) % 10)
    monkeypatch.setitem(cifar.KNOWN_NPZ_SHA256, "cifar10_test.npz", sha256_file(path))
    assert np.array_equal(load_cifar("cifar10", "test", tmp_path).images, images)  # intact: loads
    with open(path, "r+b") as handle:
        handle.seek(1000)
        handle.write(b"corrupted")
    with pytest.raises(DataError, match="cifar10_test.npz fails its sha256 check"):
        load_cifar("cifar10", "test", tmp_path)


def test_npz_with_wrong_image_shape(tmp_path):
    np.savez(tmp_path / "cifar10_test_small.npz", x_test=np.zeros((10, 28, 28), np.uint8), y_test=np.arange(10))
    with pytest.raises(DataError, match=r"expected uint8 \(N, 32, 32, 3\)"):
        load_cifar("cifar10", "test", tmp_path)


def test_list_dataset_reads_a_tiny_image_folder(tmp_path):
    from PIL import Image

    lines = []
    for index, label in enumerate([0, 0, 0, 1, 2, 2]):
        path = tmp_path / "imgs" / f"c{label}" / f"{index}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (12, 10), color=(index * 40, 0, 0)).save(path)
        lines.append(f"imgs/c{label}/{index}.jpg {label}")
    (tmp_path / "train.txt").write_text("\n".join(lines) + "\n")
    dataset = ListDataset(tmp_path, tmp_path / "train.txt")
    assert len(dataset) == 6 and dataset.class_counts == (3, 1, 2)
    image, label = dataset[3]
    assert label == 1 and image.size == (12, 10)
    (tmp_path / "bad.txt").write_text("imgs/c0/0.jpg zero\n")
    with pytest.raises(DataError, match="bad.txt:1"):
        read_list_file(tmp_path / "bad.txt")
    (tmp_path / "missing.txt").write_text("imgs/none.jpg 0\n")
    with pytest.raises(DataError, match="none.jpg"):
        ListDataset(tmp_path, tmp_path / "missing.txt")[0]
