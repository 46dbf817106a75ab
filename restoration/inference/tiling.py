"""Run a network over an image tile by tile, holding at most one padded tile on the device.

Each tile is run inside a window cut from the CPU image: the tile plus ``tile_pad`` pixels of context on every side
that is not the image border (where the untiled network sees the same zero padding), as Real-ESRGAN tiles. The
window runs on the device in channels-last layout (what oneDNN's convolutions run fastest on CPU); its tile's
area is cropped out and written straight into a preallocated uint8/uint16 output. With enough padding for the
network's receptive field, the result equals a whole-image pass up to float rounding.
"""
from __future__ import annotations

import logging
import math
from typing import Callable

import numpy as np

from restoration.errors import RestorationError

log = logging.getLogger("restoration.inference")
MIN_TILE = 16


def tile_grid(height: int, width: int, tile: int) -> list[tuple[int, int, int, int]]:
    """(y0, y1, x0, x1) of every tile in row-major order; tile <= 0 means one tile for the whole image."""
    if tile <= 0:
        return [(0, height, 0, width)]
    ys = range(0, height, tile)
    xs = range(0, width, tile)
    return [(y, min(y + tile, height), x, min(x + tile, width)) for y in ys for x in xs]


def is_oom(exc: BaseException) -> bool:
    """Out of memory on any device (CUDA, MPS or the CPU allocator)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text or "can't allocate memory" in text or isinstance(exc, MemoryError)
    )


def _run_tiles(net, img: np.ndarray, scale: int, tile: int, tile_pad: int, device, dtype,
               progress: Callable[[int, int], None] | None, multiple: int = 1) -> np.ndarray:
    import torch

    h, w, c = img.shape
    maxval = 65535.0 if img.dtype == np.uint16 else 255.0
    out = np.empty((h * scale, w * scale, c), dtype=img.dtype)
    grid = tile_grid(h, w, tile)
    with torch.inference_mode():
        for i, (y0, y1, x0, x1) in enumerate(grid):
            _one_tile(net, img, out, scale, tile, tile_pad, (y0, y1, x0, x1), maxval, device, dtype, multiple)
            if progress is not None:
                progress(i + 1, len(grid))
    return out


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def window(start: int, end: int, tile: int, tile_pad: int, size: int, multiple: int = 1) -> tuple[int, int]:
    """The [lo, hi) input window around the tile [start, end) of an axis of ``size`` px, starting on the
    ``multiple`` grid: the tile and ``tile_pad`` px on each side inside the axis."""
    if tile <= 0:
        return 0, size
    lo = max(start - tile_pad, 0)
    return lo - lo % multiple, min(end + tile_pad, size)


def _one_tile(net, img, out, scale, tile, tile_pad, box, maxval, device, dtype, multiple) -> None:
    import torch

    h, w, c = img.shape
    y0, y1, x0, x1 = box
    py0, py1 = window(y0, y1, tile, tile_pad, h, multiple)
    px0, px1 = window(x0, x1, tile, tile_pad, w, multiple)
    patch = img[py0:py1, px0:px1]
    ph, pw = _round_up(py1 - py0, multiple) - (py1 - py0), _round_up(px1 - px0, multiple) - (px1 - px0)
    if ph or pw:  # archs that pixel-unshuffle need sizes divisible by 2 or 4: mirror the bottom/right edge
        mode = "reflect" if min(patch.shape[:2]) > max(ph, pw) else "edge"
        patch = np.pad(patch, ((0, ph), (0, pw), (0, 0)), mode=mode)
    # H x W x C memory seen as 1 x C x H x W is already channels-last: one copy (to float on the device), no transpose
    x = torch.from_numpy(np.ascontiguousarray(patch)).to(device=device).permute(2, 0, 1).unsqueeze(0)
    x = x.to(dtype, memory_format=torch.channels_last).div_(maxval)
    y = net(x)
    if y.shape[-2:] != (patch.shape[0] * scale, patch.shape[1] * scale) or y.shape[1] != c:
        raise RestorationError(
            f"the model returned {tuple(y.shape)} for a {tuple(x.shape)} input; expected x{scale} with {c} channels"
        )
    oy, ox = (y0 - py0) * scale, (x0 - px0) * scale
    y = y[:, :, oy:oy + (y1 - y0) * scale, ox:ox + (x1 - x0) * scale]
    y = y.float().clamp_(0, 1).mul_(maxval).round_()  # 4-D crops keep the channels-last strides through .to()
    y = y.to(torch.uint8 if img.dtype == np.uint8 else torch.int32).to("cpu")[0].permute(1, 2, 0).numpy()
    out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = y  # casts int32 -> uint16
    del x, y


def upscale_tiled(net, img: np.ndarray, scale: int, tile: int = 0, tile_pad: int = 16, device="cpu",
                  dtype=None, progress: Callable[[int, int], None] | None = None,
                  multiple: int = 1) -> tuple[np.ndarray, int]:
    """Upscale an H x W x C uint8/uint16 array with ``net`` (C = the net's input channels).

    ``multiple``: the net needs input sides divisible by it (RRDBNet x2: 2, x1: 4). Tile and padding are
    rounded up to it so every tile sits on the same pixel-unshuffle grid as the whole image.

    Returns ``(output, tile_used)``. On out-of-memory the tile size is halved (a whole-image pass starts
    from half the longer side) and the image is redone; each retry is logged. Gives up below 16 px.
    """
    import torch

    if img.ndim != 3:
        raise RestorationError(f"expected an H x W x C array, got shape {img.shape}")
    if tile_pad < 0:
        raise RestorationError(f"tile_pad must be >= 0, got {tile_pad}")
    dtype = dtype or torch.float32
    h, w = img.shape[:2]
    multiple = max(1, int(multiple))
    tile_pad = _round_up(tile_pad, multiple)
    while True:
        tile = _round_up(tile, multiple) if tile > 0 else 0
        try:
            return _run_tiles(net, img, scale, tile, tile_pad, device, dtype, progress, multiple), tile
        except Exception as exc:  # noqa: BLE001 - only OOM is handled, the rest re-raised
            if not is_oom(exc):
                raise
            current = tile if tile > 0 else max(h, w)
            new = current // 2
            if new < MIN_TILE:
                raise RestorationError(
                    f"out of memory on {device} even with {current} px tiles; use --device cpu or a smaller model"
                ) from None
            log.warning("out of memory on %s with tile %s: retrying with tile %d", device, tile or "whole image", new)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            tile = new


def tiles_for(height: int, width: int, tile: int) -> int:
    """How many tiles an image takes (for progress bars)."""
    if tile <= 0:
        return 1
    return math.ceil(height / tile) * math.ceil(width / tile)
