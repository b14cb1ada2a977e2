"""torchvision ResNets (ImageNet-LT, iNaturalist: ResNet-50; Places-LT: ResNet-152) with ltlib seams.

Seams: ``stem`` (conv1, bn1, relu, maxpool), ``layer1`` .. ``layer4`` (``layer4`` is the pre-pool
map, ``(B, 2048, 7, 7)`` at 224 px), ``pooled`` ``(B, 2048)``. ``pretrained=True`` loads
torchvision's ImageNet weights (downloaded by torchvision; Places-LT starts from them).
"""
from __future__ import annotations

from torch import nn

from ltlib.checks import one_of
from ltlib.models.seams import SeamNet

ARCHITECTURES = ("resnet50", "resnet152")


class TorchvisionResNet(SeamNet):
    def __init__(self, arch: str, num_classes: int, pretrained: bool = False):
        import torchvision

        one_of("torchvision architecture", arch, ARCHITECTURES)
        weights = "DEFAULT" if pretrained else None
        net = getattr(torchvision.models, arch)(weights=weights)
        stages = [("stem", nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool))]
        stages += [(f"layer{i}", getattr(net, f"layer{i}")) for i in range(1, 5)]
        super().__init__(stages, feature_dim=net.fc.in_features, num_classes=num_classes)
