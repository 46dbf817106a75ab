"""Step time of every balancer relative to EW on the Compact backbone (SRVGGNetCompact, x4) with G groups.

One training step = forward, per-sample L1, per-group reduction, ``balancer.backward`` and an Adam step (plus
the no-grad re-forward of FAMO's post-step hook). Methods are timed in interleaved rounds (so load from other
processes hits all of them alike); the figure per method is the median step time, printed as a ratio to EW
measured in the same run. Goals: loss weighting <= 1.1x EW, gradient aggregation <= (G+1)x EW.

    .venv/bin/python bench/balancing.py [--batch 12] [--patch 64] [--groups 5] [--steps 3] [--rounds 2]
"""
from __future__ import annotations

import argparse
import statistics
import time

import restoration  # noqa: F401  (import hook before torchvision/basicsr)
import torch

from restoration.mtl.balancing import available_balancers, build_balancer, reduce_losses
from restoration.mtl.balancing_gradient import CLASSES as GRADIENT_CLASSES

GRADIENT = {c.TYPE for c in GRADIENT_CLASSES}


def spec(entry: str) -> dict:
    """``name`` or ``name:key=value:...`` (e.g. ``famo:reevaluate=false``) -> balancer options."""
    name, *kv = entry.split(":")
    opt: dict = {"type": name}
    for item in kv:
        k, v = item.split("=", 1)
        opt[k] = {"true": True, "false": False}.get(v.lower(), v)
    return opt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--patch", type=int, default=64, help="LQ patch size (GT = 4x)")
    ap.add_argument("--groups", type=int, default=5, help="number of keys G (every one present in each batch)")
    ap.add_argument("--num-feat", type=int, default=64)
    ap.add_argument("--num-conv", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per method per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = leave as is)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", default=",".join(["ew"] + [m for m in available_balancers() if m != "ew"]
                                                  + ["famo:reevaluate=false"]))
    args = ap.parse_args()
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    if args.threads:
        torch.set_num_threads(args.threads)
    dev = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                       ("cpu" if args.device == "auto" else args.device))
    methods = args.methods.split(",")
    if methods[0] != "ew":
        methods = ["ew"] + [m for m in methods if m != "ew"]
    G = args.groups
    gen = torch.Generator().manual_seed(0)
    lq = torch.rand(args.batch, 3, args.patch, args.patch, generator=gen).to(dev)
    gt = torch.rand(args.batch, 3, 4 * args.patch, 4 * args.patch, generator=gen).to(dev)
    keys = (torch.arange(args.batch) % G).to(dev)

    state = {}
    for m in methods:
        torch.manual_seed(0)
        net = SRVGGNetCompact(num_feat=args.num_feat, num_conv=args.num_conv, upscale=4, act_type="prelu").to(dev)
        state[m] = (net, torch.optim.Adam(net.parameters(), lr=1e-4), build_balancer(spec(m)))

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step(m):
        net, opt, bal = state[m]
        opt.zero_grad(set_to_none=False)
        per = (net(lq) - gt).abs().mean((1, 2, 3))
        sums, counts = reduce_losses(per, keys, G)
        bal.backward(sums, counts, list(net.parameters()))
        opt.step()
        if bal.needs_after_step:
            with torch.no_grad():
                bal.after_step(*reduce_losses((net(lq) - gt).abs().mean((1, 2, 3)), keys, G))

    # warm-up on a small batch (imports, first-call allocations, solver set-up) without touching the timed nets
    small_lq, small_gt, small_keys = lq[:G, :, :16, :16], gt[:G, :, :64, :64], keys[:G]
    for m in methods:
        net, _, bal = state[m]
        wb = build_balancer(spec(m))
        net.zero_grad()
        wb.backward(*reduce_losses((net(small_lq) - small_gt).abs().mean((1, 2, 3)), small_keys, G),
                    list(net.parameters()))
        net.zero_grad()
    n_params = sum(p.numel() for p in state["ew"][0].parameters())
    print(f"# SRVGGNetCompact num_feat={args.num_feat} num_conv={args.num_conv} ({n_params / 1e6:.3f} M params), "
          f"batch {args.batch}, LQ {args.patch}px, G={G} keys, device {dev}, threads {torch.get_num_threads()}, "
          f"median of {args.rounds}x{args.steps} steps", flush=True)
    print(f"{'method':22s} {'family':9s} {'median s':>9s} {'x EW':>6s} {'goal':>6s}  ok", flush=True)
    times = {m: [] for m in methods}
    for r in range(args.rounds):
        for m in methods:
            for _ in range(args.steps):
                sync()
                t = time.perf_counter()
                step(m)
                sync()
                times[m].append(time.perf_counter() - t)
            if r == args.rounds - 1:  # print as soon as a method is done
                med, ew = statistics.median(times[m]), statistics.median(times["ew"])
                name = spec(m)["type"]
                fam = "gradient" if name in GRADIENT else ("baseline" if name == "mean" else "weighting")
                goal = float(G + 1) if name in GRADIENT else 1.1
                ratio = med / ew
                print(f"{m:22s} {fam:9s} {med:9.3f} {ratio:6.2f} {goal:6.1f}  {'yes' if ratio <= goal else 'NO'}",
                      flush=True)


if __name__ == "__main__":
    main()
