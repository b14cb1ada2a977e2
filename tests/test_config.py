"""Config validation (field, value, allowed), hashing and profiles."""
from __future__ import annotations

import pytest

from ltlib.config import RunConfig, profile, stage_two_profile


@pytest.mark.parametrize("field, value, allowed", [
    ("dataset", "imagenet", "cifar10, cifar100"),
    ("imbalance_factor", 0.5, ">= 1"),
    ("imbalance_factor", float("nan"), ">= 1"),
    ("imbalance_type", "linear", "exp, step"),
    ("model", "vgg16", "resnet32"),
    ("loss", "focal", "ce, bsce, la, ldam"),
    ("sampler", "square", "instance, balanced, reverse"),
    ("epochs", 0, ">= 1"),
    ("batch_size", -1, ">= 1"),
    ("lr", 0.0, "> 0"),
    ("weight_decay", -1e-4, ">= 0"),
    ("mixup_alpha", float("inf"), "finite"),
    ("lr_schedule", "step", "multistep, cosine"),
    ("warmup_epochs", 200, "0..199"),
    ("milestones", (180, 160), "increasing"),
    ("drw_epoch", 300, "0..199"),
    ("device", "tpu", "auto, cpu, cuda"),
    ("test_per_class", -2, ">= 0"),
    ("max_per_class", 5001, "0..5000"),
    ("max_per_class", 50, "leaves the smallest class empty"),
])
def test_every_field_is_validated_with_a_clear_message(field, value, allowed):
    with pytest.raises(ValueError) as caught:
        RunConfig(**{field: value})
    message = str(caught.value)
    assert message.startswith(f"{field}=") and repr(value) in message and allowed in message


def test_hash_is_stable_normalised_and_sensitive():
    a = RunConfig(imbalance_factor=100, milestones=[160, 180])
    assert a.hash() == RunConfig().hash() and len(a.hash()) == 12
    assert RunConfig(seed=1).hash() != a.hash()
    assert RunConfig(device="cpu").hash() == a.hash()  # the device does not change the maths


def test_fields_added_later_keep_the_hashes_of_earlier_configs():
    # hashes written by ltlib before max_per_class existed (commit 7f08cdd): their cache entries stay valid
    # (eval_every, added later too, is left out at its default 1; the paper profile itself now evaluates every 10th
    # epoch before the first decay, a new identity: nothing had been stored at paper scale)
    every = dict(eval_every=1)
    assert profile("paper", **every).hash() == "52f909a98647"
    assert stage_two_profile("paper", profile("paper", mixup_alpha=1.0, **every), h2t_p=0.25).hash() == "s2-46979a900030"
    assert "max_per_class" not in profile("paper").identity() and "eval_every" not in profile("quick").identity()
    assert profile("paper").identity()["eval_every"] == 10
    assert profile("quick").identity()["max_per_class"] == 300
    assert profile("paper", max_per_class=500).hash() != profile("paper").hash()


def test_roundtrip_and_unknown_fields():
    config = profile("quick", loss="bsce")
    assert RunConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown RunConfig fields \\['colour'\\]"):
        RunConfig.from_dict({"colour": "red"})


def test_profiles():
    quick, paper = profile("quick"), profile("paper")
    assert (paper.epochs, paper.milestones, paper.warmup_epochs, paper.test_per_class) == (200, (160, 180), 5, 0)
    assert quick.epochs < 10 and quick.device == "cpu" and (quick.max_per_class, quick.test_per_class) == (300, 30)
    assert profile("quick", seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        profile("huge")


def test_device_and_batch_size_are_checked_at_config_time():
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device='cuda' is not allowed; no CUDA device is available"):
            RunConfig(device="cuda")
    with pytest.raises(ValueError, match="batch_size=20000 is not allowed; must not exceed the cifar10-LT training set \\(12406"):
        RunConfig(batch_size=20000)
    assert RunConfig(dataset="cifar100", batch_size=10847).batch_size == 10847
