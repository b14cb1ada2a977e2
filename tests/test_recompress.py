"""JPEG re-encoding and chroma pooling, the data-sensitivity diagnostic's operations: what they do to pixels, PSNR and
the error's Y / Cb / Cr shares against hand computations, what they find in the real copy, and how they enter the
long-tailed data, a run's identity and the CPU plan."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ltlib.config import RunConfig
from ltlib.data import load_long_tailed_cifar
from ltlib.data.recompress import (YCBCR, check_chroma_block, check_jpeg_quality, chroma_pool, error_shares,
                                   jpeg_reencode, median_psnr, psnr)


def smooth_images(count: int = 12, seed: int = 0) -> np.ndarray:
    """Photograph-like test images: colour gradients with a little noise (JPEG's regime, unlike pure noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:32] / 31
    ramp = rng.random((count, 1, 1, 3)) * 200 * x[None, :, :, None] + rng.random((count, 1, 1, 3)) * 55 * y[None, :, :, None]
    return np.clip(ramp + rng.normal(0, 2, ramp.shape), 0, 255).astype(np.uint8)


def test_psnr_is_the_peak_over_the_mean_squared_error_image_by_image():
    reference = np.full((3, 4, 4, 3), 100, dtype=np.uint8)
    images = reference.copy()
    images[0] += 1  # MSE 1
    images[1, :2] += 10  # half the pixels off by 10: MSE 50
    values = psnr(reference, images)
    assert values[0] == pytest.approx(20 * np.log10(255)) and values[1] == pytest.approx(10 * np.log10(255 ** 2 / 50))
    assert values[2] == np.inf  # unchanged
    assert median_psnr(reference, images) == pytest.approx(10 * np.log10(255 ** 2 / 1))
    with pytest.raises(ValueError, match="must have the reference's shape"):
        psnr(reference, images[:2])


def test_re_encoding_is_pillows_jpeg_round_trip_image_by_image_and_deterministic():
    images = smooth_images()
    out = jpeg_reencode(images, 55)
    assert out.shape == images.shape and out.dtype == np.uint8
    for image, got in zip(images, out):  # each image on its own, with a fresh buffer
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=55)
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")), got)
    assert np.array_equal(jpeg_reencode(images, 55), out)


def test_a_lower_quality_moves_the_pixels_further():
    images = smooth_images()
    distances = [median_psnr(images, jpeg_reencode(images, quality)) for quality in (95, 75, 55, 30, 10)]
    assert distances == sorted(distances, reverse=True) and distances[-1] < distances[0] - 10


@pytest.mark.parametrize("bad", [96, -1, 55.0, True, "55"])
def test_a_quality_outside_1_to_95_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=f"jpeg_quality={bad!r} is not allowed; must be 0 .* or a JPEG quality in 1..95"):
        check_jpeg_quality(bad)
    with pytest.raises(ValueError, match="jpeg_quality"):
        RunConfig(jpeg_quality=bad)
    assert check_jpeg_quality(0) == 0 and check_jpeg_quality(95) == 95


@pytest.mark.parametrize("field, value, other", [("jpeg_quality", 55, 30), ("chroma_block", 4, 2)])
def test_a_change_of_the_data_names_a_new_run_and_leaves_every_earlier_identity_alone(field, value, other):
    plain = RunConfig()
    assert field not in plain.identity() and RunConfig(**{field: 0}).hash() == plain.hash()
    assert len({plain.hash(), RunConfig(**{field: value}).hash(), RunConfig(**{field: other}).hash()}) == 3
    with pytest.raises(ValueError, match=f"{field}={value} is not allowed; must be 0 for imagenet_lt"):
        RunConfig(dataset="imagenet_lt", **{field: value})


