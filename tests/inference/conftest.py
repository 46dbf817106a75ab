"""Tiny random models for inference tests (built on the fly; no weights are shipped or downloaded)."""
from __future__ import annotations

import json

import pytest
from tiny_models import TINY, build_net

import restoration  # noqa: F401  (compat hook before basicsr)


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """A models folder with a manifest: 'tiny-x4' (default, SRVGGNetCompact) and 'tiny-x2' (MSRResNet)."""
    from restoration.inference.files import save_model, sha256_file

    root = tmp_path_factory.mktemp("zoo")
    entries = {}
    for name, arch in (("tiny-x4", "SRVGGNetCompact"), ("tiny-x2", "MSRResNet")):
        net, desc = build_net(arch, **TINY[arch])
        path = save_model(net, root / f"{name}.safetensors", arch=arch, arch_kwargs=desc.arch_kwargs,
                          scale=desc.scale, name=name)
        entries[name] = {"file": path.name, "sha256": sha256_file(path), "arch": arch, "scale": desc.scale,
                         "description": "random weights, tests only", "trained_on": "nothing", "metrics": {}}
    (root / "manifest.json").write_text(json.dumps({"schema": 1, "default": "tiny-x4", "models": entries}))
    return root


@pytest.fixture()
def rgb():
    import numpy as np

    return np.random.default_rng(3).integers(0, 256, (23, 31, 3), dtype=np.uint8)


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    yield
