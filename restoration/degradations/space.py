"""``DegradationSpace``: the Real-ESRGAN x4 second-order degradation distribution, every range configurable.

Keys and defaults follow Real-ESRGAN's ``train_realesrnet_x4plus.yml`` (top-level degradation keys plus the
kernel keys of its ``datasets.train`` section), so an existing Real-ESRGAN option block can be reused as is.
A few values that Real-ESRGAN hard-codes are exposed as extra keys (``kernel_range``, ``resize_modes``,
``final_order_prob``). Sampling uses a numpy ``Generator`` only: the same seed gives the same tasks.
"""
from __future__ import annotations

import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import ConfigDict, Field, model_validator
from pydantic.dataclasses import dataclass

from restoration.degradations.kernels import BLUR_TYPES, Kernel
from restoration.degradations.task import FINAL_ORDERS, RESIZE_MODES, DegradationTask, Noise, Resize
from restoration.errors import OptionError
from restoration.schema.base import Int, Num, at_key, check, only_known_keys, raising_option_errors
from restoration.yaml_files import read_yaml

_SIX = list(BLUR_TYPES)
_PROB6 = [0.45, 0.25, 0.12, 0.03, 0.12, 0.03]
_DECIMALS = 6  # sampled floats are rounded: compact JSON, readable ids, far below any visible effect


Prob = Annotated[Num, Field(ge=0.0, le=1.0)]
Pair = tuple[Num, Num]  # [low, high]
Dist = Annotated[tuple[Annotated[Num, Field(ge=0.0)], ...], Field(min_length=1)]  # probabilities summing to 1
KernelTypes = Annotated[tuple[Literal[BLUR_TYPES], ...], Field(min_length=1)]  # type: ignore[valid-type]


