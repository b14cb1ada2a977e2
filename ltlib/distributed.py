"""Data parallelism with PyTorch's own engine (``torch.distributed``, processes started by ``torchrun``).

What ltlib needs from it, each piece exact and tested with the gloo backend on CPUs:

* :func:`rank_and_world`: this process's rank and the number of processes (``(0, 1)`` when
  ``torch.distributed`` is not initialised, so every caller also works in one process);
* :func:`shard_batches`: every rank draws the same global epoch order (same seed, same generator)
  and takes its contiguous share of each global batch, so an epoch visits every sample of the global
  order once across ranks and the ranks together see exactly the one-process batches;
* :func:`pooled_moments` / :func:`all_reduce_class_moments`: SMART's per-batch class statistics
  (Eq. 2-3 input) merged exactly across ranks as pooled moments: counts add, means are count-weighted,
  and covariances combine within-rank scatter with the spread of the rank means, computed in float64
  (never an average of the ranks' covariances).
"""
from __future__ import annotations

import torch


def is_distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def rank_and_world() -> tuple[int, int]:
    if not is_distributed():
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def shard_batches(batches: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """Rank ``rank``'s share ``(steps, B / world)`` of global index batches ``(steps, B)``."""
    steps, size = batches.shape
    if size % world:
        raise ValueError(f"batch_size={size} is not allowed with {world} processes; it must be a multiple of it")
    share = size // world
    return batches[:, rank * share:(rank + 1) * share]


def pooled_moments(counts: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor):
    """Pool per-part moments ``counts (P, K)``, ``means (P, K, C)``, population ``covariances (P, K, C, C)``
    into those of the union: ``(K,)``, ``(K, C)``, ``(K, C, C)`` (classes absent everywhere: zeros)."""
    weights = counts.to(torch.float64)
    total = weights.sum(0)
    safe = total.clamp(min=1)
    mean = (weights[..., None] * means.double()).sum(0) / safe[:, None]
    spread = means.double() - mean[None]
    scatter = weights[..., None, None] * (covariances.double() + spread[..., :, None] * spread[..., None, :])
    return total.to(counts.dtype), mean.to(means.dtype), (scatter.sum(0) / safe[:, None, None]).to(covariances.dtype)


def all_reduce_class_moments(counts: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor):
    """This rank's class moments ``(K,)``, ``(K, C)``, ``(K, C, C)`` merged with every other rank's
    (two all-reduces: the pooled mean, then the scatter about it); unchanged in one process."""
    if not is_distributed():
        return counts, means, covariances
    weights = counts.to(torch.float64)
    moments = torch.cat([weights[:, None], weights[:, None] * means.double()], 1)  # (K, 1 + C)
    torch.distributed.all_reduce(moments)
    total = moments[:, 0]
    mean = moments[:, 1:] / total.clamp(min=1)[:, None]
    spread = means.double() - mean
    scatter = weights[:, None, None] * (covariances.double() + spread[:, :, None] * spread[:, None, :])
    torch.distributed.all_reduce(scatter)
    covariance = scatter / total.clamp(min=1)[:, None, None]
    return total.round().to(counts.dtype), mean.to(means.dtype), covariance.to(covariances.dtype)
