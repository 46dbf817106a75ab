"""One image-extension list for every folder reader and for ``write_image``."""
from __future__ import annotations

import numpy as np
import pytest

from restoration.image_files import IMAGE_EXTENSIONS, is_image_file


@pytest.mark.parametrize("name", ["a.png", "b.JPG", "c.jpeg", "d.webp", "e.tif", "f.TIFF", "g.bmp", "dir/h.png"])
def test_images_by_extension(name):
    assert is_image_file(name)


@pytest.mark.parametrize("name", ["a.gif", "b.txt", "c", "png", ".png", ".hidden.png", "._photo.jpg", "x/._y.png"])
def test_not_images(name):
    assert not is_image_file(name)


def test_every_listed_extension_round_trips_through_write_and_read(tmp_path):
    """The list is exactly what the image I/O writes and reads back (so folder readers never pick a file that
    read_image cannot open for its extension)."""
    from restoration.inference.io import read_image, write_image

    img = np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3)
    for ext in IMAGE_EXTENSIONS:
        path = write_image(tmp_path / f"x{ext}", img)
        assert read_image(path).shape == img.shape, ext


def test_folder_readers_share_the_list():
    import restoration.inference.io as io

    assert io.IMAGE_EXTENSIONS is IMAGE_EXTENSIONS
