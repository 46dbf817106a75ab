"""TrainStep on small networks: the update it makes, EMA, scheduler, the balancer's post-step hook, threads, and the
stacked copies of the batched probe."""
from __future__ import annotations

import copy

import pytest
import torch

import restoration  # noqa: F401  (torchvision compat hook before basicsr)
from restoration.balancers.base import MeanBalancer
from restoration.training import Batch, Ema, PixelLoss, TrainStep
from restoration.training.stacked import StackedCopies


def _net(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.PReLU(4),
                               torch.nn.Conv2d(4, 3, 3, padding=1))


def _batches(n: int, b: int = 4, keys: int = 2) -> list[Batch]:
    g = torch.Generator().manual_seed(7)
    return [Batch(torch.rand(b, 3, 8, 8, generator=g), torch.rand(b, 3, 8, 8, generator=g),
                  torch.arange(b) % keys) for _ in range(n)]


def test_step_is_the_plain_mean_loss_adam_update():
    """With the batch-mean balancer a step is ``L1(net(lq), gt).backward(); adam.step()`` (to float rounding)."""
    net, ref = _net(), _net()
    step = TrainStep(net, torch.optim.Adam(net.parameters(), lr=1e-2), PixelLoss(), MeanBalancer(), num_keys=2)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    for batch in _batches(3):
        res = step.step(batch)
        loss = (ref(batch.lq) - batch.gt).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert res.loss == pytest.approx(float(loss.detach()), rel=1e-6)
        assert res.counts.tolist() == [2, 2] and res.key_means().shape == (2,)
    for a, b in zip(net.parameters(), ref.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_ema_scheduler_and_threads():
    net = _net()
    average = copy.deepcopy(net)
    start = [p.detach().clone() for p in net.parameters()]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    step = TrainStep(net, opt, PixelLoss(), ema=Ema(net, average, 0.9), scheduler=sched)
    batches = _batches(2, keys=1)
    before = torch.get_num_threads()
    seen, weights = [], []

    def on_step(t, result):
        seen.append((t, torch.get_num_threads()))
        weights.append([p.detach().clone() for p in net.parameters()])

    step.run(lambda t: batches[t], 2, threads=1, on_step=on_step)
    assert seen == [(0, 1), (1, 1)] and torch.get_num_threads() == before
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** 2)
    for p0, w1, w2, a in zip(start, *weights, average.parameters()):
        torch.testing.assert_close(a, 0.9 * (0.9 * p0 + 0.1 * w1) + 0.1 * w2)
        assert not torch.equal(w1, w2)


class _Recorder(MeanBalancer):
    needs_after_step = True

    def after_step_samples(self, batch_size: int) -> torch.Tensor:
        return torch.tensor([0, 2])

    def after_step(self, sums_after, counts_after, sums_before=None, counts_before=None) -> None:
        self.seen = (sums_after.clone(), counts_after.clone(), sums_before.clone())


def test_post_step_hook_gets_the_updated_network_losses():
    net = _net()
    bal = _Recorder()
    step = TrainStep(net, torch.optim.Adam(net.parameters(), lr=1e-2), PixelLoss(), bal, num_keys=2)
    batch = _batches(1)[0]  # keys 0, 1, 0, 1: samples 0 and 2 are both key 0
    res = step.step(batch)
    with torch.no_grad():
        after = (net(batch.lq[[0, 2]]) - batch.gt[[0, 2]]).abs().flatten(1).mean(1)
    sums_after, counts_after, sums_before = bal.seen
    assert counts_after.tolist() == [2, 0]
    torch.testing.assert_close(sums_after[0], after.sum())
    torch.testing.assert_close(sums_before[0], res.per_sample[[0, 2]].sum())
    assert float(sums_after[0]) < float(sums_before[0])  # the step lowered these samples' loss


def test_stacked_copies_run_each_copy_on_its_block():
    net = _net()
    stacked = StackedCopies(net, 3, trainable={"2.weight", "2.bias"})
    x = torch.rand(6, 3, 8, 8)
    torch.testing.assert_close(stacked(x), net(x))  # identical copies: the same output
    assert [p.requires_grad for p in stacked.parameters()] == [False, False, False, True, True]
    with torch.no_grad():
        stacked.stacked[3][1].add_(1.0)  # copy 1's last weight changes: only its block changes
    out = stacked(x)
    torch.testing.assert_close(out[[0, 1, 4, 5]], net(x)[[0, 1, 4, 5]])
    assert not torch.allclose(out[2:4], net(x)[2:4])


def test_every_optimiser_step_is_the_train_step():
    """Backward passes and optimiser steps live in TrainStep (and in the balancers it calls); the only other one is
    the GAN stage's discriminator step. Benchmarks and the competition pipeline call TrainStep."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    allowed = {"restoration/training/step.py", "restoration/models/realsrgan_mtl_model.py"}
    pattern = re.compile(r"\.(backward|zero_grad)\(|\b\w*opt\w*\.step\(")
    found = []
    for path in sorted([*root.glob("restoration/**/*.py"), *root.glob("bench/*.py")]):
        rel = path.relative_to(root).as_posix()
        if rel in allowed or rel.startswith("restoration/balancers/"):
            continue
        found += [f"{rel}:{n}" for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)]
    assert found == []
