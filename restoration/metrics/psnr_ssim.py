"""PSNR and SSIM with BasicSR's definitions, on RGB uint8 arrays.

Super-resolution papers report PSNR/SSIM on the Y channel of ITU-R BT.601 YCbCr after cropping ``crop_border`` pixels
(usually the scale) from every edge, as ``basicsr.metrics.calculate_psnr/ssim(test_y_channel=True)`` compute them.
Our inputs are RGB (BasicSR reads BGR with cv2), so the Y weights are applied in RGB order; the arithmetic, including
BasicSR's float32 round trip through [0, 1], is kept so results agree to ~1e-12.
"""
from __future__ import annotations

import numpy as np

from restoration.errors import RestorationError

# BT.601 luma for RGB in [0, 1] -> [16, 235] (the 'studio swing' used by MATLAB's rgb2ycbcr).
_Y_WEIGHTS_RGB = np.array([65.481, 128.553, 24.966], dtype=np.float64)


def _as_image(img: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3):
        raise RestorationError(f"{name}: expected an HxW or HxWx3 image, got shape {tuple(np.shape(img))}")
    if arr.dtype != np.uint8:
        raise RestorationError(f"{name}: expected uint8 pixels in [0, 255], got {arr.dtype}")
    return arr


def _prepare(img: np.ndarray, ref: np.ndarray, crop_border: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    a, b = _as_image(img, "image"), _as_image(ref, "reference")
    if a.shape != b.shape:
        raise RestorationError(f"image shape {a.shape[:2]} differs from reference shape {b.shape[:2]}")
    if crop_border < 0:
        raise RestorationError(f"crop_border must be >= 0, got {crop_border}")
    if crop_border:
        if 2 * crop_border >= min(a.shape[:2]):
            raise RestorationError(f"crop_border {crop_border} leaves nothing of a {a.shape[1]}x{a.shape[0]} image")
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if y_channel and a.shape[2] == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    return a.astype(np.float64), b.astype(np.float64)


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y of BT.601 YCbCr in [16, 235] as float32 HxWx1, computed the way BasicSR's ``to_y_channel`` does."""
    x = np.asarray(img).astype(np.float32) / np.float32(255.0)
    y = (np.dot(x, _Y_WEIGHTS_RGB) + 16.0) / 255.0
    return (y.astype(np.float32) * np.float32(255.0))[..., None]


def psnr(img: np.ndarray, ref: np.ndarray, crop_border: int = 4, y_channel: bool = True) -> float:
    """Peak signal-to-noise ratio in dB (``inf`` for identical images)."""
    a, b = _prepare(img, ref, crop_border, y_channel)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(255.0 * 255.0 / mse))


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM on one float64 plane: 11x11 Gaussian window (sigma 1.5), valid region only."""
    import cv2

    if min(a.shape) < 11:
        raise RestorationError(f"SSIM needs at least 11x11 pixels after cropping, got {a.shape[1]}x{a.shape[0]}")
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    g = cv2.getGaussianKernel(11, 1.5)
    window = g @ g.T

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.filter2D(x, -1, window)[5:-5, 5:-5]

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a ** 2
    var_b = blur(b * b) - mu_b ** 2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    den = (mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)
    return float((num / den).mean())


def ssim(img: np.ndarray, ref: np.ndarray, crop_border: int = 4, y_channel: bool = True) -> float:
    """Structural similarity; per channel and averaged when ``y_channel`` is False."""
    a, b = _prepare(img, ref, crop_border, y_channel)
    return float(np.mean([_ssim_plane(a[..., c], b[..., c]) for c in range(a.shape[2])]))
