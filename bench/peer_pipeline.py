"""The peers' data path, written here the way their code does it (for the benchmark only).

PIL images, ``torchvision.transforms`` (``RandomCrop(32, padding=4)``, ``RandomHorizontalFlip``,
``ToTensor``, ``Normalize``) in a ``Dataset``, a shuffling ``DataLoader``, eager fp32, mixup drawn on
the host per batch: the pipeline of LDAM-DRW / MiSLAS / H2T's stage I (FACTS.md).
"""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from ltlib.data.augment import CIFAR_MEAN, CIFAR_STD
from ltlib.models import build_model


class PeerDataset(torch.utils.data.Dataset):
    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        self.images = images.permute(0, 2, 3, 1).numpy()  # back to HWC uint8, as the peers store them
        self.labels = labels.numpy()
        self.transform = transforms.Compose([transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip(),
                                             transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def train_epochs(data, epochs: int, device, workers: int = 0, seed: int = 0, lr: float = 0.1, mixup_alpha: float = 1.0):
    """Peer-style CE + mixup training; returns (model, per-epoch train seconds)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    loader = torch.utils.data.DataLoader(PeerDataset(data.train_images, data.train_labels), batch_size=128,
                                         shuffle=True, num_workers=workers, drop_last=True,
                                         pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    model = build_model("resnet32", data.num_classes).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=2e-4)
    seconds = []
    for epoch in range(epochs):
        model.train()
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        for images, targets in loader:
            images, targets = images.to(device, non_blocking=True), targets.to(device, non_blocking=True)
            lam = float(rng.beta(mixup_alpha, mixup_alpha))
            index = torch.randperm(images.shape[0], device=device)
            logits = model(lam * images + (1 - lam) * images[index])
            loss = lam * F.cross_entropy(logits, targets) + (1 - lam) * F.cross_entropy(logits, targets[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return model, seconds
