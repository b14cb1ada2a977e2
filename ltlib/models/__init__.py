"""Models with named feature seams: ResNet-32 for CIFAR, torchvision ResNets for the large benchmarks."""
from __future__ import annotations

from ltlib.checks import one_of
from ltlib.models.resnet_cifar import ResNetCifar, resnet32
from ltlib.models.seams import NormedLinear, SeamNet
from ltlib.models.torchvision_resnets import ARCHITECTURES as TORCHVISION_ARCHITECTURES
from ltlib.models.torchvision_resnets import TorchvisionResNet

MODELS = ("resnet32",) + TORCHVISION_ARCHITECTURES

__all__ = ["MODELS", "ResNetCifar", "SeamNet", "NormedLinear", "TorchvisionResNet", "build_model", "resnet32"]


def build_model(name: str, num_classes: int, normed_classifier: bool = False) -> SeamNet:
    """A fresh model by name (``resnet32``, ``resnet50``, ``resnext50_32x4d``, ``resnet152``)."""
    if name == "resnet32":
        model = resnet32(num_classes)
    elif name in TORCHVISION_ARCHITECTURES:
        model = TorchvisionResNet(name, num_classes)
    else:
        one_of("model", name, MODELS)
    if normed_classifier:
        model.classifier = NormedLinear(model.feature_dim, num_classes)
    return model
