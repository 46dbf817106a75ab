"""DegradationSpace: Real-ESRGAN defaults, option validation, and branch frequencies over 10,000 sampled tasks."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from restoration.degradations import BLUR_TYPES, DegradationSpace
from restoration.errors import OptionError

ROOT = Path(__file__).resolve().parents[2]
# train_realesrnet_x4plus.yml values (shared/reference/tgsr.md §5)
REAL_ESRGAN = {
    "resize_prob": (0.2, 0.7, 0.1), "resize_range": (0.15, 1.5), "gaussian_noise_prob": 0.5,
    "noise_range": (1, 30), "poisson_scale_range": (0.05, 3), "gray_noise_prob": 0.4, "jpeg_range": (30, 95),
    "second_blur_prob": 0.8, "resize_prob2": (0.3, 0.4, 0.3), "resize_range2": (0.3, 1.2),
    "gaussian_noise_prob2": 0.5, "noise_range2": (1, 25), "poisson_scale_range2": (0.05, 2.5),
    "gray_noise_prob2": 0.4, "jpeg_range2": (30, 95), "blur_kernel_size": 21, "kernel_list": BLUR_TYPES,
    "kernel_prob": (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), "sinc_prob": 0.1, "blur_sigma": (0.2, 3),
    "betag_range": (0.5, 4), "betap_range": (1, 2), "blur_kernel_size2": 21, "kernel_list2": BLUR_TYPES,
    "kernel_prob2": (0.45, 0.25, 0.12, 0.03, 0.12, 0.03), "sinc_prob2": 0.1, "blur_sigma2": (0.2, 1.5),
    "betag_range2": (0.5, 4), "betap_range2": (1, 2), "final_sinc_prob": 0.8,
}


def test_defaults_are_the_real_esrgan_x4_values_and_the_yaml_matches():
    space = DegradationSpace.from_opt(None)
    for key, value in REAL_ESRGAN.items():
        assert getattr(space, key) == value, key
    assert DegradationSpace.from_yaml(ROOT / "options/tasks/space_realesrgan_x4.yml") == space
    assert DegradationSpace.from_opt(space.to_opt()) == space


def test_sampling_is_deterministic_and_stays_in_range():
    space = DegradationSpace()
    a = space.sample_many(300, np.random.default_rng(5))
    assert a == space.sample_many(300, np.random.default_rng(5))
    assert a != space.sample_many(300, np.random.default_rng(6))
    for t in a:
        for k, s in ((t.blur1, ""), (t.blur2, "2")):
            if k is None:
                continue
            assert 7 <= k.size <= 21 and k.size % 2 == 1
            if k.kind == "sinc":
                assert (math.pi / 3 if k.size < 13 else math.pi / 5) - 1e-6 <= k.omega <= math.pi
            else:
                lo, hi = getattr(space, "blur_sigma" + s)
                assert lo <= k.sigma_x <= hi and lo <= k.sigma_y <= hi and -math.pi <= k.theta <= math.pi
        assert 0.15 <= t.resize1.scale <= 1.5 and 0.3 <= t.resize2.scale <= 1.2
        assert 30 <= t.jpeg1 <= 95 and 30 <= t.jpeg2 <= 95
        for noise, (g_lo, g_hi), (p_lo, p_hi) in ((t.noise1, (1, 30), (0.05, 3)), (t.noise2, (1, 25), (0.05, 2.5))):
            lo, hi = (g_lo, g_hi) if noise.kind == "gaussian" else (p_lo, p_hi)
            assert lo <= noise.level <= hi
        if t.final_sinc is not None:
            assert math.pi / 3 - 1e-6 <= t.final_sinc.omega <= math.pi


def test_branch_frequencies_match_their_probabilities_over_10000_tasks():
    space = DegradationSpace()
    tasks = space.sample_many(10_000, np.random.default_rng(2024))
    n = len(tasks)
    observed: dict[str, float] = {}
    expected: dict[str, float] = {}

    def check(name, count, p):
        observed[name], expected[name] = count / n, p

    for stage, s in (("1", ""), ("2", "2")):
        blur = [t.blur1 for t in tasks] if stage == "1" else [t.blur2 for t in tasks if t.blur2 is not None]
        nb = len(blur)
        kinds = Counter(k.kind for k in blur)
        sinc_p = getattr(space, "sinc_prob" + s)
        observed[f"blur{stage}.sinc"], expected[f"blur{stage}.sinc"] = kinds["sinc"] / nb, sinc_p
        for kind, p in zip(getattr(space, "kernel_list" + s), getattr(space, "kernel_prob" + s)):
            observed[f"blur{stage}.{kind}"], expected[f"blur{stage}.{kind}"] = kinds[kind] / nb, (1 - sinc_p) * p
        sizes = Counter(k.size for k in blur)
        for size in range(7, 22, 2):
            observed[f"blur{stage}.size{size}"], expected[f"blur{stage}.size{size}"] = sizes[size] / nb, 1 / 8
        resize = Counter(getattr(t, "resize" + stage).direction for t in tasks)
        for d, p in zip(("up", "down", "keep"), getattr(space, "resize_prob" + s)):
            check(f"resize{stage}.{d}", resize[d], p)
        modes = Counter(getattr(t, "resize" + stage).mode for t in tasks)
        for m in ("area", "bilinear", "bicubic"):
            check(f"resize{stage}.{m}", modes[m], 1 / 3)
        noise = [getattr(t, "noise" + stage) for t in tasks]
        check(f"noise{stage}.gaussian", sum(x.kind == "gaussian" for x in noise),
              getattr(space, "gaussian_noise_prob" + s))
        check(f"noise{stage}.gray", sum(x.gray for x in noise), getattr(space, "gray_noise_prob" + s))
    check("second_blur", sum(t.blur2 is not None for t in tasks), 0.8)
    check("final_sinc", sum(t.final_sinc is not None for t in tasks), 0.8)
    check("final_order.resize_sinc_jpeg", sum(t.final_order == "resize_sinc_jpeg" for t in tasks), 0.5)
    for m in ("area", "bilinear", "bicubic"):
        check(f"final_mode.{m}", sum(t.final_mode == m for t in tasks), 1 / 3)
    betas = [t.blur1.beta for t in tasks if t.blur1.kind.startswith("generalized")]
    observed["betag_below_1"], expected["betag_below_1"] = np.mean([b < 1 for b in betas]), 0.5
    worst = max(abs(observed[k] - expected[k]) for k in observed)
    print(f"{len(observed)} branch frequencies, worst deviation {100 * worst:.2f} percentage points")
    for k in observed:
        assert abs(observed[k] - expected[k]) < 0.02, (k, observed[k], expected[k])


def test_probabilities_set_to_0_or_1_force_a_branch():
    space = DegradationSpace.from_opt({"second_blur_prob": 0.0, "final_sinc_prob": 1.0, "sinc_prob": 1.0,
                                       "gaussian_noise_prob2": 0.0, "resize_prob": [0, 0, 1], "final_order_prob": 0})
    for t in space.sample_many(50, np.random.default_rng(0)):
        assert t.blur2 is None and t.final_sinc is not None and t.blur1.kind == "sinc"
        assert t.noise2.kind == "poisson" and t.resize1.direction == "keep" and t.final_order == "jpeg_resize_sinc"


@pytest.mark.parametrize("opt, message", [
    ({"kernel_list": ["iso", "box"], "kernel_prob": [0.5, 0.5]},
     r"kernel_list\[1\]: must be one of 'iso', .* got 'box'"),
    ({"kernel_prob2": [0.5, 0.25, 0.12, 0.03, 0.12, 0.03]}, "kernel_prob2: probabilities must sum to 1"),
    ({"resize_prob": [0.2, 0.2, 0.2]}, "resize_prob: probabilities must sum to 1"),
    ({"noise_range": [30, 1]}, r"noise_range: range is reversed \(30 > 1\)"),
    ({"blur_sigma2": [1.5, 0.2]}, "blur_sigma2: range is reversed"),
    ({"kernel_range": [21, 7]}, "kernel_range: range is reversed"),
    ({"gray_noise_prob": 1.5}, "gray_noise_prob: must be <= 1.0, got 1.5"),
    ({"jpeg_range": [30, 120]}, "jpeg_range: JPEG quality is at most 100"),
    ({"kernel_prob": [0.5, 0.5]}, "kernel_prob: expected 6 probabilities"),
    ({"resize_range": [0.5, 0.9]}, "resize_range: must satisfy 0 < low <= 1 <= high"),
    ({"noise_rnage": [1, 3]}, r"noise_rnage: unknown key \(known keys: betag_range, "),
    ({"kernel_range": [7, 25]}, "exceeds blur_kernel_size"),
    ({"sinc_prob": "0.1"}, r"sinc_prob: expected a number, got '0.1' \(PyYAML reads 2e-4 as a string"),
    ({"blur_kernel_size": 21.0}, "blur_kernel_size: expected an integer, got float 21.0"),
    ({"noise_range": [1, 2, 3]}, "noise_range: expected 2 values, got 3"),
])
def test_bad_options_raise_one_clear_option_error(opt, message):
    with pytest.raises(OptionError, match=message):
        DegradationSpace.from_opt(opt)


def test_bad_yaml_names_the_file(tmp_path):
    f = tmp_path / "space.yml"
    f.write_text("degradation:\n  noise_range: [30, 1]\n")
    with pytest.raises(OptionError, match=r"space.yml: noise_range: range is reversed"):
        DegradationSpace.from_yaml(f)
    with pytest.raises(OptionError, match="does not exist"):
        DegradationSpace.from_yaml(tmp_path / "missing.yml")
