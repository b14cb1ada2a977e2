"""JPEG re-encoding of image arrays: the data-sensitivity diagnostic's one operation (:mod:`ltlib.compression`).

The CIFAR-10 of these machines is a JPEG-q75 copy (median PSNR ~30.5 dB against the official pixels). Whether that
loss explains part of the gap to the papers cannot be measured without the official images, but how much a further
loss of the same kind costs can: :func:`jpeg_reencode` encodes every image once more as baseline JPEG with Pillow
(libjpeg's standard tables scaled to ``quality``, 4:2:0 chroma subsampling, Pillow's defaults, which re-encoding the
copy at 75 reproduces for most images) and decodes it. :func:`median_psnr` says how far that moved the pixels.
"""
from __future__ import annotations

import io

import numpy as np

from ltlib.checks import require

#: Pillow's qualities; above 95 its docs advise against (larger files, no visible gain)
QUALITIES = range(1, 96)


def check_jpeg_quality(quality, name: str = "jpeg_quality") -> int:
    """0 (off) or a JPEG quality in 1..95."""
    require(isinstance(quality, int) and not isinstance(quality, bool) and (quality == 0 or quality in QUALITIES),
            name, quality, "must be 0 (the images as loaded) or a JPEG quality in 1..95")
    return quality


def jpeg_reencode(images: np.ndarray, quality: int) -> np.ndarray:
    """``images`` uint8 ``(N, H, W, 3)`` (RGB), each encoded as JPEG at ``quality`` and decoded back; same shape and
    dtype. Deterministic: the same pixels and quality give the same output."""
    from PIL import Image

    check_jpeg_quality(quality, "quality")
    require(quality > 0, "quality", quality, "must be in 1..95 to re-encode")
    require(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3, "images",
            f"{images.dtype} {images.shape}", "must be uint8 (N, H, W, 3)")
    out = np.empty_like(images)
    buffer = io.BytesIO()
    for index, image in enumerate(images):
        buffer.seek(0)
        buffer.truncate()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[index] = np.asarray(decoded.convert("RGB"))
    return out


def psnr(reference: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB (peak 255) of ``images`` against ``reference`` (both ``(N, ...)`` uint8); ``inf`` where an
    image is unchanged."""
    require(reference.shape == images.shape, "images", images.shape, f"must have the reference's shape {reference.shape}")
    error = (reference.astype(np.float64) - images.astype(np.float64)) ** 2
    mse = error.reshape(len(reference), -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(255.0 ** 2 / mse)


def median_psnr(reference: np.ndarray, images: np.ndarray) -> float:
    """The median over images of :func:`psnr` (dB)."""
    return float(np.median(psnr(reference, images)))
