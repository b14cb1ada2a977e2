"""The large benchmarks' recipes (ImageNet-LT, iNaturalist 2018, Places-LT): each paper's stated stage-I settings
and H2T's stage II on them (README, "Large-scale benchmarks").
"""
from __future__ import annotations

from ltlib.checks import one_of
from ltlib.config import LARGE_STAGE_TWO, PROFILES, RunConfig, StageTwoConfig
from ltlib.data.streaming import LIST_DATASETS

#: ``batch_size`` is the *global* batch (every process takes ``batch_size / N``); the learning rate is the
#: one stated for that batch, not rescaled (neither paper states a scaling rule; with another global
#: batch ``B`` the usual linear rule ``lr = 0.1 * B / 256`` is the user's choice, passed with ``--lr``).
RECIPES = ("smart", "h2t")
_SMART_LARGE = dict(lr=0.1, momentum=0.9, weight_decay=2e-4, batch_size=256, warmup_epochs=0, gamma=0.1,
                    lr_schedule="multistep", smart_block=128)
_H2T_LARGE = dict(lr=0.1, momentum=0.9, batch_size=256, warmup_epochs=0, lr_schedule="cosine", milestones=(),
                  mixup_alpha=0.2)
LARGE_PROFILES = {
    # SMART §4.1: ImageNet-LT 100 epochs, x0.1 at 60 and 80; iNaturalist and Places-LT 200 epochs, x0.1 at 75
    # and 160; SGD 0.1 / 0.9 / 2e-4; Places-LT from an ImageNet-pretrained ResNet-152. Batch not stated: 256.
    ("imagenet_lt", "smart"): dict(_SMART_LARGE, model="resnet50", epochs=100, milestones=(60, 80)),
    ("inat2018", "smart"): dict(_SMART_LARGE, model="resnet50", epochs=200, milestones=(75, 160)),
    ("places_lt", "smart"): dict(_SMART_LARGE, model="resnet152", pretrained="imagenet", epochs=200,
                                 milestones=(75, 160)),
    # H2T stage I = MiSLAS's stage-1 configs (H2T publishes no large-scale configs): cosine from 0.1, batch 256,
    # mixup 0.2; ImageNet-LT 180 epochs wd 5e-4, iNaturalist 200 epochs wd 1e-4, Places-LT 90 epochs wd 5e-4
    # from ImageNet weights, frozen, training one extra block and the classifier (MiSLAS's train_stage1.py).
    ("imagenet_lt", "h2t"): dict(_H2T_LARGE, model="resnet50", epochs=180, weight_decay=5e-4),
    ("inat2018", "h2t"): dict(_H2T_LARGE, model="resnet50", epochs=200, weight_decay=1e-4),
    ("places_lt", "h2t"): dict(_H2T_LARGE, model="resnet152", pretrained="imagenet", extra_block=True, epochs=90,
                               weight_decay=5e-4),
}
#: the quick size of a large recipe: two epochs, no warm-up or decay (exercises the path, nothing more)
LARGE_QUICK = dict(epochs=2, warmup_epochs=0, milestones=())


def large_profile(dataset: str, recipe: str = "smart", name: str = "paper", **overrides) -> RunConfig:
    """Stage I on a list-file benchmark (``imagenet_lt``, ``inat2018``, ``places_lt``) with a paper's
    ``recipe`` (``smart``: SMART §4.1; ``h2t``: MiSLAS's stage-1 configs that H2T builds on); ``quick``
    shortens it to two epochs. SMART runs ask for the method with ``method="smart"``."""
    one_of("dataset", dataset, tuple(LIST_DATASETS))
    one_of("recipe", recipe, RECIPES)
    one_of("profile", name, PROFILES)
    settings = dict(LARGE_PROFILES[(dataset, recipe)], dataset=dataset, device="auto")
    if name == "quick":
        settings.update(LARGE_QUICK)
    return RunConfig(**{**settings, **overrides})


def large_stage_two(stage1: RunConfig, **overrides) -> StageTwoConfig:
    """H2T stage II on a large benchmark's stage-I run (see :data:`LARGE_STAGE_TWO`)."""
    one_of("large_stage_two's stage-I dataset", stage1.dataset, tuple(LARGE_STAGE_TWO))
    settings = dict(LARGE_STAGE_TWO[stage1.dataset], epochs=10 if stage1.epochs > LARGE_QUICK["epochs"] else 1,
                    lr=0.005, batch_size=256, h2t_p=0.3, device=stage1.device)
    return StageTwoConfig(stage1=stage1, **{**settings, **overrides})
