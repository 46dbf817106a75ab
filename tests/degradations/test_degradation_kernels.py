"""Our kernels equal basicsr's kernel functions (bivariate Gaussian, generalized, plateau, circular low-pass)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import restoration  # noqa: F401  (compat hook before basicsr)

# isort: split
from basicsr.data import degradations as bd
from basicsr_reference import basicsr_kernel

from restoration.degradations import DegradationSpace, Kernel, kernel_array
from restoration.errors import RestorationError


def test_kernels_equal_basicsr_for_every_kind():
    space = DegradationSpace()
    rng = np.random.default_rng(3)
    seen = set()
    worst = 0.0
    for _ in range(600):
        k = space._blur(rng, "")
        seen.add(k.kind)
        ours, ref = kernel_array(k), basicsr_kernel(k)
        assert ours.shape == ref.shape == (k.size, k.size)
        worst = max(worst, float(np.abs(ours - ref).max()))
    assert seen == {"iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso", "sinc"}
    assert worst < 1e-6


def test_hand_picked_kernels_equal_basicsr():
    cases = [
        Kernel("aniso", 21, sigma_x=3.0, sigma_y=0.2, theta=-math.pi),
        Kernel("generalized_aniso", 7, sigma_x=0.2, sigma_y=3.0, theta=1.0, beta=0.5),
        Kernel("plateau_iso", 15, sigma_x=2.0, sigma_y=2.0, beta=2.0),
        Kernel("sinc", 7, omega=math.pi),
        Kernel("sinc", 21, omega=math.pi / 5),
    ]
    for k in cases:
        np.testing.assert_allclose(kernel_array(k), basicsr_kernel(k), rtol=0, atol=1e-6)
    padded = kernel_array(Kernel("sinc", 9, omega=1.0), pad_to=21)
    np.testing.assert_allclose(padded, bd.circular_lowpass_kernel(1.0, 9, pad_to=21), rtol=0, atol=1e-6)


def test_kernel_record_validates_and_round_trips():
    with pytest.raises(RestorationError, match="unknown kernel type 'box'"):
        Kernel("box", 7, sigma_x=1.0, sigma_y=1.0)
    with pytest.raises(RestorationError, match="odd"):
        Kernel("iso", 8, sigma_x=1.0, sigma_y=1.0)
    with pytest.raises(RestorationError, match="sigma"):
        Kernel("aniso", 7, sigma_x=0.0, sigma_y=1.0)
    k = Kernel("generalized_aniso", 11, sigma_x=1.5, sigma_y=0.7, theta=0.3, beta=2.5)
    assert Kernel.from_dict(k.to_dict()) == k
    iso = Kernel("plateau_iso", 9, sigma_x=1.2, sigma_y=1.2, beta=1.5)
    assert "sigma_y" not in iso.to_dict() and Kernel.from_dict(iso.to_dict()) == iso
    with pytest.raises(RestorationError, match="unknown kernel field"):
        Kernel.from_dict({"kind": "iso", "size": 7, "sigma_x": 1.0, "radius": 3})


def test_kernels_are_normalised_and_padding_keeps_the_centre():
    k = Kernel("aniso", 9, sigma_x=2.0, sigma_y=0.5, theta=0.7)
    a = kernel_array(k)
    assert abs(a.sum() - 1) < 1e-12
    p = kernel_array(k, pad_to=21)
    assert p.shape == (21, 21) and np.array_equal(p[6:15, 6:15], a) and p.sum() == pytest.approx(1)
