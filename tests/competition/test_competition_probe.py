"""Step A probe: batched (vmap) and sequential executions agree, results do not depend on order, selection rule."""
from __future__ import annotations

import numpy as np
import pytest

import restoration  # noqa: F401

torch = pytest.importorskip("torch")

from restoration.competition.probe import (  # noqa: E402
    ProbeConfig,
    choose_execution,
    probe_loop,
    probe_vmap,
    run_probe,
    select_unsatisfactory,
    task_seed,
    tuned_names,
    tuned_share,
)
from restoration.degradations import TaskBank  # noqa: E402
from restoration.errors import OptionError  # noqa: E402


@pytest.fixture(scope="module")
def tiny(frozen_compact, tiny_patches):
    return frozen_compact, tiny_patches, TaskBank.sample(4, seed=3, space={"kernel_range": [7, 9]})


def _cfg(**kw):
    base = dict(iters=4, window=2, batch_size=2, patch_size=16, degrade_size=40, lr=1e-3, seed=0)
    base.update(kw)
    return ProbeConfig(**base)


@pytest.mark.parametrize("measure", ["before", "after", "holdout"])
def test_vmap_equals_sequential_loop(tiny, measure):
    net, source, bank = tiny
    cfg = _cfg(measure=measure, eval_batch=3)
    loop = np.array([probe_loop(net, t, source, cfg) for t in bank])
    batched = np.array(probe_vmap(net, list(bank), source, cfg))
    assert loop.shape == (4, 2)
    np.testing.assert_allclose(batched.mean(1), loop.mean(1), rtol=1e-4, atol=0)
    np.testing.assert_allclose(batched, loop, rtol=1e-4, atol=0)
    # the fine-tune really moved the copies: ratios differ from 1 and between tasks
    assert np.abs(loop - 1).max() > 1e-3
    assert len(set(np.round(loop.mean(1), 6))) == 4


def test_tune_last_selects_the_output_end_and_batches_like_the_loop(tiny):
    net, source, bank = tiny
    # Compact body: conv, prelu, (conv, prelu) x num_conv, conv; the last conv feeds the pixel shuffle
    assert tuned_names(net, 1) == {"body.6.weight", "body.6.bias"}
    assert tuned_names(net, 2) == {"body.4.weight", "body.4.bias", "body.5.weight", "body.6.weight", "body.6.bias"}
    assert tuned_names(net, 0) == {n for n, _ in net.named_parameters()}
    assert 0 < tuned_share(net, 1) < tuned_share(net, 2) < tuned_share(net, 0) == 1
    with pytest.raises(OptionError, match="tune_last: 9 exceeds the model's 4"):
        tuned_names(net, 9)
    cfg = _cfg(measure="holdout", eval_batch=3, tune_last=2)
    loop = np.array([probe_loop(net, t, source, cfg) for t in bank])
    np.testing.assert_allclose(np.array(probe_vmap(net, list(bank), source, cfg)), loop, rtol=1e-4, atol=0)
    full = np.array([probe_loop(net, t, source, _cfg(measure="holdout", eval_batch=3)) for t in bank])
    assert np.abs(loop - 1).max() > 1e-4 and np.abs(loop - full).max() > 1e-5  # it trains, but not everything
    assert all(not p.requires_grad for p in net.parameters())
    assert cfg.cost(tuned_share(net, 2)) < cfg.cost()
    assert cfg.fingerprint() != _cfg(measure="holdout", eval_batch=3).fingerprint()


def test_tasks_share_crops_and_keep_their_own_noise(tiny):
    from restoration.competition.probe import eval_set, probe_source

    _, source, bank = tiny
    cfg = _cfg(eval_batch=3)
    b = cfg.batch_size
    at5 = probe_source(source, [bank[0], bank[1]], cfg)(5)
    assert at5.keys.tolist() == [0] * b + [1] * b
    assert torch.equal(at5.gt[:b], at5.gt[b:]) and not torch.equal(at5.lq[:b], at5.lq[b:])  # same content
    alone = probe_source(source, [bank[0]], cfg)(5)  # a task's batch does not depend on the other tasks
    assert torch.equal(alone.lq, at5.lq[:b]) and torch.equal(alone.gt, at5.gt[:b])
    assert not torch.equal(at5.gt[:b], probe_source(source, [bank[0]], cfg)(6).gt)  # new crops each step
    e0, e1 = eval_set(source, bank[0], cfg), eval_set(source, bank[0], cfg)
    assert e0[0].shape[0] == 3 and torch.equal(e0[0], e1[0]) and torch.equal(e0[1], eval_set(source, bank[1], cfg)[1])


