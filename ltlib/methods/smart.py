"""SMART: semantic transfer from head to tail (WACV 2024, §3.3-3.5, Algorithm 1).

Every equation is implemented by one function below; the paper leaves several choices open and
ltlib decides them as follows (each decision is tested):

**Statistics (Eq. 2-3).** Class mean ``mu_k`` (C,) and covariance ``Sigma_k`` (C, C) of the
feature map at the chosen layer, over all spatial positions of the class's images (a map
``F`` (HW, C) contributes HW observations). Per step, with ``M_k`` images of class ``k`` in the
batch, ``N_k <- N_k + M_k`` and ``alpha_k = M_k / N_k`` (dynamic, default) or a fixed momentum
``gamma`` (Table 5 right; the first batch a class appears in initialises it, ``alpha = 1``)::

    mu_k    <- (1 - a) mu_k + a mu_k^B                                           (Eq. 2)
    Sigma_k <- (1 - a) Sigma_k + a Sigma_k^B + a (1 - a) d d^T, d = mu_k^B - mu_k  (Eq. 3)

``Sigma^B`` is the population covariance about the batch mean. The last term is not printed in
Eq. 3; without it the dynamic-momentum recursion is not the covariance of the samples seen so
far (it drops the spread between batch means). With it, dynamic momentum gives exactly the
mean and covariance of every feature seen so far, and a fixed momentum the covariance of the same
exponentially weighted samples about their weighted mean. While the network trains, a class's
features drift, so that covariance also holds the spread of its mean over training (the printed
recursion, a weighted mean of old batch covariances, keeps old features too, but not their drift).
ltlib keeps the term in every form, ``normalize=False`` included. Statistics are updated from both batches,
detached, before the augmentation of the same step (Algorithm 1, line 7 before 8-9).

**Transfer covariance (Eq. 4-5).** ``S = Sigma_t^T Sigma_h``, ``Gamma = softmax(tau * S)`` over
the last dimension (larger ``tau`` = sharper, as the paper says), ``Sigma_th = Gamma ⊙ S``.
Covariance-source ablation (§4.3): ``both`` uses ``S`` as above, ``head`` uses ``S = Sigma_h``,
``tail`` uses ``S = Sigma_t``.

**Augmentation (Eq. 6).** ``F~ = (F - mu_t) / sqrt(sigma_t^2 + 1e-8) @ Sigma_th + mu_t`` with
``sigma_t^2 = diag(Sigma_t)``, applied row-wise to the map ``F`` (HW, C) of each tail-class sample
of the tail-dominated batch; ``mu, sigma, Sigma_th`` are constants (no gradient), the gradient
reaches the backbone through ``F``. The augmented map replaces the stage output and re-enters
the network at the next stage. Only in training: in eval mode SMART does nothing.

**Scale (``normalize``, default on; a decision the paper does not make).** Taken literally,
Eq. 4-6 and 11 are not scale-free: ``S`` carries the fourth power of the feature scale (entries about
170 at initialisation, so at ``tau = 1`` one entry already takes 0.82 of a row) and ``Sigma_th``
multiplies features whose scale then grows step after step. Measured on ResNet-32 / CIFAR-10-LT
(JPEG-q75 copy), seed 0, CPU: with the literal formulas the Eq. 11 weights are 20-80 at the first
step, 1e10 at the third, and the loss is NaN from the fourth step (lr 0.02; ``tests/test_smart.py``
keeps a check that they diverge). With ``normalize`` every matrix is rescaled by one scalar per pair
to the Frobenius norm of the identity, ``N(A) = sqrt(C) * A / ||A||_F``:

* Eq. 4 acts on ``S^ = N(S)``: ``Gamma = softmax(tau * S^)``, ``Sigma_th = N(Gamma ⊙ S^)``. A rescaling
  of the features leaves ``S^`` unchanged, so one ``tau`` means the same all through training (an
  identity-like ``S^`` has 1 on its diagonal: at ``tau = 1`` a row keeps ``e / (e + C - 1)`` on it;
  ``tau = 10`` is nearly one-hot). The notebook's tau grid spans 0.1 .. 100 accordingly.
* Eq. 6 uses ``Sigma_th * s_t`` with ``s_t = sqrt(mean(sigma_t^2))``, the tail's RMS standard
  deviation, so the augmented map keeps the tail's mean and overall scale while taking the head's
  channel structure.
* Eq. 11 (``weight_form``). The literal ``omega = (1/C) sum_jk Sigma_th[j, k]`` is meant to give
  harder tail samples (strongly correlated with head features) a *larger* weight (§3.5, §4.3). Of the
  normalised matrix it lies between about ``1/sqrt(C)`` and ``sqrt(C)``, and measured on ResNet-32 /
  CIFAR-10-LT (first 30 steps) it was 0.71-0.94: tail samples were *down*-weighted. So ltlib's
  default ``share`` form is ``omega = 1 + sum_{j != k} |Sigma_th[j, k]| / sum_jk |Sigma_th[j, k]|``:
  scale-free, exactly 1 when ``Sigma_th`` is diagonal (no head-tail cross-channel structure), growing
  with the off-diagonal share of its mass (``2 - 1/C`` when every entry is equal), always in ``[1, 2)``. ``frobenius`` keeps ``(1/C) sum_jk N(Gamma ⊙ S^)[j, k]`` for the ablation.

``normalize=False`` gives the literal Eq. 4-6 and Eq. 11 (Eq. 3 keeps its extra term, above).

**Temperature.** The paper gives no value of ``tau`` ("offline methods require a minor scaling
hyperparameter tau ... our online strategy demands a greater tau", §4.3), and its ``tau`` acts on the
unnormalised ``S``. ``tau = 1`` is ltlib's default, fixed before any run; notebook 06 sweeps it.

**What Eq. 6 makes of a tail map (measured, not a decision).** ``bench/smart_transfer.py`` reads the class
statistics of a SMART run in progress: for run 86c7fb16a74c (SMART, seed 1, CIFAR-10-LT IF 100 from the JPEG-q75
copy, CPU) at epoch 42, over its 16 tail-head pairs at ``tau = 1``, ``Sigma_th`` has an effective rank of 3.2-5.9
of 64 channels and 3-5 % of its mass on its diagonal, so Eq. 6 rebuilds a tail map from about five directions,
its median channel's spread 0.97-2.5 times the tail's own (the range over the pairs); at ``tau = 10`` the median
channel keeps 0.02-0.4 of its spread, at ``tau = 100`` under 0.003. Late in the same run (epoch 183) the rank at
``tau = 1`` is 2.9-4.7 and the median channel's spread 0.51-1.6 times the tail's own
(``bench/results/smart-transfer-86c7fb16a74c-epoch{42,183}-*``).
This is Eq. 4-6's own structure: the normalisation rescales each matrix by one scalar and changes neither its
rank nor its shares. Beside it, in the paper-profile runs of SMART's parts (seed 0): adding the augmentation to the two
batches lowered the two tail classes' mean top-1 from 31.8 to 26.3 % (REPRODUCTION.md, per class).

**Layers (Table 5 left).** The paper's layers 1-4 are the last four stages before pooling:
ResNet-32: 1 = stem (16 ch, 32x32), 2 = layer1 (16 ch), 3 = layer2 (32 ch, 16x16),
4 = layer3 (64 ch, 8x8, the pre-pool map; default, the paper's best); torchvision ResNets:
layer1..layer4.

**Weights (Eq. 10-11).** ``omega = 1`` for every sample except the augmented ones (tail-class
samples of the tail-dominated batch), which get Eq. 11's weight of ``Sigma_th`` (literally ``(1/C) sum_jk
Sigma_th[j, k]``, C = channels; under ``normalize`` the ``weight_form`` above, ``share`` by default). Eq. 11 gives
the weight to D^T's samples; ltlib reads that as the samples Eq. 6 augments (the tail-class ones), so a head-class
sample of the tail-dominated batch keeps ``omega = 1``. The loss is ``mean_i omega_i l_i`` over both batches (CE
or BSCE): Eq. 11 sets ``omega = 1`` for D^H's samples, so they are in the loss, although Algorithm 1's line 11
writes only the augmented batch. Weights can be on with augmentation off (Table 4), then ``Sigma_th`` only
weights. With BSCE ("replacing CE with BSCE", §4.2) both batches take the training set's prior ``log pi``, as
Eq. 10 has one loss ``l_i``; on the class-balanced D^T that prior over-corrects (Balanced Meta-Softmax pairs
a balanced sampler with the plain softmax), a reading the paper does not address.

**Memory at 2048 channels (``block``, a decision for the large benchmarks).** Eq. 3 keeps a ``C x C``
covariance per class: for ResNet-50's last stage (C = 2048) and ImageNet-LT's 1000 classes that is
16.8 GB in float32 (iNaturalist's 8142 classes: 137 GB), more than a GPU holds beside the network
(ISDA's users fell back to diagonal covariances). With ``block = g`` ltlib keeps the ``C / g`` diagonal
``g x g`` blocks of each class covariance (channels ``[0, g), [g, 2g), ...``) and applies Eq. 4-6 and 11
block by block: ``S``, the row softmax of ``Gamma`` and ``Sigma_th`` live inside each block, so Eq. 6 mixes
each channel with the ``g - 1`` others of its block, and the ``N(.)`` rescaling uses the whole
block-diagonal matrix. ``block = 0`` (default) or ``block = C`` is the paper's full form (tested equal);
``block = 1`` is ISDA's diagonal fallback. What differs from the paper: correlations between channels of
different blocks are neither estimated nor transferred. Memory is ``K * C * g * 4`` bytes: 1.05 GB for
1000 classes at ``g = 128`` (the large recipes' setting; 8.6 GB for iNaturalist). Only the classes of a
step's batch are updated (their moments computed and, under data parallelism, all-reduced), so the step's
extra memory grows with the batch, not with K. Measured on this project's CPU machine (K = 1000,
C = 2048, 32 maps of 7 x 7, two steps): statistics 0.98 GiB, peak process memory +1.24 GiB, 0.7 s at
``g = 128``; +2.30 GiB, 1.5 s at ``g = 256``.

**Head and tail** (which classes are augmented, which head class each borrows from):
:mod:`ltlib.methods.smart_heads`.

**Batches (Algorithm 1).** Each step draws a tail-dominated batch (``balanced`` or ``reverse``
sampler) and a head-dominated batch (``instance``). The paper names no sampler for D^T ("tail-class dominated")
and says it follows CMO, whose minority batch is class-balanced: ``balanced`` is the default. How tail-dominated
that is depends on the head rule: under ``many`` a balanced batch is 65 % tail classes on CIFAR-100-LT IF 100 but
20 % on CIFAR-10-LT IF 100 (2 of its 10 classes have <= 100 images), where only ``reverse`` (``q_c ∝ 1 / n_c``,
64 %) makes D^T tail-dominated; the paper profile trains that reading too (``tables.REVERSE_TAIL``).
Algorithm 1 samples D^T and D^H once, before its epoch loop, and takes every batch from them; ltlib draws each
epoch's batches from the samplers afresh (the same distributions, without one draw's duplicates repeating all
through training).
``batches = 'full'`` (default, the paper's
Algorithm 1): each of ``|B| = batch_size`` images, so a step sees ``2 |B|`` images; an epoch has
``N // |B|`` steps, its head-dominated batches are one pass over the data like a baseline epoch, plus
as many tail-dominated images (twice a baseline epoch's compute). ``'half'``: each of
``batch_size // 2`` images, ``N // |B|`` steps of ``|B|`` images (a baseline epoch's compute; an
epoch sees half the instance-sampled data).
"""
from __future__ import annotations

