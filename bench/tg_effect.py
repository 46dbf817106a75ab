"""Does task-group (TG) fine-tuning help? TGSR Step C against plain fine-tuning of the same length, CPU scale.

Starting from the probe benchmark's base model (SRVGGNetCompact 64/16, ``bench/probe.py``):
1. probe ``--tasks`` tasks with the fast recipe (24 steps, last step, ``tune_last: 4``) and take the top 40% as
   unsatisfactory;
2. group them (Step B, ``group_tasks``) by the PSNR-Y gain of a joint fine-tune;
3. fine-tune two copies of the base for ``--iters`` steps with the same budget (batch, lr, crops):
   ``plain``: every sample gets a fresh random degradation (G0 only: what Real-ESRGAN does);
   ``tg``: each sample picks G0 or one of the groups uniformly, then a task of that group (Step C);
4. score base, plain and tg (PSNR-Y on held-out crops, identical LQ inputs for every model) on the unsatisfactory
   tasks, the satisfactory ones and fresh random tasks of the whole space.

Both fine-tunes run in parallel processes, one thread each. Results go to ``--out`` (JSONL per phase, resumable).

    .venv/bin/python bench/tg_effect.py --base /tmp/pb4/base_compact.safetensors --out /tmp/tg
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

import restoration  # noqa: F401  (torchvision compat hook first)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import probe as probe_bench  # noqa: E402  (same data set-up as the probe benchmark)


def _tg_name(g0_share: float) -> str:
    return "tg" if not g0_share else f"tg_g0_{g0_share:g}"


def _arm(args_dict: dict, arm: str, groups: dict) -> None:
    """Step C (``tg``) or the plain control: fine-tune a copy of the base and save it."""
    from types import SimpleNamespace

    import numpy as np
    import torch

    from restoration.degradations import DegradationSpace
    from restoration.inference import load_model, save_model
    from restoration.training import TrainStep
    from restoration.training.sources import RegionSource

    args = SimpleNamespace(**args_dict)
    path = Path(args.out) / f"{arm}.safetensors"
    if path.exists():
        return
    torch.set_num_threads(1)
    source, _, bank = probe_bench._setup(args)
    net, desc = load_model(args.base)[:2]
    net.train()
    for q in net.parameters():
        q.requires_grad_(True)
    step = TrainStep.adam(net, args.lr, (0.9, 0.99))
    space = DegradationSpace.from_opt(None)
    rng = np.random.default_rng(args.seed + 1)  # task choice: differs between the arms by design
    gen = torch.Generator().manual_seed(args.seed + 2)  # crops and noise: the same seed in both arms
    members = [list(m) for m in groups.values()] if arm.startswith("tg") else []

    def draw(n: int) -> list:
        tasks = []
        for _ in range(n):
            if args.g0_share and members:  # G0 gets that share of the samples, the groups split the rest
                g = 0 if rng.random() < args.g0_share else 1 + int(rng.integers(len(members)))
            else:  # uniform over G0 + groups (plain: G0 only)
                g = int(rng.integers(1 + len(members)))
            tasks.append(space.sample(rng) if g == 0 else bank[members[g - 1][int(rng.integers(len(members[g - 1])))]])
        return tasks

    t0 = time.perf_counter()
    step.run(RegionSource(source, draw, args.batch, args.patch, gen), args.iters,
             on_step=probe_bench._log_every(f"{arm}: step", args.iters, 500))
    net.eval()
    save_model(net, path, arch=desc.arch, arch_kwargs=desc.arch_kwargs, scale=4, name=f"tg-effect-{arm}",
               extra={"iters": args.iters, "seconds": time.perf_counter() - t0})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="the probe benchmark's base model (bench/probe.py --out DIR)")
    ap.add_argument("--out", default="/tmp/tg_effect")
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--fresh-tasks", type=int, default=30, help="random tasks of the whole space for scoring")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--patch", type=int, default=64)
    ap.add_argument("--degrade-size", type=int, default=80)
    ap.add_argument("--val-size", type=int, default=128)
    ap.add_argument("--val-per-image", type=int, default=4)
    ap.add_argument("--eval-batch", type=int, default=48, help="held-out pairs per task of the probe")
    ap.add_argument("--group-mode", default="iterative", choices=("iterative", "one_shot"))
    ap.add_argument("--thresholds", default="0.8,0.6,0.4,0.2", help="PIS thresholds in dB (paper: 0.8,0.6,0.4,0.2)")
    ap.add_argument("--group-iters", type=int, default=1000)
    ap.add_argument("--iters", type=int, default=3000, help="Step C steps of each arm")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4, help="the base's final lr")
    ap.add_argument("--g0-share", type=float, default=0.0,
                    help="share of TG samples drawn from G0, the whole space (default: uniform over G0 + groups)")
    args = ap.parse_args(argv)

    import numpy as np
    import torch

    from restoration.competition.grouping import group_tasks
    from restoration.competition.probe import ProbeConfig, run_probe, select_unsatisfactory
    from restoration.competition.scoring import psnr_y, to_uint8, validation_lq
    from restoration.degradations import TaskBank
    from restoration.inference import load_model

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    source, val_gt, bank = probe_bench._setup(args)
    base = load_model(args.base)[0]

    path = out / "probe.jsonl"
    done = probe_bench._done(path)
    cfg = ProbeConfig(iters=24, window=1, lr=2e-4, tune_last=4, batch_size=4, patch_size=args.patch,
                      degrade_size=args.degrade_size, seed=args.seed, execution="loop", measure="holdout",
                      eval_batch=args.eval_batch)
    for res in run_probe(base, [(i, bank[i]) for i in range(len(bank)) if i not in done], source, cfg):
        probe_bench._append(path, res.to_json())
    indicator = {i: r["indicator"] for i, r in probe_bench._done(path).items()}
    unsat = select_unsatisfactory(indicator, 0.4)

    gpath = out / "groups.json"
    if not gpath.exists():
        gopt = {"thresholds": [float(s) for s in args.thresholds.split(",")], "seed": args.seed, "iters":
                args.group_iters, "batch_size": args.batch, "lr": 2e-4, "betas": (0.9, 0.99), "mode": args.group_mode}
        t0 = time.perf_counter()
        groups, rounds = group_tasks(base, bank, unsat, source, val_gt, gopt)
        gpath.write_text(json.dumps({"groups": groups, "rounds": rounds, "seconds": time.perf_counter() - t0}))
    grouping = json.loads(gpath.read_text())
    groups = grouping["groups"]
    print("groups:", {k: len(v) for k, v in groups.items()}, flush=True)
    if not groups:
        print("no group formed: nothing for Step C to do at these thresholds", flush=True)
        return 1

    tg = _tg_name(args.g0_share)
    arms = [mp.get_context("spawn").Process(target=_arm, args=(vars(args), arm, groups)) for arm in ("plain", tg)]
    for w in arms:
        w.start()
    for w in arms:
        w.join()
    nets = {"base": base, "plain": load_model(out / "plain.safetensors")[0],
            "tg": load_model(out / f"{tg}.safetensors")[0]}

    fresh = TaskBank.sample(args.fresh_tasks, args.seed + 12345)
    grouped = sorted(i for m in groups.values() for i in m)
    sets = {"grouped (unsatisfactory, in a group)": [bank[i] for i in grouped],
            "unsatisfactory, not grouped": [bank[i] for i in unsat if i not in set(grouped)],
            "satisfactory": [bank[i] for i in range(len(bank)) if i not in set(unsat)],
            "fresh random tasks": list(fresh)}
    gt_u8 = to_uint8(val_gt)
    report: dict = {"groups": {k: len(v) for k, v in groups.items()},
                    "g0_share": args.g0_share or 1 / (1 + len(groups)), "iters": args.iters, "batch": args.batch,
                    "lr": args.lr, "unsatisfactory": len(unsat), "sets": {}}
    for name, tasks in sets.items():
        if not tasks:
            continue
        scores = {k: [] for k in nets}
        for task in tasks:
            lq = validation_lq(val_gt, task, args.seed + 99)
            for k, net in nets.items():
                scores[k].append(psnr_y(net, lq, gt_u8))
        with_tg, without = np.array(scores["tg"]), np.array(scores["plain"])
        report["sets"][name] = {"tasks": len(tasks), **{f"psnr_{k}": float(np.mean(v)) for k, v in scores.items()},
                                "tg_minus_plain_db": float(np.mean(with_tg - without)),
                                "tg_better_tasks": int((with_tg > without).sum())}
    (out / ("report.json" if tg == "tg" else f"report_{tg}.json")).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
