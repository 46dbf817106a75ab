"""Blur kernels rebuilt from their parameters (numpy only, no torch).

A task stores kernel *parameters*, never arrays; this module turns them back into the exact arrays Real-ESRGAN
would have drawn (Gaussian, generalized Gaussian, plateau, circular low-pass "sinc"), in float64, so a task can be
replayed anywhere. Arrays are cached per parameter set because bank tasks repeat.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from functools import lru_cache

import numpy as np

from restoration.errors import RestorationError

#: The six parametric blur families of Real-ESRGAN, in its ``kernel_list`` order.
BLUR_TYPES: tuple[str, ...] = (
    "iso",
    "aniso",
    "generalized_iso",
    "generalized_aniso",
    "plateau_iso",
    "plateau_aniso",
)
#: All kernel kinds a task may hold: the six families plus the circular low-pass (sinc) filter.
KERNEL_KINDS: tuple[str, ...] = BLUR_TYPES + ("sinc",)


@dataclass(frozen=True)
class Kernel:
    """Parameters of one blur kernel. Unused fields keep their neutral value (so equal kernels compare equal).

    sigma_x/sigma_y/theta: Gaussian shape (isotropic kinds have sigma_y == sigma_x, theta == 0);
    beta: shape exponent of generalized/plateau kinds (1 otherwise); omega: cut-off (radians) of ``sinc``.
    """

    kind: str
    size: int
    sigma_x: float = 0.0
    sigma_y: float = 0.0
    theta: float = 0.0
    beta: float = 1.0
    omega: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in KERNEL_KINDS:
            raise RestorationError(f"unknown kernel type {self.kind!r}; expected one of {', '.join(KERNEL_KINDS)}")
        if not isinstance(self.size, int) or self.size < 1 or self.size % 2 == 0:
            raise RestorationError(f"kernel size must be a positive odd integer, got {self.size!r}")
        if self.kind == "sinc":
            if not 0.0 < self.omega <= math.pi + 1e-12:
                raise RestorationError(f"sinc cut-off omega must be in (0, pi], got {self.omega!r}")
        else:
            if self.sigma_x <= 0 or self.sigma_y <= 0:
                raise RestorationError(
                    f"{self.kind} kernel needs sigma_x, sigma_y > 0, got {self.sigma_x}, {self.sigma_y}")
            if self.beta <= 0:
                raise RestorationError(f"{self.kind} kernel needs beta > 0, got {self.beta}")

    def to_dict(self) -> dict:
        """Only the fields this kind uses (canonical form for JSON and hashing)."""
        d: dict = {"kind": self.kind, "size": self.size}
        if self.kind == "sinc":
            d["omega"] = self.omega
            return d
        d["sigma_x"] = self.sigma_x
        if self.kind.endswith("aniso"):
            d["sigma_y"] = self.sigma_y
            d["theta"] = self.theta
        if self.kind.startswith(("generalized", "plateau")):
            d["beta"] = self.beta
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Kernel":
        if not isinstance(d, dict):
            raise RestorationError(f"a kernel must be a mapping, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RestorationError(f"unknown kernel field(s) {unknown}")
        if "kind" not in d or "size" not in d:
            raise RestorationError("a kernel needs 'kind' and 'size'")
        kw = dict(d)
        if kw["kind"] in BLUR_TYPES and not str(kw["kind"]).endswith("aniso"):
            kw.setdefault("sigma_y", kw.get("sigma_x", 0.0))
        size = kw["size"]
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not float(size).is_integer():
            raise RestorationError(f"kernel size must be an odd integer, got {size!r}")
        kw["size"] = int(size)
        for k in ("sigma_x", "sigma_y", "theta", "beta", "omega"):
            if k in kw:
                if isinstance(kw[k], bool) or not isinstance(kw[k], (int, float)):
                    raise RestorationError(f"kernel field {k!r} must be a number, got {kw[k]!r}")
                kw[k] = float(kw[k])
        return cls(**kw)

    def describe(self) -> str:
        if self.kind == "sinc":
            return f"sinc k{self.size} ω={self.omega:.2f}"
        s = f"{self.kind} k{self.size} σ={self.sigma_x:.2f}"
        if self.kind.endswith("aniso"):
            s += f"/{self.sigma_y:.2f} θ={self.theta:+.2f}"
        if self.kind.startswith(("generalized", "plateau")):
            s += f" β={self.beta:.2f}"
        return s


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Integer offsets from the centre; x varies along columns, y along rows."""
    ax = np.arange(-(size // 2), size // 2 + 1, dtype=np.float64)
    xx, yy = np.meshgrid(ax, ax)
    return xx, yy


def _quadratic_form(size: int, sx: float, sy: float, theta: float, isotropic: bool) -> np.ndarray:
    """(x, y) Σ⁻¹ (x, y)ᵀ on the grid, Σ = R diag(sx², sy²) Rᵀ (rotation by theta)."""
    if isotropic:
        cov = np.array([[sx * sx, 0.0], [0.0, sx * sx]])
    else:
        c, s = np.cos(theta), np.sin(theta)
        rot = np.array([[c, -s], [s, c]])
        cov = rot @ np.diag([sx * sx, sy * sy]) @ rot.T
    inv = np.linalg.inv(cov)
    xx, yy = _grid(size)
    return xx * (xx * inv[0, 0] + yy * inv[1, 0]) + yy * (xx * inv[0, 1] + yy * inv[1, 1])


def _sinc(size: int, omega: float) -> np.ndarray:
    from scipy import special

    c = (size - 1) / 2
    ii, jj = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    r = np.sqrt((ii - c) ** 2 + (jj - c) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = omega * special.j1(omega * r) / (2 * np.pi * r)
    k[size // 2, size // 2] = omega * omega / (4 * np.pi)  # limit at r = 0
    return k


@lru_cache(maxsize=8192)
def _kernel_cached(kernel: Kernel) -> np.ndarray:
    kind = kernel.kind
    if kind == "sinc":
        k = _sinc(kernel.size, kernel.omega)
    else:
        q = _quadratic_form(kernel.size, kernel.sigma_x, kernel.sigma_y, kernel.theta, not kind.endswith("aniso"))
        if kind in ("iso", "aniso"):
            k = np.exp(-0.5 * q)
        elif kind.startswith("generalized"):
            k = np.exp(-0.5 * np.power(q, kernel.beta))
        else:  # plateau
            k = 1.0 / (np.power(q, kernel.beta) + 1.0)
    k = k / np.sum(k)
    k.setflags(write=False)
    return k


@lru_cache(maxsize=8192)
def _vector_cached(kernel: Kernel) -> np.ndarray | None:
    if kernel.kind != "iso":
        return None
    ax = np.arange(-(kernel.size // 2), kernel.size // 2 + 1, dtype=np.float64)
    g = np.exp(-0.5 * ax * ax / (kernel.sigma_x * kernel.sigma_x))
    g = g / g.sum()
    g.setflags(write=False)
    return g


def kernel_vector(kernel: Kernel) -> np.ndarray | None:
    """The 1-D factor v of a separable kernel (kernel == outer(v, v)), or None when it is not separable.

    Only isotropic Gaussians qualify: exp(-(x²+y²)/2σ²) = exp(-x²/2σ²)·exp(-y²/2σ²), exactly.
    """
    return _vector_cached(kernel)


def kernel_view(kernel: Kernel) -> np.ndarray:
    """The cached, read-only kernel array at its own size (no copy: for the hot path)."""
    return _kernel_cached(kernel)


def kernel_array(kernel: Kernel, pad_to: int = 0) -> np.ndarray:
    """The normalised float64 kernel, zero-padded (centred) to ``pad_to`` when that is larger."""
    k = _kernel_cached(kernel)
    if pad_to > kernel.size:
        if pad_to % 2 == 0:
            raise RestorationError(f"pad_to must be odd, got {pad_to}")
        p = (pad_to - kernel.size) // 2
        return np.pad(k, ((p, p), (p, p)))
    return k.copy()


def kernel_as_dict(kernel: Kernel) -> dict:
    """All fields (for debugging); use :meth:`Kernel.to_dict` for the canonical form."""
    return asdict(kernel)
