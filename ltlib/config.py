"""One frozen configuration per run, its two profiles, validation and its hash.

A :class:`RunConfig` names everything that changes a run's result; its :meth:`RunConfig.hash`
names the run's cache folder. :func:`profile` gives the two sizes every notebook runs at:

* ``quick``: CPU, minutes: ResNet-32 on a small long-tailed subset with the same imbalance profile
  (largest class 300 images: 740 CIFAR-10-LT IF 100 images), a short schedule (3 epochs,
  1 warm-up, decay at 2) and 30 test images per class. It exists to exercise every code path
  (every method, both stages, every figure), not to approach the papers' accuracy;
* ``paper``: the papers' schedule: 200 epochs, 5 warm-up, decays at 160 and 180 (x0.1 each, MiSLAS's, by default;
  SMART's and LDAM-DRW's rows name CMO's x0.01 steps, :mod:`ltlib.schedules`), full test set,
  evaluated every 10th epoch before the first decay and every epoch from it on
  (:func:`ltlib.schedules.evaluates_at`; a pass over the 10k test images is ~25 % of a CPU epoch).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from ltlib.checks import one_of, require, require_one_of
from ltlib.data.cifar import DATASETS, NUM_CLASSES
from ltlib.data.longtail import IMBALANCE_TYPES, check_imbalance_factor, long_tailed_counts
from ltlib.data.recompress import check_chroma_block, check_jpeg_quality
from ltlib.data.streaming import LIST_DATASETS
from ltlib.data.samplers import SAMPLERS
from ltlib.methods import METHODS
from ltlib.methods.cmo import FOREGROUND_SAMPLERS
from ltlib.methods.h2t import SELECTIONS
from ltlib.methods.losses import LOSSES
from ltlib.methods.smart import BATCH_MODES, COVARIANCE_SOURCES, LAYERS, TAIL_SAMPLERS, WEIGHT_FORMS, check_tau
from ltlib.methods.smart_heads import HEAD_CHOICES, HEAD_RULES
from ltlib.models import MODELS, PRETRAINED, TORCHVISION_ARCHITECTURES
from ltlib.schedules import LR_SCHEDULES, check_schedule, schedule_settings

PROFILES = ("quick", "paper")
#: every dataset a run can name: CIFAR (in memory) and the list-file benchmarks (streamed from disk)
ALL_DATASETS = DATASETS + tuple(LIST_DATASETS)
#: images per class of the balanced CIFAR training sets (n_max of the long tail)
CIFAR_IMAGES_PER_CLASS = {"cifar10": 5000, "cifar100": 500}
DEVICES = ("auto", "cpu", "cuda")
#: which stage-I weights a stage-II run starts from
STAGE_ONE_WEIGHTS = ("final", "best")
#: H2T stage II on the large benchmarks (:func:`ltlib.recipes.large_stage_two`): 10 epochs (H2T §4.2), cosine from
#: MiSLAS's classifier rate 0.005, batch 256, MiSLAS's weight decay, p = 0.3 (H2T's Listing 1 default; the paper
#: states none for them)
LARGE_STAGE_TWO = {"imagenet_lt": dict(weight_decay=5e-4), "inat2018": dict(weight_decay=1e-4),
                   "places_lt": dict(weight_decay=5e-4)}


def _field(default, help_text: str, **kwargs):
    return field(default=default, metadata={"help": help_text, **kwargs})


def _added_field(default, help_text: str, **kwargs):
    """A field added after runs were cached: at its default it is left out of the identity, so the
    hashes (and cache entries) of every config written before it existed stay the same."""
    return _field(default, help_text, omit_at_default=True, **kwargs)


def _without_added_defaults(config) -> dict:
    """The config as JSON values, without fields added later that are at their default (``_added_field``)."""
    values = json.loads(json.dumps(dataclasses.asdict(config)))
    for item in dataclasses.fields(config):
        if item.metadata.get("omit_at_default") and getattr(config, item.name) == item.default:
            values.pop(item.name)
    return values


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines one stage-I training run (fields are documented for the CLI)."""

    dataset: str = _field("cifar10", f"dataset: {', '.join(ALL_DATASETS)}")
    imbalance_factor: float = _field(100.0, "imbalance factor n_max / n_min (>= 1; 1 = balanced)")
    imbalance_type: str = _field("exp", f"long-tail profile: {', '.join(IMBALANCE_TYPES)}")
    max_per_class: int = _added_field(0, "images of the largest class, n_max of the long tail (0 = the full "
                                         "dataset's: 5000 CIFAR-10, 500 CIFAR-100; the quick profile uses 300)")
    test_per_class: int = _field(0, "keep the first k test images per class (0 = full test set)")
    jpeg_quality: int = _added_field(0, "CIFAR: re-encode every training and test image once more as JPEG at this "
                                        "quality, 1..95 (0 = off; the data-sensitivity diagnostic, ltlib.compression)")
    chroma_block: int = _added_field(0, "CIFAR: pool every training and test image's chroma (Cb, Cr) over blocks of "
                                        "this many pixels a side, 2, 4 or 8, bilinear back (0 = off; the copy's JPEG "
                                        "already pooled it over 2; ltlib.compression)")
    model: str = _field("resnet32", f"model: {', '.join(MODELS)}")
    pretrained: str = _added_field("", "initial weights: '' (random) or 'imagenet' (torchvision ResNets: the file named "
                                       "by --weights-file / $LTLIB_WEIGHTS_FILE, else torchvision's download)")
    extra_block: bool = _added_field(False, "torchvision ResNets from ImageNet weights: freeze them and train one new "
                                            "Bottleneck block after layer4 with the classifier (MiSLAS's Places-LT "
                                            "stage I)")
    image_size: int = _added_field(0, "list-file datasets: side of the training crops and test centre crops "
                                      "(0 = 224); CIFAR: 0 (32 x 32)")
    loss: str = _field("ce", f"loss: {', '.join(LOSSES)}")
    drw_epoch: int = _field(0, "deferred re-weighting starts at this epoch (0 = off; LDAM-DRW uses 160)")
    sampler: str = _field("instance", f"training sampler: {', '.join(SAMPLERS)}")
    mixup_alpha: float = _field(0.0, "mixup Beta(alpha, alpha) on every batch (0 = off; H2T stage I uses 1.0)")
    epochs: int = _field(200, "training epochs")
    batch_size: int = _field(128, "batch size")
    lr: float = _field(0.1, "peak learning rate (SGD)")
    momentum: float = _field(0.9, "SGD momentum")
    weight_decay: float = _field(2e-4, "weight decay")
    lr_schedule: str = _field("multistep", f"learning-rate schedule after warm-up: {', '.join(LR_SCHEDULES)}")
    warmup_epochs: int = _field(5, "linear warm-up epochs")
    milestones: tuple[int, ...] = _field((160, 180), "multistep: epochs where lr is multiplied by gamma")
    gamma: float = _field(0.1, "multistep decay factor")
    eval_every: int = _added_field(1, "evaluate the test set every k-th epoch before the first milestone and every "
                                      "epoch from it on (1 = every epoch; the paper profile: 10)")
    method: str = _field("none", f"stage-I method: {', '.join(METHODS)}")
    # SMART (ltlib.methods.smart); only hashed when method == "smart"
    smart_layer: int = _field(4, "SMART: feature layer 1-4 (4 = pre-pool map; Table 5)")
    smart_tau: float = _field(1.0, "SMART: softmax temperature tau > 0 of Eq. 4 (larger = sharper)")
    smart_momentum: float = _field(0.0, "SMART: EMA momentum of Eq. 2-3 (0 = dynamic M/N; Table 5)")
    smart_head_choice: str = _field("online", f"SMART: head class per tail sample: {', '.join(HEAD_CHOICES)}")
    smart_top_k: int = _field(5, "SMART: offline choice draws among the top-k most similar head classes")
    smart_covariance: str = _field("both", f"SMART: covariance source of Eq. 4: {', '.join(COVARIANCE_SOURCES)}")
    smart_augment: bool = _field(True, "SMART: feature augmentation of Eq. 6 on/off (Table 4)")
    smart_weights: bool = _field(True, "SMART: semantic-aware weights of Eq. 11 on/off (Table 4)")
    smart_normalize: bool = _field(True, "SMART: scale-free transfer matrix (see ltlib.methods.smart); "
                                         "false = the paper's literal formulas")
    smart_tail_sampler: str = _field("balanced", f"SMART: sampler of the tail-dominated batch: {', '.join(TAIL_SAMPLERS)}")
    smart_head_rule: str = _field("many", "SMART: head classes: many (>100 images), half (largest half) or relative "
                                                                "(those with more images than the tail class)")
    smart_batches: str = _field("full", "SMART: full = a tail- and a head-dominated batch of batch_size each "
                                        "(Algorithm 1); half = batch_size // 2 each (a baseline step's compute)")
    smart_weight_form: str = _field("share", f"SMART: Eq. 11 under smart_normalize: {', '.join(WEIGHT_FORMS)} "
                                             "(see ltlib.methods.smart)")
    smart_block: int = _added_field(0, "SMART: class covariances as diagonal blocks of this many channels (0 = "
                                       "full C x C, the paper's; large models, see ltlib.methods.smart)")
    # CMO (ltlib.methods.cmo); only hashed when method == "cmo"
    cmo_prob: float = _field(0.5, "CMO: probability of mixing a batch")
    cmo_sampler: str = _field("balanced", f"CMO: foreground sampler: {', '.join(FOREGROUND_SAMPLERS)}")
    cmo_skip_epochs: int = _field(3, "CMO: mix only in epochs k < e < epochs - k (0-based, CMO's code: plain "
                                     "batches in the first k + 1 and the last k epochs; 0 = every epoch)")
    seed: int = _field(0, "seed of initialisation, sampling and augmentation")
    device: str = _field("auto", f"device: {', '.join(DEVICES)} (auto = cuda when available)")

    def __post_init__(self):
        # Normalise types so equal configs hash equally (100 and 100.0, [160] and (160,)).
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.type == "float" and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, item.name, float(value))
            elif item.type.startswith("tuple") and isinstance(value, list):
                object.__setattr__(self, item.name, tuple(value))
        validate(self)

    def replace(self, **changes) -> "RunConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown RunConfig fields {unknown}; allowed: {', '.join(sorted(known))}")
        return cls(**values)

    def identity(self) -> dict:
        """What names the run: every field but the device and the parameters of unused methods."""
        values = _without_added_defaults(self)
        values.pop("device")
        for prefix in ("smart_", "cmo_"):  # parameters of methods not in use change nothing
            if self.method != prefix[:-1]:
                values = {k: v for k, v in values.items() if not k.startswith(prefix)}
        return values

    def hash(self) -> str:
        """12 hex digits of the sha256 of :meth:`identity` (the device does not change the maths)."""
        return hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class StageTwoConfig:
    """Stage II (decoupled classifier re-training, cRT / DR) with H2T fusion, on a stage-I run.

    Defaults are H2T's CIFAR settings: 10 epochs, cosine decay from 0.02, class-balanced fused
    branch, instance-sampled fusing branch, ``p = 0`` (plain cRT; H2T's official CIFAR-100 configs use 0.25,
    its text and Listing 1 name 0.3 as the best p on CIFAR-100-LT; the paper profile runs both), backbone
    BatchNorm left in train mode as in the official code. ``weight_decay`` 0 means H2T's choice:
    5e-4 for imbalance factor 100, 2e-4 otherwise.
    """

    stage1: RunConfig = field(default_factory=lambda: RunConfig(),
                              metadata={"help": "the stage-I run whose backbone is kept frozen", "cli": False})
    h2t_p: float = _field(0.0, "H2T fusion ratio p in [0, 1] (0 = plain cRT)")
    stage1_weights: str = _added_field("final", f"stage-I weights re-trained on: {', '.join(STAGE_ONE_WEIGHTS)} "
                                                "(final = last epoch; best = best test epoch, as the official code "
                                                "may resume from)")
    h2t_fusing_sampler: str = _field("instance", f"H2T fusing-branch sampler: {', '.join(SAMPLERS)}")
    h2t_selection: str = _field("random", f"H2T channel selection: {', '.join(SELECTIONS)}")
    h2t_seam: str = _field("prepool", "seam where maps are fused: prepool or a model seam name")
    bn_train: bool = _field(True, "keep the backbone's BatchNorm in train mode (running stats update; with a stage I's "
                                  "extra_block, the block's only)")
    augment: bool = _field(True, "crop/flip augmentation of both branches")
    epochs: int = _field(10, "stage-II epochs")
    batch_size: int = _field(128, "batch size of each branch")
    lr: float = _field(0.02, "peak learning rate")
    lr_schedule: str = _field("cosine", f"schedule: {', '.join(LR_SCHEDULES)}")
    warmup_epochs: int = _field(0, "linear warm-up epochs")
    milestones: tuple[int, ...] = _field((), "multistep milestones")
    gamma: float = _field(0.1, "multistep factor")
    momentum: float = _field(0.9, "SGD momentum")
    weight_decay: float = _field(0.0, "weight decay (0 = H2T's: 5e-4 at IF 100, else 2e-4)")
    sampler: str = _field("balanced", "fused-branch sampler (H2T: balanced)")
    loss: str = _field("ce", f"stage-II loss: {', '.join(LOSSES)}")
    seed: int = _field(0, "seed of sampling, fusion and augmentation")
    device: str = _field("auto", f"device: {', '.join(DEVICES)}")
    # fixed for stage II; present so stage II reuses the stage-I objective machinery
    drw_epoch: int = field(default=0, metadata={"help": "unused in stage II", "cli": False})
    mixup_alpha: float = field(default=0.0, metadata={"help": "unused in stage II", "cli": False})

    def __post_init__(self):
        if isinstance(self.stage1, dict):
            object.__setattr__(self, "stage1", RunConfig.from_dict(self.stage1))
        if isinstance(self.milestones, list):
            object.__setattr__(self, "milestones", tuple(self.milestones))
        for name in ("h2t_p", "lr", "gamma", "momentum", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, name, float(value))
        validate_stage_two(self)

    @property
    def model(self) -> str:
        return self.stage1.model

    @property
    def effective_weight_decay(self) -> float:
        """The weight decay stage II trains with: ``weight_decay``, or at 0 ("H2T's") the papers' own: on a large
        benchmark MiSLAS's (:data:`LARGE_STAGE_TWO`), on CIFAR 5e-4 at IF 100 and 2e-4 otherwise."""
        if self.weight_decay > 0:
            return self.weight_decay
        if self.stage1.dataset in LARGE_STAGE_TWO:
            return LARGE_STAGE_TWO[self.stage1.dataset]["weight_decay"]
        return 5e-4 if self.stage1.imbalance_factor == 100 else 2e-4

    def replace(self, **changes) -> "StageTwoConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        values = {k: v for k, v in _without_added_defaults(self).items() if k != "device"}
        values["stage1"] = self.stage1.identity()
        return values

    def hash(self) -> str:
        """``s2-`` + 12 hex digits of the sha256 of :meth:`identity` (which holds stage I's)."""
        return "s2-" + hashlib.sha256(json.dumps(self.identity(), sort_keys=True).encode()).hexdigest()[:12]


