"""A long-tailed 2-D toy problem that shows SMART's and H2T's mechanisms in seconds (notebook 09).

The toy runs the library's own code, not a re-implementation: :class:`ToyNet` is a
:class:`~ltlib.models.SeamNet` whose last stage outputs a 2-channel "feature map" ``(B, 2, 1, 1)``, so
its pooled features are points in the plane and its classifier's decision regions can be drawn
directly; the objectives are :class:`~ltlib.methods.base.SupervisedObjective`,
:class:`~ltlib.methods.smart.SmartObjective` and :class:`~ltlib.methods.h2t.StageTwoObjective` with
one change (:class:`PointsMixin`): a batch is the points themselves (no crop, flip or image
normalisation); training is :func:`ltlib.train.fit`.

Data: ``K`` Gaussian classes on a circle (class 0 the most frequent), counts falling like a long tail.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from ltlib.config import RunConfig, StageTwoConfig
from ltlib.data import LongTailedData
from ltlib.methods.base import SupervisedObjective
from ltlib.methods.h2t import StageTwoObjective
from ltlib.methods.smart import SmartObjective
from ltlib.models.seams import SeamNet
from ltlib.schedules import config_learning_rate
from ltlib.train import fit

TOY_COUNTS = (400, 160, 60, 20, 8)


def toy_data(counts=TOY_COUNTS, test_per_class: int = 100, spread: float = 0.9, seed: int = 0) -> LongTailedData:
    """Long-tailed 2-D Gaussian classes: ``train_images`` are points ``(N, 2)`` (float32), centres on a
    circle of radius 2; the test set has ``test_per_class`` points per class."""
    generator = torch.Generator().manual_seed(seed)
    angles = torch.arange(len(counts)) * 2 * math.pi / len(counts)
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], 1)

    def draw(per_class):
        labels = torch.repeat_interleave(torch.arange(len(per_class)), torch.tensor(per_class))
        return centres[labels] + spread * torch.randn(len(labels), 2, generator=generator), labels

    train, train_labels = draw(list(counts))
    test, test_labels = draw([test_per_class] * len(counts))
    return LongTailedData(train, train_labels, test, test_labels, tuple(counts),
                          tuple(f"class {i}" for i in range(len(counts))), "2-D toy (Gaussian classes)")


class _Dense(nn.Module):
    """A fully connected stage on ``(B, C, 1, 1)`` maps (a 2-D input is taken as ``(B, 2)``)."""

    def __init__(self, inputs: int, outputs: int, activation: bool = True):
        super().__init__()
        self.linear, self.activation = nn.Linear(inputs, outputs), activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear(x.flatten(1))
        return (torch.relu(h) if self.activation else h)[:, :, None, None]


class ToyNet(SeamNet):
    """Four dense stages (``s1``..``s3``, then ``features`` with 2 channels) -> pooled 2-D point -> linear."""

    def __init__(self, num_classes: int, width: int = 32):
        stages = [("s1", _Dense(2, width)), ("s2", _Dense(width, width)), ("s3", _Dense(width, width)),
                  ("features", _Dense(width, 2, activation=False))]
        super().__init__(stages, feature_dim=2, num_classes=num_classes)


class PointsMixin:
    """Objectives on points: a batch is the raw points (no image augmentation)."""

    def read_batch(self, indices: torch.Tensor, layout=None, augment: bool = True) -> dict:
        return {"images": self.data.train_images[indices], "targets": self.data.train_labels[indices]}


class ToyPlain(PointsMixin, SupervisedObjective):
    pass


class ToySmart(PointsMixin, SmartObjective):
    pass


class ToyStageTwo(PointsMixin, StageTwoObjective):
    pass


def toy_config(**changes) -> RunConfig:
    """Stage-I settings of the toy: 30 epochs of batch 32, SGD 0.05 (x0.1 for the last sixth), SMART at the
    2-D ``features`` stage."""
    epochs = changes.get("epochs", 30)
    settings = dict(epochs=epochs, batch_size=32, lr=0.05, warmup_epochs=1, milestones=(max(1, epochs * 5 // 6),),
                    weight_decay=5e-4, device="cpu", smart_layer=4)
    return RunConfig(**{**settings, **changes})


def _accuracy(model, data) -> float:
    with torch.no_grad():
        model.eval()
        correct = (model(data.test_images).argmax(1) == data.test_labels).float().mean()
        model.train()
    return float(100 * correct)


def train_toy(config: RunConfig, data: LongTailedData, seed: int = 0) -> tuple[ToyNet, object]:
    """Stage I on the toy with ``config.method`` (``none`` or ``smart``); returns the model and objective."""
    torch.manual_seed(seed)
    model = ToyNet(data.num_classes)
    generator = torch.Generator().manual_seed(seed)
    objective = (ToySmart if config.method == "smart" else ToyPlain).from_config(config, data, model, generator)
    fit(model, model.parameters(), objective, config.epochs, lambda e: config_learning_rate(config, e),
        config.momentum, config.weight_decay, lambda: _accuracy(model, data), progress=False)
    return model.eval(), objective


def retrain_classifier(model: ToyNet, data: LongTailedData, p: float, seed: int = 0, epochs: int = 20) -> ToyNet:
    """H2T stage II on a copy of ``model``: frozen backbone, class-balanced batches fused with ``p`` of the
    2 feature channels taken from instance-sampled ones (p = 0: plain cRT / DR)."""
    import copy

    model = copy.deepcopy(model)
    config = StageTwoConfig(stage1=toy_config(), h2t_p=p, epochs=epochs, batch_size=32, lr=0.05, device="cpu",
                            bn_train=False, augment=False, seed=seed)
    for parameter in model.backbone_parameters():
        parameter.requires_grad_(False)
    objective = ToyStageTwo(config, data, model, torch.Generator().manual_seed(seed), seam="features")
    fit(model, model.classifier.parameters(), objective, epochs, lambda e: config_learning_rate(config, e),
        config.momentum, config.effective_weight_decay, lambda: _accuracy(model, data), progress=False)
    return model.eval()


@torch.no_grad()
def features_of(model: ToyNet, points: torch.Tensor) -> np.ndarray:
    """The 2-D features ``(N, 2)`` a model gives ``points``."""
    return model.features(points).numpy()


@torch.no_grad()
def smart_step_view(objective, seed: int = 0) -> dict:
    """One SMART step on the toy, taken apart with the library's functions: the batch's 2-D features
    before and after Eq. 6, which samples were augmented, each sample's drawn head class, their Eq. 11
    weights, the class statistics after the step's update (Eq. 2-3, which Eq. 4-6 used) and one tail-head
    pair's transfer matrix (Eq. 4-5)."""
    from ltlib.methods.smart import transfer_covariance
    from ltlib.methods.smart_heads import head_classes_of

    objective.start_epoch(0)
    inputs, targets = objective.augmented_batch(objective.batches[0])
    from_tail = torch.arange(targets.numel()) < objective.branch_size
    before = objective.model.forward_to(inputs, "features")
    transfer = objective.transfer
    saved = (transfer.statistics.state_dict() if transfer.statistics is not None else None)
    picks = transfer.draw_picks(targets, torch.Generator().manual_seed(seed))
    after = transfer.apply(before.clone(), targets, from_tail, picks)
    stats = transfer.statistics
    means, covariances = stats.mean.clone(), stats.covariance.clone()
    tail_class = int(torch.nonzero(~transfer.is_head).flatten()[-1])
    head_class = int(transfer.head_classes[0])
    pair = transfer_covariance(covariances[[tail_class]], covariances[[head_class]], transfer.tau,
                               transfer.covariance_source, transfer.normalize)[0]
    if saved is not None:  # the view changes nothing: restore the statistics this step updated
        transfer.statistics.load_state_dict({k: v.clone() if torch.is_tensor(v) else v for k, v in saved.items()})
    changed = (after - before).flatten(1).abs().sum(1) > 0
    return {"before": before.flatten(1).numpy(), "after": after.flatten(1).numpy(), "labels": targets.numpy(),
            "augmented": changed.numpy(), "weights": transfer.last_weights.numpy(),
            "heads": head_classes_of(targets, transfer.table, transfer.sizes, picks).numpy(),
            "means": means.numpy(), "covariances": covariances.numpy(),
            "pair": (tail_class, head_class), "transfer": pair.numpy()}
