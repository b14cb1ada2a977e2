"""Shared fixtures: CIFAR written in the official pickle format, the real CIFAR-10 copy, a cache."""
from __future__ import annotations

import os
import pickle
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
REPO_STATUS = pytest.StashKey[str | None]()


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow (paper scale)")


def repository_status() -> str | None:
    """``git status --porcelain`` of the checkout (tracked changes and untracked files), None outside git."""
    try:
        done = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def campaign_writes() -> set[str]:
    """Hashes of the runs the CPU campaign (``tasks.sh cpu-campaign``) logged as stored or failed: it writes them into
    this checkout's ``results/`` while tests may run beside it."""
    log = REPO / "build" / "campaign.log"
    if not log.is_file():
        return set()
    return set(re.findall(r"\] ([0-9a-f]{12}) .* (?:done in|FAILED)", log.read_text(errors="replace")))


def pytest_sessionstart(session):
    session.config.stash[REPO_STATUS] = repository_status()


def pytest_sessionfinish(session, exitstatus):
    """No test may write into the repository: fail the session loudly when its git status changed."""
    before, after = session.config.stash.get(REPO_STATUS, None), repository_status()
    if before is None or after is None or before == after:
        return
    changed = sorted(set(after.splitlines()) ^ set(before.splitlines()))
    stored = campaign_writes()

    def the_campaigns(line: str) -> bool:  # results/<hash>/, results/failed/<hash>.json, results/partial/<hash>.*
        entry = re.match(r"results/(?:failed/|partial/)?([0-9a-f]{12})", line[3:])
        return entry is not None and entry.group(1) in stored

    changed = [line for line in changed if not the_campaigns(line)]
    if not changed:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    message = "the tests changed files in the repository (git status --porcelain):\n  " + "\n  ".join(changed)
    if reporter is not None:
        reporter.write_sep("=", "REPOSITORY CHANGED BY THE TESTS", red=True)
        reporter.write_line(message)
    else:
        print(message)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def isolated_cache(tmp_path_factory):
    """Runs go to $LTLIB_CACHE when set (CI shares it with the notebooks), else a temp folder."""
    if not os.environ.get("LTLIB_CACHE"):
        os.environ["LTLIB_CACHE"] = str(tmp_path_factory.mktemp("ltlib-cache"))
    os.environ.setdefault("TQDM_DISABLE", "1")
    yield Path(os.environ["LTLIB_CACHE"])


def write_official_cifar(folder: Path, name: str, images_per_class: int, test_per_class: int,
                         num_classes: int, seed: int = 0) -> Path:
    """Random images in the exact official python-pickle layout, labels interleaved at random."""
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        root, files, key = folder / "cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], b"labels"
    else:
        root, files, key = folder / "cifar-100-python", ["train"], b"fine_labels"
    root.mkdir(parents=True, exist_ok=True)

    def dump(path, count_per_class):
        labels = rng.permutation(np.repeat(np.arange(num_classes), count_per_class))
        data = rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8)
        return labels, data

    labels, data = dump(None, images_per_class)
    for part, chunk in enumerate(np.array_split(np.arange(len(labels)), len(files))):
        with open(root / files[part], "wb") as out:
            pickle.dump({b"data": data[chunk], key: labels[chunk].tolist(), b"batch_label": b"x"}, out)
    test_labels, test_data = dump(None, test_per_class)
    with open(root / ("test_batch" if name == "cifar10" else "test"), "wb") as out:
        pickle.dump({b"data": test_data, key: test_labels.tolist()}, out)
    meta_name, meta_key = ("batches.meta", b"label_names") if name == "cifar10" else ("meta", b"fine_label_names")
    with open(root / meta_name, "wb") as out:
        pickle.dump({meta_key: [f"class{i}".encode() for i in range(num_classes)]}, out)
    return folder


@pytest.fixture(scope="session")
def cifar100_official(tmp_path_factory) -> Path:
    """A full-size CIFAR-100 (500 train / 100 test per class) of random pixels, official format."""
    return write_official_cifar(tmp_path_factory.mktemp("c100"), "cifar100", 500, 10, 100)


@pytest.fixture(scope="session")
def real_cifar10():
    """The real CIFAR-10 training set: the JPEG-q75 copy in CI, the official set where the copy is absent and
    torchvision can download it; skip when neither can be had. Its ``source`` says which."""
    from ltlib.data.cifar import DataError, load_cifar

    try:
        return load_cifar("cifar10", "train")
    except DataError as error:
        pytest.skip(f"real CIFAR-10 not available: {error}")


@pytest.fixture(scope="session")
def jpeg_copy(real_cifar10):
    """The JPEG-q75 copy of CIFAR-10 (shared/data), for facts of the copy itself; skip on the official set."""
    from ltlib.data.cifar import NPZ_SOURCE_LABEL

    if real_cifar10.source != NPZ_SOURCE_LABEL["cifar10"]:
        pytest.skip(f"measures the JPEG-q75 copy; the CIFAR-10 at hand is {real_cifar10.source}")
    return real_cifar10


@pytest.fixture(scope="session")
def quick_ce_result(real_cifar10):
    """The quick-profile CE baseline on real CIFAR-10-LT, trained once per session (or cached)."""
    import ltlib

    return ltlib.get_or_train(ltlib.profile("quick"), progress=False)


@pytest.fixture
def tiny_world(tmp_path, monkeypatch):
    """LTLIB_DATA at tiny fake CIFAR-10, a fresh cache and a fresh store."""
    from tinyruns import tiny_cifar

    monkeypatch.setenv("LTLIB_DATA", str(tiny_cifar(tmp_path / "data")))
    monkeypatch.setenv("LTLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LTLIB_STORE", str(tmp_path / "store"))
    from ltlib.results import load_data

    load_data.cache_clear()
    yield tmp_path
    load_data.cache_clear()
