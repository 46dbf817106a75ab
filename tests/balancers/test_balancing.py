"""Balancers: closed-form aggregation cases, weight updates against their formulas, bit-exactness, state."""
from __future__ import annotations

import io
import math

import pytest
import torch
from balancing_cases import controlled  # tests/balancers is on sys.path under pytest

from restoration.balancers.registry import available_balancers, batch_keys, build_balancer, num_keys_for, reduce_losses
from restoration.errors import OptionError

ALL = available_balancers()
GRADIENT = ["pcgrad", "cagrad", "mgda", "imtl_g", "nash_mtl", "aligned_mtl", "upgrad", "gradvac", "graddrop"]
WEIGHTING = ["ew", "uw", "dwa", "rlw", "gls", "gradnorm", "famo", "imtl_l"]


def test_registry_lists_every_method():
    assert set(ALL) == {"mean", *GRADIENT, *WEIGHTING}


def _linear_step(balancer, grads_rows: list[list[float]]):
    """Loss k = g_k . theta, so the per-key gradients are exactly the given rows."""
    G = torch.tensor(grads_rows, dtype=torch.float64)
    theta = torch.nn.Parameter(torch.zeros(G.shape[1], dtype=torch.float64))
    per_sample = G @ theta + 1.0
    sums, counts = reduce_losses(per_sample, torch.arange(len(G)), len(G))
    info = balancer.backward(sums, counts, [theta])
    return theta.grad.clone(), info, G


# ---- closed-form gradient aggregation -------------------------------------------------------------------
G2 = [[1.0, 0.0], [-1.0, 1.0]]  # g1.g2 = -1: conflicting


def test_pcgrad_projection_closed_form():
    # g1' = g1 - (g1.g2/|g2|^2) g2 = (0.5, 0.5); g2' = g2 - (g1.g2/|g1|^2) g1 = (0, 1)
    upd, info, _ = _linear_step(build_balancer({"type": "pcgrad", "reduction": "sum"}), G2)
    assert torch.allclose(upd, torch.tensor([0.5, 1.5], dtype=torch.float64))
    upd, info, _ = _linear_step(build_balancer({"type": "pcgrad"}), G2)  # mean reduction
    assert torch.allclose(upd, torch.tensor([0.25, 0.75], dtype=torch.float64))
    assert info["cos_mean_neg"] == pytest.approx(-1 / math.sqrt(2))
    assert info["conflict_frac"] == 1.0


def test_mgda_min_norm_point_closed_form():
    # min_a |a g1 + (1-a) g2|^2 = (2a-1)^2 + (1-a)^2 -> a = 0.6, point (0.2, 0.4)
    upd, info, _ = _linear_step(build_balancer({"type": "mgda", "epsilon": 1e-9}), G2)
    assert torch.allclose(upd, torch.tensor([0.2, 0.4], dtype=torch.float64), atol=1e-9)
    assert torch.allclose(info["weights"], torch.tensor([0.6, 0.4], dtype=torch.float64), atol=1e-9)


def test_imtl_g_equal_projections_closed_form():
    # d = a g1 + (1-a) g2 with d.u1 = d.u2 -> a = (2 + sqrt2) / (3 + 2 sqrt2)
    upd, info, G = _linear_step(build_balancer({"type": "imtl_g"}), G2)
    a = (2 + math.sqrt(2)) / (3 + 2 * math.sqrt(2))
    assert torch.allclose(info["weights"], torch.tensor([a, 1 - a], dtype=torch.float64), atol=1e-9)
    u = G / G.norm(dim=1, keepdim=True)
    proj = u @ upd
    assert proj[0] == pytest.approx(float(proj[1]), abs=1e-9)


def test_aligned_mtl_orthogonal_gradients_equalised():
    # Gram = diag(4, 1): B = sqrt(1) diag(1/2, 1); weights B @ (1/2, 1/2) = (1/4, 1/2) -> update (0.5, 0.5)
    upd, info, _ = _linear_step(build_balancer({"type": "aligned_mtl"}), [[2.0, 0.0], [0.0, 1.0]])
    assert torch.allclose(upd, torch.tensor([0.5, 0.5], dtype=torch.float64), atol=1e-9)


def test_gradvac_first_step_is_pcgrad_then_targets_follow_ema():
    b = build_balancer({"type": "gradvac", "beta": 0.5})
    upd, _, _ = _linear_step(b, G2)
    assert torch.allclose(upd, torch.tensor([0.25, 0.75], dtype=torch.float64))
    cos = -1 / math.sqrt(2)
    assert float(b.phi[0, 1]) == pytest.approx(0.5 * cos)
    assert float(b.phi[1, 0]) == pytest.approx(0.5 * cos)


