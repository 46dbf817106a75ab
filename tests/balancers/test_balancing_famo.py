"""FAMO: its weights and logit updates against the paper's formulas, re-evaluation subsets, resume."""
from __future__ import annotations

import pytest
import torch
from balancing_cases import controlled  # tests/balancers is on sys.path under pytest

from restoration.balancers.registry import build_balancer
from restoration.errors import OptionError


def test_famo_matches_reference_update():
    lr, gamma = 0.05, 1e-3
    b = build_balancer({"type": "famo", "lr": lr, "gamma": gamma})
    xi = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    opt = torch.optim.Adam([xi], lr=lr, weight_decay=gamma)
    seq = [([1.0, 2.0, 0.5], [0.9, 1.5, 0.49]), ([0.9, 1.5, 0.49], [0.7, 1.45, 0.48]),
           ([0.7, 1.4, 0.5], [0.5, 1.3, 0.45])]
    for before, after in seq:
        L = torch.tensor(before, dtype=torch.float64, requires_grad=True)
        z = torch.softmax(xi.detach(), 0)
        D = L + 1e-8
        c = (z / D).sum().detach()
        w_ref, = torch.autograd.grad((z * torch.log(D) / c).sum(), L)
        info, _ = controlled(b, before, [0, 1, 2], 3)
        assert torch.allclose(info["weights"], w_ref)
        assert float(info["weights"].sum()) == pytest.approx(1.0)
        La = torch.tensor(after, dtype=torch.float64)
        delta = torch.log(L.detach() + 1e-8) - torch.log(La + 1e-8)
        xi.grad, = torch.autograd.grad(torch.softmax(xi, 0), xi, grad_outputs=delta)
        opt.step()
        b.after_step(La.clone(), torch.ones(3, dtype=torch.long))
        assert torch.allclose(b.xi, xi.detach())


def test_famo_reevaluates_a_seeded_share_of_the_batch():
    b = build_balancer({"type": "famo"})  # default share 0.25
    assert b.needs_after_step and b.share == 0.25
    first = b.after_step_samples(10)
    assert len(first) == 3 and torch.equal(first, b.after_step_samples(10)) and torch.equal(first, first.sort().values)
    assert build_balancer({"type": "famo", "reevaluate": True}).after_step_samples(7).tolist() == list(range(7))
    assert not build_balancer({"type": "famo", "reevaluate": False}).needs_after_step
    controlled(b, [1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1], 2)
    b.after_step(torch.tensor([0.5, 1.0], dtype=torch.float64), torch.ones(2, dtype=torch.long),
                 torch.tensor([1.0, 2.0], dtype=torch.float64), torch.ones(2, dtype=torch.long))
    assert not torch.equal(b.after_step_samples(10), first)  # a new draw each step, replayed from the step count
    b2 = build_balancer({"type": "famo"})
    b2.load_state_dict(b.state_dict())
    assert torch.equal(b2.after_step_samples(10), b.after_step_samples(10))  # resume replays the draw
    with pytest.raises(OptionError, match="train.balancing.reevaluate"):
        build_balancer({"type": "famo", "reevaluate": 1.5})


def test_famo_subset_rule_uses_the_subsets_own_losses():
    """delta_k = log L_k(subset, before) - log L_k(subset, after), not the whole batch's loss before."""
    lr = 0.05
    b = build_balancer({"type": "famo", "lr": lr, "gamma": 0.0, "reevaluate": 0.5})
    controlled(b, [1.0, 2.0, 3.0, 4.0], [0, 1, 0, 1], 2)  # batch means (2, 3); subset below: samples 0 and 1
    before, after = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.8, 1.9], dtype=torch.float64)
    b.after_step(after, torch.ones(2, dtype=torch.long), before, torch.ones(2, dtype=torch.long))
    xi = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.Adam([xi], lr=lr)
    delta = torch.log(before + 1e-8) - torch.log(after + 1e-8)
    xi.grad, = torch.autograd.grad(torch.softmax(xi, 0), xi, grad_outputs=delta)
    opt.step()
    assert torch.allclose(b.xi, xi.detach())


def test_famo_without_reevaluation_uses_next_batch_losses():
    lr = 0.05
    b = build_balancer({"type": "famo", "lr": lr, "gamma": 0.0, "reevaluate": False})
    assert not b.needs_after_step
    xi = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    opt = torch.optim.Adam([xi], lr=lr)
    seq = [[1.0, 2.0], [0.8, 1.9], [0.7, 1.5]]
    for t, losses in enumerate(seq):
        if t > 0:
            delta = torch.log(torch.tensor(seq[t - 1], dtype=torch.float64) + 1e-8) - torch.log(
                torch.tensor(losses, dtype=torch.float64) + 1e-8)
            xi.grad, = torch.autograd.grad(torch.softmax(xi, 0), xi, grad_outputs=delta)
            opt.step()
        controlled(b, losses, [0, 1], 2)
        assert torch.allclose(b.xi, xi.detach()), t
