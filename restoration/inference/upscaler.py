"""``Upscaler``: a loaded model plus the image plumbing users expect (gray, alpha, 16-bit, any output scale)."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Callable

import numpy as np

from restoration.devices import resolve_device
from restoration.errors import RestorationError
from restoration.inference.descriptor import ModelDescriptor
from restoration.inference.tiling import tiles_for, upscale_tiled

log = logging.getLogger("restoration.inference")
ALPHA_MODES = ("model", "resize")
BACKENDS = ("auto", "torch", "ncnn")
ENV_MAX_OUTPUT_PIXELS = "RESTORATION_MAX_OUTPUT_PIXELS"
# 1 gigapixel: 3 GB as 8-bit RGB. A x4 upscale of a 60 MP photo fits; `-s 64` on a 1 MP photo (4 GP) does not.
DEFAULT_MAX_OUTPUT_PIXELS = 1_000_000_000


def max_output_pixels_limit(max_output_pixels: int | None = None) -> int:
    """The output limit in force: the argument, else ``$RESTORATION_MAX_OUTPUT_PIXELS``, else 1 GP (0 = none)."""
    if max_output_pixels is None:
        env = os.environ.get(ENV_MAX_OUTPUT_PIXELS)
        if not env:
            return DEFAULT_MAX_OUTPUT_PIXELS
        try:
            max_output_pixels = int(float(env))
        except (ValueError, OverflowError):
            raise RestorationError(f"{ENV_MAX_OUTPUT_PIXELS}={env!r} is not a number") from None
    if int(max_output_pixels) < 0:
        raise RestorationError(f"the output pixel limit must be >= 0 (0 = no limit), got {max_output_pixels}")
    return int(max_output_pixels)


def denoise_partner(name: str, names: list[str]) -> tuple[str, str] | None:
    """(model, its without-denoise twin) for Real-ESRGAN's denoise-strength pair, e.g. realesr-general-x4v3 and
    realesr-general-wdn-x4v3; None when ``name`` has no twin among ``names``."""
    def base(n: str) -> str:
        return n.replace("-wdn-", "-").replace("_wdn_", "_").replace("-wdn", "").replace("_wdn", "")

    main = base(name) if "wdn" in name else name
    twins = [n for n in names if n != main and "wdn" in n and base(n) == main]
    if main not in names or len(twins) != 1:
        return None
    return main, twins[0]


def _interpolated_model(model, strength: float, device: str, models_dir):
    """Real-ESRGAN's ``-dn``: weights = strength * model + (1 - strength) * its without-denoise twin."""
    import torch

    from restoration.inference.files import load_model
    from restoration.inference.zoo import default_model, list_models

    if not 0.0 <= float(strength) <= 1.0:
        raise RestorationError(f"denoise strength must be in [0, 1], got {strength}")
    from restoration.inference.zoo import MODEL_SUFFIXES

    is_file = model is not None and (isinstance(model, os.PathLike) or "/" in str(model) or os.sep in str(model)
                                     or str(model).lower().endswith(MODEL_SUFFIXES) or Path(str(model)).is_file())
    if is_file:
        raise RestorationError(
            f"denoise strength needs a zoo model with a denoise twin (like realesr-general-x4v3 and "
            f"realesr-general-wdn-x4v3); a weight file ({model}) has none")
    name = str(model) if model is not None else default_model(models_dir).name
    names = [m.name for m in list_models(models_dir)]
    pair = denoise_partner(name, names)
    if pair is None:
        raise RestorationError(
            f"denoise strength needs a model with a denoise twin whose weights are interpolated (Real-ESRGAN's "
            f"realesr-general-x4v3 + realesr-general-wdn-x4v3); {name!r} has none in the zoo")
    net, desc = load_model(pair[0], device="cpu", models_dir=models_dir)
    twin, twin_desc = load_model(pair[1], device="cpu", models_dir=models_dir)
    a, b = net.state_dict(), twin.state_dict()
    if twin_desc.arch != desc.arch or a.keys() != b.keys() or any(a[k].shape != b[k].shape for k in a):
        raise RestorationError(f"models {pair[0]!r} and {pair[1]!r} have different architectures: cannot interpolate")
    with torch.no_grad():
        net.load_state_dict({k: strength * a[k] + (1.0 - strength) * b[k] if a[k].is_floating_point() else a[k]
                             for k in a})
    desc.name = f"{pair[0]} (denoise {strength:g})"
    return net.to(device), desc


def _uniform(plane: np.ndarray) -> bool:
    return plane.size > 0 and plane.min() == plane.max()


LARGE_MODEL_PARAMS = 4_000_000  # RRDBNet x4plus has 16.7 M, SRVGGNetCompact 64/32 1.2 M