def validate_stage_two(c: StageTwoConfig) -> None:
    require(isinstance(c.h2t_p, float) and 0 <= c.h2t_p <= 1, "h2t_p", c.h2t_p, "must be in [0, 1]")
    require_one_of("stage1_weights", c.stage1_weights, STAGE_ONE_WEIGHTS)
    require_one_of("h2t_fusing_sampler", c.h2t_fusing_sampler, SAMPLERS)
    require_one_of("h2t_selection", c.h2t_selection, SELECTIONS)
    require_one_of("sampler", c.sampler, SAMPLERS)
    require_one_of("loss", c.loss, LOSSES)
    check_schedule(c)
    require_one_of("device", c.device, DEVICES)
    _check_device_available(c.device)


def _check_device_available(device: str) -> None:
    if device == "cuda":
        import torch

        require(torch.cuda.is_available(), "device", device, "no CUDA device is available here; use 'cpu' or 'auto'")


def train_counts(config: RunConfig) -> list[int]:
    """Training images per class of ``config``'s long-tailed CIFAR set (without loading it)."""
    if config.dataset in LIST_DATASETS:
        raise ValueError(f"the class counts of {config.dataset} come from its list files; load the data to see them")
    n_max = config.max_per_class or CIFAR_IMAGES_PER_CLASS[config.dataset]
    return long_tailed_counts(n_max, NUM_CLASSES[config.dataset], config.imbalance_factor, config.imbalance_type)


