"""The tensor data path and the peers' PIL/torchvision path agree exactly on the same inputs."""
from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

from ltlib.data.augment import CIFAR_MEAN, CIFAR_STD, crop_flip_with, normalize
from ltlib.models import build_model

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))


def test_same_images_and_weights_give_the_same_loss_at_float32():
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 10, (8,), generator=generator)
    offsets = torch.randint(0, 9, (8, 2), generator=generator)
    flips = torch.rand(8, generator=generator) < 0.5
    ours = normalize(crop_flip_with(images, offsets, flips))
    peer = []
    to_tensor = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR_MEAN, CIFAR_STD)])
    for i in range(8):
        picture = transforms.Pad(4)(Image.fromarray(images[i].permute(1, 2, 0).numpy()))
        picture = picture.crop((int(offsets[i, 1]), int(offsets[i, 0]), int(offsets[i, 1]) + 32, int(offsets[i, 0]) + 32))
        if flips[i]:
            picture = picture.transpose(Image.FLIP_LEFT_RIGHT)
        peer.append(to_tensor(picture))
    peer = torch.stack(peer)
    torch.testing.assert_close(ours, peer, atol=1e-6, rtol=1e-6)
    torch.manual_seed(0)
    model = build_model("resnet32", 10).eval()
    with torch.no_grad():
        torch.testing.assert_close(F.cross_entropy(model(ours), labels), F.cross_entropy(model(peer), labels))


def test_peer_dataset_yields_normalised_augmented_tensors():
    from peer_pipeline import PeerDataset

    dataset = PeerDataset(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), torch.tensor([0, 1, 2, 3]))
    image, label = dataset[2]
    assert image.shape == (3, 32, 32) and image.dtype == torch.float32 and label == 2
