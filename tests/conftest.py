"""Shared fixtures. Caches go to a temp dir (a failed download must not leave folders in the user's home)."""
from __future__ import annotations

import os
import random
import tempfile

_CACHE = tempfile.mkdtemp(prefix="restoration-tests-cache-")
os.environ["TORCH_HOME"] = os.path.join(_CACHE, "torch")
os.environ["XDG_CACHE_HOME"] = os.path.join(_CACHE, "xdg")
os.environ["RESTORATION_LPIPS_DIR"] = os.path.join(_CACHE, "lpips")  # converted LPIPS backbones
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from restoration.data.offline_photos import list_offline_photos  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_everything():
    """Every test starts from the same seeds, so a failure reproduces."""
    random.seed(0)
    np.random.seed(0)
    try:
        import torch

        torch.manual_seed(0)
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    yield


@pytest.fixture
def one_torch_thread():
    """Tiny networks run fastest on one torch thread; on a busy shared machine two threads spin and wait.

    Results do not depend on it (each test compares runs made under the same setting)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def photo_paths():
    """Paths of real photos shipped by installed packages (lossless ones first)."""
    photos = list_offline_photos()
    if len(photos) < 3:
        pytest.skip("fewer than 3 offline photos found (install sporco and scikit-image)")
    photos.sort(key=lambda p: not p.lossless)
    return [p.path for p in photos]


@pytest.fixture(scope="session")
def photos(photo_paths):
    """A few real photos as RGB uint8 arrays, keyed by name."""
    import cv2

    out = {}
    for path in photo_paths[:6]:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        assert img is not None, path
        out[path.stem] = img[:, :, ::-1].copy()
    return out


@pytest.fixture(scope="module")
def frozen_compact():
    """A tiny SRVGGNetCompact (4 features, 2 convs) with frozen weights: the base model of the probe and
    group fine-tune tests, which copy it before training."""
    import torch
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(0)
    net = SRVGGNetCompact(num_feat=4, num_conv=2, upscale=4).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


@pytest.fixture(scope="module")
def tiny_patches():
    """16 px GT patches (40 px before degradation) from the offline training photos, for probe-style tests."""
    from restoration.competition.data import PatchSource, load_gt

    train, _ = load_gt(None)
    return PatchSource([im for _, im in train], patch_size=16, degrade_size=40)