def validate(config: RunConfig) -> None:
    """Check every field; the error names the field, the bad value and what is allowed."""
    c = config
    require_one_of("dataset", c.dataset, ALL_DATASETS)
    try:
        check_imbalance_factor(c.imbalance_factor)
    except ValueError:
        require(False, "imbalance_factor", c.imbalance_factor, "must be a finite number >= 1")
    require_one_of("imbalance_type", c.imbalance_type, IMBALANCE_TYPES)
    require(isinstance(c.test_per_class, int) and c.test_per_class >= 0, "test_per_class",
            c.test_per_class, "must be an integer >= 0")
    require_one_of("model", c.model, MODELS)
    require_one_of("loss", c.loss, LOSSES)
    require_one_of("sampler", c.sampler, SAMPLERS)
    check_schedule(c)
    require(isinstance(c.mixup_alpha, (int, float)) and math.isfinite(c.mixup_alpha) and c.mixup_alpha >= 0,
            "mixup_alpha", c.mixup_alpha, "must be a finite number >= 0")
    require(0 <= c.drw_epoch < c.epochs, "drw_epoch", c.drw_epoch, f"must be in 0..{c.epochs - 1} (0 = off)")
    require_one_of("device", c.device, DEVICES)
    _check_device_available(c.device)
    require_one_of("pretrained", c.pretrained, PRETRAINED)
    require(c.pretrained == "" or c.model in TORCHVISION_ARCHITECTURES, "pretrained", c.pretrained,
            f"needs a torchvision model ({', '.join(TORCHVISION_ARCHITECTURES)}), not {c.model!r}")
    require(isinstance(c.extra_block, bool) and (not c.extra_block or c.pretrained == "imagenet"), "extra_block",
            c.extra_block, "needs pretrained='imagenet' (a frozen network must have learned something)")
    require(not (c.extra_block and c.method == "smart"), "extra_block", c.extra_block,
            "with method='smart': SMART's layers 1-4 are a network's last four stages, the frozen ones among them "
            "(SMART's Places-LT recipe fine-tunes the whole network)")
    require(isinstance(c.image_size, int) and c.image_size >= 0, "image_size", c.image_size,
            "must be an integer >= 0 (0 = the dataset's size)")
    if c.dataset in LIST_DATASETS:
        fixed = f"is fixed by the {c.dataset} list files"
        require(c.imbalance_factor == 100 and c.imbalance_type == "exp", "imbalance_factor", c.imbalance_factor,
                f"{fixed}; leave imbalance_factor and imbalance_type at their defaults")
        require(c.max_per_class == 0, "max_per_class", c.max_per_class, f"{fixed}; leave it at 0")
        require(c.jpeg_quality == 0, "jpeg_quality", c.jpeg_quality, f"must be 0 for {c.dataset} (CIFAR only)")
        require(c.chroma_block == 0, "chroma_block", c.chroma_block, f"must be 0 for {c.dataset} (CIFAR only)")
    else:
        check_jpeg_quality(c.jpeg_quality)
        check_chroma_block(c.chroma_block)
        require(not (c.jpeg_quality and c.chroma_block), "chroma_block", c.chroma_block,
                f"must be 0 beside jpeg_quality={c.jpeg_quality} (one change of the data at a time)")
        require(c.image_size in (0, 32), "image_size", c.image_size, f"must be 0 for {c.dataset} (32 x 32 images)")
        full = CIFAR_IMAGES_PER_CLASS[c.dataset]
        require(isinstance(c.max_per_class, int) and 0 <= c.max_per_class <= full, "max_per_class",
                c.max_per_class, f"must be an integer in 0..{full} for {c.dataset} (0 = {full})")
        counts = train_counts(c)
        require(min(counts) >= 1, "max_per_class", c.max_per_class,
                f"leaves the smallest class empty at imbalance factor {c.imbalance_factor:g}; "
                f"use at least {math.ceil(c.imbalance_factor)}")
        require(c.batch_size <= sum(counts), "batch_size", c.batch_size,
                f"must not exceed the {c.dataset}-LT training set ({sum(counts)} images)")
    require(isinstance(c.eval_every, int) and c.eval_every >= 1, "eval_every", c.eval_every,
            "must be an integer >= 1 (1 = every epoch)")
    require_one_of("method", c.method, METHODS)
    require(c.method == "none" or c.mixup_alpha == 0, "mixup_alpha", c.mixup_alpha,
            f"must be 0 with method={c.method!r} (they are not combined)")
    require_one_of("smart_layer", c.smart_layer, LAYERS)
    check_tau(c.smart_tau)
    require(0 <= c.smart_momentum <= 1, "smart_momentum", c.smart_momentum, "0 (dynamic) or a value in (0, 1]")
    require_one_of("smart_head_choice", c.smart_head_choice, HEAD_CHOICES)
    require(isinstance(c.smart_top_k, int) and c.smart_top_k >= 1, "smart_top_k", c.smart_top_k, "must be >= 1")
    require_one_of("smart_covariance", c.smart_covariance, COVARIANCE_SOURCES)
    require_one_of("smart_tail_sampler", c.smart_tail_sampler, TAIL_SAMPLERS)
    require_one_of("smart_head_rule", c.smart_head_rule, HEAD_RULES)
    require_one_of("smart_batches", c.smart_batches, BATCH_MODES)
    require_one_of("smart_weight_form", c.smart_weight_form, WEIGHT_FORMS)
    require(isinstance(c.smart_block, int) and c.smart_block >= 0, "smart_block", c.smart_block,
            "must be 0 (full covariances) or a channel count that divides the layer's channels")
    require(c.method != "smart" or c.smart_batches == "full" or c.batch_size >= 2, "batch_size", c.batch_size,
            "SMART with smart_batches='half' needs >= 2 (two halves)")
    require(0 <= c.cmo_prob <= 1, "cmo_prob", c.cmo_prob, "must be in [0, 1]")
    require_one_of("cmo_sampler", c.cmo_sampler, FOREGROUND_SAMPLERS)
    require(isinstance(c.cmo_skip_epochs, int) and c.cmo_skip_epochs >= 0, "cmo_skip_epochs",
            c.cmo_skip_epochs, "must be an integer >= 0")