import math

import torch

from ltlib.checks import require, require_one_of
from ltlib.data import Sampler
from ltlib.data.augment import batch_images
from ltlib.distributed import all_reduce_class_moments, classes_present, outer_product
from ltlib.methods.base import SupervisedObjective
from ltlib.methods.registry import register_method
from ltlib.methods.smart_heads import (draw_head_picks, draw_width, head_choice_table, head_class_mask,
                                       head_classes_of, offline_candidates)

EPSILON = 1e-8
COVARIANCE_SOURCES = ("both", "head", "tail")
#: Eq. 11 under ``normalize`` (see the module docstring)
WEIGHT_FORMS = ("share", "frobenius")
#: sizes of Algorithm 1's two batches: full = |B| each (the paper), half = |B| / 2 each (equal compute)
BATCH_MODES = ("full", "half")
LAYERS = (1, 2, 3, 4)
#: samplers of the tail-dominated batch
TAIL_SAMPLERS = ("balanced", "reverse")


def check_tau(tau) -> None:
    """The temperature of Eq. 4 must be a finite number > 0."""
    require(isinstance(tau, (int, float)) and not isinstance(tau, bool) and math.isfinite(tau) and tau > 0,
            "smart_tau", tau, "must be a finite number > 0")


def smart_seam(model, layer: int) -> str:
    """The model seam of the paper's layer ``1..4`` (see the module docstring)."""
    require_one_of("smart_layer", layer, LAYERS)
    stages = [seam for seam in model.seams if seam != "pooled"]
    return stages[-4:][layer - 1]


