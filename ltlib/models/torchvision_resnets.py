"""torchvision ResNets with ltlib seams: ImageNet-LT and iNaturalist (ResNet-50, ResNeXt-50 32x4d),
Places-LT (ResNet-152 initialised from ImageNet weights).

Seams: ``stem`` (conv1, bn1, relu, maxpool), ``layer1`` .. ``layer4`` (``layer4`` is the pre-pool
map, ``(B, 2048, 7, 7)`` at 224 px), ``pooled`` ``(B, 2048)``. Initial weights, in this order of
preference: ``weights_file`` (a local torchvision state dict, e.g. ``resnet152-394f9c45.pth``; its 1000-way
``fc`` is dropped), else ``pretrained=True`` (torchvision downloads its ImageNet weights: internet).

Which ImageNet weights: torchvision's original ones, ``IMAGENET1K_V1`` (ResNet-152: 78.3 % top-1, the file
``resnet152-394f9c45.pth``). The peers' Places-LT code predates torchvision's second set of weights and loads its
original ResNet-152 (a MiSLAS-derived repository's ``models/resnet_places.py`` names ``resnet152-b121ed2d.pth``;
that the two files hold the same weights is not checked here). torchvision's ``DEFAULT`` is ``IMAGENET1K_V2``
(82.3 %, a longer recipe): another starting point, so ltlib names V1 rather than asking for the default.

**Extra block** (``extra_block=True``; MiSLAS's Places-LT stage I, which H2T's code inherits): the ImageNet
network is frozen (no gradient, its BatchNorm always in eval mode, whatever ``train()`` asks) and one new
``Bottleneck(2048, 512)`` block (torchvision's, 2048 channels in and out, identity shortcut) is appended after
``layer4`` as the stage ``block``; it and the classifier are all that train. Its seam ``block`` is then the
pre-pool map.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ltlib.checks import one_of
from ltlib.models.seams import SeamNet

ARCHITECTURES = ("resnet50", "resnext50_32x4d", "resnet152")
#: the torchvision ImageNet weights a pretrained model starts from (see the module docstring)
IMAGENET_WEIGHTS = "IMAGENET1K_V1"


def load_backbone_weights(net: nn.Module, weights_file) -> None:
    """Load a local torchvision state dict into ``net`` (all but ``fc``); clear errors when the file is
    missing or does not fit the architecture."""
    path = Path(weights_file).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet weights file {path} does not exist; name a local torchvision state dict "
                                "(e.g. from torchvision.models.ResNet152_Weights.IMAGENET1K_V1.url, fetched where "
                                "there is internet) or use pretrained=True to let torchvision download it")
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    expected = {k for k in net.state_dict() if not k.startswith("fc.")}
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise ValueError(f"{path} does not fit {type(net).__name__}: missing {missing[:4]}{'...' if len(missing) > 4 else ''}"
                         f", unexpected {unexpected[:4]}{'...' if len(unexpected) > 4 else ''}")
    net.load_state_dict(state, strict=False)


class TorchvisionResNet(SeamNet):
    def __init__(self, arch: str, num_classes: int, pretrained: bool = False, weights_file=None,
                 extra_block: bool = False):
        import torchvision

        one_of("torchvision architecture", arch, ARCHITECTURES)
        try:
            net = getattr(torchvision.models, arch)(weights=IMAGENET_WEIGHTS if pretrained and weights_file is None
                                                    else None)
        except OSError as error:  # no internet (URLError is an OSError), or a damaged download
            raise FileNotFoundError(f"could not download torchvision's ImageNet weights for {arch} ({error}); name a "
                                    "local state dict with --weights-file or LTLIB_WEIGHTS_FILE") from error
        if weights_file is not None:
            load_backbone_weights(net, weights_file)
        stages = [("stem", nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool))]
        stages += [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5)]
        self.frozen_stages: tuple[str, ...] = ()
        if extra_block:
            from torchvision.models.resnet import Bottleneck

            for _, stage in stages:
                stage.requires_grad_(False)
            self.frozen_stages = tuple(name for name, _ in stages)
            stages.append(("block", Bottleneck(net.fc.in_features, net.fc.in_features // Bottleneck.expansion)))
        super().__init__(stages, feature_dim=net.fc.in_features, num_classes=num_classes)

    def train(self, mode: bool = True) -> "TorchvisionResNet":
        """As ``nn.Module.train``, except that frozen stages (``extra_block``) stay in eval mode."""
        super().train(mode)
        for name in self.frozen_stages:
            self.stages[name].eval()
        return self
