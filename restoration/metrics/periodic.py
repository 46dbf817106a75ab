"""Grid artefacts: how much of an upscaled image's detail repeats with the scale's period (the "4x4 block pattern"
a x4 network with pixel-shuffle can print on flat areas).

A pattern that repeats every ``period`` pixels puts its energy at the spatial frequencies ``(k/period, l/period)``;
natural detail spreads its energy smoothly around those frequencies. The score is the energy of the luma's spectrum
at the ``period**2 - 1`` grid frequencies divided by the mean energy of their neighbouring frequencies: about 1 for a
photo or a bicubic upscale, well above 1 when a grid is printed on the image. It does not grow with the amount of
texture, so a sharp model and a blurry bicubic output are compared fairly.
"""
from __future__ import annotations

import numpy as np


def _luma(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        return img
    return img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114


def grid_score(img: np.ndarray, period: int = 4, radius: int = 3) -> float:
    """Energy at the grid frequencies over that of their neighbours (±``radius`` bins); ``img`` HxW[x3], any range."""
    y = _luma(img)
    h, w = (y.shape[0] // period) * period, (y.shape[1] // period) * period
    if min(h, w) < 8 * period:
        raise ValueError(f"image {y.shape[1]}x{y.shape[0]} is too small for period {period}")
    y = y[:h, :w] - y[:h, :w].mean()
    window = np.outer(np.hanning(h), np.hanning(w))  # no leakage from the image borders
    power = np.abs(np.fft.fft2(y * window)) ** 2
    peak = neighbours = 0.0
    for k in range(period):
        for m in range(period):
            if k == m == 0:
                continue
            fy, fx = k * h // period, m * w // period
            ys = np.arange(fy - radius, fy + radius + 1) % h
            xs = np.arange(fx - radius, fx + radius + 1) % w
            block = power[np.ix_(ys, xs)]
            centre = block[radius - 1:radius + 2, radius - 1:radius + 2].sum()  # the peak and the window's spread
            peak += centre / 9
            neighbours += (block.sum() - centre) / (block.size - 9)
    return float(peak / max(neighbours, 1e-12))