def default_tile(params: int, device: str) -> int:
    """The tile size ``tile=None`` picks for a network of ``params`` weights: whole images for small networks
    (fastest); tiles for large ones, whose activations on a whole photo take gigabytes (128 input px on CPU, where a
    tile takes seconds; 512 on GPU)."""
    if params < LARGE_MODEL_PARAMS:
        return 0
    return 512 if device.startswith("cuda") else 128


def _thread_count(threads: int | str | None) -> int | None:
    """None: leave torch's setting; "auto": the idle cores (job_threads); a count >= 1."""
    if threads is None:
        return None
    from restoration.job_threads import job_threads

    try:
        return job_threads(threads)[0]
    except ValueError as exc:
        raise RestorationError(f"threads: {exc}") from None


class Upscaler:
    """Load a model once and upscale many images with it.

    ``model``: None (the zoo's default), a zoo name, or a weight file (.safetensors / .pth).
    ``tile``: 0 processes the whole image at once; otherwise tiles of that size with ``tile_pad`` context; None
    chooses by the model's size (``default_tile``): large networks (RRDBNet x4plus) run in tiles, so memory stays
    flat and progress can be shown per tile.
    ``half``: fp16 on CUDA only; on CPU it is ignored with a warning (fp16 convolutions there are slow and inexact).
    ``alpha``: "model" runs the alpha channel through the network too, "resize" uses bicubic resizing.
    ``max_output_pixels``: refuse outputs above this size before any work (default 1 GP or
    ``$RESTORATION_MAX_OUTPUT_PIXELS``; 0 = no limit).
    ``denoise_strength``: Real-ESRGAN's ``-dn`` for a zoo model with a without-denoise twin (weights interpolated).
    ``threads``: torch threads while upscaling (None keeps the process's setting; "auto" takes the cores other jobs
    leave idle, see :mod:`restoration.job_threads`): more threads than idle cores slows every convolution.
    ``int8``: CPU only, opt-in: the network quantized to int8 (PT2E, calibrated on ``calibration`` photos, default
    the offline photos) and compiled once for every window shape; tiles of ``INT8_TILE`` px unless ``tile`` is given.
    ``backend``: "torch", or "ncnn" (CPU, float32, SRVGGNetCompact and RRDBNet x4 models: the network written as an
    ncnn graph and run by ncnn's Winograd/packed convolutions, 1.5-2x torch's CPU throughput here, outputs within
    1/255 of torch's; on RRDBNet ncnn holds about 1.1x torch's memory), or "auto": ncnn for an SRVGGNetCompact model
    in float32 on the CPU when the ncnn package is installed (same memory as torch), torch otherwise. On ncnn no torch
    network is built (``net`` is None; ``runner`` runs the graph written from the weights).

    An ``Upscaler`` is shared state (a loaded network): ``upscale`` never changes it, so one instance can serve
    concurrent callers; a per-call ``tile`` and an out-of-memory fallback apply to that call only.
    """

    def __init__(self, model: str | os.PathLike | None = None, device: str = "auto", tile: int | None = 0,
                 tile_pad: int = 16, half: bool = False, *, models_dir: str | os.PathLike | None = None,
                 alpha: str = "model", max_output_pixels: int | None = None,
                 denoise_strength: float | None = None, threads: int | str | None = None, int8: bool = False,
                 calibration: list[np.ndarray] | None = None, backend: str = "torch") -> None:
        import torch

        from restoration.inference.files import build_model, read_model

        if (tile is not None and tile < 0) or tile_pad < 0:
            raise RestorationError(f"tile and tile_pad must be >= 0 (got tile={tile}, tile_pad={tile_pad})")
        if alpha not in ALPHA_MODES:
            raise RestorationError(f"alpha must be one of {', '.join(ALPHA_MODES)}, got {alpha!r}")
        if backend not in BACKENDS:
            raise RestorationError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.device = resolve_device(device)
        self.half = bool(half)
        if self.half and not self.device.startswith("cuda"):
            log.warning("--half is only used on CUDA; running in float32 on %s", self.device)
            self.half = False
        self.tile = 0 if tile is None else int(tile)
        self.tile_pad = int(tile_pad)
        self.alpha = alpha
        self.max_output_pixels = max_output_pixels_limit(max_output_pixels)
        self.threads = _thread_count(threads)
        self.int8 = bool(int8)
        self.dtype = torch.float16 if self.half else torch.float32
        if denoise_strength is not None:
            net, self.descriptor = _interpolated_model(model, float(denoise_strength), self.device, models_dir)
            state = net.state_dict()
        else:
            net, (state, self.descriptor) = None, read_model(model, models_dir)
        self.backend = backend if backend != "auto" else "ncnn" if self._ncnn_fits() else "torch"
        if tile is None:
            self.tile = default_tile(sum(int(np.prod(v.shape)) for v in state.values()), self.device)
        if self.backend == "ncnn":  # no torch network: the graph is written from the weights
            self.net = None
            self.runner = self._ncnn_runner(state)
            return
        self.net = net if net is not None else build_model(state, self.descriptor, self.device)
        del state
        if self.half:
            self.net = self.net.half()
        # oneDNN's CPU convolutions (and cuDNN's fp16 ones) run fastest on NHWC; outputs change by float rounding only
        self.net = self.net.to(memory_format=torch.channels_last)  # pyright: ignore[reportCallIssue]  # torch's stubs omit it
        self.runner = self.net  # what the tiles run: the network, or its int8 compilation
        if self.int8:
            self._quantize(tile, calibration)

    def _ncnn_runner(self, state: dict):
        import torch

        from restoration.heap import release_freed_memory
        from restoration.inference.ncnn_backend import NcnnRunner, WeightsMismatch

        if self.device != "cpu" or self.half or self.int8:
            raise RestorationError("the ncnn backend runs float32 on the CPU: drop --int8/--half/--device")
        if self.descriptor.extra.get("output_resize"):
            raise RestorationError(f"the ncnn backend does not run {self.name!r}, a network followed by a resize; "
                                   "use --backend torch")
        try:
            runner = NcnnRunner(state, self.descriptor.arch, self.descriptor.arch_kwargs,
                                self.threads or torch.get_num_threads())
        except WeightsMismatch as exc:
            raise RestorationError(f"weights in {self.descriptor.path} do not fit {self.descriptor.summary()}: {exc}") \
                from None
        state.clear()  # ncnn holds its own copy of the weights
        release_freed_memory()
        return runner

    def _ncnn_fits(self) -> bool:
        """Whether "auto" picks ncnn: a plain SRVGGNetCompact, float32 on the CPU, and the ncnn package present."""
        import importlib.util

        return (self.device == "cpu" and not self.half and not self.int8 and self.descriptor.arch == "SRVGGNetCompact"
                and not self.descriptor.extra.get("output_resize") and importlib.util.find_spec("ncnn") is not None)

    def _quantize(self, tile: int | None, calibration: list[np.ndarray] | None) -> None:
        from restoration.inference.quantize import INT8_TILE, quantize_int8

        if self.device != "cpu" or self.half:
            raise RestorationError(f"int8 runs on the CPU only (device {self.device}); use --half on CUDA")
        if tile is None:
            self.tile = INT8_TILE
        size = (self.tile or INT8_TILE) + 2 * self.tile_pad  # the calibration windows
        with self._threads():
            self.runner = quantize_int8(self.net, self.descriptor.in_channels, size, calibration,
                                        self.descriptor.input_multiple)

    def _threads(self):
        import contextlib

        from restoration.threads import torch_threads

        return torch_threads(self.threads) if self.threads else contextlib.nullcontext()

    @property
    def scale(self) -> int:
        return self.descriptor.scale

    @property
    def name(self) -> str:
        return self.descriptor.name

    def __repr__(self) -> str:
        return (f"Upscaler({self.descriptor.summary()}, device={self.device}, tile={self.tile}, half={self.half}"
                + (", int8" if self.int8 else "") + (", ncnn" if self.backend == "ncnn" else "") + ")")

    # -- planning ---------------------------------------------------------------------------------------------
    def passes(self, img: np.ndarray) -> int:
        """How many network passes one image takes (RGB, plus alpha when upscaled by the model)."""
        channels = 1 if img.ndim == 2 else img.shape[2]
        in_ch = self.descriptor.in_channels
        colour = 3 if channels in (3, 4) else 1
        passes = colour if (in_ch == 1 and colour == 3) else 1
        if channels == 4 and self.alpha == "model" and not _uniform(img[:, :, 3]):
            passes += 1
        return passes

    def count_tiles(self, img: np.ndarray, tile: int | None = None) -> int:
        """Tiles one ``upscale`` call will run (for a progress bar over tiles)."""
        return self.passes(img) * tiles_for(img.shape[0], img.shape[1], self.tile if tile is None else int(tile))

    def check_output_size(self, height: int, width: int, outscale: float | None = None) -> None:
        """Refuse, before any work, an output (or the model-scale intermediate) above ``max_output_pixels``."""
        limit = self.max_output_pixels
        scale = float(outscale) if outscale is not None else float(self.scale)
        oh, ow = max(1, round(height * scale)), max(1, round(width * scale))
        biggest = max(oh * ow, height * self.scale * width * self.scale)
        if limit and biggest > limit:
            raise RestorationError(
                f"output too large: {width}x{height} x{scale:g} = {ow}x{oh} = {oh * ow:,} pixels"
                + (f" ({width * self.scale}x{height * self.scale} at the model's x{self.scale})"
                   if oh * ow < biggest else "")
                + f", over the limit of {limit:,} output pixels (raise it with --max-output-pixels or "
                  f"{ENV_MAX_OUTPUT_PIXELS}; 0 disables)")

    # -- running ----------------------------------------------------------------------------------------------
    def _net(self, planes: np.ndarray, report: Callable[[int, int], None] | None, state: dict) -> np.ndarray:
        """Run the net on an H x W x C array (C = 1 or 3), adapting to the model's input channels. ``state["tile"]``
        is this call's tile: shrunk after running out of memory, kept for the call's other passes only."""
        import cv2

        in_ch = self.descriptor.in_channels
        c = planes.shape[2]
        if c == in_ch:
            tile = state["tile"]
            out, used = upscale_tiled(self.runner, planes, self.scale, tile, self.tile_pad, self.device,
                                      self.dtype, report, self.descriptor.input_multiple)
            if tile == 0 and used or 0 < used < tile:  # shrunk after running out of memory
                log.warning("using tile %d for the rest of this image", used)
                state["tile"] = used
            return out
        if in_ch == 3 and c == 1:
            out = self._net(np.repeat(planes, 3, axis=2), report, state)
            return cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[:, :, None]
        if in_ch == 1 and c == 3:
            return np.concatenate([self._net(planes[:, :, i:i + 1], report, state) for i in range(3)], axis=2)
        raise RestorationError(f"model {self.name!r} takes {in_ch}-channel input; cannot process {c} channels")

    def upscale(self, img: np.ndarray, outscale: float | None = None,
                progress: Callable[[int, int], None] | None = None, tile: int | None = None) -> np.ndarray:
        """Upscale H x W (gray), H x W x 3 (RGB) or H x W x 4 (RGBA), uint8 or uint16; same layout and dtype out.

        ``outscale`` other than the model scale resizes the network output (Lanczos up, area down).
        ``progress(done, total)`` is called after every tile. ``tile``: this call's tile size (default ``self.tile``).
        """
        import cv2

        img = np.asarray(img)
        if img.dtype not in (np.uint8, np.uint16):
            raise RestorationError(f"expected a uint8 or uint16 image, got {img.dtype}")
        if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (1, 3, 4))):
            raise RestorationError(f"expected H x W, H x W x 3 or H x W x 4, got shape {img.shape}")
        if img.shape[0] < 1 or img.shape[1] < 1:
            raise RestorationError(f"empty image of shape {img.shape}")
        if outscale is not None and not (0 < float(outscale) <= 64):
            raise RestorationError(f"outscale must be in (0, 64], got {outscale}")
        self.check_output_size(img.shape[0], img.shape[1], outscale)
        squeeze = img.ndim == 2
        planes = img[:, :, None] if squeeze else img
        if tile is not None and int(tile) < 0:
            raise RestorationError(f"tile must be >= 0 (0 = whole image), got {tile}")
        state = {"tile": self.tile if tile is None else int(tile)}
        total = self.count_tiles(img, state["tile"])
        done = [0]

        def report(_i: int, _n: int) -> None:
            done[0] += 1
            if progress is not None:
                progress(min(done[0], total), total)

        alpha = None
        if planes.shape[2] == 4:
            planes, alpha = planes[:, :, :3], planes[:, :, 3:]
        with self._threads():
            out = self._net(np.ascontiguousarray(planes), report, state)
        h, w = out.shape[:2]
        if alpha is not None:
            if _uniform(alpha):  # fully opaque (most RGBA files): nothing to upscale
                a = np.full((h, w, 1), alpha.flat[0], dtype=alpha.dtype)
            elif self.alpha == "model":
                with self._threads():
                    a = self._net(np.ascontiguousarray(alpha), report, state)
            else:
                a = cv2.resize(alpha[:, :, 0], (w, h), interpolation=cv2.INTER_CUBIC)[:, :, None]
            out = np.concatenate([out, a], axis=2)
        if outscale is not None and abs(float(outscale) - self.scale) > 1e-9:
            size = (max(1, round(img.shape[1] * float(outscale))), max(1, round(img.shape[0] * float(outscale))))
            interp = cv2.INTER_LANCZOS4 if float(outscale) > self.scale else cv2.INTER_AREA
            out = cv2.resize(out, size, interpolation=interp)
            if out.ndim == 2:
                out = out[:, :, None]
        return out[:, :, 0] if squeeze else out


__all__ = ["DEFAULT_MAX_OUTPUT_PIXELS", "Upscaler", "ModelDescriptor", "denoise_partner", "max_output_pixels_limit",
           "resolve_device"]
