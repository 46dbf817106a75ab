"""``DegradationSpace``: the Real-ESRGAN x4 second-order degradation distribution, every range configurable.

Keys and defaults follow Real-ESRGAN's ``train_realesrnet_x4plus.yml`` (top-level degradation keys plus the
kernel keys of its ``datasets.train`` section), so an existing Real-ESRGAN option block can be reused as is.
A few values that Real-ESRGAN hard-codes are exposed as extra keys (``kernel_range``, ``resize_modes``,
``final_order_prob``). Sampling uses a numpy ``Generator`` only: the same seed gives the same tasks.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np

from restoration.degradations.kernels import BLUR_TYPES, Kernel
from restoration.degradations.task import FINAL_ORDERS, RESIZE_MODES, DegradationTask, Noise, Resize
from restoration.errors import OptionError
from restoration.yaml_files import read_yaml

_SIX = list(BLUR_TYPES)
_PROB6 = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
_DECIMALS = 6  # sampled floats are rounded: compact JSON, readable ids, far below any visible effect


@dataclass(frozen=True)
class DegradationSpace:
    """Ranges and probabilities of the two degradation stages and the final step (defaults = Real-ESRGAN x4)."""

    # ---- first stage: blur (dataset keys) ----
    blur_kernel_size: int = 21
    kernel_list: Sequence[str] = field(default_factory=lambda: list(_SIX))
    kernel_prob: Sequence[float] = field(default_factory=lambda: list(_PROB6))
    sinc_prob: float = 0.1
    blur_sigma: Sequence[float] = (0.2, 3.0)
    betag_range: Sequence[float] = (0.5, 4.0)
    betap_range: Sequence[float] = (1.0, 2.0)
    # ---- first stage: resize, noise, JPEG ----
    resize_prob: Sequence[float] = (0.2, 0.7, 0.1)
    resize_range: Sequence[float] = (0.15, 1.5)
    gaussian_noise_prob: float = 0.5
    noise_range: Sequence[float] = (1.0, 30.0)
    poisson_scale_range: Sequence[float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_range: Sequence[float] = (30.0, 95.0)
    # ---- second stage ----
    second_blur_prob: float = 0.8
    blur_kernel_size2: int = 21
    kernel_list2: Sequence[str] = field(default_factory=lambda: list(_SIX))
    kernel_prob2: Sequence[float] = field(default_factory=lambda: list(_PROB6))
    sinc_prob2: float = 0.1
    blur_sigma2: Sequence[float] = (0.2, 1.5)
    betag_range2: Sequence[float] = (0.5, 4.0)
    betap_range2: Sequence[float] = (1.0, 2.0)
    resize_prob2: Sequence[float] = (0.3, 0.4, 0.3)
    resize_range2: Sequence[float] = (0.3, 1.2)
    gaussian_noise_prob2: float = 0.5
    noise_range2: Sequence[float] = (1.0, 25.0)
    poisson_scale_range2: Sequence[float] = (0.05, 2.5)
    gray_noise_prob2: float = 0.4
    jpeg_range2: Sequence[float] = (30.0, 95.0)
    # ---- final step ----
    final_sinc_prob: float = 0.8
    # ---- values Real-ESRGAN hard-codes, exposed here ----
    kernel_range: Sequence[int] = (7, 21)  # kernel sizes: odd numbers in this range
    resize_modes: Sequence[str] = field(default_factory=lambda: list(RESIZE_MODES))
    final_order_prob: float = 0.5  # probability of [resize + sinc] → JPEG (else JPEG → [resize + sinc])
    scale: int = 4  # accepted for option-file compatibility; degrade() takes the scale it applies

    def __post_init__(self) -> None:
        for f in fields(self):  # freeze lists into tuples so the space is hashable and immutable
            v = getattr(self, f.name)
            if isinstance(v, list):
                object.__setattr__(self, f.name, tuple(v))
        self._validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_opt(cls, opt: dict | None = None) -> "DegradationSpace":
        """Build from a flat dict of Real-ESRGAN keys (missing keys keep their default). None = defaults.

        Unknown keys raise :class:`OptionError`, so a typo never silently falls back to a default.
        """
        if opt is None:
            return cls()
        if not isinstance(opt, dict):
            raise OptionError(f"degradation options must be a mapping, got {type(opt).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(opt) - known)
        if unknown:
            raise OptionError(f"unknown degradation option(s) {unknown}; known keys: {', '.join(sorted(known))}")
        return cls(**{k: opt[k] for k in opt})

    @classmethod
    def from_yaml(cls, path: str | os.PathLike) -> "DegradationSpace":
        """A space YAML: the keys at the top level, or under a ``degradation:`` key (as in a training file)."""
        path = Path(path)
        data = read_yaml(path, "degradation space file")
        if isinstance(data, dict) and isinstance(data.get("degradation"), dict):
            data = data["degradation"]
        try:
            return cls.from_opt(data or {})
        except OptionError as exc:
            raise OptionError(f"{path}: {exc}") from None

    def to_opt(self) -> dict:
        """Plain dict (lists, not tuples) that :meth:`from_opt` accepts back; YAML/JSON friendly."""
        return {f.name: (list(v) if isinstance(v := getattr(self, f.name), tuple) else v) for f in fields(self)}

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        def prob(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise OptionError(f"{name}: expected a probability in [0, 1], got {v!r}")

        def rng(name: str, lo_min: float = 0.0) -> None:
            v = getattr(self, name)
            if not isinstance(v, (tuple, list)) or len(v) != 2 or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v
            ):
                raise OptionError(f"{name}: expected a [low, high] pair of numbers, got {v!r}")
            if v[0] > v[1]:
                raise OptionError(f"{name}: range is reversed ({v[0]} > {v[1]}); write it as [low, high]")
            if v[0] < lo_min:
                raise OptionError(f"{name}: low end {v[0]} is below the minimum {lo_min}")

        def dist(name: str, n: int | None = None) -> None:
            v = getattr(self, name)
            if not isinstance(v, (tuple, list)) or not v or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and x >= 0 for x in v
            ):
                raise OptionError(f"{name}: expected a list of non-negative probabilities, got {v!r}")
            if n is not None and len(v) != n:
                raise OptionError(f"{name}: expected {n} probabilities, got {len(v)}")
            if abs(sum(v) - 1.0) > 1e-6:
                raise OptionError(f"{name}: probabilities must sum to 1, they sum to {sum(v):.6g}")

        for name in ("sinc_prob", "sinc_prob2", "gaussian_noise_prob", "gaussian_noise_prob2", "gray_noise_prob",
                     "gray_noise_prob2", "second_blur_prob", "final_sinc_prob", "final_order_prob"):
            prob(name)
        for suffix in ("", "2"):
            klist = getattr(self, "kernel_list" + suffix)
            if not isinstance(klist, (tuple, list)) or not klist:
                raise OptionError(f"kernel_list{suffix}: expected a non-empty list of kernel types")
            for k in klist:
                if k not in BLUR_TYPES:
                    raise OptionError(f"kernel_list{suffix}: unknown kernel type {k!r}; "
                                      f"expected one of {', '.join(BLUR_TYPES)}")
            dist("kernel_prob" + suffix, len(klist))
            dist("resize_prob" + suffix, 3)
            rng("blur_sigma" + suffix)
            if getattr(self, "blur_sigma" + suffix)[0] <= 0:
                raise OptionError(f"blur_sigma{suffix}: sigma must be > 0")
            rng("betag_range" + suffix)
            rng("betap_range" + suffix)
            for b in ("betag_range", "betap_range"):
                lo, hi = getattr(self, b + suffix)
                if not (0 < lo <= 1 <= hi):
                    raise OptionError(f"{b}{suffix}: must satisfy 0 < low <= 1 <= high (beta is drawn half below, "
                                      f"half above 1), got [{lo}, {hi}]")
            rng("resize_range" + suffix)
            lo, hi = getattr(self, "resize_range" + suffix)
            if not (0 < lo <= 1 <= hi):
                raise OptionError(f"resize_range{suffix}: must satisfy 0 < low <= 1 <= high, got [{lo}, {hi}]")
            rng("noise_range" + suffix)
            rng("poisson_scale_range" + suffix)
            rng("jpeg_range" + suffix, 1.0)
            if getattr(self, "jpeg_range" + suffix)[1] > 100:
                raise OptionError(f"jpeg_range{suffix}: JPEG quality is at most 100")
            bks = getattr(self, "blur_kernel_size" + suffix)
            if isinstance(bks, bool) or not isinstance(bks, int) or bks % 2 == 0 or bks < 1:
                raise OptionError(f"blur_kernel_size{suffix}: expected an odd positive integer, got {bks!r}")
        kr = self.kernel_range
        if (not isinstance(kr, (tuple, list)) or len(kr) != 2 or not all(isinstance(x, int) for x in kr)
                or kr[0] < 1 or kr[0] % 2 == 0 or kr[1] % 2 == 0):
            raise OptionError(f"kernel_range: expected [low, high] odd integers, got {kr!r}")
        if kr[0] > kr[1]:
            raise OptionError(f"kernel_range: range is reversed ({kr[0]} > {kr[1]}); write it as [low, high]")
        if kr[1] > min(self.blur_kernel_size, self.blur_kernel_size2):
            raise OptionError(f"kernel_range: largest kernel {kr[1]} exceeds blur_kernel_size "
                              f"{min(self.blur_kernel_size, self.blur_kernel_size2)}")
        if not self.resize_modes or any(m not in RESIZE_MODES for m in self.resize_modes):
            raise OptionError(f"resize_modes: expected a non-empty subset of {list(RESIZE_MODES)}, "
                              f"got {list(self.resize_modes)}")
        if isinstance(self.scale, bool) or not isinstance(self.scale, int) or self.scale < 1:
            raise OptionError(f"scale: expected a positive integer, got {self.scale!r}")

    # ------------------------------------------------------------------ sampling
    @property
    def kernel_sizes(self) -> tuple[int, ...]:
        return tuple(range(self.kernel_range[0], self.kernel_range[1] + 1, 2))

    def _u(self, rng: np.random.Generator, lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), _DECIMALS)

    def _blur(self, rng: np.random.Generator, suffix: str) -> Kernel:
        size = int(rng.choice(self.kernel_sizes))
        if rng.random() < getattr(self, "sinc_prob" + suffix):
            # Real-ESRGAN: small kernels cannot represent low cut-offs, so they get a narrower range.
            lo = math.pi / 3 if size < 13 else math.pi / 5
            return Kernel("sinc", size, omega=self._u(rng, lo, math.pi))
        klist, kprob = getattr(self, "kernel_list" + suffix), getattr(self, "kernel_prob" + suffix)
        kind = klist[int(rng.choice(len(klist), p=np.asarray(kprob, dtype=np.float64)))]
        s_lo, s_hi = getattr(self, "blur_sigma" + suffix)
        sx = self._u(rng, s_lo, s_hi)
        if kind.endswith("aniso"):
            sy = self._u(rng, s_lo, s_hi)
            theta = self._u(rng, -math.pi, math.pi)
        else:
            sy, theta = sx, 0.0
        beta = 1.0
        if kind.startswith(("generalized", "plateau")):
            b_lo, b_hi = getattr(self, ("betag_range" if kind.startswith("generalized") else "betap_range") + suffix)
            beta = self._u(rng, b_lo, 1.0) if rng.random() < 0.5 else self._u(rng, 1.0, b_hi)
        return Kernel(kind, size, sigma_x=sx, sigma_y=sy, theta=theta, beta=beta)

    def _resize(self, rng: np.random.Generator, suffix: str) -> Resize:
        p = np.asarray(getattr(self, "resize_prob" + suffix), dtype=np.float64)
        direction = ("up", "down", "keep")[int(rng.choice(3, p=p))]
        lo, hi = getattr(self, "resize_range" + suffix)
        scale = self._u(rng, 1.0, hi) if direction == "up" else self._u(rng, lo, 1.0) if direction == "down" else 1.0
        return Resize(direction, scale, self._mode(rng))

    def _mode(self, rng: np.random.Generator) -> str:
        return self.resize_modes[int(rng.integers(len(self.resize_modes)))]

    def _noise(self, rng: np.random.Generator, suffix: str) -> Noise:
        if rng.random() < getattr(self, "gaussian_noise_prob" + suffix):
            kind, level = "gaussian", self._u(rng, *getattr(self, "noise_range" + suffix))
        else:
            kind, level = "poisson", self._u(rng, *getattr(self, "poisson_scale_range" + suffix))
        gray = bool(rng.random() < getattr(self, "gray_noise_prob" + suffix))
        return Noise(kind, level, gray)

    def sample(self, rng: np.random.Generator | int | None = None) -> DegradationTask:
        """Draw one task. ``rng``: a numpy Generator (or a seed)."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        blur1 = self._blur(rng, "")
        resize1 = self._resize(rng, "")
        noise1 = self._noise(rng, "")
        jpeg1 = self._u(rng, *self.jpeg_range)
        blur2 = self._blur(rng, "2") if rng.random() < self.second_blur_prob else None
        resize2 = self._resize(rng, "2")
        noise2 = self._noise(rng, "2")
        order = FINAL_ORDERS[0] if rng.random() < self.final_order_prob else FINAL_ORDERS[1]
        final_mode = self._mode(rng)
        sinc = None
        if rng.random() < self.final_sinc_prob:
            size = int(rng.choice(self.kernel_sizes))
            sinc = Kernel("sinc", size, omega=self._u(rng, math.pi / 3, math.pi))
        jpeg2 = self._u(rng, *self.jpeg_range2)
        return DegradationTask(blur1, resize1, noise1, jpeg1, blur2, resize2, noise2, order, final_mode, sinc, jpeg2)

    def sample_many(self, n: int, rng: np.random.Generator | int | None = None) -> list[DegradationTask]:
        """``n`` tasks drawn one after another from the same generator."""
        if n < 0:
            raise OptionError(f"number of tasks must be >= 0, got {n}")
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return [self.sample(rng) for _ in range(n)]

    def max_kernel_size(self) -> int:
        return self.kernel_range[1]


def space_from_any(space: DegradationSpace | dict | None) -> DegradationSpace:
    """Accept a space, an option dict or None (defaults)."""
    if isinstance(space, DegradationSpace):
        return space
    return DegradationSpace.from_opt(space)


__all__ = ["DegradationSpace", "space_from_any"]
