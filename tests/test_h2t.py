"""H2T fusion (Eq. 1), channel selection (Table 7) and stage II's freezing guarantees."""
from __future__ import annotations

import copy
import functools
import math

import pytest
import torch

from ltlib.data.augment import normalize
from ltlib.data.streaming import Layout

from ltlib.config import RunConfig, StageTwoConfig
from ltlib.methods.h2t import StageTwoObjective, fused_pooled_features, fusion_channels
from ltlib.train import seeded_generator, train_stage_one, train_stage_two
from test_train import tiny_config, tiny_data


@pytest.mark.parametrize("selection, expected", [("first", [0, 1, 2]), ("middle", [3, 4, 5]), ("last", [7, 8, 9])])
def test_sequential_selections_pick_the_documented_channels(selection, expected):
    channels = fusion_channels(0.3, 10, selection, torch.Generator())
    assert channels.tolist() == expected


def test_random_selection_differs_between_batches_and_bad_values_are_named():
    generator = torch.Generator().manual_seed(0)
    draws = {tuple(sorted(fusion_channels(0.25, 64, "random", generator).tolist())) for _ in range(5)}
    assert len(draws) == 5
    with pytest.raises(ValueError, match="h2t_p=1.5"):
        fusion_channels(1.5, 64, "random", generator)
    with pytest.raises(ValueError, match="h2t_selection='odd'"):
        fusion_channels(0.5, 64, "odd", generator)
    with pytest.raises(ValueError, match="h2t_p=-0.1 is not allowed"):
        StageTwoConfig(h2t_p=-0.1)


@functools.cache
def _trained_stage_one():
    return train_stage_one(tiny_config(epochs=2), tiny_data(), progress=False).model


def stage_one_model():
    """The tiny 2-epoch stage I, trained once per test session; each test gets its own copy to change."""
    return copy.deepcopy(_trained_stage_one())


def test_targets_are_the_fused_branch_labels():
    data = tiny_data()
    config = StageTwoConfig(stage1=tiny_config(), h2t_p=0.5, batch_size=8, device="cpu", epochs=1)
    model = stage_one_model()
    objective = StageTwoObjective(config, data, model, seeded_generator(0, torch.device("cpu")), "layer3")
    objective.start_epoch(0)
    inputs = objective.step_inputs(0, 0)
    assert torch.equal(inputs["targets"], data.train_labels[objective.batches[0]])
    assert torch.equal(inputs["fusing"]["targets"], data.train_labels[objective.fusing[0]])
    assert not torch.equal(objective.batches[0], objective.fusing[0])
    assert inputs["channels"].dtype == torch.bool and int(inputs["channels"].sum()) == int(0.5 * 64)
    assert torch.isfinite(objective.compute(inputs))


@pytest.mark.parametrize("bn_train", [True, False])
def test_stage_two_changes_only_the_classifier(bn_train):
    model = stage_one_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = StageTwoConfig(stage1=tiny_config(), h2t_p=0.25, batch_size=8, device="cpu", epochs=2, bn_train=bn_train)
    output = train_stage_two(config, tiny_data(), model, progress=False)
    after = output.model.state_dict()
    parameters = {name for name, _ in output.model.named_parameters()}
    for name, value in after.items():
        if name.startswith("classifier."):
            assert not torch.equal(value, before[name]), f"{name} did not train"
        elif name in parameters:
            assert torch.equal(value, before[name]), f"backbone parameter {name} changed"
        elif "running" in name or "num_batches" in name:
            assert torch.equal(value, before[name]) != bn_train, f"{name}: bn_train={bn_train}"
    assert all(math.isfinite(v) for v in output.metrics["history"]["loss"])


def test_feature_bank_is_used_when_maps_cannot_change():
    model = stage_one_model()
    config = StageTwoConfig(stage1=tiny_config(), h2t_p=0.25, batch_size=8, device="cpu", epochs=1,
                            bn_train=False, augment=False)
    data = tiny_data()
    objective = StageTwoObjective(config, data, model.eval(), seeded_generator(0, torch.device("cpu")), "layer3")
    indices = torch.tensor([0, 5, 7])
    stream = objective.open_stream("main", indices[None], Layout.whole(3))
    first = objective.backbone_map(objective.branch_inputs(stream, indices, 0))
    assert objective.feature_bank is not None and objective.feature_bank.shape[0] == data.train_labels.numel()
    torch.testing.assert_close(first, objective.backbone_map(objective.branch_inputs(stream, indices, 0)))
    with torch.no_grad():  # the bank holds the plain (unaugmented) images' maps
        torch.testing.assert_close(first, model.forward_to(normalize(data.train_images[indices]), "layer3"))


def test_stage_two_config_hash_names_its_stage_one():
    a = StageTwoConfig(stage1=RunConfig(seed=0), h2t_p=0.25)
    b = StageTwoConfig(stage1=RunConfig(seed=1), h2t_p=0.25)
    assert a.hash() != b.hash() and a.hash().startswith("s2-")
    assert a.identity()["stage1"] == RunConfig(seed=0).identity()
    assert StageTwoConfig(stage1=RunConfig(imbalance_factor=100)).effective_weight_decay == 5e-4
    assert StageTwoConfig(stage1=RunConfig(imbalance_factor=50)).effective_weight_decay == 2e-4


def test_fused_pooled_features_fuse_only_at_positive_p_and_restore_the_mode():
    data, model = tiny_data(), stage_one_model()
    model.train()
    runs = {p: fused_pooled_features(model, data, StageTwoConfig(stage1=tiny_config(), h2t_p=p, batch_size=8), 2,
                                     torch.Generator().manual_seed(0)) for p in (0.0, 0.5)}
    assert model.training  # Fig. 5 / 11 helpers leave a training model training
    (plain, labels, predictions), (fused, fused_labels, _) = runs[0.0], runs[0.5]
    assert plain.shape == (16, 64) and torch.equal(labels, fused_labels)  # the same balanced batches
    model.eval()
    with torch.no_grad():
        logits = model.classifier(plain)
    assert torch.equal(predictions, logits.argmax(1))
    assert not torch.allclose(plain, fused)  # p = 0.5 replaced half of the channels before pooling
