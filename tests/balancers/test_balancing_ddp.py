"""Two gloo processes, each with half of a global batch, apply the same update as one process on all of it."""
from __future__ import annotations

import socket

import pytest
import torch
import torch.multiprocessing as mp

METHODS = [{"type": "mean"}, {"type": "famo", "lr": 0.1}, {"type": "uw", "lr": 0.1}, {"type": "pcgrad"},
           {"type": "mgda", "epsilon": 1e-9}, {"type": "cagrad", "level": "representation"},
           {"type": "graddrop", "level": "representation"}]
K, B, STEPS = 4, 8, 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _setup():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.LeakyReLU(0.2),
                              torch.nn.Conv2d(4, 3, 3, padding=1))
    x, y = torch.rand(B, 3, 8, 8), torch.rand(B, 3, 8, 8)
    # key 3 lives on rank 1 only, key 0 on rank 0 only: a key can be locally absent but globally present
    keys = torch.tensor([0, 1, 2, 0, 3, 1, 2, 3])
    return net, x, y, keys


def _train(rank: int, world: int):
    """STEPS balanced SGD steps on this rank's share of the global batch; returns the params after each step."""
    import restoration  # noqa: F401  (import hook before torchvision)
    from restoration.balancers.registry import build_balancer, reduce_losses

    net, x, y, keys = _setup()
    part = slice(rank * B // world, (rank + 1) * B // world)
    x, y, keys = x[part], y[part], keys[part]
    out = {}
    for m in METHODS:
        net_m = _setup()[0]
        bal = build_balancer(m)
        opt = torch.optim.SGD(net_m.parameters(), lr=0.5)
        hist = []
        for _ in range(STEPS):
            opt.zero_grad()
            with bal.watch(net_m, keys):
                out_m = net_m(x)
            sums, counts = reduce_losses((out_m - y).abs().mean((1, 2, 3)) * (1 + keys), keys, K)
            info = bal.backward(sums, counts, list(net_m.parameters()))
            opt.step()
            if bal.needs_after_step:
                with torch.no_grad():
                    bal.after_step(*reduce_losses((net_m(x) - y).abs().mean((1, 2, 3)) * (1 + keys), keys, K))
            hist.append((torch.cat([p.detach().reshape(-1) for p in net_m.parameters()]), info["weights"].clone()))
        out[f"{m['type']}/{m.get('level', 'parameters')}"] = hist
    return out


def _worker(rank: int, world: int, port: int, path: str):
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        torch.save(_train(rank, world), f"{path}.{rank}")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow  # two spawned processes: ~10 s CPU, more wall time on a loaded machine
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed unavailable")
def test_two_gloo_ranks_match_single_process(tmp_path):
    path = str(tmp_path / "ranks")
    mp.spawn(_worker, args=(2, _free_port(), path), nprocs=2, join=True)
    single = _train(0, 1)
    r0 = torch.load(f"{path}.0", weights_only=True)
    r1 = torch.load(f"{path}.1", weights_only=True)
    for m in METHODS:
        name = f"{m['type']}/{m.get('level', 'parameters')}"
        for step, ((p_single, w_single), (p0, w0), (p1, _w1)) in enumerate(zip(single[name], r0[name], r1[name])):
            assert torch.equal(p0, p1), (name, step)  # every rank applies the same update
            assert torch.allclose(w0, w_single, atol=1e-6, equal_nan=True), (name, step, w0, w_single)
            # float32 sums in another order (per-rank partial sums, then all-reduce): a few ulps of |p| ~ 1 per step
            assert torch.allclose(p0, p_single, atol=2e-5), (name, step)
        assert not torch.equal(single[name][0][0], single[name][-1][0])  # the steps did move the net
