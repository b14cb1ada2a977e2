"""Further losses of the JPEG kind on image arrays: the data-sensitivity diagnostic's operations (:mod:`ltlib.compression`).

The CIFAR-10 of these machines is a JPEG-q75 copy (median PSNR ~30.5 dB against the official pixels). Whether that
loss explains part of the gap to the papers cannot be measured without the official images, but how much a further
loss of the same kind costs can. A JPEG encoding loses in two ways, and each has its further step here:

* :func:`jpeg_reencode` quantises once more: every image encoded again as baseline JPEG with Pillow (libjpeg's
  standard tables scaled to ``quality``, 4:2:0 chroma subsampling, Pillow's defaults, which re-encoding the copy at 75
  reproduces for most images) and decoded.
* :func:`chroma_pool` halves the colour resolution once more. 4:2:0 keeps the chroma (Cb, Cr) on a half-resolution
  grid: a 2 x 2 box mean at encoding, a triangle (bilinear) filter back up at decoding. The copy's chroma therefore
  has almost no detail left for a second 4:2:0 pass to remove (re-encoding the copy at q75 leaves most images
  unchanged), so the JPEG step above barely repeats this part of the copy's loss. ``chroma_pool(images, 4)`` does
  the next halving the same way: Cb and Cr as means over 4 x 4 pixel blocks, bilinear back to full size; the luma
  (Y) is kept.

:func:`median_psnr` says how far a step moved the pixels, :func:`error_shares` where the moved energy lies (Y, Cb, Cr).
"""
from __future__ import annotations

import io

import numpy as np

from ltlib.checks import require

#: Pillow's qualities; above 95 its docs advise against (larger files, no visible gain)
QUALITIES = range(1, 96)
#: block sides :func:`chroma_pool` accepts (each divides CIFAR's 32 pixels; 2 is 4:2:0's own grid)
CHROMA_BLOCKS = (2, 4, 8)
#: JPEG's RGB -> YCbCr (ITU-R BT.601, full range, as JFIF and Pillow's "YCbCr" mode), rows Y, Cb, Cr
YCBCR = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])


def check_jpeg_quality(quality, name: str = "jpeg_quality") -> int:
    """0 (off) or a JPEG quality in 1..95."""
    require(isinstance(quality, int) and not isinstance(quality, bool) and (quality == 0 or quality in QUALITIES),
            name, quality, "must be 0 (the images as loaded) or a JPEG quality in 1..95")
    return quality


def check_chroma_block(block, name: str = "chroma_block") -> int:
    """0 (off) or a block side in :data:`CHROMA_BLOCKS`."""
    require(isinstance(block, int) and not isinstance(block, bool) and (block == 0 or block in CHROMA_BLOCKS),
            name, block, f"must be 0 (the images as loaded) or a block side in {', '.join(map(str, CHROMA_BLOCKS))}")
    return block


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


def chroma_pool(images: np.ndarray, block: int) -> np.ndarray:
    """``images`` uint8 ``(N, H, W, 3)`` (RGB, ``H`` and ``W`` multiples of ``block``) with their chroma at a coarser
    grid: each image in Pillow's YCbCr, Cb and Cr box-averaged over ``block x block`` pixel blocks and resized back
    bilinearly, Y untouched, back to RGB. Deterministic; ``block = 2`` is 4:2:0's own grid."""
    from PIL import Image

    check_chroma_block(block, "block")
    require(block > 0, "block", block, "must be a block side to pool over")
    require(images.dtype == np.uint8 and images.ndim == 4 and images.shape[-1] == 3, "images",
            f"{images.dtype} {images.shape}", "must be uint8 (N, H, W, 3)")
    height, width = images.shape[1:3]
    require(height % block == 0 and width % block == 0, "block", block, f"must divide the image size {height} x {width}")
    out = np.empty_like(images)
    for index, image in enumerate(images):
        luma, *chroma = Image.fromarray(image).convert("YCbCr").split()
        chroma = [plane.resize((width // block, height // block), Image.Resampling.BOX)
                  .resize((width, height), Image.Resampling.BILINEAR) for plane in chroma]
        out[index] = np.asarray(Image.merge("YCbCr", (luma, *chroma)).convert("RGB"))
    return out


def error_shares(reference: np.ndarray, images: np.ndarray) -> dict[str, float]:
    """Where ``images`` moved from ``reference`` (both uint8 ``(..., 3)`` RGB): the share of the squared error that lies
    in each of Y, Cb and Cr (:data:`YCBCR`); the shares sum to 1 (all 0 when nothing moved)."""
    require(reference.shape == images.shape, "images", images.shape, f"must have the reference's shape {reference.shape}")
    difference = (reference.astype(np.float64) - images.astype(np.float64)).reshape(-1, 3) @ YCBCR.T
    energy = (difference ** 2).sum(axis=0)
    total = energy.sum()
    return {name: float(value / total) if total else 0.0 for name, value in zip(("Y", "Cb", "Cr"), energy)}


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
