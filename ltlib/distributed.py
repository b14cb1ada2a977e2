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
  (never an average of the ranks' covariances);
* processes started by ``torchrun``: :func:`init_from_environment` (NCCL on GPUs, gloo on CPUs),
  :func:`wrap_model` (``DistributedDataParallel``), :func:`broadcast_object` (rank 0's checkpoint and
  cache decisions), :func:`all_reduce_sum` and :func:`gather_rows` (sharded evaluation).

BatchNorm statistics are per process (torch's default, and the peers' multi-GPU setting): a run on
N processes equals a one-process run of the same global batch exactly only for networks without
BatchNorm (``tests/test_ddp.py`` checks that), and otherwise differs by the batch statistics.
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


def outer_product(d: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``d d^T`` of vectors ``d`` ``(..., C)`` in the layout of covariances ``like``: full ``(..., C, C)`` or
    diagonal blocks ``(..., C / g, g, g)`` (SMART's memory-saving form)."""
    if like.dim() == d.dim() + 1:
        return d[..., :, None] * d[..., None, :]
    blocks = d.reshape(*d.shape[:-1], -1, like.shape[-1])
    return blocks[..., :, None] * blocks[..., None, :]


def pooled_moments(counts: torch.Tensor, means: torch.Tensor, covariances: torch.Tensor):
    """Pool per-part moments ``counts (P, K)``, ``means (P, K, C)``, population ``covariances (P, K, C, C)``
    into those of the union: ``(K,)``, ``(K, C)``, ``(K, C, C)`` (classes absent everywhere: zeros)."""
    weights = counts.to(torch.float64)
    total = weights.sum(0)
    safe = total.clamp(min=1)
    mean = (weights[..., None] * means.double()).sum(0) / safe[:, None]
    spread = means.double() - mean[None]
    expand = [1] * (covariances.dim() - 2)
    scatter = weights.view(*weights.shape, *expand) * (covariances.double() + outer_product(spread, covariances))
    return total.to(counts.dtype), mean.to(means.dtype), (scatter.sum(0) / safe.view(-1, *expand)).to(covariances.dtype)


def classes_present(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The sorted classes of ``labels`` in this step's batch of any process (the same on every process)."""
    if not is_distributed():
        return torch.unique(labels)
    mask = torch.zeros(num_classes, dtype=torch.int32, device=labels.device)
    mask[labels] = 1
    torch.distributed.all_reduce(mask)
    return torch.nonzero(mask).flatten()


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
    expand = [1] * (covariances.dim() - 1)
    scatter = weights.view(-1, *expand) * (covariances.double() + outer_product(spread, covariances))
    torch.distributed.all_reduce(scatter)
    covariance = scatter / total.clamp(min=1).view(-1, *expand)
    return total.round().to(counts.dtype), mean.to(means.dtype), covariance.to(covariances.dtype)


# --- processes started by torchrun -------------------------------------------------------------------------------

def init_from_environment() -> bool:
    """Join the process group that ``torchrun`` describes in the environment (``WORLD_SIZE`` > 1): NCCL
    when CUDA is available (each process on GPU ``LOCAL_RANK``), gloo on CPUs. Returns whether this
    process is one of several; a plain ``python -m ltlib`` (no ``WORLD_SIZE``) stays one process."""
    import os

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 or is_distributed():
        return is_distributed()
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch.distributed.init_process_group("nccl")
    else:
        torch.distributed.init_process_group("gloo")
    return True


def local_device(device: torch.device) -> torch.device:
    """Under data parallelism on GPUs, this process's GPU (``cuda:LOCAL_RANK``); else ``device``."""
    import os

    if device.type == "cuda" and device.index is None and is_distributed():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def is_main() -> bool:
    """Rank 0, the process that writes checkpoints, metrics and cache entries (every process when alone)."""
    return rank_and_world()[0] == 0


def shard_positions(total: int, rank: int, world: int) -> torch.Tensor:
    """Positions ``(total / world,)`` of rank ``rank``'s contiguous share of a global batch of ``total``."""
    if total % world:
        raise ValueError(f"batch_size={total} is not allowed with {world} processes; it must be a multiple of it")
    share = total // world
    return torch.arange(rank * share, (rank + 1) * share)


def broadcast_object(value):
    """Rank 0's ``value`` on every rank (``value`` itself in one process)."""
    if not is_distributed():
        return value
    holder = [value]
    torch.distributed.broadcast_object_list(holder, src=0)
    return holder[0]


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The sum over ranks of ``values`` (a new tensor; unchanged in one process)."""
    values = values.clone()
    if is_distributed():
        torch.distributed.all_reduce(values)
    return values


def gather_rows(values: torch.Tensor) -> torch.Tensor:
    """Every rank's ``values`` ``(n_r, ...)`` (CPU tensors) concatenated in rank order (evaluation shards)."""
    if not is_distributed():
        return values
    parts = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(parts, values)
    return torch.cat(parts)


def wrap_model(model):
    """``DistributedDataParallel(model)`` under data parallelism (gradients all-reduced, rank 0's buffers
    broadcast at every forward), else ``model`` itself."""
    if not is_distributed():
        return model
    device = next(model.parameters()).device
    ids = [device.index] if device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)


def finish() -> None:
    """Leave the process group together (a barrier, then ``destroy_process_group``), so no process exits
    while another still talks to it; nothing in one process."""
    if is_distributed():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
