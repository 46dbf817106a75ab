"""Which files are images: one extension list for reading folders (training GT, competition GT, test sets, upscale
inputs, dataset preparation) and for the formats ``write_image`` writes. Light: no numpy, no Pillow."""
from __future__ import annotations

import os
from pathlib import Path

# The formats read_image decodes and write_image encodes (this order is the one error messages list).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


def is_image_file(path: str | os.PathLike) -> bool:
    """By name only: an image extension, and not a hidden file (``.x.png``, or macOS's ``._x.png`` resource forks
    that archives and network shares carry next to the real images)."""
    name = Path(path).name
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS and not name.startswith(".")
