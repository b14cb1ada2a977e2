"""Evaluation: accuracy (overall, per class, many/medium/few), confusion, margins, features.

Every split accuracy carries the rule that defined its classes (``splits["rule"]``).

**Per-class average margin** (SMART Fig. 4b): for a test sample with feature ``f`` and true
class ``y``, let ``j`` be the strongest other class (``argmax_{j != y} z_j``). Its margin is the
signed Euclidean distance of ``f`` to the decision boundary between ``y`` and ``j``,
``(z_y - z_j) / ||w_y - w_j||`` (positive when correctly separated from ``j``). For a cosine
classifier the same is computed on the normalised feature and normalised weights. A class's
average margin is the mean over its test samples.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ltlib.data.augment import normalize
from ltlib.data.longtail import ClassSplits
from ltlib.distributed import gather_rows, rank_and_world
from ltlib.models.seams import NormedLinear, SeamNet


@torch.no_grad()
def predict(model: SeamNet, images: torch.Tensor, batch_size: int | None = None, device=None):
    """Logits ``(N, C)`` and pooled features ``(N, D)`` (float32, on CPU) for uint8 ``images``.

    ``batch_size`` defaults to 256 on the CPU (larger batches are memory-bound there: 1000 takes
    2.3x as long per image, measured on 2 cores) and 2048 on a GPU.
    """
    device = device or next(model.parameters()).device
    batch_size = batch_size or (2048 if torch.device(device).type == "cuda" else 256)
    was_training = model.training
    model.eval()
    logits, features = [], []
    try:
        for start in range(0, images.shape[0], batch_size):
            batch = normalize(images[start:start + batch_size].to(device))
            feats = model.features(batch)
            features.append(feats.float().cpu())
            logits.append(model.classifier(feats).float().cpu())
    finally:
        model.train(was_training)
    return torch.cat(logits), torch.cat(features)


@torch.no_grad()
def predict_test(model: SeamNet, data, batch_size: int | None = None, features: bool = True):
    """Logits ``(N, C)`` and pooled features ``(N, D)`` (``None`` without ``features``) of ``data``'s whole
    test set, on the CPU, on every process: each process predicts its contiguous share and the shares
    are gathered in order. In-memory data (CIFAR) and streamed data (list-file benchmarks) alike."""
    rank, world = rank_and_world()
    count = data.test_labels.numel()
    if not getattr(data, "streaming", False) and world == 1:
        logits, pooled = predict(model, data.test_images, batch_size)
    elif not getattr(data, "streaming", False):
        share = torch.arange(count).tensor_split(world)[rank]
        logits, pooled = predict(model, data.test_images[share.to(data.test_images.device)], batch_size)
    else:
        device = next(model.parameters()).device
        batch_size = batch_size or (512 if device.type == "cuda" else 64)
        share = torch.arange(count).tensor_split(world)[rank]
        was_training = model.training
        model.eval()
        logits, pooled = [], []
        try:
            for images in data.test_batches(share, batch_size):
                feats = model.features(images.to(device))
                pooled.append(feats.float().cpu())
                logits.append(model.classifier(feats).float().cpu())
        finally:
            model.train(was_training)
        logits = torch.cat(logits) if logits else torch.zeros(0, data.num_classes)
        pooled = torch.cat(pooled) if pooled else torch.zeros(0, model.feature_dim)
    return gather_rows(logits), (gather_rows(pooled) if features else None)


def per_class_accuracy(predictions, labels, num_classes: int) -> np.ndarray:
    predictions, labels = np.asarray(predictions), np.asarray(labels)
    correct = np.bincount(labels, weights=(predictions == labels), minlength=num_classes)
    totals = np.bincount(labels, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, correct / np.maximum(totals, 1), np.nan)


def split_accuracy(per_class: np.ndarray, splits: ClassSplits) -> dict:
    """Mean per-class accuracy (%) over each split's classes; ``None`` for an empty split."""
    result = {"rule": splits.rule}
    for name, classes in splits.as_dict().items():
        values = per_class[list(classes)] if classes else np.array([])
        result[name] = float(100 * np.nanmean(values)) if len(values) else None
        result[f"{name}_classes"] = len(classes)
    return result