def test_the_long_tailed_data_re_encodes_training_and_test_images_and_says_so(cifar100_official):
    common = dict(root=cifar100_official, max_per_class=20, test_per_class=2)
    plain = load_long_tailed_cifar("cifar100", 10, **common)
    coded = load_long_tailed_cifar("cifar100", 10, jpeg_quality=30, **common)
    assert coded.class_counts == plain.class_counts
    for split in ("train", "test"):
        assert np.array_equal(getattr(coded, f"{split}_labels"), getattr(plain, f"{split}_labels"))
        before = getattr(plain, f"{split}_images").numpy().transpose(0, 2, 3, 1)
        after = getattr(coded, f"{split}_images").numpy().transpose(0, 2, 3, 1)
        assert np.array_equal(after, jpeg_reencode(before, 30))
    both = [np.concatenate([getattr(data, f"{split}_images").numpy() for split in ("train", "test")])
            .transpose(0, 2, 3, 1) for data in (plain, coded)]
    assert coded.source == (f"{plain.source}, re-encoded as JPEG q30 (median PSNR {median_psnr(*both):.1f} dB "
                            "against it)")


def test_a_run_on_changed_data_trains_and_records_its_data(tiny_world):
    from ltlib.results import TRAINED, get_or_train
    from tinyruns import TINY

    result = get_or_train(RunConfig(jpeg_quality=55, **TINY))
    assert result.config.hash() in TRAINED  # trained here, in a fresh cache
    assert result.data_source.startswith("CIFAR-10 (official), re-encoded as JPEG q55 (median PSNR ")
    assert result.config.jpeg_quality == 55 and result.metrics["test_images"] == 10 * 5  # every re-encoded test image
    assert result.metrics["final_top1"] == pytest.approx(100 * round(result.metrics["final_top1"] / 2) / 50)
    from ltlib.results import data_for  # the chroma step reaches the data through the same door

    assert ", chroma pooled over 4 x 4 pixel blocks (median PSNR " in data_for(RunConfig(chroma_block=4, **TINY)).source


def test_error_shares_put_a_grey_change_in_y_and_split_a_blue_one_by_the_jpeg_transform():
    reference = np.full((2, 4, 4, 3), 100, dtype=np.uint8)
    grey = reference + np.uint8(7)  # R, G, B alike: luma only (Cb and Cr rows sum to 0)
    assert error_shares(reference, grey) == pytest.approx({"Y": 1.0, "Cb": 0.0, "Cr": 0.0}, abs=1e-12)
    blue = reference.copy()
    blue[..., 2] += 10
    weights = np.array([0.114, 0.5, -0.081312]) ** 2  # the blue column of BT.601's full-range transform, squared
    assert error_shares(reference, blue) == pytest.approx(dict(zip(("Y", "Cb", "Cr"), weights / weights.sum())))
    assert np.allclose(YCBCR[1:].sum(axis=1), 0) and np.isclose(YCBCR[0].sum(), 1)
    assert error_shares(reference, reference) == {"Y": 0.0, "Cb": 0.0, "Cr": 0.0}


def test_chroma_pooling_keeps_the_luma_moves_the_colour_and_leaves_grey_alone():
    from PIL import Image

    images = smooth_images(seed=1)
    images[:, ::2, ::3] = 255 - images[:, ::2, ::3]  # colour detail finer than any block
    pooled = chroma_pool(images, 4)
    assert pooled.shape == images.shape and pooled.dtype == np.uint8 and np.array_equal(chroma_pool(images, 4), pooled)

    def luma(batch):
        return np.stack([np.asarray(Image.fromarray(image).convert("YCbCr"))[..., 0] for image in batch]).astype(int)

    inside = ((pooled > 0) & (pooled < 255)).all(axis=-1)  # where the new colour needs no clipping to RGB's range
    assert inside.mean() > 0.5 and np.abs(luma(pooled) - luma(images))[inside].max() <= 2  # Y kept, up to rounding
    shares = error_shares(images, pooled)
    assert shares["Cb"] + shares["Cr"] > 0.8
    grey = np.repeat(images[..., :1], 3, axis=-1)  # no colour at all: nothing to pool
    assert np.abs(chroma_pool(grey, 8).astype(int) - grey).max() <= 2


