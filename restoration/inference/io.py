"""Image files in and out, keeping what users care about: bit depth, alpha, grayscale and EXIF orientation.

Pillow reads only the header (format, size, EXIF) so a decompression bomb is refused before any pixel is
decoded, by our own limit (Pillow's process-wide ``Image.MAX_IMAGE_PIXELS`` is neither read nor changed); OpenCV
decodes the pixels because it keeps 16-bit colour PNG/TIFF at 16 bits (Pillow does not).
Arrays are RGB / RGBA / gray (H x W), uint8 or uint16. Animated GIFs and multi-page TIFFs are read as their first
frame, with a warning that says so. Writes are atomic (``restoration.atomic``).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

from restoration.errors import RestorationError
from restoration.image_files import IMAGE_EXTENSIONS

ENV_MAX_PIXELS = "RESTORATION_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 megapixels: ~10000 x 10000, far beyond what a x4 upscale should take in
# Image formats people name as outputs that we cannot write (an output path ending so is refused, never a folder).
UNWRITABLE_EXTENSIONS = (".gif", ".heic", ".heif", ".avif", ".jxl", ".ico", ".jp2", ".j2k", ".psd", ".svg",
                         ".ppm", ".pgm", ".pbm", ".pnm", ".tga", ".exr", ".hdr", ".dng")
_EXIF_ORIENTATION = 0x0112
_OPENCV_MAX_PIXELS = 1 << 30  # OpenCV's own decoder limit (CV_IO_MAX_IMAGE_PIXELS)
log = logging.getLogger("restoration.inference")


@dataclass(frozen=True)
class ImageHeader:
    """What the file header says, read without decoding pixels."""

    width: int
    height: int
    format: str
    orientation: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """The pixel limit in force: the argument, else ``$RESTORATION_MAX_PIXELS``, else 100 MP (0 = no limit)."""
    if max_pixels is None:
        env = os.environ.get(ENV_MAX_PIXELS)
        if not env:
            return DEFAULT_MAX_PIXELS
        try:
            max_pixels = int(float(env))
        except (ValueError, OverflowError):
            raise RestorationError(f"{ENV_MAX_PIXELS}={env!r} is not a number") from None
    if int(max_pixels) < 0:
        raise RestorationError(f"the input pixel limit must be >= 0 (0 = no limit), got {max_pixels}")
    return int(max_pixels)


def _apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """EXIF orientation 1..8 -> the upright array (same result as Pillow's ``exif_transpose``)."""
    ops = {
        2: lambda a: a[:, ::-1],
        3: lambda a: a[::-1, ::-1],
        4: lambda a: a[::-1],
        5: lambda a: np.swapaxes(a, 0, 1),
        6: lambda a: np.rot90(a, -1),
        7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
        8: lambda a: np.rot90(a, 1),
    }
    op = ops.get(int(orientation))
    return np.ascontiguousarray(op(img)) if op else img


def _decode_quietly(cv2, data: bytes):
    """cv2.imdecode without OpenCV's own warning lines on stderr (our error message says it in one line)."""
    log = getattr(getattr(cv2, "utils", None), "logging", None)
    level = log.getLogLevel() if log is not None else None
    if log is not None:
        log.setLogLevel(log.LOG_LEVEL_ERROR)
    try:
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    finally:
        if log is not None:
            log.setLogLevel(level)


def _pil_open(fp: BinaryIO):
    """Identify an image with Pillow's format plugins, as ``Image.open`` does, minus its decompression-bomb check.

    That check reads the process-wide ``Image.MAX_IMAGE_PIXELS`` (and warns or raises below our own limit); changing
    it would change it for every thread of the process (the demo reads uploads in threads). The header is all we
    read here; callers apply :func:`max_pixels_limit` to the size and name it."""
    from PIL import Image, UnidentifiedImageError

    prefix = fp.read(16)
    tried: set[str] = set()
    for load in (Image.preinit, Image.init):  # common formats first, then every plugin (as Image.open)
        load()
        for fmt in [f for f in Image.ID if f not in tried]:
            tried.add(fmt)
            factory, accept = Image.OPEN[fmt]
            result = accept(prefix) if accept else True
            if not result or isinstance(result, str):  # a str is Pillow's "known, but unsupported" message
                continue
            fp.seek(0)
            try:
                return factory(fp, "")
            except (SyntaxError, IndexError, TypeError, struct.error):  # not this format after all (as Image.open)
                continue
    raise UnidentifiedImageError("cannot identify image file")


def read_header(source: str | os.PathLike | bytes) -> ImageHeader:
    """Size, format and EXIF orientation from the header (Pillow, no pixel decoded, no Pillow size limit: the
    caller applies its own and names it). RestorationError when it is not an image Pillow knows."""
    from PIL import UnidentifiedImageError

    try:
        with contextlib.ExitStack() as stack:
            if isinstance(source, (bytes, bytearray)):
                fp: BinaryIO = io.BytesIO(source)
            else:
                fp = stack.enter_context(open(source, "rb"))
            pil = stack.enter_context(_pil_open(fp))
            width, height = pil.size
            fmt = pil.format or "unknown"
            try:
                orientation = int(pil.getexif().get(_EXIF_ORIENTATION, 1) or 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block must not make the image unreadable
                orientation = 1
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        name = "the data" if isinstance(source, (bytes, bytearray)) else source
        raise RestorationError(f"not an image (or an unsupported format): {name}") from None
    return ImageHeader(int(width), int(height), fmt, orientation)


def count_frames(data: bytes) -> int:
    """Frames of an animated GIF/WebP/APNG or pages of a TIFF (1 for still images); call within the pixel limit."""
    try:
        with _pil_open(io.BytesIO(data)) as pil:
            return max(1, int(getattr(pil, "n_frames", 1) or 1))
    except Exception:  # noqa: BLE001 - counting is informational; the decoder decides what is readable
        return 1


def _decode(cv2, data: bytes, path: Path, header: ImageHeader) -> np.ndarray:
    try:
        img = _decode_quietly(cv2, data)
    except MemoryError:
        raise RestorationError(f"not enough memory to decode {path} ({header.width}x{header.height})") from None
    except cv2.error:
        if header.pixels > _OPENCV_MAX_PIXELS:
            raise RestorationError(
                f"cannot decode {path}: {header.width}x{header.height} = {header.pixels:,} pixels is over the "
                f"decoder's limit of {_OPENCV_MAX_PIXELS:,} pixels") from None
        raise RestorationError(f"cannot decode {path} ({header.format}): the file is truncated or corrupt") from None
    if img is None or img.size == 0:
        raise RestorationError(f"cannot decode {path} ({header.format}): the file is truncated or corrupt")
    return img


def read_image(path: str | os.PathLike, max_pixels: int | None = None,
               warn: Callable[[str], None] | None = None) -> np.ndarray:
    """Read an image as RGB / RGBA / gray, uint8 or uint16, upright. RestorationError on anything wrong.

    ``max_pixels`` (default ``$RESTORATION_MAX_PIXELS`` or 100 MP; 0 disables) refuses huge images before decoding.
    ``warn`` receives one line when only part of the file is read (the first frame of an animation or the first
    page of a multi-page TIFF); by default it is logged as a warning of ``restoration.inference``.
    """
    import cv2

    path = Path(path)
    if not path.exists():
        raise RestorationError(f"input not found: {path}")
    if not path.is_file():
        raise RestorationError(f"not a file: {path}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RestorationError(f"cannot read {path}: {exc.strerror or exc}") from None
    if not data:
        raise RestorationError(f"empty file (0 bytes): {path}")
    limit = max_pixels_limit(max_pixels)
    try:
        header = read_header(data)
    except RestorationError:
        raise RestorationError(f"not an image (or an unsupported format): {path}") from None
    width, height = header.width, header.height
    if limit and width * height > limit:
        raise RestorationError(
            f"image too large: {path} is {width}x{height} = {width * height:,} pixels, over the limit of "
            f"{limit:,} pixels (raise it with --max-pixels or {ENV_MAX_PIXELS}; 0 disables)"
        )
    frames = count_frames(data)
    if frames > 1:
        kind = "pages" if header.format in ("TIFF", "MPO") else "frames"
        (warn or log.warning)(f"{path} has {frames} {kind} ({header.format}); only the first is read")
    img = _decode(cv2, data, path, header)
    if img.shape[0] != height or img.shape[1] != width:
        # multi-frame TIFF / odd files: trust the decoder, but never past the limit
        if limit and img.shape[0] * img.shape[1] > limit:
            raise RestorationError(f"image too large: {path}, over the limit of {limit:,} pixels")
    if img.dtype not in (np.uint8, np.uint16):
        raise RestorationError(f"{path}: {img.dtype} samples are not supported (only 8- and 16-bit integer images)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        if img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
        else:
            raise RestorationError(f"{path}: {img.shape[2]} channels are not supported (gray, RGB or RGBA)")
    # PNG cannot carry an EXIF orientation that OpenCV would honour, but JPEG/TIFF/WebP can: apply it once here.
    return _apply_orientation(img, header.orientation)


def write_image(path: str | os.PathLike, img: np.ndarray, quality: int = 95) -> Path:
    """Write RGB / RGBA / gray uint8 or uint16; the format follows the extension.

    16-bit data is kept in PNG and TIFF and rounded to 8 bits for JPEG/WebP (they cannot hold more).
    The file is written to a temporary name first, so a failure never leaves a half-written output.
    """
    import cv2

    from restoration.atomic import write_bytes

    path = Path(path)
    problem = output_extension_problem(path)
    if problem:
        raise RestorationError(problem)
    ext = path.suffix.lower()
    img = np.asarray(img)
    if img.dtype not in (np.uint8, np.uint16):
        raise RestorationError(f"cannot write {img.dtype} images (uint8 or uint16 only): {path}")
    if img.ndim == 3 and img.shape[2] == 4 and ext in (".jpg", ".jpeg"):
        raise RestorationError(f"JPEG cannot store the alpha channel: write {path.with_suffix('.png').name} instead")
    if img.dtype == np.uint16 and ext in (".jpg", ".jpeg", ".webp", ".bmp"):
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_RGBA2BGRA)
    elif img.ndim != 2:
        raise RestorationError(f"cannot write an array of shape {img.shape} as an image: {path}")
    params: list[int] = []
    if ext in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
    ok, buf = cv2.imencode(ext, img, params)
    if not ok:
        raise RestorationError(f"could not encode {path}")
    # atomic: a full disk or a crash never leaves a half-written output; an ndarray is a buffer (numpy's stubs
    # declare __buffer__ for Python 3.12+ only)
    return write_bytes(path, buf)  # pyright: ignore[reportArgumentType]


def output_extension_problem(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot be written as an image (one line), or None when its extension is one we write."""
    ext = Path(path).suffix.lower()
    if ext in IMAGE_EXTENSIONS:
        return None
    writable = ", ".join(e.lstrip(".") for e in IMAGE_EXTENSIONS)
    if ext in UNWRITABLE_EXTENSIONS:
        return f"cannot write {path}: {ext.lstrip('.').upper()} output is not supported (write one of {writable})"
    return f"cannot write {path}: unknown image extension {ext!r} (write one of {writable})"