@pytest.mark.parametrize("name", ["upgrad", "mgda", "imtl_g", "nash_mtl", "pcgrad"])
def test_update_does_not_conflict_with_any_key(name):
    G = [[1.0, 0.0, 0.2], [-0.8, 1.0, 0.0], [0.1, -0.7, 1.0]]
    opt = {"type": name, "max_norm": 0.0} if name == "nash_mtl" else {"type": name}
    upd, _, Gt = _linear_step(build_balancer(opt), G)
    assert (Gt @ upd >= -1e-6).all(), (name, Gt @ upd)


def test_nash_mtl_solves_bargaining_equation():
    G = [[1.0, 0.0, 0.2], [-0.8, 1.0, 0.0], [0.1, -0.7, 1.0]]
    _, info, Gt = _linear_step(build_balancer({"type": "nash_mtl", "max_norm": 0.0}), G)
    A = Gt @ Gt.T  # the paper's equation GᵀG α = 1/α, not a normalised one
    a = info["weights"]
    assert torch.allclose((A @ a) * a, torch.ones(3, dtype=torch.float64), atol=1e-6)


def test_cagrad_without_conflict_radius_is_mean_gradient():
    upd, _, G = _linear_step(build_balancer({"type": "cagrad", "c": 0.0}), G2)
    assert torch.allclose(upd, G.mean(0))
    upd, _, G = _linear_step(build_balancer({"type": "cagrad", "c": 0.4}), G2)
    assert (G @ upd).min() > (G @ G.mean(0)).min()  # conflict-averse: the worst key improves


def test_graddrop_keeps_agreeing_gradients():
    upd, _, G = _linear_step(build_balancer({"type": "graddrop"}), [[1.0, 2.0], [3.0, 0.5]])
    assert torch.allclose(upd, G.mean(0))


def test_gradient_methods_refuse_large_k_with_reason():
    b = build_balancer({"type": "pcgrad", "over": "tasks", "max_tasks": 4})
    theta = torch.nn.Parameter(torch.zeros(3))
    sums, counts = reduce_losses(theta.sum() * torch.ones(6), torch.arange(6), 6)
    with pytest.raises(OptionError, match=r"K=6 exceeds max_tasks=4.*over: groups"):
        b.backward(sums, counts, [theta])


# ---- bit-exactness of the baselines -------------------------------------------------------------------
def _net_and_batch(B=10, K=4):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3, padding=1), torch.nn.LeakyReLU(0.2),
                              torch.nn.Conv2d(6, 3, 3, padding=1))
    x, y = torch.rand(B, 3, 12, 12), torch.rand(B, 3, 12, 12)
    keys = torch.tensor([0, 2, 2, 1, 0, 2, 1, 2, 0, 0][:B]) % K
    return net, x, y, keys


def _grads(net):
    return [p.grad.clone() for p in net.parameters()]


def test_mean_is_bit_identical_to_batch_mean():
    net, x, y, keys = _net_and_batch()
    (net(x) - y).abs().mean((1, 2, 3)).mean().backward()
    ref = _grads(net)
    net.zero_grad()
    sums, counts = reduce_losses((net(x) - y).abs().mean((1, 2, 3)), keys, 4)
    info = build_balancer(None).backward(sums, counts, list(net.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ref, _grads(net)))
    assert info["weights"][3] == 0 and float(info["weights"].sum()) == pytest.approx(1.0)