def check_block(block: int, channels: int) -> int:
    """The covariance block size: 0 (the full ``C x C``) or a divisor of the ``channels``."""
    require(isinstance(block, int) and block >= 0 and (block == 0 or channels % block == 0), "smart_block", block,
            f"must be 0 (full covariances) or a divisor of the {channels} channels at SMART's layer")
    return block


def covariance_shape(channels: int, block: int = 0) -> tuple[int, ...]:
    """One class's covariance: ``(C, C)``, or ``(C / g, g, g)`` diagonal blocks of side ``g = block``."""
    return (channels, channels) if block == 0 else (channels // block, block, block)


def batch_class_moments(features: torch.Tensor, labels: torch.Tensor, num_classes: int, block: int = 0,
                        classes: torch.Tensor | None = None):
    """Per-class image counts ``(K,)``, means ``(K, C)`` and population covariances ``(K, C, C)`` (or their
    diagonal blocks ``(K, C / g, g, g)`` when ``block = g``) of maps ``features`` ``(B, C, H, W)`` over
    all spatial positions of each class's images; only for the sorted ``classes`` (which hold every
    label) when given, so memory grows with the classes of a batch, not with ``K``."""
    batch, channels = features.shape[:2]
    rows = features.reshape(batch, channels, -1).transpose(1, 2).float()  # (B, HW, C)
    positions = rows.shape[1]
    if classes is not None:
        labels, num_classes = torch.searchsorted(classes, labels), classes.numel()
    # index_add_, not bincount: bincount on a GPU reads its input's maximum back to the host
    counts = torch.zeros(num_classes, dtype=torch.long, device=labels.device).index_add_(
        0, labels, torch.ones_like(labels))
    sums = torch.zeros(num_classes, channels, device=features.device).index_add_(0, labels, rows.sum(1))
    means = sums / (counts.clamp(min=1) * positions)[:, None]
    centred = rows - means[labels][:, None, :]
    if block == 0:
        products = centred.transpose(1, 2) @ centred  # (B, C, C)
    else:
        grouped = centred.reshape(batch, positions, channels // block, block).permute(0, 2, 1, 3)  # (B, G, HW, g)
        products = grouped.transpose(-1, -2) @ grouped  # (B, G, g, g)
    scatter = torch.zeros(num_classes, *covariance_shape(channels, block), device=features.device)
    scatter.index_add_(0, labels, products)
    covariances = scatter / (counts.clamp(min=1) * positions).view(-1, *[1] * (scatter.dim() - 1))
    return counts, means, covariances


#: the per-step moments of every class are computed when they take at most this many bytes (CIFAR: 1.6 MB for
#: 100 classes of 64 channels); above it (ImageNet-LT's 1000 classes at 2048 channels) only the batch's classes
STATIC_MOMENTS_BYTES = 64 * 2**20


class ClassStatistics:
    """Running per-class mean and covariance (Eq. 2-3) with dynamic or fixed momentum.

    A step updates every class at once when their moments fit in :data:`STATIC_MOMENTS_BYTES` (classes absent
    from the batch get ``alpha = 0`` and stay exactly as they were): shapes are then fixed and nothing is read
    back to the host, so a GPU step never waits. Otherwise only the batch's classes are gathered, which needs
    their list on the host (one synchronisation per step) but memory for the batch's classes alone.
    """

    def __init__(self, num_classes: int, channels: int, device, momentum: float = 0.0, block: int = 0):
        if not 0 <= momentum <= 1:
            raise ValueError(f"smart_momentum={momentum!r} is not allowed; use 0 (dynamic) or a value in (0, 1]")
        self.momentum, self.block = momentum, check_block(block, channels)
        self.seen = torch.zeros(num_classes, device=device)  # N_k, in images
        self.mean = torch.zeros(num_classes, channels, device=device)
        self.covariance = torch.zeros(num_classes, *covariance_shape(channels, block), device=device)
        self.every_class = self.covariance.numel() * 4 <= STATIC_MOMENTS_BYTES

    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """One step of Eq. 2-3 with this batch; under data parallelism, with the union of every rank's
        batch (pooled exactly, :func:`ltlib.distributed.all_reduce_class_moments`)."""
        if self.every_class:
            counts, means, covariances = all_reduce_class_moments(
                *batch_class_moments(features.detach(), labels, self.seen.numel(), self.block))
            self._blend(slice(None), counts, means, covariances)
            return
        present = classes_present(labels, self.seen.numel())  # in this step's batch of any process
        counts, means, covariances = all_reduce_class_moments(
            *batch_class_moments(features.detach(), labels, self.seen.numel(), self.block, present))
        self._blend(present, counts, means, covariances)

    def _blend(self, rows, counts, means, covariances) -> None:
        """Eq. 2-3 for the classes ``rows`` (a slice or an index tensor) with their batch moments."""
        seen = self.seen[rows] + counts
        self.seen[rows] = seen
        if self.momentum == 0:
            alpha = counts / seen.clamp(min=1)  # alpha_k = M_k^B / N_k   (dynamic; 0 for an absent class)
        else:
            first = seen == counts  # first sighting initialises
            alpha = torch.where(first, torch.ones_like(seen), torch.full_like(seen, self.momentum))
            alpha = torch.where(counts > 0, alpha, torch.zeros_like(alpha))  # an absent class stays
        delta = means - self.mean[rows]
        self.mean[rows] += alpha[:, None] * delta  # Eq. 2
        a = alpha.view(-1, *[1] * (self.covariance.dim() - 1))
        covariance = self.covariance[rows] * (1 - a) + a * covariances  # Eq. 3
        self.covariance[rows] = covariance + a * (1 - a) * outer_product(delta, covariance)

    def state_dict(self) -> dict:
        return {"seen": self.seen.clone(), "mean": self.mean.clone(), "covariance": self.covariance.clone(),
                "momentum": self.momentum, "block": self.block}

    def load_state_dict(self, state: dict) -> None:
        self.seen, self.mean, self.covariance = state["seen"], state["mean"], state["covariance"]


def transfer_covariance(sigma_tail: torch.Tensor, sigma_head: torch.Tensor, tau: float,
                        source: str = "both", normalize: bool = False) -> torch.Tensor:
    """Eq. 4-5 for a batch of pairs ``(n, C, C)``: ``Gamma ⊙ S``, ``Gamma = softmax(tau S)`` row-wise;
    with ``normalize`` both act on ``N(S)`` and the result is ``N(Gamma ⊙ N(S))`` (module docstring).
    Block covariances ``(n, C / g, g, g)`` give the same per block (rows of ``Gamma`` within a block)."""
    check_tau(tau)
    require_one_of("smart_covariance", source, COVARIANCE_SOURCES)
    if source == "both":
        similarity = sigma_tail.transpose(-1, -2) @ sigma_head
    elif source == "head":
        similarity = sigma_head
    else:
        similarity = sigma_tail
    if normalize:
        similarity = normalized_transfer(similarity)
    transfer = torch.softmax(tau * similarity, dim=-1) * similarity
    return normalized_transfer(transfer) if normalize else transfer


def augment_features(rows: torch.Tensor, mean_tail: torch.Tensor, var_tail: torch.Tensor,
                     sigma_th: torch.Tensor) -> torch.Tensor:
    """Eq. 6 on maps ``rows`` ``(n, HW, C)`` with per-sample ``mean_tail`` ``(n, C)``,
    ``var_tail`` ``(n, C)`` (= diag Sigma_t) and ``sigma_th`` ``(n, C, C)`` (or blocks ``(n, C / g, g, g)``,
    each mixing its own ``g`` channels)."""
    whitened = (rows - mean_tail[:, None, :]) / torch.sqrt(var_tail[:, None, :] + EPSILON)
    if sigma_th.dim() == 3:
        mixed = whitened @ sigma_th
    else:
        n, positions, channels = whitened.shape
        grouped = whitened.reshape(n, positions, sigma_th.shape[1], -1).transpose(1, 2)  # (n, G, HW, g)
        mixed = (grouped @ sigma_th).transpose(1, 2).reshape(n, positions, channels)
    return mixed + mean_tail[:, None, :]


def normalized_transfer(sigma_th: torch.Tensor) -> torch.Tensor:
    """``N(A) = sqrt(C) * A / ||A||_F`` per pair ``(n, C, C)`` (the ``normalize`` decision); for blocks
    ``(n, C / g, g, g)`` the norm is the whole block-diagonal matrix's."""
    flat = sigma_th.flatten(1)
    channels = sigma_th.shape[-1] * (sigma_th.shape[1] if sigma_th.dim() == 4 else 1)
    norm = flat.norm(dim=1).clamp(min=1e-12)
    return sigma_th * (channels ** 0.5 / norm).view(-1, *[1] * (sigma_th.dim() - 1))


def channel_count(sigma_th: torch.Tensor) -> int:
    """``C`` of pairs ``(n, C, C)`` or blocks ``(n, C / g, g, g)``."""
    return sigma_th.shape[-1] * (sigma_th.shape[1] if sigma_th.dim() == 4 else 1)


def diagonal_of(sigma: torch.Tensor) -> torch.Tensor:
    """The diagonal ``(n, C)`` of pairs ``(n, C, C)`` or of blocks ``(n, C / g, g, g)``."""
    return torch.diagonal(sigma, dim1=-2, dim2=-1).flatten(1)


def semantic_weights(sigma_th: torch.Tensor) -> torch.Tensor:
    """Eq. 11 as printed, for augmented samples: ``(1/C) sum_jk Sigma_th[j, k]`` per pair, ``(n,)``."""
    return sigma_th.flatten(1).sum(1) / channel_count(sigma_th)


def share_weights(sigma_th: torch.Tensor) -> torch.Tensor:
    """ltlib's scale-free Eq. 11 (``share``): ``1 + sum_{j != k} |A_jk| / sum_jk |A_jk|`` per pair,
    ``(n,)`` in ``[1, 2)``: 1 for a diagonal ``A = Sigma_th``, larger with more cross-channel mass."""
    magnitude = sigma_th.abs()
    total = magnitude.flatten(1).sum(1)
    diagonal = diagonal_of(magnitude).sum(1)
    return 1.0 + (total - diagonal) / total.clamp(min=1e-30)


def eq11_weights(sigma_th: torch.Tensor, normalize: bool, form: str) -> torch.Tensor:
    """The Eq. 11 weight of each pair under the ``normalize`` / ``weight_form`` decisions."""
    require_one_of("smart_weight_form", form, WEIGHT_FORMS)
    if normalize and form == "share":
        return share_weights(sigma_th)
    return semantic_weights(sigma_th)


class SmartTransfer:
    """SMART's action at one seam: update statistics, augment tail features, produce weights."""

    def __init__(self, seam: str, class_counts, tau: float = 1.0, momentum: float = 0.0,
                 covariance_source: str = "both", augment: bool = True, weights: bool = True,
                 head_rule: str = "many", candidates: tuple[torch.Tensor, torch.Tensor] | None = None,
                 normalize: bool = True,
                 weight_form: str = "share", block: int = 0):
        self.seam, self.tau, self.momentum, self.normalize, self.block = seam, tau, momentum, normalize, block
        require_one_of("smart_weight_form", weight_form, WEIGHT_FORMS)
        self.weight_form = weight_form
        self.covariance_source, self.augment, self.weights = covariance_source, augment, weights
        check_tau(tau)
        require_one_of("smart_covariance", covariance_source, COVARIANCE_SOURCES)
        self.is_head = head_class_mask(class_counts, head_rule)
        if self.is_head.all() or not self.is_head.any():
            raise ValueError(f"SMART needs head and tail classes; head rule {head_rule!r} makes "
                             f"{int(self.is_head.sum())} of {len(self.is_head)} classes head")
        self.head_classes = torch.nonzero(self.is_head).flatten()
        self.table, self.sizes = head_choice_table(class_counts, head_rule, candidates)
        self.choices = draw_width(self.sizes, self.is_head)
        self.statistics: ClassStatistics | None = None
        self.last_weights: torch.Tensor | None = None

    def to(self, device) -> "SmartTransfer":
        self.is_head, self.head_classes = self.is_head.to(device), self.head_classes.to(device)
        self.table, self.sizes = self.table.to(device), self.sizes.to(device)
        return self

    def draw_picks(self, labels: torch.Tensor, generator: torch.Generator, layout=None) -> torch.Tensor:
        """This step's head-class draws ``(B,)`` for samples of ``labels`` (see :func:`draw_head_picks`)."""
        return draw_head_picks(labels.numel(), self.choices, generator, labels.device, layout)

    def hook(self, model, labels: torch.Tensor, augmentable: torch.Tensor, picks: torch.Tensor):
        """A seam hook for ``model.forward``: SMART at ``self.seam`` in training, identity in eval mode."""
        def at_seam(seam: str, features: torch.Tensor) -> torch.Tensor:
            if seam != self.seam or not model.training:
                return features
            return self.apply(features, labels, augmentable, picks)
        return at_seam

    def apply(self, features: torch.Tensor, labels: torch.Tensor, augmentable: torch.Tensor,
              picks: torch.Tensor) -> torch.Tensor:
        """Statistics update, then Eq. 4-6 and 11 for samples where ``augmentable`` (B,) is true, with the
        step's head-class draws ``picks`` (:meth:`draw_picks`).

        Returns the (possibly augmented) map ``(B, C, H, W)``; stores ``last_weights`` ``(B,)``. Under bf16
        autocast (:mod:`ltlib.fast`) every statistic and transfer is computed in float32, and only the
        augmented map returns in the input's precision.
        """
        with torch.autocast(features.device.type, enabled=False):
            return self._apply(features, labels, augmentable, picks)

    def _apply(self, features, labels, augmentable, picks):
        batch, channels, height, width = features.shape
        if self.statistics is None:
            self.statistics = ClassStatistics(len(self.is_head), channels, features.device, self.momentum, self.block)
        stats = self.statistics
        stats.update(features, labels)
        heads = head_classes_of(labels, self.table, self.sizes, picks)
        active = augmentable & ~self.is_head[labels] & (stats.seen[heads] > 0)
        sigma_t, sigma_h = stats.covariance[labels], stats.covariance[heads]
        sigma_th = transfer_covariance(sigma_t, sigma_h, self.tau, self.covariance_source, self.normalize)
        variance = diagonal_of(sigma_t)
        scale = variance.mean(-1).sqrt().view(-1, *[1] * (sigma_th.dim() - 1))
        mixing = sigma_th * scale if self.normalize else sigma_th
        ones = torch.ones(batch, device=features.device)
        weights = eq11_weights(sigma_th, self.normalize, self.weight_form)
        self.last_weights = torch.where(active, weights, ones) if self.weights else ones
        if not self.augment:
            return features
        rows = features.reshape(batch, channels, -1).transpose(1, 2)
        augmented = augment_features(rows.float(), stats.mean[labels], variance, mixing).to(features.dtype)
        augmented = augmented.transpose(1, 2).reshape(batch, channels, height, width)
        return torch.where(active[:, None, None, None], augmented, features)


@register_method("smart")
class SmartObjective(SupervisedObjective):
    """Algorithm 1: a tail-dominated and a head-dominated batch per step, SMART at a seam."""

    @classmethod
    def from_config(cls, config, data, model, generator):
        candidates = offline_candidates(data.class_names, data.class_counts, config.smart_head_choice,
                                        config.smart_head_rule, config.smart_top_k)
        return cls(config, data, model, generator, candidates)

    def __init__(self, config, data, model, generator, candidates: tuple[torch.Tensor, torch.Tensor] | None = None):
        super().__init__(config, data, model, generator)
        self.transfer = SmartTransfer(
            smart_seam(model, config.smart_layer), data.class_counts, config.smart_tau, config.smart_momentum,
            config.smart_covariance, config.smart_augment, config.smart_weights, config.smart_head_rule,
            candidates, config.smart_normalize, config.smart_weight_form, config.smart_block).to(data.train_labels.device)
        self.tail_sampler = Sampler(config.smart_tail_sampler, data.train_labels, data.num_classes)
        self.head_sampler = Sampler("instance", data.train_labels, data.num_classes)
        require_one_of("smart_batches", config.smart_batches, BATCH_MODES)
        # images in each of the two batches (module docstring, "Batches")
        self.branch_size = config.batch_size if config.smart_batches == "full" else config.batch_size // 2

    def state_dict(self) -> dict:
        stats = self.transfer.statistics
        return {**super().state_dict(), "statistics": None if stats is None else stats.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        if state["statistics"] is not None:
            saved = state["statistics"]
            device = self.data.train_labels.device
            stats = ClassStatistics(saved["mean"].shape[0], saved["mean"].shape[1], device, saved["momentum"],
                                    saved.get("block", 0))
            stats.load_state_dict({k: v.to(device) if torch.is_tensor(v) else v for k, v in saved.items()})
            self.transfer.statistics = stats

    def start_epoch(self, epoch: int) -> int:
        tail, tail_layout = self.draw(self.tail_sampler, self.branch_size)
        head, head_layout = self.draw(self.head_sampler, self.branch_size)
        steps = self.data.train_labels.numel() // self.config.batch_size
        self.batches = torch.cat([tail[:steps], head[:steps]], dim=1)  # (steps, 2 * this process's branch share)
        self.layout = tail_layout.then(head_layout)
        self.stream = self.open_stream("main", self.batches, self.layout)
        return steps

    def step_inputs(self, step: int, epoch: int) -> dict:
        """The two batches side by side (tail-dominated first) and this step's head-class draws."""
        inputs = super().step_inputs(step, epoch)
        layout = None if self.layout.total == inputs["targets"].numel() else self.layout
        inputs["head_picks"] = self.transfer.draw_picks(inputs["targets"], self.generator, layout)
        return inputs

    def compute(self, inputs: dict) -> torch.Tensor:
        """Algorithm 1's loss: SMART at its seam on the tail-class samples of the tail-dominated batch,
        Eq. 10's weighted mean over both batches."""
        targets = inputs["targets"]
        from_tail_batch = torch.arange(targets.numel(), device=targets.device) < targets.numel() // 2
        hook = self.transfer.hook(self.model, targets, from_tail_batch, inputs["head_picks"])
        logits = self.network(batch_images(inputs), hook=hook)
        return self.weighted_loss(logits, targets, inputs["class_weights"], self.transfer.last_weights)

    def static_state(self) -> list[torch.Tensor]:
        stats = self.transfer.statistics
        return [] if stats is None else [stats.seen, stats.mean, stats.covariance]
