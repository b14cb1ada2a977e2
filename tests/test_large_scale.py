"""The list-file benchmarks (ImageNet-LT, iNaturalist 2018, Places-LT) on a tiny benchmark written by the test:
clear errors for what is missing, streamed batches that do not depend on loader workers or process count,
SMART's block covariances, the large-scale recipes, and streamed training with mixup and CMO."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from listdata import write_list_benchmark
from ltlib.config import RunConfig
from ltlib.recipes import LARGE_PROFILES, large_profile, large_stage_two
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


def test_the_download_asks_torchvision_for_its_original_imagenet_weights(monkeypatch):
    """V1, the file the README names and the peers' Places-LT code loads; torchvision's DEFAULT (V2) is another
    starting point. The download itself is replaced: the test records what is asked for."""
    import torchvision

    asked = []
    real = torchvision.models.resnet152
    monkeypatch.delenv("LTLIB_WEIGHTS_FILE", raising=False)
    monkeypatch.setattr(torchvision.models, "resnet152", lambda weights=None: asked.append(weights) or real())
    build_model("resnet152", 4, pretrained="imagenet")
    assert asked == ["IMAGENET1K_V1"]
    weights = torchvision.models.ResNet152_Weights[asked[0]]
    assert weights.url.endswith("resnet152-394f9c45.pth") and weights != torchvision.models.ResNet152_Weights.DEFAULT


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


#: every large recipe, transcribed from its source: SMART §4.1 ("For ImageNet-LT, we utilize ResNet-50 ... 100 epochs
#: ... decayed at the 60th and 80th epochs by 0.1 ... ResNet-50 is used for iNaturalist 2018, while for Places-LT,
#: we utilize the ResNet-152 pre-trained on imageNet ... 200 epochs ... at epochs 75 and 160 by 0.1 ... momentum of
#: 0.9 and weight decay of 2x10^-4"; batch not stated: 256); H2T stage I = MiSLAS's stage-1 YAML files
#: (imagenet_resnet50 / ina2018_resnet50 / places_resnet152_stage1_mixup.yaml: lr 0.1, batch_size 256, cos True,
#: mixup True, alpha 0.2, weight_decay 5e-4 / 1e-4 / 5e-4, num_epochs 180 / 200 / 90)
RECIPE_TABLE = {
    ("imagenet_lt", "smart"): ("resnet50", "", 100, "multistep", (60, 80), 2e-4, 0.0),
    ("inat2018", "smart"): ("resnet50", "", 200, "multistep", (75, 160), 2e-4, 0.0),
    ("places_lt", "smart"): ("resnet152", "imagenet", 200, "multistep", (75, 160), 2e-4, 0.0),
    ("imagenet_lt", "h2t"): ("resnet50", "", 180, "cosine", (), 5e-4, 0.2),
    ("inat2018", "h2t"): ("resnet50", "", 200, "cosine", (), 1e-4, 0.2),
    ("places_lt", "h2t"): ("resnet152", "imagenet", 90, "cosine", (), 5e-4, 0.2),
}
#: MiSLAS's train_stage1.py on Places: ``model.eval()`` under ``torch.no_grad()``, then a new
#: ``Bottleneck(2048, 512)`` block and the classifier, the optimiser's only parameters
EXTRA_BLOCK = {("places_lt", "h2t")}


@pytest.mark.parametrize("dataset, recipe", sorted(RECIPE_TABLE))
def test_large_recipes_follow_their_sources(dataset, recipe):
    config = large_profile(dataset, recipe)
    model, pretrained, epochs, schedule, milestones, weight_decay, mixup = RECIPE_TABLE[(dataset, recipe)]
    assert (config.model, config.pretrained, config.epochs, config.lr_schedule, config.milestones,
            config.weight_decay, config.mixup_alpha) == (model, pretrained, epochs, schedule, milestones, weight_decay,
                                                         mixup)
    assert (config.lr, config.momentum, config.batch_size, config.warmup_epochs) == (0.1, 0.9, 256, 0)
    assert schedule == "cosine" or config.gamma == 0.1
    assert config.dataset == dataset and (config.smart_block == 128) == (recipe == "smart")
    assert config.extra_block == ((dataset, recipe) in EXTRA_BLOCK)


@pytest.mark.parametrize("dataset, weight_decay", [("imagenet_lt", 5e-4), ("inat2018", 1e-4), ("places_lt", 5e-4)])
def test_large_stage_two_follows_h2t_and_mislas_stage_two(dataset, weight_decay):
    """H2T §4.2 "Stage II is trained with 10 epochs"; MiSLAS's stage-2 YAML files: the classifier's rate 0.1 x
    lr_factor 0.05 = 0.005, cosine, batch 256, their weight decay; p = 0.3, H2T's Listing 1 default."""
    stage1 = large_profile(dataset, "h2t")
    stage2 = large_stage_two(stage1)
    assert (stage2.epochs, stage2.lr, stage2.batch_size, stage2.h2t_p) == (10, 0.005, 256, 0.3)
    assert stage2.effective_weight_decay == weight_decay
    assert stage2.replace(weight_decay=0.0).effective_weight_decay == weight_decay  # 0 = "H2T's": MiSLAS's, not CIFAR's
    assert large_stage_two(large_profile(dataset, "h2t", "quick")).epochs == 1
    with pytest.raises(ValueError, match="large_stage_two's stage-I dataset 'cifar10'; allowed: imagenet_lt"):
        large_stage_two(RunConfig())