@raising_option_errors
@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class DegradationSpace:
    """Ranges and probabilities of the two degradation stages and the final step (defaults = Real-ESRGAN x4).

    A pydantic dataclass: the fields are the schema of the ``degradation:`` section (types, bounds, and the
    cross-field rules of :meth:`_consistent`); a wrong value raises one OptionError naming the key."""

    # ---- first stage: blur (dataset keys) ----
    blur_kernel_size: Annotated[Int, Field(ge=1)] = 21
    kernel_list: KernelTypes = tuple(_SIX)  # pyright: ignore[reportAssignmentType]  # Literal built at run time
    kernel_prob: Dist = tuple(_PROB6)
    sinc_prob: Prob = 0.1
    blur_sigma: Pair = (0.2, 3.0)
    betag_range: Pair = (0.5, 4.0)
    betap_range: Pair = (1.0, 2.0)
    # ---- first stage: resize, noise, JPEG ----
    resize_prob: Dist = (0.2, 0.7, 0.1)
    resize_range: Pair = (0.15, 1.5)
    gaussian_noise_prob: Prob = 0.5
    noise_range: Pair = (1.0, 30.0)
    poisson_scale_range: Pair = (0.05, 3.0)
    gray_noise_prob: Prob = 0.4
    jpeg_range: Pair = (30.0, 95.0)
    # ---- second stage ----
    second_blur_prob: Prob = 0.8
    blur_kernel_size2: Annotated[Int, Field(ge=1)] = 21
    kernel_list2: KernelTypes = tuple(_SIX)  # pyright: ignore[reportAssignmentType]  # Literal built at run time
    kernel_prob2: Dist = tuple(_PROB6)
    sinc_prob2: Prob = 0.1
    blur_sigma2: Pair = (0.2, 1.5)
    betag_range2: Pair = (0.5, 4.0)
    betap_range2: Pair = (1.0, 2.0)
    resize_prob2: Dist = (0.3, 0.4, 0.3)
    resize_range2: Pair = (0.3, 1.2)
    gaussian_noise_prob2: Prob = 0.5
    noise_range2: Pair = (1.0, 25.0)
    poisson_scale_range2: Pair = (0.05, 2.5)
    gray_noise_prob2: Prob = 0.4
    jpeg_range2: Pair = (30.0, 95.0)
    # ---- final step ----
    final_sinc_prob: Prob = 0.8
    # ---- values Real-ESRGAN hard-codes, exposed here ----
    kernel_range: tuple[Int, Int] = (7, 21)  # kernel sizes: odd numbers in this range
    resize_modes: Annotated[tuple[Literal[RESIZE_MODES], ...], Field(min_length=1)] = RESIZE_MODES  # type: ignore
    final_order_prob: Prob = 0.5  # probability of [resize + sinc] → JPEG (else JPEG → [resize + sinc])
    scale: Annotated[Int, Field(ge=1)] = 4  # accepted for option-file compatibility; degrade() takes the scale

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        return only_known_keys(cls, data)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_opt(cls, opt: dict | None = None) -> "DegradationSpace":
        """Build from a flat dict of Real-ESRGAN keys (missing keys keep their default). None = defaults.

        Unknown keys raise :class:`OptionError`, so a typo never silently falls back to a default.
        """
        if opt is None:
            return cls()
        return check(cls, opt)

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

    # ------------------------------------------------------------------ validation (rules across fields)
    @model_validator(mode="after")
    def _consistent(self) -> "DegradationSpace":
        for suffix in ("", "2"):
            klist = getattr(self, "kernel_list" + suffix)
            for name, n in (("kernel_prob", len(klist)), ("resize_prob", 3)):
                v = getattr(self, name + suffix)
                if len(v) != n:
                    raise at_key(name + suffix, f"expected {n} probabilities, got {len(v)}")
                if abs(sum(v) - 1.0) > 1e-6:
                    raise at_key(name + suffix, f"probabilities must sum to 1, they sum to {sum(v):.6g}")
            for name in ("blur_sigma", "betag_range", "betap_range", "resize_range", "noise_range",
                         "poisson_scale_range", "jpeg_range"):
                lo, hi = getattr(self, name + suffix)
                if lo > hi:
                    raise at_key(name + suffix, f"range is reversed ({lo:g} > {hi:g}); write it as [low, high]")
                least = 1 if name == "jpeg_range" else 0
                if lo < least:
                    raise at_key(name + suffix, f"low end {lo:g} is below the minimum {least}")
            if getattr(self, "blur_sigma" + suffix)[0] <= 0:
                raise at_key("blur_sigma" + suffix, "sigma must be > 0")
            for name in ("betag_range", "betap_range", "resize_range"):
                lo, hi = getattr(self, name + suffix)
                if not (0 < lo <= 1 <= hi):
                    why = " (beta is drawn half below, half above 1)" if name != "resize_range" else ""
                    raise at_key(name + suffix, f"must satisfy 0 < low <= 1 <= high{why}, got [{lo:g}, {hi:g}]")
            if getattr(self, "jpeg_range" + suffix)[1] > 100:
                raise at_key("jpeg_range" + suffix, "JPEG quality is at most 100")
            if getattr(self, "blur_kernel_size" + suffix) % 2 == 0:
                raise at_key("blur_kernel_size" + suffix,
                          f"expected an odd positive integer, got {getattr(self, 'blur_kernel_size' + suffix)}")
        lo, hi = self.kernel_range
        if lo < 1 or lo % 2 == 0 or hi % 2 == 0:
            raise at_key("kernel_range", f"expected [low, high] odd positive integers, got [{lo}, {hi}]")
        if lo > hi:
            raise at_key("kernel_range", f"range is reversed ({lo} > {hi}); write it as [low, high]")
        if hi > min(self.blur_kernel_size, self.blur_kernel_size2):
            raise at_key("kernel_range", f"largest kernel {hi} exceeds blur_kernel_size "
                                      f"{min(self.blur_kernel_size, self.blur_kernel_size2)}")
        return self

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
