"""Opt-in int8 inference on the CPU: PT2E static quantization for x86, compiled by inductor.

The network is exported (``torch.export``) for one window shape, annotated by torchao's
``X86InductorQuantizer`` (per-channel symmetric int8 weights, per-tensor affine uint8 activations; the first and
last convolutions stay float32, see :func:`float_ends`), calibrated on
a few photos and compiled with weight freezing, so oneDNN's int8 convolutions run with prepacked weights. Activation
ranges come from the calibration photos, so int8 output differs from float32 output (a fraction of a dB of PSNR;
``bench/inference.py`` measures it); float32 stays the default.

Quantizing and compiling take tens of seconds, so the network is exported and compiled with a symbolic height and
width: one compilation serves every window of every image (Real-ESRGAN's windows, which shrink at the border),
as fast per pixel as a compilation for one shape (docs/BENCHMARKS.md).
"""
from __future__ import annotations

import logging
import time
from typing import Callable

import numpy as np

from restoration.errors import RestorationError

log = logging.getLogger("restoration.inference")
INT8_TILE = 128           # input px per tile when int8 is asked for without a tile size
CALIBRATION_PHOTOS = 4    # the first lossless offline photos (bench/inference.py evaluates on the others)
CALIBRATION_WINDOWS = 2   # windows cut from each calibration photo (the histogram observers cost seconds each)


def _pt2e():
    """torchao's PT2E entry points (torch >= 2.10 moved them out of torch.ao); one clear error without torchao."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import (
            X86InductorQuantizer,
            get_default_x86_inductor_quantization_config,
        )
    except ImportError as exc:
        raise RestorationError(f"int8 inference needs torchao ({exc}); install it with "
                               "`pip install --no-deps torchao` (or the project's [int8] extra)") from None
    return prepare_pt2e, convert_pt2e, X86InductorQuantizer, get_default_x86_inductor_quantization_config


def default_calibration_images() -> list[np.ndarray]:
    """RGB uint8 photos that installed packages ship (sporco, scikit-image): the calibration set of ``--int8``."""
    from restoration.data.offline_photos import list_offline_photos
    from restoration.inference.io import read_image

    photos = list_offline_photos(lossless_only=True)[:CALIBRATION_PHOTOS]
    if not photos:
        raise RestorationError("int8 calibration needs photos: none of the packages that ship them (sporco, "
                               "scikit-image) is installed")
    images = []
    for photo in photos:
        img = read_image(photo.path)
        img = np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img[:, :, :3]
        images.append(img.astype(np.uint8) if img.dtype == np.uint8 else (img // 257).astype(np.uint8))
    return images


def calibration_batches(images: list[np.ndarray], size: int, channels: int, multiple: int = 1) -> list:
    """float tensors 1 x C x S x S in 0..1: windows along each photo's diagonal (deterministic, no RNG); a photo
    smaller than the window is mirror-padded."""
    import torch

    batches = []
    for img in images:
        if min(img.shape[:2]) < size:
            img = _pad_to(img, size, size)
        h, w = img.shape[:2]
        s = size
        for k in range(CALIBRATION_WINDOWS):
            y = (h - s) * k // max(1, CALIBRATION_WINDOWS - 1)
            x = (w - s) * k // max(1, CALIBRATION_WINDOWS - 1)
            patch = img[y:y + s, x:x + s]
            patch = patch.mean(axis=2, keepdims=True) if channels == 1 else patch
            t = torch.from_numpy(np.ascontiguousarray(patch, dtype=np.float32)).permute(2, 0, 1)[None] / 255.0
            batches.append(t.contiguous(memory_format=torch.channels_last))
    return batches


def _pad_to(img: np.ndarray, h: int, w: int) -> np.ndarray:
    ph, pw = max(0, h - img.shape[0]), max(0, w - img.shape[1])
    mode = "reflect" if min(img.shape[:2]) > max(ph, pw) else "edge"
    return np.pad(img, ((0, ph), (0, pw), (0, 0)), mode=mode)


def float_ends(net) -> list[str]:
    """Names of the first and last convolutions, which stay float32: the first sees the raw image (its 3 input
    channels make it a small share of the work) and the last writes the output (its int8 steps show as banding),
    so keeping both costs little time and most of int8's PSNR loss."""
    import torch

    convs = [name for name, m in net.named_modules() if isinstance(m, torch.nn.Conv2d)]
    return sorted({convs[0], convs[-1]}) if convs else []


def quantize_int8(net, in_channels: int, size: int, images: list[np.ndarray] | None = None,
                  multiple: int = 1) -> Callable:
    """An int8 version of ``net`` (a float32 CPU module), calibrated on ``size`` px windows of ``images``
    (default: the offline photos), as a compiled callable taking 1 x C x H x W float input in 0..1 like ``net``
    (H and W multiples of ``multiple``, the network's pixel-unshuffle factor)."""
    import torch
    from torch._inductor import config as inductor_config
    from torch.export import Dim, export

    size = -(-size // multiple) * multiple
    prepare_pt2e, convert_pt2e, quantizer_cls, default_config = _pt2e()
    batches = calibration_batches(images if images is not None else default_calibration_images(), size,
                                  in_channels, multiple)
    t0 = time.perf_counter()
    example = batches[0]
    height, width = Dim("height", min=2), Dim("width", min=2)
    dims = {2: height, 3: width} if multiple == 1 else {2: multiple * height, 3: multiple * width}
    with torch.no_grad():
        graph = export(net.eval(), (example,), dynamic_shapes={"x": dims}).module()
        quantizer = quantizer_cls()
        quantizer.set_global(default_config())
        for name in float_ends(net):
            quantizer.set_module_name_qconfig(name, None)
        prepared = prepare_pt2e(graph, quantizer)
        for batch in batches:
            prepared(batch)
        converted = convert_pt2e(prepared)
    log.info("int8: calibrated on %d windows of %d px in %.1f s", len(batches), example.shape[-1],
             time.perf_counter() - t0)
    compiled = torch.compile(converted, dynamic=True)

    def run(x):
        with torch.no_grad(), inductor_config.patch(freezing=True):  # weights folded and prepacked once
            return compiled(x.contiguous(memory_format=torch.channels_last))

    return run


__all__ = ["INT8_TILE", "calibration_batches", "default_calibration_images", "float_ends", "quantize_int8"]
