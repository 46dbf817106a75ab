"""A crop grid of an evaluation: for a few test images, the same crop of LQ | bicubic | each model | GT side by side,
so differences the averages hide (texture wiped out, structure invented, grid patterns) can be seen.

The crop is the most textured window of the GT (largest mean gradient magnitude), so flat sky is never shown.
Built from the images ``restoration evaluate --save-images`` wrote; nothing is recomputed.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from restoration.errors import RestorationError
from restoration.evaluation.runner import BASELINE, bicubic_upscale


def textured_window(hr: np.ndarray, size: int, step: int = 8) -> tuple[int, int]:
    """Top-left corner of the ``size`` window of ``hr`` with the largest mean gradient magnitude."""
    import cv2

    gray = cv2.cvtColor(hr, cv2.COLOR_RGB2GRAY).astype(np.float32)
    mag = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(gray, cv2.CV_32F, 0, 1))
    integral = cv2.integral(mag)
    h, w = gray.shape
    best, corner = -1.0, (0, 0)
    for y in range(0, max(1, h - size + 1), step):
        for x in range(0, max(1, w - size + 1), step):
            y2, x2 = min(h, y + size), min(w, x + size)
            total = integral[y2, x2] - integral[y, x2] - integral[y2, x] + integral[y, x]
            if total > best:
                best, corner = float(total), (y, x)
    return corner


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    bar = np.full((18, tile.shape[1], 3), 255, np.uint8)
    fits = max(4, tile.shape[1] // 7)  # characters of this font that fit the width
    cv2.putText(bar, text[:fits], (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, tile], axis=0)


def _row(result: dict, entry: dict, images: Path, models: list[str], crop: int, zoom: int) -> np.ndarray:
    """One labelled row: the same textured crop of LQ | bicubic | each model | GT for one test input."""
    import cv2

    from restoration.inference import read_image
    from restoration.metrics.images import to_rgb8

    root, group = Path(result["testset"]), entry["group"]
    hr = to_rgb8(read_image(root / entry["hr"]), entry["hr"])
    lq = to_rgb8(read_image(root / entry["lq"]), entry["lq"])
    size = min(crop, hr.shape[0], hr.shape[1])
    y, x = textured_window(hr, size)
    h, w = hr.shape[:2]
    tiles = [("LQ (nearest)", cv2.resize(lq, (w, h), interpolation=cv2.INTER_NEAREST)),
             (BASELINE, bicubic_upscale(lq, (w, h)))]
    for m in models:
        path = (images / m if len(models) > 1 else images) / group / Path(entry["lq"]).name
        if not path.is_file():
            raise RestorationError(f"{path} is missing: the grid needs the outputs saved by --save-images")
        tiles.append((m, to_rgb8(read_image(path), str(path))))
    tiles.append(("GT", hr))
    cells = [_label(cv2.resize(t[y:y + size, x:x + size], (size * zoom, size * zoom),
                               interpolation=cv2.INTER_NEAREST), name) for name, t in tiles]
    row = np.concatenate([np.pad(c, ((0, 4), (0, 4), (0, 0)), constant_values=255) for c in cells], axis=1)
    return _label(row, f"{group}: {Path(entry['lq']).name}")


def entries_grid(result: dict, entries: list[dict], images: str | os.PathLike, out: str | os.PathLike,
                 crop: int = 96, zoom: int = 2) -> Path:
    """Write a grid PNG with one row per entry of ``result["per_image"]`` (in the given order)."""
    from restoration.inference import write_image

    models = [m for m in result["methods"] if m != BASELINE]
    rows = [_row(result, entry, Path(images), models, crop, zoom) for entry in entries]
    if not rows:
        raise RestorationError("no images to put in the grid")
    out = Path(out)
    write_image(out, np.concatenate(rows, axis=0))
    return out


def crop_grid(result: dict, images: str | os.PathLike, out: str | os.PathLike, per_group: int = 2,
              crop: int = 96, zoom: int = 2) -> Path:
    """Write the grid PNG: ``per_group`` images of every group, spread over its list, one row each."""
    picked = []
    for group in result["groups"]:
        entries = [r for r in result["per_image"] if r["group"] == group]
        picks = sorted({round(i * len(entries) / per_group) for i in range(per_group)} & set(range(len(entries))))
        picked += [entries[i] for i in picks]  # spread over the group, so several photos show
    return entries_grid(result, picked, images, out, crop, zoom)
