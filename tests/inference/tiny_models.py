"""Tiny random models for inference tests (built on the fly; no weights are shipped or downloaded).

A plain module, not conftest.py: test files import it by name, and several folders have a conftest.py.
"""
from __future__ import annotations

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
