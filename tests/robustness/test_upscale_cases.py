"""Upscaling: sizes, output paths, existing files, full and read-only disks, odd images."""
from __future__ import annotations

import errno
import struct
import zlib

import numpy as np
import pytest
from robust_cases import Case, fail_creates, fail_writes, leftovers, params, snapshot, write_png

from restoration.errors import RestorationError


def header_bomb(path, side=60000):
    """A tiny PNG whose header claims side x side pixels (3.6 GP at 60000)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * (1 + 3 * side) * 4)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


def folder_of_three(t):
    d = t.tmp / "in"
    for i, name in enumerate(("a.png", "b.png", "c.png")):
        write_png(d / name, seed=i)
    return d


# ----------------------------------------------------------------------------------------------- sizes
def output_limit(t):
    src = write_png(t.tmp / "in" / "a.png", (100, 100, 3))
    line = t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-s", "64", "--max-output-pixels", "10000000") \
        .one_error_line("upscale", "output too large", "6400x6400", "10,000,000")
    assert "--max-output-pixels" in line and not (t.tmp / "out").exists()


def output_limit_default(t):
    from restoration.inference.upscaler import DEFAULT_MAX_OUTPUT_PIXELS

    src = write_png(t.tmp / "in" / "a.png", (1000, 1000, 3))  # 1 MP x 64 = 4.1 GP
    t.cli("upscale", "-i", src, "-o", t.tmp / "o.png", "-s", "64").one_error_line(
        "upscale", "output too large", f"{DEFAULT_MAX_OUTPUT_PIXELS:,}")
    assert not (t.tmp / "o.png").exists()


def api_output_limit(t):
    from restoration import Upscaler

    up = Upscaler(device="cpu", max_output_pixels=1000)
    with pytest.raises(RestorationError, match="output too large: 20x20 x2 = 40x40 = 1,600 pixels"):
        up.upscale(np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(RestorationError, match="at the model's x2"):  # the model-scale intermediate counts too
        up.upscale(np.zeros((20, 20, 3), np.uint8), outscale=1)


def max_pixels_negative(t):
    src = write_png(t.tmp / "in" / "a.png")
    r = t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--max-pixels", "-1")
    r.one_error_line("upscale", "--max-pixels", ">= 0")


def max_pixels_zero_bomb(t):
    src = header_bomb(t.tmp / "in" / "bomb.png")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--max-pixels", "0").one_error_line(
        "upscale", "60000x60000", "decoder's limit")


def header_bomb_refused(t):
    src = header_bomb(t.tmp / "in" / "bomb.png")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out").one_error_line(
        "upscale", "image too large", "60000x60000 = 3,600,000,000 pixels", "100,000,000")


def outscale_zero(t):
    src = write_png(t.tmp / "in" / "a.png")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-s", "0").one_error_line("upscale", "--outscale", "(0, 64]")


def tile_negative(t):
    src = write_png(t.tmp / "in" / "a.png")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--tile", "-4").one_error_line("upscale", "--tile")


# ----------------------------------------------------------------------------------------------- paths
def suffix_traversal(t):
    d = folder_of_three(t)
    before = snapshot(t.tmp)
    t.cli("upscale", "-i", d, "-o", t.tmp / "out", "--suffix", "../../escaped").one_error_line("upscale", "--suffix")
    assert snapshot(t.tmp) == before


def suffix_separator(t):
    src = write_png(t.tmp / "in" / "a.png")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "--suffix", "x/y").one_error_line("upscale", "--suffix")
    assert not (t.tmp / "out").exists()


def output_gif(t):
    src = write_png(t.tmp / "in" / "a.png")
    t.cli("upscale", "-i", src, "-o", t.tmp / "x.gif").one_error_line("upscale", "x.gif", "GIF output is not supported")
    assert not (t.tmp / "x.gif").exists()


def output_existing_file_no_ext(t):
    src = write_png(t.tmp / "in" / "a.png")
    (t.tmp / "notes").write_text("keep me")
    t.cli("upscale", "-i", src, "-o", t.tmp / "notes").one_error_line("upscale", "notes", "not a folder")
    assert (t.tmp / "notes").read_text() == "keep me"


def folder_to_file(t):
    d = folder_of_three(t)
    t.cli("upscale", "-i", d, "-o", t.tmp / "out.png").one_error_line("upscale", "must be a folder")
    assert not (t.tmp / "out.png").exists()


def rgba_to_jpg_file(t):
    src = write_png(t.tmp / "in" / "rgba.png", (8, 10, 4))
    t.cli("upscale", "-i", src, "-o", t.tmp / "o.jpg").one_error_line("upscale", "alpha", ".png")
    assert not (t.tmp / "o.jpg").exists()


# ----------------------------------------------------------------------------------------------- existing files
def existing_output_refused(t):
    src = write_png(t.tmp / "in" / "a.png")
    assert t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-q").rc == 0
    old = snapshot(t.tmp / "out")
    t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-q").one_error_line("upscale", "a_out.png", "--overwrite")
    assert snapshot(t.tmp / "out") == old
    assert t.cli("upscale", "-i", src, "-o", t.tmp / "out", "-q", "--overwrite").rc == 0


def existing_outputs_folder(t):
    d = folder_of_three(t)
    (t.tmp / "out").mkdir()
    (t.tmp / "out" / "b_out.png").write_bytes(b"earlier result")
    t.cli("upscale", "-i", d, "-o", t.tmp / "out", "-q").one_error_line("upscale", "b_out.png", "--overwrite")
    assert sorted(p.name for p in (t.tmp / "out").iterdir()) == ["b_out.png"]


def input_overwrite_refused(t):
    src = write_png(t.tmp / "in" / "a.png")
    before = src.read_bytes()
    t.cli("upscale", "-i", src.parent, "-o", src.parent, "--suffix", "").one_error_line(
        "upscale", "would overwrite the input", str(src))
    assert src.read_bytes() == before


def rerun_same_folder(t):
    d = folder_of_three(t)
    assert t.cli("upscale", "-i", d, "-o", d, "-q").rc == 0
    again = t.cli("upscale", "-i", d, "-o", d, "-q", "--overwrite")
    assert again.rc == 0, again.err
    assert "skipping 3 file(s) that are outputs of an earlier run" in again.err
    assert sorted(p.name for p in d.iterdir()) == ["a.png", "a_out.png", "b.png", "b_out.png", "c.png", "c_out.png"]


def rerun_same_folder_no_overwrite(t):
    d = folder_of_three(t)
    assert t.cli("upscale", "-i", d, "-o", d, "-q").rc == 0
    line = t.cli("upscale", "-i", d, "-o", d, "-q").one_error_line("upscale", "--overwrite")
    assert "a_out.png already exists" in line and "a_out_out" not in line


# ----------------------------------------------------------------------------------------------- disks
def read_only_file_mode(t):
    src = write_png(t.tmp / "in" / "a.png")
    fail_creates(t.mp, errno.EACCES)
    t.cli("upscale", "-i", src, "-o", t.tmp / "out").one_error_line("upscale", "a_out.png", "Permission denied")
    assert leftovers(t.tmp) == []


def read_only_folder_mode(t):
    d = folder_of_three(t)
    fail_creates(t.mp, errno.EROFS)
    r = t.cli("upscale", "-i", d, "-o", t.tmp / "out", "-q")
    assert r.rc != 0 and "Traceback" not in r.err
    for name in ("a", "b", "c"):  # every image is reported, the batch does not stop at the first
        assert f"skipped {d / name}.png: cannot write" in r.err and "Read-only file system" in r.err
    assert "upscaled 0 of 3 image(s)" in r.out and "3 failed" in r.out


def read_only_mkdir(t):
    src = write_png(t.tmp / "in" / "a.png")
    real_mkdir = type(t.tmp).mkdir

    def mkdir(self, *a, **k):
        if "out" in self.parts:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_mkdir(self, *a, **k)

    t.mp.setattr(type(t.tmp), "mkdir", mkdir)
    t.cli("upscale", "-i", src, "-o", t.tmp / "out" / "deep").one_error_line(
        "upscale", "cannot create the folder", "Permission denied")


def disk_full_keeps_old(t):
    src = write_png(t.tmp / "in" / "a.png")
    dst = t.tmp / "o.png"
    dst.write_bytes(b"previous result")
    fail_writes(t.mp)
    t.cli("upscale", "-i", src, "-o", dst, "--overwrite").one_error_line("upscale", "No space left on device")
    assert dst.read_bytes() == b"previous result" and leftovers(t.tmp) == []


def disk_full_folder(t):
    d = folder_of_three(t)
    fail_writes(t.mp)
    r = t.cli("upscale", "-i", d, "-o", t.tmp / "out", "-q")
    assert r.rc != 0 and r.err.count("No space left on device") >= 3 and "Traceback" not in r.err
    assert leftovers(t.tmp) == [] and list((t.tmp / "out").iterdir()) == []


# ----------------------------------------------------------------------------------------------- odd images
def animated_gif(t):
    from PIL import Image

    frames = [Image.fromarray(np.full((8, 10, 3), v, np.uint8)) for v in (0, 128, 255)]
    src = t.tmp / "in" / "anim.gif"
    src.parent.mkdir()
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    r = t.cli("upscale", "-i", src, "-o", t.tmp / "out")
    assert r.rc == 0, r.err
    assert "warning:" in r.err and "has 3 frames (GIF); only the first is read" in r.err
    assert (t.tmp / "out" / "anim_out.png").is_file()  # GIF is not written: the output is a PNG


def multipage_tiff_api(t):
    from PIL import Image

    from restoration.inference import read_image

    pages = [Image.fromarray(np.full((8, 10, 3), v, np.uint8)) for v in (10, 20)]
    src = t.tmp / "stack.tif"
    pages[0].save(src, save_all=True, append_images=pages[1:])
    seen = []
    img = read_image(src, warn=seen.append)
    assert img.shape == (8, 10, 3) and int(img[0, 0, 0]) == 10
    assert seen == [f"{src} has 2 pages (TIFF); only the first is read"]


def _odd(kind, tmp):
    """(file, expected shape, expected dtype) of an odd-but-valid image."""
    from PIL import Image

    path = tmp / f"{kind}.img"
    if kind == "exif-rotated":
        im = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
        exif = im.getexif()
        exif[0x0112] = 6  # rotate 90 degrees clockwise
        path = path.with_suffix(".jpg")
        im.save(path, exif=exif)
        return path, (20, 10, 3), np.uint8
    if kind == "cmyk-jpeg":
        path = path.with_suffix(".jpg")
        Image.fromarray(np.full((9, 11, 3), 100, np.uint8)).convert("CMYK").save(path)
        return path, (9, 11, 3), np.uint8
    if kind == "rgb16":
        return write_png(path.with_suffix(".png"), (7, 9, 3), "uint16"), (7, 9, 3), np.uint16
    if kind == "rgba":
        return write_png(path.with_suffix(".png"), (7, 9, 4)), (7, 9, 4), np.uint8
    if kind == "palette":
        path = path.with_suffix(".png")
        Image.fromarray(np.arange(63, dtype=np.uint8).reshape(7, 9)).convert("P").save(path)
        return path, (7, 9, 3), np.uint8
    if kind == "one-pixel":
        return write_png(path.with_suffix(".png"), (1, 1, 3)), (1, 1, 3), np.uint8
    raise AssertionError(kind)


def odd_format(kind):
    def run(t):
        from restoration.inference import read_image

        src, shape, dtype = _odd(kind, t.tmp)
        img = read_image(src)
        assert img.shape == shape and img.dtype == dtype
        r = t.cli("upscale", "-i", src, "-o", t.tmp / "out.png", "-q")
        assert r.rc == 0, r.err
        out = read_image(t.tmp / "out.png")
        assert out.shape[:2] == (shape[0] * 2, shape[1] * 2) and out.dtype == dtype
    return run


def tile0_rgba_progress(t):
    src = write_png(t.tmp / "in" / "rgba.png", (8, 10, 4))
    r = t.cli("upscale", "-i", src, "-o", t.tmp / "o.png", "--tile", "0")
    assert r.rc == 0 and "2/2" not in r.err and "tile" not in r.err, r.err
    r = t.cli("upscale", "-i", src, "-o", t.tmp / "o2.png", "--tile", "4")
    assert r.rc == 0 and "(2 passes of 6 tiles)" in r.err and "/12" in r.err, r.err


ODD = ("exif-rotated", "cmyk-jpeg", "rgb16", "rgba", "palette", "one-pixel")
CASES = [
    Case("upscale-output-limit", "CLI", "upscale -s 64 with --max-output-pixels 10,000,000",
         "refused before any network pass, naming the output size and the limit; nothing created", output_limit),
    Case("upscale-output-limit-default", "CLI", "upscale -s 64 on a 1 MP photo (a 4 GP, 12 GB output)",
         "refused by the default 1 GP output limit", output_limit_default),
    Case("api-output-limit", "API", "Upscaler(max_output_pixels=1000).upscale() of a larger result",
         "RestorationError naming the size (the model-scale intermediate counts too)", api_output_limit),
    Case("upscale-max-pixels-negative", "CLI", "upscale --max-pixels -1", "one argparse line: must be >= 0",
         max_pixels_negative),
    Case("upscale-max-pixels-zero-bomb", "CLI", "upscale --max-pixels 0 on a 60000x60000 header bomb",
         "one line: over the decoder's limit (was an OpenCV traceback)", max_pixels_zero_bomb),
    Case("upscale-header-bomb", "CLI", "upscale a PNG whose header claims 60000x60000",
         "refused before decoding with the real size and the limit", header_bomb_refused),
    Case("upscale-outscale-zero", "CLI", "upscale -s 0", "refused before the model loads", outscale_zero),
    Case("upscale-tile-negative", "CLI", "upscale --tile -4", "refused in one line", tile_negative),
    Case("upscale-suffix-traversal", "CLI", "upscale a folder with --suffix ../../escaped",
         "refused before any work; nothing written anywhere", suffix_traversal),
    Case("upscale-suffix-separator", "CLI", "upscale with --suffix x/y", "refused", suffix_separator),
    Case("upscale-output-gif", "CLI", "upscale -o x.gif", "refused (GIF is not written); no folder named x.gif",
         output_gif),
    Case("upscale-output-existing-file", "CLI", "upscale -o an existing file without extension",
         "refused in one line (was a traceback); the file is untouched", output_existing_file_no_ext),
    Case("upscale-folder-to-file", "CLI", "upscale a folder -o out.png", "refused: a folder needs an output folder",
         folder_to_file),
    Case("upscale-rgba-to-jpg", "CLI", "upscale an RGBA image -o o.jpg", "refused: JPEG cannot keep alpha",
         rgba_to_jpg_file),
    Case("upscale-existing-output", "CLI", "upscale twice into the same output without --overwrite",
         "the second run is refused and the first output is untouched; --overwrite replaces it",
         existing_output_refused),
    Case("upscale-existing-outputs-folder", "CLI", "upscale a folder where one output already exists",
         "refused before any work, naming the file", existing_outputs_folder),
    Case("upscale-input-overwrite", "CLI", "upscale a folder into itself with --suffix ''",
         "refused: names the input that would be replaced", input_overwrite_refused),
    Case("upscale-rerun-same-folder", "CLI", "upscale -i d -o d twice (with --overwrite)",
         "the second run skips the first run's outputs instead of upscaling them again", rerun_same_folder),
    Case("upscale-rerun-no-overwrite", "CLI", "upscale -i d -o d twice (without --overwrite)",
         "refused, naming the existing output (not a wrong input)", rerun_same_folder_no_overwrite),
    Case("upscale-read-only-file", "CLI", "upscale one file into a read-only folder (EACCES)",
         "one line naming the output and the reason; no temp file", read_only_file_mode),
    Case("upscale-read-only-folder", "CLI", "upscale a folder of 3 into a read-only file system (EROFS)",
         "each image reported, the batch goes on, exit != 0 at the end", read_only_folder_mode),
    Case("upscale-read-only-mkdir", "CLI", "upscale into an output folder that cannot be created",
         "one line: cannot create the folder", read_only_mkdir),
    Case("upscale-disk-full-keeps-old", "CLI", "upscale --overwrite on a full disk",
         "the previous output is intact; no temp file", disk_full_keeps_old),
    Case("upscale-disk-full-folder", "CLI", "upscale a folder on a full disk",
         "every image reported; no partial or temp files", disk_full_folder),
    Case("upscale-animated-gif", "CLI", "upscale an animated GIF (3 frames)",
         "the first frame is upscaled (to a PNG) and a warning says so", animated_gif),
    Case("api-multipage-tiff", "API", "read_image() of a 2-page TIFF", "first page, and a warning naming the pages",
         multipage_tiff_api),
    *[Case(f"upscale-odd-{k}", "CLI", f"upscale a {k.replace('-', ' ')} image",
           "read right (orientation, colour, depth, alpha) and upscaled", odd_format(k)) for k in ODD],
    Case("upscale-tile0-rgba-progress", "CLI", "upscale an RGBA image with --tile 0, then --tile 4",
         "no '2/2 tile' bar for one whole-image pass; tiled, the bar says '2 passes of N tiles'", tile0_rgba_progress),
]


@pytest.mark.parametrize("case", params(CASES))
def test_case(case, ctx):
    case.run(ctx)
