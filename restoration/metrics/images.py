"""Bring any image ``read_image`` returns to the 8-bit RGB the metrics are defined on."""
from __future__ import annotations

import numpy as np

from restoration.errors import RestorationError


def to_rgb8(img: np.ndarray, name: str = "image") -> np.ndarray:
    """Gray -> RGB, RGBA -> RGB (alpha dropped), uint16 -> uint8 (rounded x/257); uint8 RGB is returned as is."""
    arr = np.asarray(img)
    if arr.dtype == np.uint16:
        arr = np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise RestorationError(f"{name}: {arr.dtype} pixels are not supported (8- or 16-bit integers)")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, :3]
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise RestorationError(f"{name}: shape {np.shape(img)} is not a gray, RGB or RGBA image")
    return np.ascontiguousarray(arr)