def confusion_matrix(predictions, labels, num_classes: int) -> np.ndarray:
    """``M[i, j]`` = number of test samples of class ``i`` predicted as ``j``."""
    flat = np.asarray(labels) * num_classes + np.asarray(predictions)
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def sample_margins(features: torch.Tensor, labels: torch.Tensor, classifier) -> torch.Tensor:
    """Signed distance ``(N,)`` of each feature to the boundary with its strongest rival class."""
    if isinstance(classifier, NormedLinear):
        features, weight, bias = F.normalize(features, dim=1), F.normalize(classifier.weight, dim=1), None
    else:
        weight, bias = classifier.weight, classifier.bias
    weight = weight.detach().float().cpu()
    logits = features @ weight.t() + (0 if bias is None else bias.detach().float().cpu())
    target = logits.gather(1, labels[:, None]).squeeze(1)
    rivals = logits.scatter(1, labels[:, None], -math.inf)
    strongest = rivals.argmax(1)
    gap = target - rivals.gather(1, strongest[:, None]).squeeze(1)
    return gap / (weight[labels] - weight[strongest]).norm(dim=1).clamp(min=1e-12)


def per_class_margins(features, labels, classifier, num_classes: int) -> np.ndarray:
    margins = sample_margins(features, labels, classifier).numpy()
    sums = np.bincount(labels.numpy(), weights=margins, minlength=num_classes)
    totals = np.bincount(labels.numpy(), minlength=num_classes)
    return np.where(totals > 0, sums / np.maximum(totals, 1), np.nan)


def top1(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return float(100 * (logits.argmax(1) == labels).float().mean())


def evaluate(model: SeamNet, images: torch.Tensor, labels: torch.Tensor, splits: ClassSplits,
             outputs=None) -> dict:
    """Metrics of ``model`` on uint8 ``images``: top-1, split accuracy, per-class accuracy, confusion and margins.

    ``outputs`` = ``(logits, features)`` of :func:`predict` when the caller already has them.
    """
    logits, features = outputs if outputs is not None else predict(model, images)
    labels = labels.cpu()
    predictions = logits.argmax(1)
    num_classes = logits.shape[1]
    per_class = per_class_accuracy(predictions.numpy(), labels.numpy(), num_classes)
    return {"top1": top1(logits, labels), "splits": split_accuracy(per_class, splits),
            "per_class_accuracy": [float(100 * a) for a in per_class],
            "confusion": confusion_matrix(predictions.numpy(), labels.numpy(), num_classes).tolist(),
            "per_class_margin": per_class_margins(features, labels, model.classifier, num_classes).tolist()}


def encode_outcomes(predictions: torch.Tensor, labels: torch.Tensor) -> dict:
    """Each test image's predicted class and whether it was right, compact enough for every stored run
    (10,000 CIFAR images: ~15 kB of JSON): predictions as little-endian uint8 (uint16 past 256 classes), the
    right/wrong bits packed, both base64. Paired tests between runs (McNemar) read them back with
    :func:`decode_outcomes`."""
    import base64

    predictions, labels = np.asarray(predictions).ravel(), np.asarray(labels).ravel()
    dtype = "<u1" if predictions.max(initial=0) < 256 else "<u2"
    return {"count": int(predictions.size), "dtype": dtype,
            "predictions": base64.b64encode(predictions.astype(dtype).tobytes()).decode(),
            "correct": base64.b64encode(np.packbits(predictions == labels).tobytes()).decode()}


def decode_outcomes(outcomes: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions (N,) int64, correct (N,) bool)`` of :func:`encode_outcomes`."""
    import base64

    count = outcomes["count"]
    predictions = np.frombuffer(base64.b64decode(outcomes["predictions"]), dtype=outcomes["dtype"]).astype(np.int64)
    correct = np.unpackbits(np.frombuffer(base64.b64decode(outcomes["correct"]), dtype=np.uint8))[:count].astype(bool)
    return predictions, correct


def prediction_frequency(confusion, classes) -> np.ndarray:
    """H2T Fig. 3: the share (%) of the test samples of ``classes`` predicted as each label, ``(C,)``."""
    rows = np.asarray(confusion, dtype=float)[list(classes)]
    return 100 * rows.sum(0) / max(rows.sum(), 1)


def into_similar_heads(labels, predictions, neighbours, tails) -> np.ndarray:
    """SMART Fig. 3 per test image: for each test image of a ``tails`` class (in test-set order), whether
    ``predictions`` put it in one of that class's similar head classes, ``neighbours[c]`` (``(C, k)``, e.g.
    :func:`ltlib.semantics.top_k_similar`). Booleans per image, so two runs on the same test images compare with a
    paired test (:func:`ltlib.significance.mcnemar`)."""
    labels, predictions = np.asarray(labels).ravel(), np.asarray(predictions).ravel()
    neighbours = np.asarray(neighbours)
    if labels.shape != predictions.shape:
        raise ValueError(f"labels ({labels.size}) and predictions ({predictions.size}) must cover the same images")
    similar = np.zeros((len(neighbours), len(neighbours)), dtype=bool)  # similar[c, h]: h is a similar head of c
    np.put_along_axis(similar, neighbours, True, axis=1)
    kept = np.isin(labels, list(tails))
    return similar[labels[kept], predictions[kept]]