PROFILE_SETTINGS = {
    "quick": dict(epochs=3, warmup_epochs=1, milestones=(2,), max_per_class=300, test_per_class=30, device="cpu"),
    "paper": dict(epochs=200, warmup_epochs=5, milestones=(160, 180), test_per_class=0, eval_every=10,
                  device="auto"),
}


STAGE_TWO_PROFILE_SETTINGS = {"quick": dict(epochs=2, device="cpu"), "paper": dict(epochs=10, device="auto")}


def stage_one(config: RunConfig | StageTwoConfig) -> RunConfig:
    """The stage-I config of ``config``: its own, or for a stage-II run the one it re-trains on."""
    return config.stage1 if isinstance(config, StageTwoConfig) else config


def profile_of(config) -> str:
    """``quick`` or ``paper`` when ``config`` (stage I or II) has that profile's settings, else ``custom``."""
    for name in PROFILES:
        if isinstance(config, StageTwoConfig):
            matches = (profile_of(config.stage1) == name
                       and config.epochs == STAGE_TWO_PROFILE_SETTINGS[name]["epochs"])
        else:
            matches = all(getattr(config, key) == value for key, value in PROFILE_SETTINGS[name].items()
                          if key != "device")
        if matches:
            return name
    return "custom"


def stage_two_profile(name: str, stage1: RunConfig, **overrides) -> StageTwoConfig:
    """Stage II of ``profile`` size on top of ``stage1`` (quick: 2 epochs on CPU; paper: 10)."""
    one_of("profile", name, PROFILES)
    return StageTwoConfig(stage1=stage1, **{**STAGE_TWO_PROFILE_SETTINGS[name], **overrides})


def profile(name: str, schedule: str = "mislas", **overrides) -> RunConfig:
    """The ``quick`` or ``paper`` configuration on a named paper ``schedule`` (``mislas``: H2T's rows;
    ``cmo``: SMART's rows; see :mod:`ltlib.schedules`), with any field overridden by keyword.

    LDAM-DRW's deferred re-weighting starts at 160 in ``paper``; in ``quick`` pass ``drw_epoch``.
    """
    one_of("profile", name, PROFILES)
    return RunConfig(**{**PROFILE_SETTINGS[name], **schedule_settings(schedule), **overrides})
