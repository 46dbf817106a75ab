"""level: representation — the representation each backbone exposes, the per-key rows (one backward = K
backward passes), the weights (the method's own on the rows' Gramian) and the final gradient (one backward of
the weighted loss), GradDrop's masks and Nash-MTL's clip."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import restoration  # noqa: F401  (import hook before torchvision/basicsr)
from restoration.balancers.registry import build_balancer, reduce_losses
from restoration.balancers.representation import Capture, rep_rows, representation_module
from restoration.errors import OptionError

GRADIENT = ["pcgrad", "cagrad", "mgda", "imtl_g", "nash_mtl", "aligned_mtl", "upgrad", "gradvac", "graddrop"]
K = 3


def _compact():
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    torch.manual_seed(0)
    return SRVGGNetCompact(num_in_ch=3, num_out_ch=3, num_feat=8, num_conv=2, upscale=2, act_type="prelu").double()


def _batch(B=7):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(B, 3, 6, 6, generator=g, dtype=torch.float64)
    y = torch.rand(B, 3, 12, 12, generator=g, dtype=torch.float64)
    keys = torch.tensor([0, 1, 2, 0, 1, 2, 0][:B])
    return x, y, keys


def _per_sample(net, x, y, keys):
    return (net(x) - y).abs().mean((1, 2, 3)) * (1.0 + keys.double())  # keys differ in scale


def test_representation_module_per_backbone():
    from basicsr.archs.rrdbnet_arch import RRDBNet

    net = _compact()
    assert representation_module(net) is net.body[-1]
    rrdb = RRDBNet(3, 3, num_feat=4, num_block=1, num_grow_ch=2, scale=4)
    assert representation_module(rrdb) is rrdb.conv_up1
    mlp = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    assert representation_module(mlp) is mlp[2]
    assert representation_module(net, "body.0") is net.body[0]
    with pytest.raises(OptionError, match="rep_module"):
        representation_module(net, "nope")


def test_rows_from_one_backward_equal_k_backward_passes():
    net = _compact()
    x, y, keys = _batch()
    rows = []
    for with_keys in (True, False):
        cap = Capture()
        with cap.watch(net, keys if with_keys else None):
            per = _per_sample(net, x, y, keys)
        sums, counts = reduce_losses(per, keys, K)
        z, k = cap.take()
        rows.append(rep_rows(z, sums, counts, counts.double(), torch.arange(K), k))
    assert torch.allclose(rows[0], rows[1], rtol=1e-12, atol=1e-15)
    # row k = gradient of L_k w.r.t. a shift of z shared by all samples
    cap = Capture()
    with cap.watch(net, None):
        per = _per_sample(net, x, y, keys)
    z, _ = cap.take()
    (gz,) = torch.autograd.grad(per[keys == 1].mean(), z)
    assert torch.allclose(rows[0][1], gz.sum(0).reshape(-1))


@pytest.mark.parametrize("method", [m for m in GRADIENT if m != "graddrop"])
def test_weights_are_the_methods_on_the_rows_and_one_backward_applies_them(method):
    net = _compact()
    x, y, keys = _batch()
    opt = {"type": method, "level": "representation", **({"max_norm": 0.0} if method == "nash_mtl" else {})}
    bal = build_balancer(opt)
    with bal.watch(net, keys):
        per = _per_sample(net, x, y, keys)
    sums, counts = reduce_losses(per, keys, K)
    cap = Capture()  # the rows again, by hand
    with cap.watch(net, keys):
        per2 = _per_sample(net, x, y, keys)
    s2, c2 = reduce_losses(per2, keys, K)
    z, k = cap.take()
    rows = rep_rows(z, s2, c2, c2.double(), torch.arange(K), k)
    info = bal.backward(sums, counts, list(net.parameters()))
    got = [p.grad.clone() for p in net.parameters()]
    # the same method at level: parameters on a linear problem whose gradients are the rows
    theta = torch.nn.Parameter(torch.zeros(rows.shape[1], dtype=torch.float64))
    ref = build_balancer({**opt, "level": "parameters"})
    ref_info = ref.backward(*reduce_losses(rows @ theta + 1.0, torch.arange(K), K), [theta])
    assert torch.allclose(info["weights"], ref_info["weights"], rtol=1e-6, atol=1e-9), \
        (info["weights"], ref_info["weights"])
    net.zero_grad()
    ((s2 / c2) * info["weights"]).sum().backward()
    assert all(torch.allclose(a, b.grad, rtol=1e-9, atol=1e-12) for a, b in zip(got, net.parameters()))


def test_graddrop_masks_the_trunk_only():
    net = _compact()
    x, y, keys = _batch()

    def grads(opt):
        net.zero_grad()
        bal = build_balancer(opt)
        with bal.watch(net, keys):
            per = _per_sample(net, x, y, keys)
        bal.backward(*reduce_losses(per, keys, K), list(net.parameters()))
        return [p.grad.clone() for p in net.parameters()]

    net.zero_grad()
    per = _per_sample(net, x, y, keys)
    sums, counts = reduce_losses(per, keys, K)
    (sums / counts).mean().backward()
    ew = [p.grad.clone() for p in net.parameters()]
    leaky = grads({"type": "graddrop", "level": "representation", "leak": 1.0})
    assert all(torch.allclose(a, b) for a, b in zip(ew, leaky))  # leak 1 keeps everything: EW
    dropped = grads({"type": "graddrop", "level": "representation"})
    tail = {id(p) for p in net.body[-1].parameters()}
    for p, a, b in zip(net.parameters(), ew, dropped):
        if id(p) in tail:
            assert torch.allclose(a, b)  # above the representation the gradient is untouched
    assert not all(torch.allclose(a, b) for a, b in zip(ew, dropped))


def test_nash_mtl_clips_the_final_gradient():
    net = _compact()
    x, y, keys = _batch()
    bal = build_balancer({"type": "nash_mtl", "level": "representation", "max_norm": 1e-3})
    with bal.watch(net, keys):
        per = _per_sample(net, x, y, keys)
    info = bal.backward(*reduce_losses(per, keys, K), list(net.parameters()))
    assert info["update_norm"] == pytest.approx(1e-3, rel=1e-6)


def test_without_watch_it_says_how():
    net = _compact()
    x, y, keys = _batch()
    bal = build_balancer({"type": "pcgrad", "level": "representation"})
    with pytest.raises(RuntimeError, match="watch"):
        bal.backward(*reduce_losses(_per_sample(net, x, y, keys), keys, K), list(net.parameters()))
    with pytest.raises(OptionError, match="train.balancing.level"):
        build_balancer({"type": "pcgrad", "level": "features"})


def test_parameters_level_is_unchanged_by_watch():
    net = _compact()
    x, y, keys = _batch()
    out = []
    for wrap in (False, True):
        net.zero_grad()
        bal = build_balancer({"type": "mgda"})
        if wrap:
            with bal.watch(net, keys):
                per = _per_sample(net, x, y, keys)
        else:
            per = _per_sample(net, x, y, keys)
        bal.backward(*reduce_losses(per, keys, K), list(net.parameters()))
        out.append(np.concatenate([p.grad.reshape(-1).numpy() for p in net.parameters()]))
    assert np.array_equal(out[0], out[1])
