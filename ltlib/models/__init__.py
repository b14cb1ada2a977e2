"""Models with named feature seams: ResNet-32 for CIFAR, torchvision ResNets for the large benchmarks."""
from __future__ import annotations

import os

from ltlib.checks import one_of
from ltlib.models.resnet_cifar import ResNetCifar, resnet32
from ltlib.models.seams import NormedLinear, SeamNet
from ltlib.models.torchvision_resnets import ARCHITECTURES as TORCHVISION_ARCHITECTURES
from ltlib.models.torchvision_resnets import TorchvisionResNet

MODELS = ("resnet32",) + TORCHVISION_ARCHITECTURES
#: initial weights of a run: '' (random initialisation) or 'imagenet' (torchvision's ImageNet weights)
PRETRAINED = ("", "imagenet")
WEIGHTS_ENV = "LTLIB_WEIGHTS_FILE"

__all__ = ["MODELS", "PRETRAINED", "ResNetCifar", "SeamNet", "NormedLinear", "TorchvisionResNet", "build_model",
           "resnet32"]


def build_model(name: str, num_classes: int, normed_classifier: bool = False, pretrained: str = "",
                weights_file=None, extra_block: bool = False) -> SeamNet:
    """A fresh model by name (``resnet32``, ``resnet50``, ``resnext50_32x4d``, ``resnet152``).

    ``pretrained='imagenet'`` starts a torchvision ResNet from ImageNet weights: the local state dict
    ``weights_file`` (else ``$LTLIB_WEIGHTS_FILE``), else torchvision's download (needs internet).
    ``extra_block``: that network frozen, one new trainable block after it (:mod:`ltlib.models.torchvision_resnets`).
    """
    one_of("pretrained", pretrained, PRETRAINED)
    if name == "resnet32":
        if pretrained or extra_block:
            raise ValueError(f"{'pretrained' if pretrained else 'extra_block'} is not allowed with resnet32; use a "
                             "torchvision model")
        model = resnet32(num_classes)
    elif name in TORCHVISION_ARCHITECTURES:
        weights_file = (weights_file or os.environ.get(WEIGHTS_ENV) or None) if pretrained else None
        model = TorchvisionResNet(name, num_classes, pretrained=bool(pretrained), weights_file=weights_file,
                                  extra_block=extra_block)
    else:
        one_of("model", name, MODELS)
    if normed_classifier:
        model.classifier = NormedLinear(model.feature_dim, num_classes)
    return model
