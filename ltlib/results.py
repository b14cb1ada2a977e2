"""Results cached by configuration: ask for a run by config, get the stored one when it exists.

Layout: ``<cache root>/runs/v<ltlib version>/<config hash>/`` holding ``config.json``,
``metrics.json`` and ``model.pt``. The cache root is ``$LTLIB_CACHE`` or ``~/.cache/ltlib``.
Every file is written to a temporary name and renamed, so a reader never sees half a file; an
entry whose stored config or version does not match what was asked is rejected and recomputed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ltlib.version import __version__
from ltlib.checkpoint import Checkpointer
from ltlib.checks import one_of
from ltlib.config import RunConfig, StageTwoConfig, profile_of, stage_one
from ltlib.data import LongTailedData, load_long_tailed_cifar
from ltlib.data.longtail import SPLIT_RULES, ClassSplits, class_splits
from ltlib.data.streaming import DEFAULT_IMAGE_SIZE, LIST_DATASETS, load_list_dataset
from ltlib.distributed import broadcast_object, is_distributed, is_main, rank_and_world
from ltlib.evaluate import split_accuracy
from ltlib.models import SeamNet, build_model
from ltlib.storage import atomic_write_bytes, atomic_write_json, cache_root, device_name, file_lock, software_versions
from ltlib.storage import sha256_file as _sha256


def run_folder(config: RunConfig, root: Path | None = None) -> Path:
    return (root or cache_root()) / "runs" / f"v{__version__}" / config.hash()


@functools.lru_cache(maxsize=4)
def load_data(dataset: str, imbalance_factor: float, imbalance_type: str, test_per_class: int,
              root: str | None = None, max_per_class: int = 0, jpeg_quality: int = 0,
              chroma_block: int = 0) -> LongTailedData:
    """The long-tailed data of a config, memoised in-process (decoding CIFAR takes seconds)."""
    return load_long_tailed_cifar(dataset, imbalance_factor, imbalance_type, root=root,
                                  test_per_class=test_per_class or None, max_per_class=max_per_class or None,
                                  jpeg_quality=jpeg_quality, chroma_block=chroma_block)


def data_for(config: RunConfig, root: str | None = None):
    """The data of ``config``: CIFAR-LT in memory (``root``: its folder, else ``$LTLIB_DATA``), or a list-file
    benchmark streamed from disk (``root``: its image folder, else ``$LTLIB_IMAGES``)."""
    if config.dataset in LIST_DATASETS:
        return load_list_dataset(config.dataset, root, image_size=config.image_size or DEFAULT_IMAGE_SIZE,
                                 test_per_class=config.test_per_class)
    return load_data(config.dataset, float(config.imbalance_factor), config.imbalance_type,
                     config.test_per_class, root, config.max_per_class, config.jpeg_quality,
                     config.chroma_block)


def benchmark_name(config: RunConfig) -> str:
    """The long-tailed benchmark a run trains on, as the papers name it: ``CIFAR-10-LT IF 100``, ``ImageNet-LT``."""
    if config.dataset in LIST_DATASETS:
        return LIST_DATASETS[config.dataset].title
    base = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}.get(config.dataset, config.dataset)
    kind = "" if config.imbalance_type == "exp" else f" ({config.imbalance_type})"
    return f"{base}-LT IF {float(config.imbalance_factor):g}{kind}"


#: the weight files of a cached run
MODEL_FILES = {"final": "model.pt", "best": "model_best.pt"}


@dataclass
class Result:
    """A finished run: its config, metrics (see :func:`ltlib.train.final_metrics`) and folder.

    Notebooks read a result through the accessors below (``result.splits("ranges")``,
    ``result.confusion``, ...), never through the nested ``metrics`` dict, whose layout is the
    cache's business. Arrays are numpy, indexed by class.
    """

    config: RunConfig
    metrics: dict
    folder: Path

    @property
    def metrics_only(self) -> bool:
        """True for a run imported from the results store without weights."""
        return not (self.folder / MODEL_FILES["final"]).is_file()

    @property
    def stage1(self) -> RunConfig:
        """The stage-I config (this run's own, or the one a stage-II run re-trains on)."""
        return stage_one(self.config)

    @property
    def class_names(self) -> list[str]:
        return list(self.metrics["class_names"])

    @property
    def class_counts(self) -> list[int]:
        """Training images per class ``(C,)``."""
        return list(self.metrics["class_counts"])

    @property
    def data_source(self) -> str:
        """Where the images came from, e.g. ``CIFAR-10 (JPEG-q75 copy)``."""
        return self.metrics["data_source"]

    @property
    def final_top1(self) -> float:
        """Top-1 (%) after the last epoch: ltlib's primary number."""
        return self.metrics["final_top1"]

    @property
    def best_top1(self) -> float:
        """The best per-epoch test top-1 (%): the peers' number (model selection on the test set)."""
        return self.metrics["best_top1"]

    def splits(self, rule: str = "counts") -> dict:
        """Final-epoch many/medium/few accuracy (%) under ``rule`` (``counts`` or ``ranges``), one shape
        for both: ``{"rule", "many", "medium", "few", "many_classes", "medium_classes", "few_classes"}``
        (an empty split's accuracy is ``None``). Computed from the stored confusion matrix with today's rule, so
        a stored run reads the same as a new one."""
        one_of("split rule", rule, SPLIT_RULES)
        confusion = self.confusion
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(confusion.sum(1) > 0, np.diag(confusion) / np.maximum(confusion.sum(1), 1), np.nan)
        return split_accuracy(per_class, self.split_classes(rule))

    def split_classes(self, rule: str = "counts") -> ClassSplits:
        """Which classes are many / medium / few under ``rule``."""
        return class_splits(self.class_counts, rule, self.stage1.dataset)

    @property
    def confusion(self) -> np.ndarray:
        """``(C, C)``: test samples of true class ``i`` predicted as ``j`` (final epoch)."""
        return np.asarray(self.metrics["final"]["confusion"])

    @property
    def test_predictions(self) -> np.ndarray:
        """``(N,)`` the final model's predicted class of every test image, in the test set's order."""
        from ltlib.evaluate import decode_outcomes

        return decode_outcomes(self.metrics["test_outcomes"])[0]

    @property
    def per_class_accuracy(self) -> np.ndarray:
        """``(C,)`` final-epoch test accuracy (%) per class."""
        return np.asarray(self.metrics["final"]["per_class_accuracy"], dtype=float)

    @property
    def per_class_margin(self) -> np.ndarray:
        """``(C,)`` average margin of each class's test samples (:mod:`ltlib.evaluate`)."""
        return np.asarray(self.metrics["final"]["per_class_margin"], dtype=float)

    @property
    def history(self) -> dict:
        """Per-epoch lists: ``loss``, ``lr``, ``test_top1``, ``seconds``, ``train_seconds``."""
        return dict(self.metrics["history"])

    def data(self) -> LongTailedData:
        """The long-tailed training and test data this run used (memoised in-process)."""
        return data_for(self.stage1)

    def load_model(self, device="cpu", weights: str = "final") -> SeamNet:
        """The trained model after the last epoch (``final``) or the best test epoch (``best``)."""
        one_of("weights", weights, MODEL_FILES)
        path = self.folder / MODEL_FILES[weights]
        if not path.is_file() and self.metrics_only:
            raise FileNotFoundError(f"the results store keeps no {weights} weights of run {self.config.hash()} (only "
                                    f"its metrics); delete {self.folder} and train it to get the model")
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: this run was cached before ltlib kept its best-epoch "
                                    f"weights; delete {self.folder} to train it again")
        stage1 = self.stage1
        model = build_model(stage1.model, len(self.metrics["class_counts"]), normed_classifier=stage1.loss == "ldam",
                            extra_block=stage1.extra_block)
        model.load_state_dict(torch.load(path, map_location=device, weights_only=True))
        return model.to(device).eval()

    def test_outputs(self, device="cpu"):
        """Logits ``(N, C)``, pooled features ``(N, D)`` and labels ``(N,)`` on this run's test set."""
        from ltlib.evaluate import predict

        data = self.data()
        logits, features = predict(self.load_model(device), data.test_images)
        return logits, features, data.test_labels

    def provenance(self) -> dict:
        """What a figure built from this run must say about it (``profile``: quick, paper or custom): the
        benchmark (``CIFAR-10-LT IF 100``), the images it was built from, and the epochs (a stage-II run's as
        ``"200 + 10"``: its stage I's, then its own)."""
        stage1 = self.stage1
        epochs = (f"{stage1.epochs} + {self.config.epochs}" if isinstance(self.config, StageTwoConfig)
                  else self.config.epochs)
        return {"config_hash": self.config.hash(), "benchmark": benchmark_name(stage1),
                "data_source": self.metrics["data_source"], "profile": profile_of(self.config),
                "seed": self.config.seed, "device": self.metrics.get("device", self.config.device),
                "epochs": epochs, "test_images": self.metrics["test_images"]}

    def summary(self) -> dict:
        """Top-1 (final and best epoch) and many/medium/few of the final epoch, in %."""
        splits = self.splits("counts")
        return {"final top1": self.final_top1, "best top1": self.best_top1,
                "many": splits["many"], "medium": splits["medium"], "few": splits["few"]}


