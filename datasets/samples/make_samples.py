"""Rebuild the bundled sample images from the offline photos (run from the repository root).

Each sample is a crop of a photo shipped by an installed package, reduced 2x (area) so it looks like the small
inputs an upscaler gets; one is saved as a JPEG (compression artefacts), one as grayscale, one with an alpha
channel, to show each kind of input. Sources and licences: LICENSES.md.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from restoration.data.offline_photos import list_offline_photos
from restoration.inference.io import read_image, write_image

HERE = Path(__file__).resolve().parent
# name -> (photo, top, left, crop size, kind)
SAMPLES = {
    "monarch": ("monarch", 120, 200, 256, "png"),
    "parrots": ("kodim23", 60, 250, 256, "jpg"),
    "chelsea_gray": ("chelsea", 20, 80, 256, "gray"),
    "astronaut_alpha": ("astronaut", 20, 130, 256, "rgba"),
}


def main() -> None:
    photos = {p.name: p for p in list_offline_photos()}
    for name, (photo, top, left, size, kind) in SAMPLES.items():
        img = read_image(photos[photo].path)[top:top + size, left:left + size]
        small = cv2.resize(img, (size // 2, size // 2), interpolation=cv2.INTER_AREA)
        if kind == "jpg":
            cv2.imwrite(str(HERE / f"{name}.jpg"), small[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 70])
            continue
        if kind == "gray":
            small = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY)
        if kind == "rgba":
            yy, xx = np.mgrid[: small.shape[0], : small.shape[1]]
            c = (small.shape[0] - 1) / 2
            alpha = np.clip((c + 0.5 - np.hypot(yy - c, xx - c)) * 255, 0, 255).astype(np.uint8)  # round cut-out
            small = np.dstack([small, alpha])
        write_image(HERE / f"{name}.png", small)


if __name__ == "__main__":
    main()