@pytest.mark.parametrize("bad", [3, 16, -2, 4.0, True, "4"])
def test_a_chroma_block_outside_2_4_8_is_refused_by_name(bad):
    with pytest.raises(ValueError, match=f"chroma_block={bad!r} is not allowed; must be 0 .* or a block side in 2, 4, 8"):
        check_chroma_block(bad)
    with pytest.raises(ValueError, match="chroma_block"):
        RunConfig(chroma_block=bad)


def test_one_change_of_the_data_at_a_time():
    with pytest.raises(ValueError, match="chroma_block=4 is not allowed; must be 0 beside jpeg_quality=55"):
        RunConfig(jpeg_quality=55, chroma_block=4)


def test_the_long_tailed_data_pools_the_chroma_of_training_and_test_images_and_says_so(cifar100_official):
    common = dict(root=cifar100_official, max_per_class=20, test_per_class=2)
    plain = load_long_tailed_cifar("cifar100", 10, **common)
    pooled = load_long_tailed_cifar("cifar100", 10, chroma_block=4, **common)
    both = [np.concatenate([getattr(data, f"{split}_images").numpy() for split in ("train", "test")])
            .transpose(0, 2, 3, 1) for data in (plain, pooled)]
    assert np.array_equal(both[1], chroma_pool(both[0], 4))
    shares = error_shares(*both)
    assert pooled.source == (f"{plain.source}, chroma pooled over 4 x 4 pixel blocks (median PSNR "
                             f"{median_psnr(*both):.1f} dB against it, {100 * (shares['Cb'] + shares['Cr']):.0f} % of "
                             "the change in Cb and Cr)")
    with pytest.raises(ValueError, match="one change of the data at a time"):
        load_long_tailed_cifar("cifar100", 10, jpeg_quality=55, chroma_block=4, **common)


def test_the_copy_is_4_2_0_so_only_the_chroma_step_repeats_its_subsampling(jpeg_copy):
    """The facts ltlib.compression states about the copy, measured on its first 500 training images."""
    images = jpeg_copy.images[:500]
    assert median_psnr(images, jpeg_reencode(images, 75)) > 60  # its own encoding again: mostly unchanged
    distances = [median_psnr(images, chroma_pool(images, block)) for block in (2, 4, 8)]
    assert distances[0] > 43  # 4:2:0's grid: no chroma detail left to pool
    assert distances == sorted(distances, reverse=True)  # a coarser grid moves the pixels further
    q55, chroma = jpeg_reencode(images, 55), chroma_pool(images, 4)
    assert 29 < median_psnr(images, q55) < 32 and 39 < median_psnr(images, chroma) < 43
    assert 0.5 < error_shares(images, q55)["Y"] < 0.7  # the JPEG step: mostly luma
    assert error_shares(images, chroma)["Y"] < 0.15  # the chroma step: nearly all colour


def test_chroma_pooling_averages_colour_over_exactly_block_x_block_pixels():
    from PIL import Image

    stripes = np.full((32, 32, 3), 128, dtype=np.uint8)  # Y = Cr = 128; Cb alternates +-40 in 2-column stripes
    stripes[:, :, 1] = np.where(np.arange(32) % 4 < 2, 168, 88)[None, :]
    image = np.asarray(Image.fromarray(stripes, "YCbCr").convert("RGB"))[None]

    def cb(batch):
        return np.asarray(Image.fromarray(batch[0]).convert("YCbCr"))[..., 1].astype(float)

    assert cb(image).std() > 35  # the stripes survive the round trip through RGB
    assert cb(chroma_pool(image, 4)).std() < 1.5  # a 4 x 4 block holds one stripe of each sign: flat
    assert cb(chroma_pool(image, 8)).std() < 1.5
    assert cb(chroma_pool(image, 2)).std() > 15  # a 2 x 2 block lies inside one stripe: the stripes stay
    solid = np.broadcast_to(np.array([200, 120, 40], dtype=np.uint8), (1, 32, 32, 3)).copy()
    assert np.abs(chroma_pool(solid, 4).astype(int) - solid).max() <= 2  # block-constant colour: kept, up to rounding
