"""Data-parallel pieces: epoch shards partition the global batches, and SMART's class statistics merged
across ranks (gloo, two processes) equal the one-process statistics of the union."""
from __future__ import annotations

import pytest
import torch
import torch.multiprocessing as mp

from ltlib.data import Sampler
from ltlib.distributed import pooled_moments, shard_batches
from ltlib.methods.smart import ClassStatistics, batch_class_moments


def test_shards_partition_every_global_batch_and_follow_the_seed():
    labels = torch.randint(0, 5, (200,), generator=torch.Generator().manual_seed(0))
    draw = lambda: Sampler("balanced", labels, 5).epoch_batches(32, torch.Generator().manual_seed(7))  # noqa: E731
    batches = draw()
    shards = [shard_batches(batches, rank, 4) for rank in range(4)]
    assert all(shard.shape == (batches.shape[0], 8) for shard in shards)
    torch.testing.assert_close(torch.cat(shards, 1), batches)  # the ranks together see the global batch
    instance = Sampler("instance", labels, 5).epoch_batches(32, torch.Generator().manual_seed(7))
    seen = torch.cat([shard_batches(instance, rank, 2).flatten() for rank in range(2)])
    assert seen.unique().numel() == seen.numel()  # no sample twice in an epoch across ranks
    torch.testing.assert_close(draw(), batches)  # same seed, same order on every rank
    with pytest.raises(ValueError, match="batch_size=32 is not allowed with 3 processes"):
        shard_batches(batches, 0, 3)


def random_batch(size=24, classes=4, channels=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(size, channels, 2, 2, generator=generator) * 3 + 1
    labels = torch.randint(0, classes, (size,), generator=generator)
    return features, labels


def test_pooled_moments_of_parts_equal_the_moments_of_the_union():
    features, labels = random_batch()
    labels[:8] = 0  # class 3 may be absent from a part; class 0 is in the first part only
    parts = [batch_class_moments(features[a:b], labels[a:b], 4) for a, b in ((0, 8), (8, 13), (13, 24))]
    pooled = pooled_moments(*(torch.stack(items) for items in zip(*parts)))
    whole = batch_class_moments(features, labels, 4)
    for got, expected in zip(pooled, whole):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def _rank(rank: int, world: int, init_file: str, steps: int, expected: dict):
    torch.distributed.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        every, gathered = ClassStatistics(4, 3, "cpu"), ClassStatistics(4, 3, "cpu")
        gathered.every_class = False  # the batch's classes only, as for ImageNet-scale statistics
        for step in range(steps):
            features, labels = random_batch(seed=step)
            share = len(labels) // world  # this rank's share of the global batch
            for merged in (every, gathered):
                merged.update(features[rank * share:(rank + 1) * share], labels[rank * share:(rank + 1) * share])
        for merged in (every, gathered):
            for name in ("seen", "mean", "covariance"):
                torch.testing.assert_close(getattr(merged, name), expected[name], rtol=1e-4, atol=1e-5)
    finally:
        torch.distributed.destroy_process_group()


def test_smart_statistics_merged_over_two_gloo_processes_equal_one_process(tmp_path):
    alone = ClassStatistics(4, 3, "cpu")  # one process, the whole global batch at every step
    for step in range(5):
        alone.update(*random_batch(seed=step))
    expected = {name: getattr(alone, name).clone() for name in ("seen", "mean", "covariance")}
    mp.spawn(_rank, args=(2, str(tmp_path / "rendezvous"), 5, expected), nprocs=2, join=True)
