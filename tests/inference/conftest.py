"""Tiny random models for inference tests (built on the fly; no weights are shipped or downloaded)."""
from __future__ import annotations

import json

import pytest

import restoration  # noqa: F401  (compat hook before basicsr)

# arch -> kwargs of a tiny instance (a few thousand parameters, fast on CPU)
TINY = {
    "SRVGGNetCompact": dict(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=4, act_type="prelu"),
    "MSRResNet": dict(num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, upscale=2),
    "RRDBNet": dict(num_in_ch=3, num_out_ch=3, scale=4, num_feat=8, num_block=1, num_grow_ch=4),
}


def build_net(arch: str, init: str = "randn", **kwargs):
    """A network with ``init="randn"`` (N(0, 0.2) everywhere: strong, non-trivial weights) or ``"default"``
    (the architecture's own initialisation, whose influence decays with distance as in trained models)."""
    import torch

    from restoration.inference.descriptor import ModelDescriptor

    desc = ModelDescriptor.create(arch, kwargs)
    torch.manual_seed(1)
    net = desc.build().eval()
    if init == "default":
        return net, desc
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # non-trivial weights, incl. PReLU slopes and biases
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return net, desc


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
def _one_torch_thread():
    """Tiny networks run fastest on one thread; on a busy shared machine two threads spin and wait (7x slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
