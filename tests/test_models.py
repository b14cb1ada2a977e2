"""ResNet-32 architecture, parameter count and the seam protocol."""
from __future__ import annotations

import pytest
import torch

from ltlib.models import build_model
from ltlib.models.resnet_cifar import OptionAShortcut


def test_resnet32_parameter_count():
    # 0.46M: 464,154 trainable parameters for 10 classes, 470,004 for 100 (+ 64*90 + 90)
    assert sum(p.numel() for p in build_model("resnet32", 10).parameters()) == 464154
    assert sum(p.numel() for p in build_model("resnet32", 100).parameters()) == 470004


def test_resnet32_structure():
    model = build_model("resnet32", 10)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 31 and convs[0].out_channels == 16  # 1 stem + 3 stages x 5 blocks x 2
    assert [len(model.stages[f"layer{i}"]) for i in (1, 2, 3)] == [5, 5, 5]


def test_seam_shapes_and_split_forward_equals_forward():
    torch.manual_seed(0)
    model = build_model("resnet32", 10).eval()
    x = torch.randn(4, 3, 32, 32)
    shapes = {s: tuple(model.forward_to(x, s).shape) for s in model.seams}
    assert shapes == {"stem": (4, 16, 32, 32), "layer1": (4, 16, 32, 32), "layer2": (4, 32, 16, 16),
                      "layer3": (4, 64, 8, 8), "pooled": (4, 64)}
    assert model.prepool_seam == "layer3"
    full = model(x)
    for seam in model.seams:
        torch.testing.assert_close(model.forward_from(model.forward_to(x, seam), seam), full)


def test_hook_sees_every_seam_and_can_replace_activations():
    model = build_model("resnet32", 10).eval()
    seen = []
    x = torch.randn(2, 3, 32, 32)
    identity = model(x, hook=lambda name, h: seen.append(name) or h)
    assert seen == list(model.seams)
    torch.testing.assert_close(identity, model(x))
    zeroed = model(x, hook=lambda name, h: torch.zeros_like(h) if name == "pooled" else h)
    torch.testing.assert_close(zeroed, model.classifier.bias.expand(2, 10))


def test_option_a_shortcut_subsamples_and_zero_pads():
    x = torch.randn(2, 16, 8, 8)
    out = OptionAShortcut(16)(x)
    assert out.shape == (2, 32, 4, 4)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and (out[:, :8] == 0).all() and (out[:, 24:] == 0).all()


def test_torchvision_resnet50_has_the_same_seams():
    model = build_model("resnet50", 7).eval()
    x = torch.randn(1, 3, 64, 64)
    assert model.seams == ("stem", "layer1", "layer2", "layer3", "layer4", "pooled")
    assert model.forward_to(x, "layer4").shape == (1, 2048, 2, 2) and model(x).shape == (1, 7)


def test_unknown_model_and_seam():
    with pytest.raises(ValueError, match="unknown model 'vgg'"):
        build_model("vgg", 10)
    with pytest.raises(ValueError, match="unknown seam 'layer9'"):
        build_model("resnet32", 10).forward_to(torch.randn(1, 3, 32, 32), "layer9")


def test_forward_from_can_stop_at_a_later_seam():
    model = build_model("resnet32", 10).eval()
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model.forward_from(model.forward_to(x, "layer3"), "layer3", until="pooled"),
                               model.features(x))


def test_imagenet_weights_come_from_a_local_file_with_clear_errors(tmp_path):
    import torchvision

    from ltlib.models.torchvision_resnets import TorchvisionResNet

    torch.manual_seed(1)
    source = torchvision.models.resnet50(weights=None)
    torch.save(source.state_dict(), tmp_path / "resnet50.pth")
    model = TorchvisionResNet("resnet50", 7, weights_file=tmp_path / "resnet50.pth")
    torch.testing.assert_close(model.stages["layer4"][2].conv3.weight, source.layer4[2].conv3.weight)
    assert model.classifier.out_features == 7  # the 1000-way fc is not taken
    with pytest.raises(FileNotFoundError, match="ImageNet weights file .*nowhere.pth does not exist"):
        TorchvisionResNet("resnet152", 7, weights_file=tmp_path / "nowhere.pth")
    torch.save({"conv1.weight": source.conv1.weight}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="partial.pth does not fit ResNet: missing"):
        TorchvisionResNet("resnet50", 7, weights_file=tmp_path / "partial.pth")
    assert build_model("resnext50_32x4d", 5).seams[-2] == "layer4"


def test_the_cosine_classifier_starts_with_unit_norm_class_vectors_as_ldam_drw():
    from ltlib.models.seams import NormedLinear

    torch.manual_seed(0)
    head = NormedLinear(64, 100)
    norms = head.weight.norm(dim=1)
    torch.testing.assert_close(norms, torch.ones(100), atol=1e-5, rtol=0)
    assert head.weight.abs().max() <= 1.0 and head.weight.min() < 0 < head.weight.max()
    default = torch.nn.init.kaiming_normal_(torch.empty(100, 64)).norm(dim=1)
    assert default.mean() > 1.3  # what the head started with before: the cosine head's gradient ~ 1 / ||w||
