"""The list-file benchmarks (ImageNet-LT, iNaturalist 2018, Places-LT) on a tiny benchmark written by the test:
clear errors for what is missing, streamed batches that do not depend on loader workers or process count,
SMART's block covariances, the large-scale recipes, and streamed training with mixup and CMO."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from listdata import write_list_benchmark
from ltlib.config import LARGE_PROFILES, large_profile, large_stage_two
from ltlib.data import DataError
from ltlib.data.streaming import Layout, class_names_from_paths, load_list_dataset
from ltlib.distributed import pooled_moments
from ltlib.methods.smart import SmartTransfer, batch_class_moments, covariance_shape
from ltlib.models import build_model


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_list_benchmark(tmp_path_factory.mktemp("lt") / "images")


def test_missing_folders_files_lines_and_images_are_named(images, tmp_path, monkeypatch):
    monkeypatch.delenv("LTLIB_IMAGES", raising=False)
    monkeypatch.delenv("LTLIB_LISTS", raising=False)
    with pytest.raises(DataError, match="LTLIB_IMAGES"):
        load_list_dataset("imagenet_lt")
    with pytest.raises(DataError, match="does not exist"):
        load_list_dataset("imagenet_lt", tmp_path / "nowhere")
    with pytest.raises(DataError, match="iNaturalist18_train.txt not found in .*--lists"):
        load_list_dataset("inat2018", images)
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "ImageNet_LT_train.txt").write_text("train/a.JPEG 0\nthis line has no label\n")
    (lists / "ImageNet_LT_test.txt").write_text("test/a.JPEG 0\n")
    with pytest.raises(DataError, match=r"ImageNet_LT_train.txt:2: expected 'relative/path label'"):
        load_list_dataset("imagenet_lt", images, lists)
    (lists / "ImageNet_LT_train.txt").write_text("train/missing.JPEG 0\n")
    data = load_list_dataset("imagenet_lt", images, lists, image_size=16, workers=0)
    stream = data.stream("main", torch.tensor([[0]]), Layout.whole(1), torch.Generator().manual_seed(0))
    with pytest.raises(DataError, match=r"train/missing.JPEG \(line 1 of the list\) does not exist"):
        stream[0]
    (lists / "ImageNet_LT_train.txt").write_text("train/a.JPEG 1000\n")
    with pytest.raises(DataError, match="1000 classes, but its training list holds label 1000"):
        load_list_dataset("imagenet_lt", images, lists)


def test_weights_files_and_pretrained_settings_give_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("LTLIB_WEIGHTS_FILE", str(tmp_path / "resnet152.pth"))
    with pytest.raises(FileNotFoundError, match="resnet152.pth does not exist"):
        build_model("resnet50", 4, pretrained="imagenet")
    with pytest.raises(ValueError, match="pretrained.*needs a torchvision model"):
        large_profile("places_lt", model="resnet32")
    with pytest.raises(ValueError, match="max_per_class.*fixed by the imagenet_lt list files"):
        large_profile("imagenet_lt", max_per_class=300)


def test_class_names_come_from_the_image_folders():
    paths = ["train/n01440764/x.JPEG", "train_val2018/Plantae/7477/y.jpg", "/a/airfield/00000001.jpg"]
    assert class_names_from_paths(paths, np.array([0, 1, 2]), 4) == ("n01440764", "Plantae/7477", "airfield",
                                                                      "class 3")


def test_streamed_batches_do_not_depend_on_workers_or_on_the_process_split(images):
    batches = torch.tensor([[0, 5, 17, 29], [3, 3, 20, 1]])

    def read(workers, layout, columns):
        data = load_list_dataset("imagenet_lt", images, image_size=16, workers=workers)
        stream = data.stream("main", batches[:, columns], layout, torch.Generator().manual_seed(3))
        return [stream[step] for step in range(2)]

    whole = read(0, Layout.whole(4), slice(None))
    assert whole[0][0].shape == (4, 3, 16, 16) and whole[0][1].tolist() == [0, 0, 1, 3]
    assert not torch.equal(whole[1][0][0], whole[1][0][1])  # the same image twice, augmented differently
    for step, (x, y) in enumerate(read(2, Layout.whole(4), slice(None))):
        torch.testing.assert_close(x, whole[step][0])
    ranks = [read(0, Layout(torch.arange(2 * r, 2 * r + 2), 4), slice(2 * r, 2 * r + 2)) for r in range(2)]
    for step in range(2):
        torch.testing.assert_close(torch.cat([ranks[0][step][0], ranks[1][step][0]]), whole[step][0])


def test_training_transform_jitters_colour_and_inaturalist_takes_its_own_normalisation():
    from PIL import Image

    from ltlib.data.lists import imagenet_transforms

    solid = Image.new("RGB", (40, 30), (200, 120, 40))  # crops and flips leave a solid image as it is

    def train(seed, dataset="imagenet_lt"):
        torch.manual_seed(seed)
        return imagenet_transforms(True, 16, dataset)(solid)

    assert torch.equal(train(1), train(1)) and not torch.allclose(train(1), train(2))  # the jitter, seeded
    assert train(1).std(dim=(1, 2)).max() < 1e-5  # ... and nothing that varies across the image
    pixel = torch.tensor([200, 120, 40]) / 255
    for dataset, mean, std in (("places_lt", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                               ("inat2018", (0.466, 0.471, 0.380), (0.195, 0.194, 0.192))):
        test = imagenet_transforms(False, 16, dataset)(solid)
        expected = (pixel - torch.tensor(mean)) / torch.tensor(std)
        torch.testing.assert_close(test[:, 8, 8], expected, atol=1e-3, rtol=0)


def random_maps(batch=12, channels=8, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(batch, channels, 3, 3, generator=generator) * 2 + 1, torch.randint(0, classes, (batch,),
                                                                                          generator=generator)


def test_block_covariances_are_the_diagonal_blocks_and_pool_exactly():
    features, labels = random_maps()
    _, _, full = batch_class_moments(features, labels, 3)
    counts, means, blocks = batch_class_moments(features, labels, 3, block=4)
    assert blocks.shape == (3, 2, 4, 4) == (3, *covariance_shape(8, 4))
    torch.testing.assert_close(blocks[:, 0], full[:, :4, :4])
    torch.testing.assert_close(blocks[:, 1], full[:, 4:, 4:])
    parts = [batch_class_moments(features[a:b], labels[a:b], 3, block=4) for a, b in ((0, 5), (5, 12))]
    pooled = pooled_moments(*(torch.stack(items) for items in zip(*parts)))
    for got, expected in zip(pooled, (counts, means, blocks)):
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_one_block_of_all_channels_is_the_full_smart_step():
    features, labels = random_maps(seed=1)
    outputs = []
    for block in (0, 8):
        transfer = SmartTransfer("s", [40, 30, 5], tau=2.0, head_rule="half", block=block)
        transfer.apply(features, labels, torch.ones(12, dtype=torch.bool),
                       transfer.draw_picks(labels, torch.Generator().manual_seed(0)))
        outputs.append((transfer.apply(features, labels, torch.ones(12, dtype=torch.bool),
                                       transfer.draw_picks(labels, torch.Generator().manual_seed(1))),
                        transfer.last_weights))
    torch.testing.assert_close(outputs[0][0], outputs[1][0])
    torch.testing.assert_close(outputs[0][1], outputs[1][1])
    blocked = SmartTransfer("s", [40, 30, 5], head_rule="half", block=2)
    augmented = blocked.apply(features, labels, torch.ones(12, dtype=torch.bool),
                              blocked.draw_picks(labels, torch.Generator().manual_seed(0)))
    assert augmented.shape == features.shape and torch.isfinite(augmented).all()
    assert blocked.statistics.covariance.shape == (3, 4, 2, 2)
    with pytest.raises(ValueError, match="smart_block.*divisor of the 8 channels"):
        bad = SmartTransfer("s", [40, 30, 5], head_rule="half", block=3)
        bad.apply(features, labels, torch.ones(12, dtype=torch.bool), bad.draw_picks(labels, torch.Generator()))


def test_large_recipes_follow_the_papers_stated_settings():
    smart = large_profile("imagenet_lt", "smart")
    assert (smart.model, smart.epochs, smart.milestones, smart.lr, smart.weight_decay) == (
        "resnet50", 100, (60, 80), 0.1, 2e-4)
    assert large_profile("inat2018").milestones == (75, 160) and large_profile("places_lt").pretrained == "imagenet"
    h2t = large_profile("places_lt", "h2t")
    assert (h2t.epochs, h2t.lr_schedule, h2t.mixup_alpha, h2t.weight_decay) == (90, "cosine", 0.2, 5e-4)
    assert large_profile("imagenet_lt", "h2t", "quick").epochs == 2
    assert large_stage_two(h2t).h2t_p == 0.3 and large_stage_two(h2t).epochs == 10
    assert len({large_profile(d, r).hash() for d, r in LARGE_PROFILES}) == 6
    # 2048 x 2048 covariances of 1000 classes take 16.8 GB in float32; blocks of 128 channels 1.05 GB
    assert 1000 * np.prod(covariance_shape(2048, 128)) * 4 == 1_048_576_000


@pytest.mark.parametrize("recipe,changes", [("h2t", {}), ("smart", {"method": "cmo", "cmo_skip_epochs": 0,
                                                                  "cmo_prob": 1.0})])
def test_streamed_training_with_mixup_and_cmo(images, recipe, changes):
    from ltlib.train import train_stage_one

    config = large_profile("imagenet_lt", recipe, "quick", model="resnet32", image_size=16, batch_size=8, epochs=1,
                           device="cpu", **changes)
    data = load_list_dataset("imagenet_lt", images, image_size=16, workers=0)
    output = train_stage_one(config, data, progress=False)
    assert np.isfinite(output.history.loss).all() and output.metrics["test_images"] == 12
    assert output.metrics["final"]["splits"]["few_classes"] == 4  # every tiny class has < 20 images


def test_the_colour_jitter_has_brightness_contrast_and_saturation_0_4_and_no_hue():
    from PIL import Image

    from ltlib.data.lists import NORMALISATION, imagenet_transforms

    mean, std = (torch.tensor(v)[:, None, None] for v in NORMALISATION["default"])

    def pixels(colour, seed):  # the jittered solid image's one colour, 0..255
        torch.manual_seed(seed)
        image = imagenet_transforms(True, 16)(Image.new("RGB", (40, 30), colour))
        return ((image * std + mean) * 255)[:, 8, 8]

    # grey: contrast and saturation blend it with itself, so only brightness moves it, by a factor in [0.6, 1.4]
    grey = torch.stack([pixels((128, 128, 128), seed)[0] / 128 for seed in range(300)])
    assert grey.min() > 0.6 - 0.01 and grey.max() < 1.4 + 0.01 and grey.min() < 0.63 and grey.max() > 1.37
    # a colour: brightness, contrast and saturation each scale the channel differences by their factor, so
    # (R - B) moves by their product, beyond brightness's [0.6, 1.4]; a hue shift would reorder the channels
    coloured = torch.stack([pixels((100, 60, 20), seed) for seed in range(300)])
    assert (coloured[:, 0] > coloured[:, 1]).all() and (coloured[:, 1] >= coloured[:, 2]).all()
    spread = (coloured[:, 0] - coloured[:, 2]) / 80
    assert spread.min() < 0.5 and spread.max() > 1.6
