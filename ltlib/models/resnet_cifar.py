"""ResNet-32 for CIFAR (He et al. 2016, §4.2) with named feature seams.

Architecture as in every CIFAR-LT peer: a 3x3 conv to 16 channels + BN + ReLU (the stem),
three stages of 5 BasicBlocks with 16/32/64 channels and strides 1/2/2, option-A shortcuts
(strided identity, zero-padded channels), global average pooling, ``Linear(64, C)``.
Kaiming-normal init for conv and linear weights. 0.46M parameters for C = 100.

Seams (see :class:`ltlib.models.seams.SeamNet`): ``stem`` ``(B,16,32,32)``, ``layer1``
``(B,16,32,32)``, ``layer2`` ``(B,32,16,16)``, ``layer3`` ``(B,64,8,8)`` = the pre-pool map,
``pooled`` ``(B,64)``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ltlib.models.seams import SeamNet


class OptionAShortcut(nn.Module):
    """Identity shortcut for a change of shape: subsample by 2, zero-pad the new channels."""

    def __init__(self, extra_channels: int):
        super().__init__()
        self.pad = extra_channels // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        changes_shape = stride != 1 or in_channels != channels
        self.shortcut = OptionAShortcut(channels - in_channels) if changes_shape else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def _stage(in_channels: int, channels: int, blocks: int, stride: int) -> nn.Sequential:
    layers = [BasicBlock(in_channels, channels, stride)]
    layers += [BasicBlock(channels, channels, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class ResNetCifar(SeamNet):
    """CIFAR ResNet of depth ``6n + 2`` (n = 5 gives ResNet-32)."""

    def __init__(self, num_classes: int, blocks_per_stage: int = 5):
        stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(inplace=True))
        stages = [
            ("stem", stem),
            ("layer1", _stage(16, 16, blocks_per_stage, 1)),
            ("layer2", _stage(16, 32, blocks_per_stage, 2)),
            ("layer3", _stage(32, 64, blocks_per_stage, 2)),
        ]
        super().__init__(stages, feature_dim=64, num_classes=num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight)


def resnet32(num_classes: int) -> ResNetCifar:
    return ResNetCifar(num_classes, blocks_per_stage=5)
