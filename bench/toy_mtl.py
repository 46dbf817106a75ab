"""Toy multi-input multi-task regression: one small shared MLP serves K tasks that differ by their inputs and
targets (no task heads, as in degradation-as-task SR). Loss scales differ by 100× and the targets conflict,
so the summed loss is dominated by the large tasks. Reports every balancer's per-task loss relative to its
initial loss, averaged over seeds, and the worst task (lower is better). ``METHOD:level=representation`` runs a
gradient method on the gradients w.r.t. the input of the last layer (the 16 hidden units); ``--rep`` runs every
gradient method at both levels and reports the representation-level worst task relative to the parameter-level one.

    .venv/bin/python bench/toy_mtl.py [--steps 300] [--seeds 3] [--methods ew,pcgrad,famo:reevaluate=1,...] [--rep]
"""
from __future__ import annotations

import argparse
import time

import torch

import restoration  # noqa: F401  (import hook before torchvision)
from restoration.balancers.registry import available_balancers, build_balancer, reduce_losses
from restoration.training import Batch, TrainStep

K, D, PER_TASK = 4, 8, 32
SCALES = [10.0, 1.0, 0.3, 0.1]


def make_problem(seed: int):
    """Per task: input mean, a random target map, a loss scale."""
    g = torch.Generator().manual_seed(1000 + seed)
    mu = torch.randn(K, D, generator=g) * 0.5
    maps = torch.randn(K, D, 2, generator=g)
    return mu, maps, g


def batch(mu, maps, g, n=PER_TASK) -> Batch:
    keys = torch.arange(K).repeat_interleave(n)
    x = mu[keys] + torch.randn(len(keys), D, generator=g)
    y = torch.tanh(torch.einsum("bd,bdo->bo", x, maps[keys]))
    return Batch(x, y, keys)


def per_sample_loss(out: torch.Tensor, b: Batch) -> tuple[torch.Tensor, dict]:
    """Squared error scaled by the task's loss scale."""
    return torch.tensor(SCALES)[b.keys] * ((out - b.gt) ** 2).mean(1), {}


def run(method: str, seed: int, steps: int) -> torch.Tensor:
    torch.manual_seed(seed)
    mu, maps, g = make_problem(seed)
    net = torch.nn.Sequential(torch.nn.Linear(D, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    name, *kv = method.split(":")  # name or name:key=value:... (e.g. famo:reevaluate=1)
    bal = build_balancer({"type": name, **dict(item.split("=", 1) for item in kv)})
    step = TrainStep(net, torch.optim.Adam(net.parameters(), lr=3e-3), per_sample_loss, bal, K)
    ev = batch(mu, maps, torch.Generator().manual_seed(99), n=512)

    def eval_losses():
        s, c = reduce_losses(step.evaluate(ev).per_sample, ev.keys, K)
        return s / c

    init = eval_losses()
    for _ in range(steps):
        step.step(batch(mu, maps, g))
    return eval_losses() / init


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--methods", default=",".join(["ew"] + [m for m in available_balancers() if m != "ew"]))
    ap.add_argument("--rep", action="store_true",
                    help="every gradient method at level: parameters and level: representation")
    args = ap.parse_args()
    if args.rep:
        from restoration.balancers.gradient import CLASSES

        args.methods = ",".join(["ew"] + [f"{c.TYPE}{lvl}" for c in CLASSES for lvl in ("", ":level=representation")])
    torch.set_num_threads(1)
    print(f"# toy MTL: K={K} tasks, loss scales {SCALES}, {args.steps} Adam steps, {args.seeds} seeds; "
          f"relative eval loss L_k(end)/L_k(start), mean over seeds (lower is better)")
    print(f"{'method':32s} " + " ".join(f"task{k}({SCALES[k]:g})" for k in range(K))
          + "   worst   mean   vs-EW-worst  rep/param-worst  s")
    rows = {}
    for m in args.methods.split(","):
        t = time.perf_counter()
        rel = torch.stack([run(m, s, args.steps) for s in range(args.seeds)]).mean(0)
        rows[m] = rel
        ew = rows.get("ew")
        ratio = f"{float(rel.max() / ew.max()):.3f}" if ew is not None else "  -  "
        base = rows.get(m.replace(":level=representation", ""))
        vs_param = f"{float(rel.max() / base.max()):.3f}" if ":level=representation" in m and base is not None else "-"
        print(f"{m:32s} " + " ".join(f"{float(v):>10.3f}" for v in rel)
              + f"  {float(rel.max()):6.3f} {float(rel.mean()):6.3f}   {ratio:>8s}   {vs_param:>12s}"
              f"  {time.perf_counter() - t:5.1f}", flush=True)


if __name__ == "__main__":
    main()
