import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageOps

from restoration.errors import RestorationError
from restoration.inference.io import ENV_MAX_PIXELS, read_image, write_image


def _rng():
    return np.random.default_rng(0)


@pytest.mark.parametrize("shape,dtype,ext", [
    ((9, 11, 3), np.uint8, ".png"), ((9, 11), np.uint8, ".png"), ((9, 11, 4), np.uint8, ".png"),
    ((9, 11, 3), np.uint16, ".png"), ((9, 11), np.uint16, ".png"), ((9, 11, 4), np.uint16, ".png"),
    ((9, 11, 3), np.uint16, ".tif"), ((9, 11), np.uint16, ".tiff"),
])
def test_lossless_round_trip_keeps_layout_and_depth(tmp_path, shape, dtype, ext):
    img = _rng().integers(0, np.iinfo(dtype).max + 1, shape, dtype=dtype)
    path = write_image(tmp_path / f"a{ext}", img)
    back = read_image(path)
    assert back.dtype == dtype and back.shape == shape
    np.testing.assert_array_equal(back, img)


def test_channel_order_is_rgb(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 200  # red
    write_image(tmp_path / "r.png", img)
    assert Image.open(tmp_path / "r.png").getpixel((0, 0)) == (200, 0, 0)
    assert tuple(read_image(tmp_path / "r.png")[0, 0]) == (200, 0, 0)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    src = Image.fromarray(_rng().integers(0, 256, (5, 7, 3), dtype=np.uint8))
    exif = src.getexif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.jpg"
    src.save(path, exif=exif, quality=100)
    expected = np.asarray(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
    got = read_image(path)
    assert got.shape == expected.shape
    assert np.abs(got.astype(int) - expected).max() <= 1


def test_16bit_written_as_8bit_to_jpeg(tmp_path):
    img = np.full((8, 8, 3), 65535, np.uint16)
    img[0, 0] = 257 * 10
    back = read_image(write_image(tmp_path / "a.jpg", img))
    assert back.dtype == np.uint8 and back.max() >= 250


def test_jpeg_with_alpha_refused(tmp_path):
    with pytest.raises(RestorationError, match="alpha"):
        write_image(tmp_path / "a.jpg", np.zeros((4, 4, 4), np.uint8))


def test_missing_file(tmp_path):
    with pytest.raises(RestorationError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.png"
    p.write_text("hello, this is text")
    with pytest.raises(RestorationError, match="not an image"):
        read_image(p)


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.png"
    p.write_bytes(b"")
    with pytest.raises(RestorationError, match="empty file"):
        read_image(p)


def test_truncated_png(tmp_path):
    full = write_image(tmp_path / "full.png", _rng().integers(0, 256, (64, 64, 3), dtype=np.uint8)).read_bytes()
    p = tmp_path / "cut.png"
    p.write_bytes(full[: len(full) // 2])
    with pytest.raises(RestorationError, match="truncated or corrupt"):
        read_image(p)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _bomb_png(width: int, height: int) -> bytes:
    """A few hundred bytes whose header claims width x height RGB pixels (a decompression bomb's header)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def test_decompression_bomb_refused_with_limit_named(tmp_path):
    p = tmp_path / "bomb.png"
    p.write_bytes(_bomb_png(60000, 60000))
    assert p.stat().st_size < 2000
    with pytest.raises(RestorationError, match=r"60000x60000.*100,000,000 pixels"):
        read_image(p)


def test_pixel_limit_is_configurable(tmp_path, monkeypatch):
    p = write_image(tmp_path / "a.png", np.zeros((20, 30, 3), np.uint8))
    with pytest.raises(RestorationError, match="limit of 500 pixels"):
        read_image(p, max_pixels=500)
    monkeypatch.setenv(ENV_MAX_PIXELS, "100")
    with pytest.raises(RestorationError, match="limit of 100 pixels"):
        read_image(p)
    assert read_image(p, max_pixels=0).shape == (20, 30, 3)  # 0 = no limit
    monkeypatch.setenv(ENV_MAX_PIXELS, "many")
    with pytest.raises(RestorationError, match=ENV_MAX_PIXELS):
        read_image(p)


def test_folder_is_not_a_file(tmp_path):
    with pytest.raises(RestorationError, match="not a file"):
        read_image(tmp_path)


def test_failed_write_leaves_no_partial_file(tmp_path):
    with pytest.raises(RestorationError):
        write_image(tmp_path / "a.xyz", np.zeros((2, 2, 3), np.uint8))
    assert os.listdir(tmp_path) == []


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    import errno

    import restoration.atomic as atomic

    dst = tmp_path / "out.png"
    write_image(dst, np.zeros((4, 4, 3), np.uint8))
    before = dst.read_bytes()

    def full(fd, data):
        os.write(fd, bytes(data[:8]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic, "_write", full)
    with pytest.raises(RestorationError, match=r"cannot write .*out.png: No space left on device"):
        write_image(dst, np.full((4, 4, 3), 9, np.uint8))
    assert dst.read_bytes() == before and os.listdir(tmp_path) == ["out.png"]


@pytest.mark.parametrize("name, message", [
    ("x.gif", "GIF output is not supported"), ("x.heic", "HEIC output is not supported"),
    ("x.xyz", "unknown image extension '.xyz'"), ("x", "unknown image extension ''"),
])
def test_unwritable_extensions_named(tmp_path, name, message):
    from restoration.inference.io import output_extension_problem

    assert message in output_extension_problem(tmp_path / name)
    assert output_extension_problem(tmp_path / "x.PNG") is None
    with pytest.raises(RestorationError, match=message):
        write_image(tmp_path / name, np.zeros((2, 2, 3), np.uint8))


def test_animation_and_pages_warn_and_read_the_first(tmp_path, caplog):
    frames = [Image.fromarray(np.full((6, 7, 3), v, np.uint8)) for v in (40, 80, 120)]
    gif, tif = tmp_path / "a.gif", tmp_path / "p.tif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=50)
    frames[0].save(tif, save_all=True, append_images=frames[1:2])
    seen: list[str] = []
    img = read_image(gif, warn=seen.append)
    assert img.shape[:2] == (6, 7) and seen == [f"{gif} has 3 frames (GIF); only the first is read"]
    with caplog.at_level("WARNING", logger="restoration.inference"):
        read_image(tif)  # default: a warning of the restoration.inference logger
    assert "has 2 pages (TIFF)" in caplog.text
    seen.clear()
    read_image(write_image(tmp_path / "still.png", np.zeros((3, 3, 3), np.uint8)), warn=seen.append)
    assert seen == []


def test_header_is_read_without_limit_and_decoder_limit_is_one_line(tmp_path):
    from restoration.inference.io import read_header

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    side = 40000
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path = tmp_path / "bomb.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 4096))
                     + chunk(b"IEND", b""))
    h = read_header(path)
    assert (h.width, h.height, h.format, h.pixels) == (side, side, "PNG", side * side)
    with pytest.raises(RestorationError, match=r"40000x40000 = 1,600,000,000 pixels is over the decoder's limit"):
        read_image(path, max_pixels=0)


def test_negative_or_bad_pixel_limits_are_refused(tmp_path, monkeypatch):
    from restoration.inference.io import max_pixels_limit

    path = write_image(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(RestorationError, match=r"pixel limit must be >= 0"):
        read_image(path, max_pixels=-1)
    monkeypatch.setenv(ENV_MAX_PIXELS, "-5")
    with pytest.raises(RestorationError, match=r"pixel limit must be >= 0"):
        read_image(path)
    monkeypatch.setenv(ENV_MAX_PIXELS, "inf")
    with pytest.raises(RestorationError, match="is not a number"):
        max_pixels_limit()
    monkeypatch.setenv(ENV_MAX_PIXELS, "0")
    assert read_image(path).shape == (4, 4, 3)


def test_pillow_global_limit_is_neither_changed_nor_consulted(tmp_path, monkeypatch):
    """Pillow's ``Image.MAX_IMAGE_PIXELS`` is process-wide: reading never sets it (not even for a moment, which
    other threads would see), and our own limit alone decides (no Pillow bomb warning or error below it)."""
    import types
    import warnings

    class Guarded(types.ModuleType):
        def __setattr__(self, name, value):
            if name == "MAX_IMAGE_PIXELS":
                raise AssertionError("Image.MAX_IMAGE_PIXELS was changed")
            super().__setattr__(name, value)

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10)  # far below every image here
    monkeypatch.setattr(Image, "__class__", Guarded)
    from restoration.inference.io import count_frames, read_header

    still = write_image(tmp_path / "a.png", np.zeros((20, 30, 3), np.uint8))
    gif = tmp_path / "a.gif"
    frames = [Image.fromarray(np.full((6, 7, 3), v, np.uint8)) for v in (40, 80)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=50)
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png(60000, 60000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a DecompressionBombWarning would fail here
        assert read_image(still).shape == (20, 30, 3)
        assert read_image(gif, warn=lambda _: None).shape[:2] == (6, 7)
        assert count_frames(gif.read_bytes()) == 2
        assert (read_header(bomb).width, read_header(bomb.read_bytes()).height) == (60000, 60000)
        with pytest.raises(RestorationError, match=r"60000x60000.*100,000,000 pixels"):
            read_image(bomb)
    assert Image.MAX_IMAGE_PIXELS == 10
