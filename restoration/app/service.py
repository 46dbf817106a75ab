"""What the web demo does for one request, without any Gradio: check the upload, fetch the cached model,
upscale, write the PNG. The Gradio layer (``ui.py``) only maps widgets to these calls and errors to messages,
so everything here is testable in-process.

The demo owns no model logic: reading, tiling and running networks is ``restoration.inference``'s job.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from restoration.errors import RestorationError
from restoration.image_files import is_image_file

DEFAULT_MAX_PIXELS = 4_000_000
# The output is refused above this many times the input limit (outscale 4 on the largest upload).
OUTPUT_PIXEL_FACTOR = 16
# The before/after slider shows at most this many pixels; the PNG download always has the full result.
PREVIEW_MAX_PIXELS = 16_000_000
# How long written result files are kept before a later request sweeps them.
RESULT_TTL_S = 3600.0
_RESULT_PREFIX = "result-"

Progress = Callable[[int, int], None]
log = logging.getLogger("restoration.app")


@dataclass(frozen=True)
class DemoConfig:
    """Launch-time settings of the demo (what ``restoration demo`` options set)."""

    max_pixels: int = DEFAULT_MAX_PIXELS
    concurrency: int = 1
    models_dir: str | None = None          # None: $RESTORATION_MODELS_DIR or pretrained/
    # extra weight files offered next to the zoo (trusted: given on the command line)
    model_files: tuple[str, ...] = ()
    bank: str | None = None                # task bank for the degradation lab; None: a sampled one
    bank_size: int = 64
    samples_dir: str | None = None         # example photos; None: datasets/samples, else offline photos
    result_dir: str | None = None          # where result PNGs are written; None: a temp dir


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model dropdown."""

    name: str
    source: str          # the zoo name or the weight file handed to Upscaler
    description: str
    scale: int
    default: bool = False
    trained_on: str = ""
    metrics: tuple[tuple[str, Any], ...] = ()
    origin: str = ""     # "shipped" (pretrained/), "imported" (the user's models folder) or "" for a weight file
    licence: str = ""


