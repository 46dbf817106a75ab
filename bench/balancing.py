"""Step time of every balancer relative to EW on the Compact backbone (SRVGGNetCompact, x4) with G groups.

One training step = ``restoration.training.TrainStep``: forward, per-sample L1, per-group reduction,
``balancer.backward`` and an Adam step (plus FAMO's no-grad re-forward of a share of the batch after the step).
Each method step is paired with an EW step right before it, so load from other processes hits both alike; the
figure is the median over pairs of the ratio, in wall time and in this process's CPU time (on a shared CPU the
CPU-time ratio is the stable one and decides the goal; on CUDA the wall ratio does). Goals: loss weighting <= 1.1x
EW, gradient aggregation <= (G+1)x EW at ``level: parameters`` and <= 1.5x EW at ``level: representation``
(spelled ``METHOD:level=representation``; ``--rep`` appends every gradient method at that level, ``--rep-only``
runs only those).

    .venv/bin/python bench/balancing.py [--batch 12] [--patch 64] [--groups 5] [--pairs 3] [--rep | --rep-only]
"""
from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

import restoration  # noqa: F401  (import hook before torchvision/basicsr)
from restoration.balancers.gradient import CLASSES as GRADIENT_CLASSES
from restoration.balancers.registry import available_balancers, build_balancer
from restoration.training import Batch, PixelLoss, TrainStep

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
    ap.add_argument("--pairs", type=int, default=3, help="paired (EW, method) steps per method")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch CPU threads (default 1: on a shared CPU, multi-thread timings swing with load; "
                         "0 = torch default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--methods", default=",".join(["ew"] + [m for m in available_balancers() if m != "ew"]
                                                  + ["famo:reevaluate=1", "famo:reevaluate=0"]))
    ap.add_argument("--rep", action="store_true", help="also every gradient method at level: representation")
    ap.add_argument("--rep-only", action="store_true", help="only EW and the gradient methods at level: representation")
    args = ap.parse_args()
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    rep = [f"{c.TYPE}:level=representation" for c in GRADIENT_CLASSES]
    if args.rep_only:
        args.methods = ",".join(["ew"] + rep)
    elif args.rep:
        args.methods = ",".join([args.methods] + rep)

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
    if args.batch < G:
        raise SystemExit(f"--batch {args.batch} < --groups {G}: every key must be present in each batch")

    state = {}
    for m in methods:
        torch.manual_seed(0)
        net = SRVGGNetCompact(num_feat=args.num_feat, num_conv=args.num_conv, upscale=4, act_type="prelu").to(dev)
        state[m] = TrainStep(net, torch.optim.Adam(net.parameters(), lr=1e-4), PixelLoss(), build_balancer(spec(m)), G)
    batch = Batch(lq, gt, keys)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def step(m):
        state[m].step(batch)

    # warm-up on a small batch (imports, first-call allocations, solver set-up) on copies of the timed nets
    small = Batch(lq[:G, :, :16, :16], gt[:G, :, :64, :64], keys[:G])
    for m in methods:
        net = copy.deepcopy(state[m].net)
        TrainStep(net, torch.optim.SGD(net.parameters(), lr=0.0), PixelLoss(), build_balancer(spec(m)), G).step(small)
    n_params = sum(p.numel() for p in state["ew"].net.parameters())
    print(f"# SRVGGNetCompact num_feat={args.num_feat} num_conv={args.num_conv} ({n_params / 1e6:.3f} M params), "
          f"batch {args.batch}, LQ {args.patch}px, G={G} keys, device {dev}, threads {torch.get_num_threads()}; "
          f"{args.pairs} paired steps (EW step, method step) per method, ratios = median over pairs", flush=True)
    print(f"{'method':34s} {'family':9s} {'EW s':>7s} {'method s':>9s} {'x EW wall':>9s} {'x EW cpu':>9s} "
          f"{'goal':>5s}  ok(cpu)", flush=True)

    def timed(m):
        sync()
        w, c = time.perf_counter(), time.process_time()
        step(m)
        sync()
        return time.perf_counter() - w, time.process_time() - c

    for m in methods:
        if m == "ew":
            continue
        pairs = []
        for _ in range(args.pairs):
            ew_w, ew_c = timed("ew")
            m_w, m_c = timed(m)
            pairs.append((ew_w, m_w, m_w / ew_w, m_c / ew_c))
        name = spec(m)["type"]
        fam = "gradient" if name in GRADIENT else ("baseline" if name == "mean" else "weighting")
        at_rep = spec(m).get("level") == "representation"
        goal = (1.5 if at_rep else float(G + 1)) if name in GRADIENT else 1.1
        ew_s, m_s = statistics.median(p[0] for p in pairs), statistics.median(p[1] for p in pairs)
        r_wall, r_cpu = statistics.median(p[2] for p in pairs), statistics.median(p[3] for p in pairs)
        r = r_wall if dev.type == "cuda" else r_cpu
        print(f"{m:34s} {fam:9s} {ew_s:7.3f} {m_s:9.3f} {r_wall:9.2f} {r_cpu:9.2f} {goal:5.1f}  "
              f"{'yes' if r <= goal else 'NO'}", flush=True)

if __name__ == "__main__":
    main()
