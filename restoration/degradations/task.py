"""``DegradationTask``: one fixed point of the Real-ESRGAN second-order degradation space.

A task is data: every sampled parameter (kernel parameters, resize factors and modes, noise type and level, JPEG
qualities, final order) frozen in one record, with a stable id so it can be referenced from a bank file, a
YAML option or a log line. Only the noise realisation stays random (drawn from the caller's generator).
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from restoration.degradations.kernels import Kernel
from restoration.errors import RestorationError
from restoration.schema.base import Bool, Num, Section, Str, check

RESIZE_DIRECTIONS = ("up", "down", "keep")
RESIZE_MODES = ("area", "bilinear", "bicubic")
NOISE_KINDS = ("gaussian", "poisson")
#: ``resize_sinc_jpeg`` = [resize back + sinc] then JPEG; ``jpeg_resize_sinc`` = JPEG then [resize back + sinc].
FINAL_ORDERS = ("resize_sinc_jpeg", "jpeg_resize_sinc")
TASK_FORMAT = 1  # bump when the canonical form changes (it is part of the id)
# Bounds every task is checked against, wherever it comes from (a bank file, a space, Python code). They are far
# outside the Real-ESRGAN space (resize 0.15-1.5, noise sigma 1-30, Poisson 0.05-3, kernel sigma 0.2-3, beta 0.5-4,
# kernel 7-21 px) and keep a hand-edited value from reaching the pipeline as a NaN or a 1e6x resize.
RESIZE_SCALE_RANGE = (0.01, 4.0)
MAX_NOISE_LEVEL = 255.0
MAX_KERNEL_SIZE = 63
MAX_KERNEL_SIGMA = 100.0
MAX_KERNEL_BETA = 100.0


class ResizeRecord(Section):
    """A resize step in a bank file."""

    direction: Literal[RESIZE_DIRECTIONS]  # type: ignore[valid-type]
    scale: Num
    mode: Literal[RESIZE_MODES]  # type: ignore[valid-type]


class NoiseRecord(Section):
    """A noise step in a bank file."""

    kind: Literal[NOISE_KINDS]  # type: ignore[valid-type]
    level: Num
    gray: Bool


class TaskRecord(Section):
    """A task in a bank file (kernels are checked by :meth:`Kernel.from_dict`)."""

    blur1: dict
    resize1: ResizeRecord
    noise1: NoiseRecord
    jpeg1: Num
    blur2: dict | None
    resize2: ResizeRecord
    noise2: NoiseRecord
    final_order: Literal[FINAL_ORDERS]  # type: ignore[valid-type]
    final_mode: Literal[RESIZE_MODES]  # type: ignore[valid-type]
    final_sinc: dict | None
    jpeg2: Num
    id: Str | None = None


@dataclass(frozen=True)
class Resize:
    """Resize step. Stage 1: factor relative to the current size. Stage 2: relative to the final LR size."""

    direction: str
    scale: float
    mode: str

    def __post_init__(self) -> None:
        if self.direction not in RESIZE_DIRECTIONS:
            raise RestorationError(f"resize direction {self.direction!r} is not one of {RESIZE_DIRECTIONS}")
        if self.mode not in RESIZE_MODES:
            raise RestorationError(f"resize mode {self.mode!r} is not one of {RESIZE_MODES}")
        lo, hi = RESIZE_SCALE_RANGE
        if not (isinstance(self.scale, (int, float)) and lo <= self.scale <= hi):
            raise RestorationError(f"resize scale must be a number in [{lo}, {hi}], got {self.scale!r}")

    def to_dict(self) -> dict:
        return {"direction": self.direction, "scale": self.scale, "mode": self.mode}

    @classmethod
    def from_dict(cls, d: Any, where: str = "resize") -> "Resize":
        r = check(ResizeRecord, d, where)
        return cls(r.direction, r.scale, r.mode)

    def describe(self) -> str:
        if self.direction == "keep":
            return f"keep ×1 {self.mode}"
        return f"{self.direction} ×{self.scale:.3f} {self.mode}"


@dataclass(frozen=True)
class Noise:
    """Additive noise. ``level`` is the Gaussian sigma (0-255 scale) or the Poisson scale."""

    kind: str
    level: float
    gray: bool

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise RestorationError(f"noise kind {self.kind!r} is not one of {NOISE_KINDS}")
        if not (isinstance(self.level, (int, float)) and 0 <= self.level <= MAX_NOISE_LEVEL):
            raise RestorationError(f"noise level must be a number in [0, {MAX_NOISE_LEVEL:g}], got {self.level!r}")
        if not isinstance(self.gray, bool):
            raise RestorationError(f"noise gray must be true or false, got {self.gray!r}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "level": self.level, "gray": self.gray}

    @classmethod
    def from_dict(cls, d: Any, where: str = "noise") -> "Noise":
        r = check(NoiseRecord, d, where)
        return cls(r.kind, r.level, r.gray)

    def describe(self) -> str:
        tone = "gray" if self.gray else "color"
        if self.kind == "gaussian":
            return f"gaussian σ={self.level:.2f} {tone}"
        return f"poisson ×{self.level:.2f} {tone}"


def check_kernel(k: Kernel, where: str) -> None:
    """Finite parameters within bounds (Kernel itself lets NaN through: ``nan <= 0`` is false)."""
    if not isinstance(k, Kernel):
        raise RestorationError(f"{where}: expected a Kernel, got {type(k).__name__}")
    if k.size > MAX_KERNEL_SIZE:
        raise RestorationError(f"{where}: kernel size {k.size} is over the maximum of {MAX_KERNEL_SIZE}")
    bounds = {"sigma_x": MAX_KERNEL_SIGMA, "sigma_y": MAX_KERNEL_SIGMA, "beta": MAX_KERNEL_BETA,
              "theta": None, "omega": None}
    for name, top in bounds.items():
        v = getattr(k, name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise RestorationError(f"{where}.{name}: expected a finite number, got {v!r}")
        if top is not None and k.kind != "sinc" and v > top:
            raise RestorationError(f"{where}.{name}: {v:g} is over the maximum of {top:g}")


def _kernel(d: Any, where: str) -> Kernel:
    try:
        k = Kernel.from_dict(d)
    except RestorationError as exc:
        raise RestorationError(f"{where}: {exc}") from None
    check_kernel(k, where)
    return k


@dataclass(frozen=True)
class DegradationTask:
    """Every parameter of one second-order degradation (order of operations as in Real-ESRGAN):

    blur1 → resize1 → noise1 → JPEG(jpeg1) → [blur2] → resize2 → noise2 →
    ``final_order``: [resize to LR (final_mode) + final_sinc] → JPEG(jpeg2), or JPEG(jpeg2) → [resize + sinc].
    ``blur2``/``final_sinc`` are None when that step is skipped.
    """

    blur1: Kernel
    resize1: Resize
    noise1: Noise
    jpeg1: float
    blur2: Kernel | None
    resize2: Resize
    noise2: Noise
    final_order: str
    final_mode: str
    final_sinc: Kernel | None
    jpeg2: float

    def __post_init__(self) -> None:
        check_kernel(self.blur1, "blur1")
        for name in ("blur2", "final_sinc"):
            if getattr(self, name) is not None:
                check_kernel(getattr(self, name), name)
        for name, cls in (("resize1", Resize), ("resize2", Resize), ("noise1", Noise), ("noise2", Noise)):
            if not isinstance(getattr(self, name), cls):
                raise RestorationError(f"{name}: expected a {cls.__name__}, got {type(getattr(self, name)).__name__}")
        if self.final_order not in FINAL_ORDERS:
            raise RestorationError(f"final_order {self.final_order!r} is not one of {FINAL_ORDERS}")
        if self.final_mode not in RESIZE_MODES:
            raise RestorationError(f"final_mode {self.final_mode!r} is not one of {RESIZE_MODES}")
        if self.final_sinc is not None and self.final_sinc.kind != "sinc":
            raise RestorationError(f"final_sinc must be a sinc kernel, got {self.final_sinc.kind!r}")
        for name in ("jpeg1", "jpeg2"):
            q = getattr(self, name)
            if isinstance(q, bool) or not isinstance(q, (int, float)) or not 1.0 <= q <= 100.0:
                raise RestorationError(f"{name} quality must be in [1, 100], got {q!r}")

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        """Canonical, JSON-ready form (also what the id hashes)."""
        return {
            "blur1": self.blur1.to_dict(),
            "resize1": self.resize1.to_dict(),
            "noise1": self.noise1.to_dict(),
            "jpeg1": self.jpeg1,
            "blur2": None if self.blur2 is None else self.blur2.to_dict(),
            "resize2": self.resize2.to_dict(),
            "noise2": self.noise2.to_dict(),
            "final_order": self.final_order,
            "final_mode": self.final_mode,
            "final_sinc": None if self.final_sinc is None else self.final_sinc.to_dict(),
            "jpeg2": self.jpeg2,
        }

    @classmethod
    def from_dict(cls, d: Any, where: str = "task") -> "DegradationTask":
        """Inverse of :meth:`to_dict`; an ``id`` field, when present, must match the parameters."""
        r = check(TaskRecord, d, where)
        try:
            task = cls(
                blur1=_kernel(r.blur1, f"{where}.blur1"),
                resize1=Resize(r.resize1.direction, r.resize1.scale, r.resize1.mode),
                noise1=Noise(r.noise1.kind, r.noise1.level, r.noise1.gray),
                jpeg1=r.jpeg1,
                blur2=None if r.blur2 is None else _kernel(r.blur2, f"{where}.blur2"),
                resize2=Resize(r.resize2.direction, r.resize2.scale, r.resize2.mode),
                noise2=Noise(r.noise2.kind, r.noise2.level, r.noise2.gray),
                final_order=r.final_order,
                final_mode=r.final_mode,
                final_sinc=None if r.final_sinc is None else _kernel(r.final_sinc, f"{where}.final_sinc"),
                jpeg2=r.jpeg2,
            )
        except RestorationError as exc:
            msg = str(exc)
            raise RestorationError(msg if msg.startswith(where) else f"{where}: {msg}") from None
        if r.id is not None and r.id != task.task_id:
            raise RestorationError(
                f"{where}: id {r.id!r} does not match its parameters (they hash to {task.task_id!r}); "
                "remove the id field to accept edited parameters"
            )
        return task

    @property
    def task_id(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON: equal parameters ⇔ equal id, on any machine."""
        cached = self.__dict__.get("_id")
        if cached is None:
            canon = json.dumps({"format": TASK_FORMAT, **self.to_dict()}, sort_keys=True, separators=(",", ":"))
            cached = hashlib.sha256(canon.encode()).hexdigest()[:16]
            object.__setattr__(self, "_id", cached)
        return cached

    @property
    def short_id(self) -> str:
        return self.task_id[:8]

    def describe(self) -> str:
        """One human-readable line, in the order the operations run."""
        b2 = "no blur" if self.blur2 is None else self.blur2.describe()
        sinc = "no sinc" if self.final_sinc is None else self.final_sinc.describe()
        resize_sinc = f"resize {self.final_mode} + {sinc}"
        final = (f"{resize_sinc} → jpeg {self.jpeg2:.1f}" if self.final_order == "resize_sinc_jpeg"
                 else f"jpeg {self.jpeg2:.1f} → {resize_sinc}")
        return (f"[{self.short_id}] 1st: {self.blur1.describe()} | {self.resize1.describe()} | "
                f"{self.noise1.describe()} | jpeg {self.jpeg1:.1f}; 2nd: {b2} | {self.resize2.describe()} | "
                f"{self.noise2.describe()}; final: {final}")

    def __hash__(self) -> int:
        return hash(self.task_id)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DegradationTask):
            return NotImplemented
        return self.task_id == other.task_id