def available_models(config: DemoConfig) -> list[ModelChoice]:
    """The zoo's models, shipped and imported (default first), and the weight files given on the command line."""
    from restoration.inference import list_models

    out = [
        ModelChoice(m.name, m.name, m.description or f"{m.arch} x{m.scale}", m.scale, m.default, m.trained_on,
                    tuple(m.metrics.items()), m.origin, m.licence)
        for m in list_models(config.models_dir)
    ]
    for f in config.model_files:
        path = Path(f)
        if not path.is_file():
            raise RestorationError(f"model file not found: {path}")
        name = path.stem if path.stem not in {m.name for m in out} else path.name  # a zoo name keeps its meaning
        out.append(ModelChoice(name, str(path.resolve()), f"weight file {path}", 0))
    names = [m.name for m in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RestorationError(f"two models share the name(s) {', '.join(dupes)}; rename a weight file")
    return out


def device_choices() -> list[str]:
    """``auto``, ``cpu`` and each visible CUDA device."""
    import torch

    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return out


class ModelCache:
    """One Upscaler per (model, device), loaded on first use and shared by every request afterwards.

    A per-key lock makes concurrent first requests load the model once; the tile size is a per-request
    argument of ``Upscaler.upscale``, which never changes the shared object.
    """

    def __init__(self, choices: list[ModelChoice], models_dir: str | None = None):
        self._choices = {c.name: c for c in choices}
        self._models_dir = models_dir
        self._items: dict[tuple[str, str], Any] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self.loads = 0  # how many models were actually loaded (tests and logs)

    @property
    def names(self) -> list[str]:
        return list(self._choices)

    def choice(self, name: str | None) -> ModelChoice:
        if not self._choices:
            where = self._models_dir or os.environ.get("RESTORATION_MODELS_DIR") or "pretrained/"
            raise RestorationError(
                f"no model is installed (no manifest entries in {where}); add one with "
                "`restoration export --register`, import Real-ESRGAN's with `make assets`, or start the demo with "
                "--model FILE"
            )
        if not name:
            return next(iter(self._choices.values()))
        if name not in self._choices:
            raise RestorationError(f"unknown model {name!r}; choose one of {', '.join(self._choices)}")
        return self._choices[name]

    def get(self, name: str | None, device: str = "auto"):
        """The shared Upscaler for ``name`` on ``device``."""
        from restoration.devices import resolve_device

        choice = self.choice(name)
        device = resolve_device(device or "auto")  # "auto" and "cpu" share one loaded copy on a CPU machine
        key = (choice.name, device)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            up = self._items.get(key)
            if up is None:
                t0 = time.perf_counter()
                up = _new_upscaler(choice, device, self._models_dir)
                self._items[key] = up
                self.loads += 1
                log.info("loaded model %s on %s in %.2f s", choice.name, device, time.perf_counter() - t0)
        return up

    def warm_up(self, device: str = "auto") -> None:
        """Load the first (default) model now, so the first request does not wait for it; errors are logged."""
        if not self._choices:
            return
        try:
            self.get(None, device)
        except Exception as exc:  # noqa: BLE001 - a broken default model must not stop the server
            log.warning("could not preload the default model: %s", exc)


def _new_upscaler(choice: ModelChoice, device: str, models_dir: str | None):
    from restoration.inference import Upscaler

    return Upscaler(choice.source, device=device, models_dir=models_dir, backend="auto")


def sample_images(config: DemoConfig) -> list[str]:
    """Example photos: ``--samples DIR``, else ``datasets/samples`` of the checkout, else the offline photos."""
    candidates = [Path(config.samples_dir)] if config.samples_dir else [
        Path(__file__).resolve().parents[2] / "datasets" / "samples"]
    for folder in candidates:
        if folder.is_dir():
            files = sorted(str(p.resolve()) for p in folder.iterdir() if p.is_file() and is_image_file(p))
            if files:
                return files[:12]
    from restoration.data.offline_photos import list_offline_photos

    return [str(p.path) for p in list_offline_photos()][:8]


# ----------------------------------------------------------------------------------------------------------------
# Uploads


def image_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(width, height) from the file header without decoding the pixels; None when Pillow cannot tell."""
    from restoration.inference.io import read_header

    try:
        header = read_header(path)  # no Pillow size limit here: the demo's own limit is named with the real size
    except (RestorationError, OSError):  # not an image Pillow knows: read_image gives the real message
        return None
    return header.width, header.height


def check_pixels(width: int, height: int, max_pixels: int, what: str = "image") -> None:
    if width * height > max_pixels:
        raise RestorationError(
            f"{what} too large: {width}x{height} = {width * height:,} pixels; this demo accepts at most "
            f"{max_pixels:,} pixels (`restoration upscale` on the command line takes larger images)"
        )


def load_upload(path: str | os.PathLike | None, max_pixels: int, name: str | None = None) -> np.ndarray:
    """The uploaded image as an array (RGB/gray/RGBA, 8 or 16 bit); RestorationError when missing, unreadable or
    too large. Messages name the upload (``name``), not the server's temporary path."""
    from restoration.inference import read_image

    if path is None or str(path) == "":
        raise RestorationError("no image: upload an image first")
    size = image_size(path)
    if size is not None:
        check_pixels(*size, max_pixels)
    try:
        img = read_image(path, max_pixels=max_pixels)
    except RestorationError as exc:
        raise RestorationError(str(exc).replace(str(path), repr(name or Path(path).name))) from None
    check_pixels(img.shape[1], img.shape[0], max_pixels)
    return img


def to_display(img: np.ndarray) -> np.ndarray:
    """8-bit RGB or RGBA for the browser (16-bit is rounded, gray is repeated into RGB)."""
    if img.dtype == np.uint16:
        img = ((img.astype(np.float32) + 128.0) / 257.0).astype(np.uint8)  # nearest 8-bit value of v/257
    elif img.dtype != np.uint8:
        raise RestorationError(f"unsupported image dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img)


def resize_to(img: np.ndarray, width: int, height: int, nearest: bool = False) -> np.ndarray:
    """Resize for display only (the 'before' side of the slider); bicubic unless ``nearest``."""
    import cv2

    if img.shape[1] == width and img.shape[0] == height:
        return img
    interp = cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC
    return cv2.resize(img, (width, height), interpolation=interp)


def preview_pair(before: np.ndarray, after: np.ndarray, max_pixels: int = PREVIEW_MAX_PIXELS
                 ) -> tuple[np.ndarray, np.ndarray, bool]:
    """(before resized to after's size, after) in 8 bit, both shrunk to at most ``max_pixels``; True if shrunk."""
    before, after = to_display(before), to_display(after)
    h, w = after.shape[:2]
    shrink = (max_pixels / float(w * h)) ** 0.5 if w * h > max_pixels else 1.0
    tw, th = max(1, int(w * shrink)), max(1, int(h * shrink))
    if shrink < 1.0:
        import cv2

        after = cv2.resize(after, (tw, th), interpolation=cv2.INTER_AREA)
    return resize_to(before, tw, th), after, shrink < 1.0


# ----------------------------------------------------------------------------------------------------------------
# Results on disk


@dataclass
class ResultStore:
    """A folder of result PNGs; files older than ``ttl_s`` are swept when a new one is written."""

    root: Path
    ttl_s: float = RESULT_TTL_S
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, root: str | None = None) -> "ResultStore":
        if root:
            path = Path(root)
            path.mkdir(parents=True, exist_ok=True)
        else:  # our own temp folder goes away with the process
            import atexit
            import shutil

            path = Path(tempfile.mkdtemp(prefix="restoration-demo-"))
            atexit.register(shutil.rmtree, path, ignore_errors=True)
        return cls(path)

    def write_png(self, img: np.ndarray, stem: str) -> Path:
        """The result as a PNG in a folder of its own; a full or read-only disk is reported without server paths."""
        from restoration.atomic import WriteError, os_reason
        from restoration.inference import write_image

        self._sweep()
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._")[:80] or "result"
        try:
            folder = Path(tempfile.mkdtemp(prefix=_RESULT_PREFIX, dir=self.root))  # per request: names never collide
            path = folder / f"{safe}.png"
            write_image(path, img)
        except OSError as exc:
            raise RestorationError(f"the server could not store the result ({os_reason(exc)}); "
                                   "try again later") from None
        except WriteError as exc:
            with contextlib.suppress(OSError):
                folder.rmdir()
            log.error("cannot write a result: %s", exc)
            raise RestorationError(f"the server could not store the result ({exc.reason}); try again later") from None
        return path

    def _sweep(self) -> None:
        now = time.time()
        with self._lock:
            for sub in self.root.glob(_RESULT_PREFIX + "*"):  # only the folders this store made
                try:
                    if now - sub.stat().st_mtime > self.ttl_s:
                        for f in sub.iterdir():
                            f.unlink()
                        sub.rmdir()
                except OSError:
                    pass


# ----------------------------------------------------------------------------------------------------------------
# The upscale request


@dataclass
class UpscaleResult:
    before: np.ndarray        # 8-bit, resized to the preview size
    after: np.ndarray         # 8-bit preview of the result
    png: Path                 # the full result, lossless, original bit depth and channels
    in_size: tuple[int, int]  # (width, height)
    out_size: tuple[int, int]
    seconds: float
    model: str
    device: str
    tile: int
    shrunk_preview: bool

    def summary(self) -> str:
        (iw, ih), (ow, oh) = self.in_size, self.out_size
        tiles = f"tiles of {self.tile} px" if self.tile else "whole image"
        note = " · slider preview downscaled, the PNG has the full size" if self.shrunk_preview else ""
        return (f"**{iw}×{ih} → {ow}×{oh}** (×{ow / iw:.4g}) in **{self.seconds:.2f} s** · model `{self.model}` "
                f"on `{self.device}` · {tiles}{note}")


def upscale_request(cache: ModelCache, store: ResultStore, config: DemoConfig, path: str | None,
                    model: str | None, device: str = "auto", outscale: float | None = None, tile: int = 0,
                    progress: Progress | None = None, name: str = "image") -> UpscaleResult:
    """One upload through the model: checks, cached Upscaler, PNG written; RestorationError on bad input."""
    choice = cache.choice(model)  # an unknown model is refused before the upload is decoded
    img = load_upload(path, config.max_pixels, name)
    h, w = img.shape[:2]
    if int(tile) < 0:
        raise RestorationError(f"tile size must be 0 (whole image) or positive, got {tile}")
    up = cache.get(choice.name, device)
    scale = float(outscale) if outscale else float(up.scale)
    if not 0 < scale <= 16:
        raise RestorationError(f"output scale must be in (0, 16], got {scale:g}")
    check_pixels(round(w * scale), round(h * scale), config.max_pixels * OUTPUT_PIXEL_FACTOR, what="output")
    t0 = time.perf_counter()
    out = up.upscale(img, outscale=scale, progress=progress, tile=int(tile))
    seconds = time.perf_counter() - t0
    stem = f"{Path(name).stem}_{choice.name}_x{scale:g}"
    png = store.write_png(out, stem)
    before, after, shrunk = preview_pair(img, out)
    return UpscaleResult(
        before=before, after=after, png=png, in_size=(w, h), out_size=(out.shape[1], out.shape[0]),
        seconds=seconds, model=choice.name, device=str(getattr(up, "device", device)), tile=int(tile),
        shrunk_preview=shrunk,
    )


# ----------------------------------------------------------------------------------------------------------------
# One running demo


@dataclass
class DemoService:
    """The state of one running demo: its settings, the model cache shared by every request, the result folder and
    the example photos. The launcher makes one and hands it to the page (``ui.build_demo``) and keeps it for the
    warm-up and the log line; nothing is stored on Gradio objects or in module globals."""

    config: DemoConfig
    cache: ModelCache
    store: ResultStore
    samples: list[str]

    @classmethod
    def create(cls, config: DemoConfig | None = None) -> "DemoService":
        config = config or DemoConfig()
        return cls(config, ModelCache(available_models(config), config.models_dir),
                   ResultStore.create(config.result_dir), sample_images(config))

    @property
    def choices(self) -> list[ModelChoice]:
        """The model dropdown's entries (default first)."""
        return [self.cache.choice(name) for name in self.cache.names]

    def upscale(self, path: str | None, model: str | None, device: str = "auto", outscale: float | None = None,
                tile: int = 0, progress: Progress | None = None, name: str = "image") -> UpscaleResult:
        """One upload through the model (:func:`upscale_request` with this demo's cache, store and limits)."""
        return upscale_request(self.cache, self.store, self.config, path, model, device, outscale, tile, progress,
                               name)


__all__ = [
    "DemoConfig", "DemoService", "ModelChoice", "ModelCache", "ResultStore", "UpscaleResult", "available_models",
    "device_choices", "load_upload", "check_pixels", "preview_pair", "sample_images", "to_display",
    "upscale_request",
]