def test_results_do_not_depend_on_order_or_chunking(tiny):
    net, source, bank = tiny
    items = [(i, bank[i]) for i in range(len(bank))]
    forward = {r.index: r.indicator for r in run_probe(net, items, source, _cfg(execution="loop"))}
    reverse = {r.index: r.indicator for r in run_probe(net, items[::-1], source, _cfg(execution="vmap", chunk=3))}
    assert set(forward) == set(reverse) == {0, 1, 2, 3}
    for i in forward:
        assert reverse[i] == pytest.approx(forward[i], rel=1e-4)
    # the frozen base model was not modified by probing
    assert all(not p.requires_grad for p in net.parameters())


def test_auto_execution_picks_one_and_matches(tiny):
    net, source, bank = tiny
    choice = choose_execution(net, list(bank)[:2], source, _cfg(), steps=1)
    assert choice in ("loop", "vmap")
    ref = {r.index: r.indicator for r in run_probe(net, [(0, bank[0]), (1, bank[1])], source, _cfg(execution="loop"))}
    auto = {r.index: r for r in run_probe(net, [(0, bank[0]), (1, bank[1])], source, _cfg(execution="auto", chunk=2))}
    assert {r.execution for r in auto.values()} <= {"loop", "vmap"}
    for i in ref:
        assert auto[i].indicator == pytest.approx(ref[i], rel=1e-4)


def test_task_seed_depends_on_task_not_position():
    bank = TaskBank.sample(3, seed=0)
    other = TaskBank([bank[2], bank[0], bank[1]])
    assert task_seed(0, bank[2]) == task_seed(0, other[0])
    assert task_seed(0, bank[0]) != task_seed(1, bank[0])


def test_select_unsatisfactory_takes_smallest_indicators():
    ind = {0: 0.99, 1: 0.90, 2: 1.01, 3: 0.95, 4: 0.97}
    assert select_unsatisfactory(ind, 0.4) == [1, 3]
    assert select_unsatisfactory(ind, 1.0) == [0, 1, 2, 3, 4]
    with pytest.raises(OptionError):
        select_unsatisfactory(ind, 0)


def test_probe_config_validation():
    with pytest.raises(OptionError, match="probe.window"):
        ProbeConfig(iters=5, window=6)
    with pytest.raises(OptionError, match="unknown key"):
        ProbeConfig.from_opt({"itres": 3})
    with pytest.raises(OptionError, match="execution"):
        ProbeConfig(execution="gpu")
    a, b = ProbeConfig(execution="loop"), ProbeConfig(execution="vmap", chunk=3)
    assert a.fingerprint() == b.fingerprint()  # how it runs does not change what it computes
    assert ProbeConfig(iters=16, window=4).cost() * 5 < ProbeConfig().cost()


@pytest.mark.parametrize("measure", ["before", "after", "holdout"])
def test_cached_pool_matches_the_uncached_stacked_copies(tiny, measure):
    """A pool with tune_last runs the frozen prefix once per pair (loop) and gives the ratios of the stacked copies,
    which run the whole network at every step."""
    net, source, bank = tiny
    cfg = _cfg(measure=measure, eval_batch=3, tune_last=1, pool=2, iters=5, window=3)
    assert cfg.cached
    loop = np.array([probe_loop(net, t, source, cfg) for t in bank])
    np.testing.assert_allclose(np.array(probe_vmap(net, list(bank), source, cfg)), loop, rtol=1e-4, atol=0)
    fresh = np.array([probe_loop(net, t, source, _cfg(measure=measure, eval_batch=3, tune_last=1, iters=5, window=3))
                      for t in bank])
    assert np.abs(loop - 1).max() > 1e-4 and np.abs(loop - fresh).max() > 1e-6  # trains, on other batches
    assert cfg.cost(tuned_share(net, 1)) < _cfg(measure=measure, eval_batch=3, tune_last=1, iters=5,
                                                window=3).cost(tuned_share(net, 1))
    assert cfg.fingerprint() != _cfg(measure=measure, eval_batch=3, tune_last=1, iters=5, window=3).fingerprint()
    assert all(not p.requires_grad for p in net.parameters())


def test_run_probe_never_stacks_a_cached_recipe(tiny):
    net, source, bank = tiny
    cfg = _cfg(measure="holdout", eval_batch=3, tune_last=1, pool=2, execution="auto")
    results = list(run_probe(net, list(enumerate(bank)), source, cfg))
    assert {r.execution for r in results} == {"loop"}
    assert [r.ratios for r in results] == [probe_loop(net, t, source, cfg) for t in bank]