def load_result(config, root: Path | None = None) -> Result | None:
    """The cached result of ``config``, or ``None`` when absent.

    An entry that exists but is not valid for ``config`` (unreadable or truncated files, another
    ltlib version, another config, a checksum that does not match) is rejected with a warning
    naming the reason, and will be recomputed.
    """
    folder = run_folder(config, root)
    if not (folder / "config.json").exists():
        return None
    try:
        stored = json.loads((folder / "config.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, json.JSONDecodeError) as error:
        return _reject(folder, f"unreadable entry ({type(error).__name__}: {error})")
    if stored.get("ltlib_version") != __version__:
        return _reject(folder, f"written by ltlib {stored.get('ltlib_version')}, this is {__version__}")
    if stored.get("config") != config.identity():
        return _reject(folder, "its stored config differs from the one asked for")
    for name, digest in stored.get("sha256", {}).items():
        if not (folder / name).is_file() or _sha256(folder / name) != digest:
            return _reject(folder, f"{name} is missing or fails its sha256 check")
    # a trained entry has its weights; one imported from the results store may hold metrics only
    required = {"metrics.json"} if stored.get("source") == "store" else {"metrics.json", "model.pt"}
    if not required <= set(stored.get("sha256", {})):
        return _reject(folder, f"it has no checksums of {' and '.join(sorted(required))}")
    return Result(config, metrics, folder)


def _reject(folder: Path, reason: str) -> None:
    warnings.warn(f"ignoring cached run {folder}: {reason}; it will be recomputed", stacklevel=3)
    return None


def write_entry(config, metrics: dict, root: Path | None = None, states: dict | None = None,
                source: str = "trained") -> Result:
    """Write a cache entry: weights ``{"final": state, "best": state}`` (either may be absent), metrics,
    then config.json, whose presence marks a complete entry."""
    folder = run_folder(config, root)
    names = ["metrics.json"]
    for kind, state in (states or {}).items():
        if state is not None:
            buffer = io.BytesIO()
            torch.save(state, buffer)
            atomic_write_bytes(folder / MODEL_FILES[kind], buffer.getvalue())
            names.append(MODEL_FILES[kind])
    atomic_write_json(folder / "metrics.json", metrics)
    checksums = {name: _sha256(folder / name) for name in names}
    atomic_write_json(folder / "config.json", {"ltlib_version": __version__, "hash": config.hash(),
                                               "config": config.identity(), "device": config.device,
                                               "source": source, "sha256": checksums})
    return Result(config, metrics, folder)


def save_result(config: RunConfig | StageTwoConfig, model: SeamNet, metrics: dict, root: Path | None = None,
                best_state: dict | None = None) -> Result:
    """Write a finished run: final weights, best-epoch weights (when given), metrics, then config.json."""
    final = {k: v.cpu() for k, v in model.state_dict().items()}
    return write_entry(config, metrics, root, {"final": final, "best": best_state})


def from_store(config, cache: Path | None = None, store_root: Path | None = None) -> Result | None:
    """The results store's entry of ``config`` imported into the cache, or None when it has none.

    A damaged store entry is rejected with a warning that names it (and the run counts as missing).
    """
    from ltlib import store

    try:
        found = store.read_entry(config, store_root)
        if found is None:
            return None
        weights = store.entry_weights(config, store_root)
    except store.StoreError as error:
        warnings.warn(f"ignoring {error}", stacklevel=2)
        return None
    return write_entry(config, found[1], cache, {"final": weights}, source="store")


class RunsNotStored(RuntimeError):
    """Training is off and runs are neither cached nor in the results store; the message names them."""

    def __init__(self, configs, notebook: str | None = None):
        self.configs = list(configs)
        profile = profile_of(self.configs[0]) if self.configs else "paper"
        profile = profile if profile != "custom" else "paper"
        only = f" --only {notebook}" if notebook else ""
        listed = "; ".join(f"{c.hash()} ({describe(c)})" for c in self.configs[:8])
        more = f" and {len(self.configs) - 8} more" if len(self.configs) > 8 else ""
        super().__init__(f"{len(self.configs)} run(s) are neither cached nor in the results store, and training is "
                         f"off (LTLIB_TRAIN=0): {listed}{more}. Produce them on a GPU with: "
                         f"python -m ltlib campaign --profile {profile}{only}")


def describe(config) -> str:
    """A human name of a run that tells it from the others of a plan: method, loss, mixup, DRW, schedule, IF,
    seed, and the SMART/CMO settings off their defaults; for stage II, DR or DR+H2T with p, weight decay,
    fusing sampler, channel selection and the stage-I weights, on its stage I's name."""
    from ltlib.schedules import schedule_of

    if isinstance(config, StageTwoConfig):
        parts = ["DR" if config.h2t_p == 0 else f"DR+H2T p={config.h2t_p:g}", f"wd {config.effective_weight_decay:g}"]
        if config.h2t_p > 0 and config.h2t_fusing_sampler != "instance":
            parts.append(f"fusing {config.h2t_fusing_sampler}")
        if config.h2t_p > 0 and config.h2t_selection != "random":
            parts.append(f"channels {config.h2t_selection}")
        if config.stage1_weights != "final":
            parts.append(f"stage-I {config.stage1_weights}")
        return f"stage II {', '.join(parts)} on {config.stage1.hash()}"
    parts = [f"{config.method}/{config.loss}"]
    if config.mixup_alpha:
        parts.append(f"mixup {config.mixup_alpha:g}")
    if config.drw_epoch:
        parts.append(f"DRW@{config.drw_epoch}")
    if config.method in ("smart", "cmo"):  # its settings off their defaults, the ablated ones first
        defaults, prefix = RunConfig(), f"{config.method}_"
        first = ("smart_head_rule", "smart_head_choice", "smart_tau", "smart_layer", "smart_momentum", "smart_augment",
                 "smart_weights", "smart_weight_form") if config.method == "smart" else ()
        names = [*first, *(field.name for field in dataclasses.fields(RunConfig)
                           if field.name.startswith(prefix) and field.name not in first)]
        parts += [f"{name[len(prefix):]} {getattr(config, name)}" for name in names
                  if getattr(config, name) != getattr(defaults, name)]
    if config.jpeg_quality:
        parts.append(f"data re-encoded as JPEG q{config.jpeg_quality}")
    if config.chroma_block:
        parts.append(f"data's chroma pooled over {config.chroma_block} x {config.chroma_block}")
    parts.append(f"schedule {schedule_of(config)}, IF {config.imbalance_factor:g}, seed {config.seed}")
    return ", ".join(parts)


def training_allowed(train: bool | None = None) -> bool:
    """``train`` when given, else ``$LTLIB_TRAIN`` (``0`` turns training off), else on."""
    if train is not None:
        return train
    return os.environ.get("LTLIB_TRAIN", "1").lower() not in ("0", "false", "no", "off")


@contextlib.contextmanager
def run_lock(config, cache: Path | None = None):
    """An exclusive lock on one run, so two processes asking for it train it once (the other waits)."""
    with file_lock(run_folder(config, cache).with_suffix(".lock")):
        yield


#: how many runs this process has trained (the tests of the lock and of "nothing was trained" read it)
TRAINED: list[str] = []


def get_or_train(config: RunConfig | StageTwoConfig, data_root: str | None = None, progress: bool = True,
                 cache: Path | None = None, train: bool | None = None) -> Result:
    """The result of ``config``: from the cache, else from the results store, else trained and cached.

    ``train=False`` (or ``LTLIB_TRAIN=0``) raises :class:`RunsNotStored` instead of training. Two
    processes asking for one run: one trains, the other waits for it and reads the result. A
    :class:`StageTwoConfig` first gets (or trains) its stage-I result, then re-trains the classifier
    on that backbone; its metrics name the stage-I run (``stage1_hash``). A run killed midway resumes
    from its checkpoint (``checkpoint.pt`` in its folder) when asked again.
    """
    record = os.environ.get("LTLIB_RECORD_RUNS")  # tests check that the campaign plans every run asked for
    if record:
        with open(record, "a") as log:
            log.write(config.hash() + "\n")
    if is_distributed():
        return _get_or_train_together(config, data_root, progress, cache, train)
    found = load_result(config, cache) or from_store(config, cache)
    if found is not None:
        return found
    if not training_allowed(train):
        raise RunsNotStored([config])
    with run_lock(config, cache):
        found = load_result(config, cache)  # trained by another process while this one waited
        return found if found is not None else _train(config, data_root, progress, cache)


def _get_or_train_together(config, data_root, progress: bool, cache: Path | None, train: bool | None) -> Result:
    """:func:`get_or_train` for the processes of one data-parallel run: rank 0 looks in the cache and the store
    (holding the run's lock while they train) and tells the others what it found; all train together."""
    def found_by_rank_zero():
        found = (load_result(config, cache) or from_store(config, cache)) if is_main() else None
        shared = broadcast_object(None if found is None else (found.metrics, str(found.folder)))
        return None if shared is None else Result(config, shared[0], Path(shared[1]))

    found = found_by_rank_zero()
    if found is not None:
        return found
    if not training_allowed(train):
        raise RunsNotStored([config])
    with run_lock(config, cache) if is_main() else contextlib.nullcontext():
        found = found_by_rank_zero()
        return found if found is not None else _train(config, data_root, progress, cache)


def _train(config, data_root, progress: bool, cache: Path | None) -> Result:
    from ltlib.train import train_stage_one, train_stage_two

    from ltlib import store

    checkpointer = Checkpointer(run_folder(config, cache) / "checkpoint.pt")
    store.restore_partial(config, checkpointer.path)  # a run in progress committed by another session
    if isinstance(config, StageTwoConfig):
        stage1 = get_or_train(config.stage1, data_root, progress, cache)
        output = train_stage_two(config, data_for(config.stage1, data_root),
                                 stage1.load_model(weights=config.stage1_weights), progress=progress,
                                 checkpointer=checkpointer)
        output.metrics["stage1_hash"] = config.stage1.hash()
        output.metrics["stage1_weights"] = config.stage1_weights
    else:
        output = train_stage_one(config, data_for(config, data_root), progress=progress, checkpointer=checkpointer)
    device = next(output.model.parameters()).device
    output.metrics["device"] = str(device)
    output.metrics["device_name"] = device_name(device)
    output.metrics["software"] = software_versions()  # ltlib, torch, Python, sha256 of requirements-lock.txt
    output.metrics["processes"] = rank_and_world()[1]  # data-parallel processes that trained it
    if os.environ.get("LTLIB_FAST_FALLBACK"):  # set by the campaign when a compiled run failed and ran eagerly
        output.metrics["fast_path_fallback"] = os.environ["LTLIB_FAST_FALLBACK"]
    TRAINED.append(config.hash())
    if not is_main():  # rank 0 writes the entry; the others return the same metrics
        return Result(config, output.metrics, run_folder(config, cache))
    result = save_result(config, output.model, output.metrics, cache, best_state=output.history.best_state)
    checkpointer.remove()
    return result



def missing_runs(configs, cache: Path | None = None) -> list:
    """The configs that are neither cached nor in the results store (nothing is trained or imported)."""
    from ltlib import store

    return [config for config in configs if load_result(config, cache) is None and not store.has_entry(config)]


def sweep(configs, data_root: str | None = None, progress: bool = True, cache: Path | None = None,
          train: bool | None = None, notebook: str | None = None) -> list[Result]:
    """Results of many configs in order (a tau sweep, a p sweep, seeds): cached or stored runs are read,
    missing ones trained; an interrupted sweep, asked again, trains only what is still missing. With
    training off, every missing run is named at once (with the campaign command for ``notebook``)."""
    from ltlib.train import progress_bar

    configs = list(configs)
    if not training_allowed(train):
        missing = missing_runs(configs, cache)
        if missing:
            raise RunsNotStored(missing, notebook)
    return [get_or_train(config, data_root, progress, cache, train)
            for config in progress_bar(configs, progress and len(configs) > 1, desc="sweep")]


def get_runs(runs: dict, notebook: str | None = None, **options) -> dict:
    """``{label: Result}`` for ``{label: config}`` (a notebook's run set, :mod:`ltlib.runsets`)."""
    return dict(zip(runs, sweep(runs.values(), notebook=notebook, **options)))