def test_large_recipes_are_distinct_and_smart_s_blocks_fit_in_memory():
    assert large_profile("imagenet_lt", "h2t", "quick").epochs == 2
    assert len({large_profile(d, r).hash() for d, r in LARGE_PROFILES}) == 6 == len(RECIPE_TABLE)
    # 2048 x 2048 covariances of 1000 classes take 16.8 GB in float32; blocks of 128 channels 1.05 GB
    assert 1000 * np.prod(covariance_shape(2048, 128)) * 4 == 1_048_576_000


def test_mislas_ranges_cut_the_classes_ranked_by_count():
    """ImageNet-LT / iNaturalist / Places-LT report by MiSLAS's index ranges after relabelling the classes by
    decreasing count; here a shuffled Places-LT-sized class list with ties, ranked by hand."""
    from ltlib.data.longtail import class_splits

    rng = np.random.default_rng(0)
    counts = rng.integers(5, 40, 365) * 100 // rng.integers(1, 30, 365)
    ranked = sorted(range(365), key=lambda c: (-counts[c], c))
    splits = class_splits(counts, "ranges")
    assert splits.many == tuple(sorted(ranked[:131])) and splits.medium == tuple(sorted(ranked[131:288]))
    assert splits.few == tuple(sorted(ranked[288:])) and "ranks [0,131)" in splits.rule
    assert [len(class_splits(np.ones(k), "ranges").many) for k in (1000, 8142)] == [390, 842]
    assert class_splits(counts, "ranges", "places_lt") == splits
    with pytest.raises(ValueError, match="'ranges' of imagenet_lt cuts its 1000 classes; these counts hold 365"):
        class_splits(counts, "ranges", "imagenet_lt")
    with pytest.raises(ValueError, match=r"this dataset \(svhn_lt\) has 365"):
        class_splits(counts, "ranges", "svhn_lt")


def test_a_partial_training_list_says_so_in_the_data_source(tmp_path):
    data = load_list_dataset("imagenet_lt", write_list_benchmark(tmp_path / "lt"))
    assert data.source.endswith("a partial list: 4 of its 1000 classes)")
    with pytest.raises(ValueError, match="a partial list"):  # MiSLAS's ranges need the whole benchmark
        data.splits("ranges")


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


def test_the_extra_block_trains_alone_on_a_frozen_imagenet_network(images, tmp_path, monkeypatch):
    """MiSLAS's Places-LT stage I: the ImageNet network keeps every weight and BatchNorm statistic, one new
    Bottleneck block and the classifier learn; stage II then leaves the network and the block's weights alone; a
    stored run loads back with its block."""
    import torchvision

    from ltlib.results import save_result
    from ltlib.train import train_stage_one, train_stage_two

    weights = tmp_path / "resnet50.pth"
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet50().state_dict(), weights)  # stands for the ImageNet file
    monkeypatch.setenv("LTLIB_WEIGHTS_FILE", str(weights))
    imagenet = {k: v for k, v in torch.load(weights, weights_only=True).items() if not k.startswith("fc.")}
    config = large_profile("imagenet_lt", "h2t", "quick", model="resnet50", pretrained="imagenet", extra_block=True,
                           image_size=32, batch_size=8, epochs=1, device="cpu")
    data = load_list_dataset("imagenet_lt", images, image_size=32, workers=0)
    output = train_stage_one(config, data, progress=False)
    model = output.model
    assert model.seams[-2:] == ("block", "pooled") and model.prepool_seam == "block"
    model.train()
    assert not any(model.stages[name].training for name in model.frozen_stages) and model.stages["block"].training
    state = model.state_dict()
    renamed = {name: f"stages.{'stem.' + {'conv1': '0', 'bn1': '1'}[name.split('.')[0]] + name[name.index('.'):]}"
               if name.split(".")[0] in ("conv1", "bn1") else f"stages.{name}" for name in imagenet}
    for name, value in imagenet.items():  # weights and BatchNorm buffers alike
        assert torch.equal(state[renamed[name]], value), name
    fresh = build_model("resnet50", data.num_classes, extra_block=True)
    assert any(not torch.equal(state[k], v) for k, v in fresh.state_dict().items() if k.startswith("stages.block."))
    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(name.startswith(("stages.block.", "classifier.")) for name in trainable)
    stage2 = train_stage_two(large_stage_two(config, batch_size=8), data, copy.deepcopy(model), progress=False).model
    statistics = ("running_mean", "running_var", "num_batches_tracked")
    for name, value in stage2.state_dict().items():  # only the block's BatchNorm statistics may move (bn_train)
        if name.startswith("stages.") and not (name.startswith("stages.block.") and name.endswith(statistics)):
            assert torch.equal(value, state[name]), name
    loaded = save_result(config, model, output.metrics, tmp_path / "cache").load_model()
    assert all(torch.equal(value, state[name]) for name, value in loaded.state_dict().items())
    with pytest.raises(ValueError, match="extra_block=True is not allowed.*needs pretrained='imagenet'"):
        large_profile("imagenet_lt", "h2t", extra_block=True)
    with pytest.raises(ValueError, match="extra_block=True is not allowed.*with method='smart'"):
        large_profile("places_lt", "h2t", method="smart")


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
