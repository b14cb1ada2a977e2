"""JPEG re-encoding, the data-sensitivity diagnostic's one operation: what it does to pixels, PSNR against a hand
computation, and how it enters the long-tailed data, a run's identity and the CPU plan."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ltlib.config import RunConfig
from ltlib.data import load_long_tailed_cifar
from ltlib.data.recompress import check_jpeg_quality, jpeg_reencode, median_psnr, psnr


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


def test_the_quality_names_a_new_run_and_leaves_every_earlier_identity_alone():
    plain = RunConfig()
    assert "jpeg_quality" not in plain.identity() and RunConfig(jpeg_quality=0).hash() == plain.hash()
    assert len({plain.hash(), RunConfig(jpeg_quality=55).hash(), RunConfig(jpeg_quality=30).hash()}) == 3
    with pytest.raises(ValueError, match="jpeg_quality=55 is not allowed; must be 0 for imagenet_lt"):
        RunConfig(dataset="imagenet_lt", jpeg_quality=55)


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


def test_a_run_on_re_encoded_data_trains_and_records_its_data(tmp_path, monkeypatch):
    from ltlib.results import get_or_train
    from tinyruns import TINY, tiny_cifar

    monkeypatch.setenv("LTLIB_DATA", str(tiny_cifar(tmp_path / "data")))
    result = get_or_train(RunConfig(jpeg_quality=55, **TINY))
    assert result.data_source.startswith("CIFAR-10 (official), re-encoded as JPEG q55 (median PSNR ")
    assert result.config.jpeg_quality == 55 and 0 <= result.metrics["final_top1"] <= 100