def test_ew_is_bit_identical_to_summed_loss():
    net, x, y, keys = _net_and_batch()
    per = (net(x) - y).abs().mean((1, 2, 3))
    sums, counts = reduce_losses(per, keys, 4)
    present = counts > 0
    (sums[present] / counts[present]).sum().backward()  # plain sum of the per-key mean losses
    ref = _grads(net)
    net.zero_grad()
    sums, counts = reduce_losses((net(x) - y).abs().mean((1, 2, 3)), keys, 4)
    build_balancer({"type": "ew", "reduction": "sum"}).backward(sums, counts, list(net.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ref, _grads(net)))
    # one sample per key: EW(sum) is exactly per_sample.sum().backward()
    net.zero_grad()
    keys1 = torch.arange(10)
    (net(x) - y).abs().mean((1, 2, 3)).sum().backward()
    ref = _grads(net)
    net.zero_grad()
    sums, counts = reduce_losses((net(x) - y).abs().mean((1, 2, 3)), keys1, 10)
    build_balancer({"type": "ew", "reduction": "sum"}).backward(sums, counts, list(net.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(ref, _grads(net)))


# ---- loss-weighting updates step by step against the formulas ------------------------------------------
def test_uw_matches_kendall_loss_with_adam():
    lr = 0.1
    b = build_balancer({"type": "uw", "lr": lr, "init": -0.5})
    s_ref = torch.nn.Parameter(torch.full((3,), -0.5, dtype=torch.float64))
    opt = torch.optim.Adam([s_ref], lr=lr)
    for step_losses in ([0.5, 2.0, 1.0], [0.4, 1.5, 1.2], [0.3, 1.0, 0.9]):
        L = torch.tensor(step_losses, dtype=torch.float64, requires_grad=True)
        loss = (L / (2 * torch.exp(s_ref)) + s_ref / 2).sum()
        gL, = torch.autograd.grad(loss, L, retain_graph=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        info, grad = controlled(b, step_losses, [0, 1, 2], 3)
        assert torch.allclose(info["weights"], gL)
        assert torch.allclose(grad, gL * L.detach())
        assert torch.allclose(b.s, s_ref.detach())


def test_imtl_l_matches_its_loss_with_adam():
    b = build_balancer({"type": "imtl_l", "lr": 0.05})
    s_ref = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.Adam([s_ref], lr=0.05)
    for step_losses in ([0.5, 2.0], [0.4, 1.5]):
        L = torch.tensor(step_losses, dtype=torch.float64)
        w_ref = torch.exp(s_ref.detach()).clone()
        opt.zero_grad()
        (torch.exp(s_ref) * L - s_ref).sum().backward()
        opt.step()
        info, _ = controlled(b, step_losses, [0, 1], 2)
        assert torch.allclose(info["weights"], w_ref)
        assert torch.allclose(b.s, s_ref.detach())


def test_dwa_weights_follow_loss_ratios():
    T = 2.0
    b = build_balancer({"type": "dwa", "temperature": T, "period": 1})
    history = [[1.0, 2.0, 4.0], [0.5, 1.8, 4.4], [0.4, 1.0, 4.0], [0.2, 0.9, 3.0]]
    for t, step_losses in enumerate(history):
        info, _ = controlled(b, step_losses, [0, 1, 2], 3)
        if t < 2:
            expect = torch.full((3,), 1 / 3, dtype=torch.float64)
        else:
            r = torch.tensor(history[t - 1], dtype=torch.float64) / torch.tensor(history[t - 2], dtype=torch.float64)
            expect = torch.softmax(r / T, 0)
        assert torch.allclose(info["weights"], expect), t


def test_dwa_absent_key_keeps_history():
    b = build_balancer({"type": "dwa", "period": 1})
    controlled(b, [1.0, 2.0], [0, 1], 2)
    controlled(b, [0.5, 1.0], [0, 1], 2)
    info, _ = controlled(b, [0.5, 0.5], [0, 0], 2)  # key 1 absent: weight 0, its history untouched
    assert info["weights"][1] == 0 and info["weights"][0] == 1
    assert b.prev1[1] == 1.0 and b.prev2[1] == 2.0


def test_rlw_and_gls_weights():
    info, _ = controlled(build_balancer({"type": "gls"}), [1.0, 4.0], [0, 1], 2)
    gm = 2.0  # sqrt(1*4); w_k = gm / (K L_k)
    assert torch.allclose(info["weights"], torch.tensor([gm / 2, gm / 8], dtype=torch.float64))
    b = build_balancer({"type": "rlw", "seed": 3})
    w1, _ = controlled(b, [1.0, 1.0, 1.0], [0, 1, 2], 3)
    w2, _ = controlled(b, [1.0, 1.0, 1.0], [0, 1, 2], 3)
    assert float(w1["weights"].sum()) == pytest.approx(1.0) and not torch.allclose(w1["weights"], w2["weights"])


def test_absent_key_gets_zero_weight_and_keeps_state():
    for name in ["uw", "famo", "gradnorm", "imtl_l"]:
        b = build_balancer({"type": name})
        controlled(b, [1.0, 2.0, 3.0], [0, 1, 2], 3)
        if b.needs_after_step:
            b.after_step(torch.tensor([0.9, 1.9, 2.9], dtype=torch.float64), torch.ones(3, dtype=torch.long))
        state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in vars(b).items()}
        info, _ = controlled(b, [1.0, 3.0], [0, 2], 3)
        assert info["weights"][1] == 0, name
        param = {"uw": "s", "imtl_l": "s", "gradnorm": "s", "famo": "xi"}[name]
        assert getattr(b, param)[1] == state[param][1], name


# ---- options, keys, state -----------------------------------------------------------------------------
def test_options_are_validated():
    with pytest.raises(OptionError, match="train.balancing.type"):
        build_balancer({"type": "nope"})
    with pytest.raises(OptionError, match="train.balancing.lerning_rate"):
        build_balancer({"type": "famo", "lerning_rate": 1})
    with pytest.raises(OptionError, match="train.balancing.over"):
        build_balancer({"type": "ew", "over": "samples"})
    opt = {"type": "pcgrad", "over": "groups"}
    assert build_balancer(opt).over == "groups" and opt == {"type": "pcgrad", "over": "groups"}


def test_keys_for_groups_and_tasks():
    task, group = torch.tensor([3, -1, 0, -1]), torch.tensor([1, 0, 2, 0])
    assert batch_keys(task, group, "groups", 10).tolist() == [1, 0, 2, 0]
    assert batch_keys(task, group, "tasks", 10).tolist() == [3, 10, 0, 10]
    assert num_keys_for("tasks", 10, 2) == 11 and num_keys_for("groups", 10, 2) == 3


@pytest.mark.parametrize("name", ALL)
def test_state_dict_round_trip(name):
    net, x, y, keys = _net_and_batch()

    def step(b):
        net.zero_grad()
        per = (net(x) - y).abs().mean((1, 2, 3)) * (1 + keys)
        sums, counts = reduce_losses(per, keys, 4)
        info = b.backward(sums, counts, list(net.parameters()))
        if b.needs_after_step:
            with torch.no_grad():
                b.after_step(*reduce_losses((net(x) - y).abs().mean((1, 2, 3)) * 0.9 * (1 + keys), keys, 4))
        return info, _grads(net)

    b = build_balancer({"type": name, "period": 1} if name == "dwa" else {"type": name})
    step(b)
    step(b)
    buf = io.BytesIO()
    torch.save(b.state_dict(), buf)
    buf.seek(0)
    b2 = build_balancer({"type": name, "period": 1} if name == "dwa" else {"type": name})
    b2.load_state_dict(torch.load(buf, weights_only=True))
    i1, g1 = step(b)
    i2, g2 = step(b2)
    assert torch.allclose(i1["weights"], i2["weights"], rtol=0, atol=0, equal_nan=True), name
    assert all(torch.equal(a, c) for a, c in zip(g1, g2)), name


def test_log_scalars_flatten_info():
    from restoration.balancers.registry import log_scalars

    _, info, _ = _linear_step(build_balancer({"type": "pcgrad"}), G2)
    logs = log_scalars(info, ["a", "b"])
    # PCGrad weights: g1 + 0.5 g2 and g2 + g1, averaged -> (1, 0.75)
    assert logs["balancing/w/a"] == pytest.approx(1.0) and logs["balancing/w/b"] == pytest.approx(0.75)
    assert logs["balancing/cos_mean_neg"] < 0
    assert "balancing/grad_norm/b" in logs


def test_option_values_are_checked_never_coerced():
    assert build_balancer({"type": "famo", "lr": 1e-3}).opt["lr"] == pytest.approx(1e-3)
    assert build_balancer({"type": "dwa", "temperature": 2}).opt["temperature"] == 2.0  # an int is a number
    with pytest.raises(OptionError, match=r"^train\.balancing\.lr: expected a number, got '1e-3' \(.*!!float"):
        build_balancer({"type": "famo", "lr": "1e-3"})  # PyYAML's string, as everywhere else in the options
    with pytest.raises(OptionError, match=r"^train\.balancing\.lr_rate: unknown key \(known keys: "):
        build_balancer({"type": "famo", "lr_rate": 1e-3})
    for bad, key in [({"type": "famo", "reevaluate": "no"}, "reevaluate"), ({"type": "uw", "lr": "fast"}, "lr"),
                     ({"type": "pcgrad", "reduction": "median"}, "reduction"),
                     ({"type": "cagrad", "rescale": 3}, "rescale"), ({"type": "dwa", "period": 2.5}, "period"),
                     ({"type": "aligned_mtl", "scale_mode": "max"}, "scale_mode")]:
        with pytest.raises(OptionError, match=f"train.balancing.{key}"):
            build_balancer(bad)
