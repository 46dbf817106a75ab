"""Benchmark of the Step A probe on SRVGGNetCompact (num_feat 64, num_conv 16), all figures from one run.

(a) seconds per task of the faithful probe (100 steps, plain loop) vs fast recipes, and how well each fast
    recipe's ranking agrees with the faithful one (Spearman, overlap of the top-``ratio`` unsatisfactory sets),
    and again with a second seed (other crops, noise and held-out pairs for both probes). A recipe is
    ITERS:WINDOW:LR[:TUNE_LAST]; TUNE_LAST fine-tunes only the last that many conv layers (``probe.tune_last``);
(b) Spearman between the faithful indicator and the PSNR-Y gain of a long single-task fine-tune (the ground truth
    the cheap indicator stands for). A small indicator should mean a large gain, so we report
    Spearman(-indicator, gain): positive = the indicator finds the tasks that gain.

The base model is a briefly trained Compact (random Real-ESRGAN degradations, L1), trained here unless --base is
given. (b) runs in a second process next to (a); each process uses one thread. Every phase appends its results to
a JSONL file in --out, so a re-run continues where it stopped.

    .venv/bin/python bench/probe.py --out /tmp/probe_bench
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import restoration  # noqa: F401  (torchvision compat hook first)


def _done(path: Path) -> dict:
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            out[rec["index"]] = rec
    return out


def _append(path: Path, rec: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(rec) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _setup(args):
    import torch

    from restoration.competition.data import PatchSource, load_gt, validation_crops
    from restoration.degradations import TaskBank

    torch.set_num_threads(1)
    train, val = load_gt(None)
    source = PatchSource([im for _, im in train], args.patch, args.degrade_size)
    val_gt = validation_crops([im for _, im in val], args.val_size, per_image=args.val_per_image)
    bank = TaskBank.sample(args.tasks, args.seed)
    return source, val_gt, bank


def _log_every(label: str, iters: int, every: int):
    """An ``on_step`` callback printing the loss every ``every`` steps."""
    def on_step(t: int, result) -> None:
        if t % every == 0:
            print(f"{label} {t}/{iters} loss {result.loss:.4f}", flush=True)

    return on_step


def _base_model(args, out: Path):
    import numpy as np
    import torch

    from restoration.degradations import DegradationSpace
    from restoration.inference import load_model, save_model
    from restoration.training import TrainStep
    from restoration.training.sources import RegionSource

    path = Path(args.base) if args.base else out / "base_compact.safetensors"
    if path.exists():
        return load_model(path)[0], 0.0
    source, _, _ = _setup(args)
    torch.manual_seed(args.seed)
    from basicsr.archs.srvgg_arch import SRVGGNetCompact

    kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=64, num_conv=16, upscale=4, act_type="prelu")
    net = SRVGGNetCompact(**kwargs)
    step = TrainStep.adam(net, args.base_lr, (0.9, 0.99))
    step.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(step.optimizer, args.base_iters,
                                                                eta_min=args.base_lr / 10)
    space = DegradationSpace.from_opt(None)
    rng = np.random.default_rng(args.seed)
    regions = RegionSource(source, lambda n: [space.sample(rng) for _ in range(n)], args.base_batch, args.patch,
                           torch.Generator().manual_seed(args.seed))
    t0 = time.perf_counter()
    step.run(regions, args.base_iters, on_step=_log_every("base training", args.base_iters, 100))
    secs = time.perf_counter() - t0
    save_model(net, path, arch="SRVGGNetCompact", arch_kwargs=kwargs, scale=4, name="bench-compact-base",
               extra={"iters": args.base_iters, "lr": args.base_lr})
    return load_model(path)[0], secs


def _probe_phase(args, net, name: str, cfg, out: Path, limit: int | None = None) -> dict:
    from restoration.competition.probe import run_probe

    source, _, bank = _setup(args)
    path = out / f"{name}.jsonl"
    done = _done(path)
    n = len(bank) if limit is None else min(limit, len(bank))
    todo = [] if args.report_only else [(i, bank[i]) for i in range(n) if i not in done]
    t0 = time.perf_counter()
    for res in run_probe(net, todo, source, cfg):
        _append(path, res.to_json())
        print(f"{name}: task {res.index} indicator {res.indicator:.4f} ({res.seconds:.1f} s)", flush=True)
    if todo:
        print(f"{name}: {len(todo)} tasks in {time.perf_counter() - t0:.0f} s", flush=True)
    return _done(path)


def _Bicubic():
    import torch

    class Bicubic(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.interpolate(x, scale_factor=4, mode="bicubic", align_corners=False)

    return Bicubic()


def _long_worker(args_dict: dict, out: str, part: int = 0, parts: int = 1) -> None:
    """(b): long single-task fine-tunes and their PSNR-Y gains, one JSONL line per task."""
    from types import SimpleNamespace

    from restoration.competition.scoring import finetune, psnr_y, to_uint8, validation_lq
    from restoration.inference import load_model

    args = SimpleNamespace(**args_dict)
    out_p = Path(out)
    net = load_model(Path(args.base) if args.base else out_p / "base_compact.safetensors")[0]
    source, val_gt, bank = _setup(args)
    gt_u8 = to_uint8(val_gt)
    path = out_p / f"long{part}.jsonl"
    done = _done(path)
    for i in range(part, args.long_tasks, parts):
        if i in done:
            continue
        t0 = time.perf_counter()
        lq = validation_lq(val_gt, bank[i], args.seed)
        before = psnr_y(net, lq, gt_u8)
        bicubic = psnr_y(_Bicubic(), lq, gt_u8)
        tuned = finetune(net, [bank[i]], source, args.long_iters, batch_size=args.long_batch, lr=args.lr,
                         seed=args.seed + 1000 + i)
        after = psnr_y(tuned, lq, gt_u8)
        _append(path, {"index": i, "task_id": bank[i].task_id, "psnr_bicubic": bicubic, "psnr_before": before,
                       "psnr_after": after, "gain": after - before, "seconds": time.perf_counter() - t0})
        print(f"long: task {i} gain {after - before:+.3f} dB ({time.perf_counter() - t0:.0f} s)", flush=True)


def _interleaved_timing(args, net, recipes: dict, out: Path) -> dict:
    """Seconds per task of each recipe, timed back to back on the same ``--timing-tasks`` tasks, so that every
    recipe sees the same machine load (the phases above run minutes apart on a shared machine)."""
    from restoration.competition.probe import probe_loop

    path = out / "timing.json"
    if path.exists():
        return json.loads(path.read_text())
    if args.report_only:
        return {}
    source, _, bank = _setup(args)
    totals = {name: 0.0 for name in recipes}
    for i in range(args.timing_tasks):
        for name, cfg in recipes.items():
            t0 = time.perf_counter()
            probe_loop(net, bank[i], source, cfg)
            totals[name] += time.perf_counter() - t0
    result = {name: t / args.timing_tasks for name, t in totals.items()}
    result["tasks"] = args.timing_tasks
    path.write_text(json.dumps(result, indent=1))
    return result


def _recipe(spec: str) -> tuple[str, dict]:
    """ITERS:WINDOW:LR[:TUNE_LAST] -> (phase name, ProbeConfig keywords)."""
    it, win, lr, *last = spec.split(":")
    name = f"fast_{it}_{win}_{lr}" + (f"_last{last[0]}" if last else "")
    return name, {"iters": int(it), "window": int(win), "lr": float(lr), "tune_last": int(last[0]) if last else 0}


def _agreement(ref: dict, other: dict, ratio: float) -> dict:
    from scipy.stats import spearmanr

    from restoration.competition.probe import select_unsatisfactory

    common = sorted(set(ref) & set(other))
    a = {i: ref[i]["indicator"] for i in common}
    b = {i: other[i]["indicator"] for i in common}
    rho = float(spearmanr([a[i] for i in common], [b[i] for i in common])[0])
    sa, sb = set(select_unsatisfactory(a, ratio)), set(select_unsatisfactory(b, ratio))
    return {"tasks": len(common), "spearman": rho, "top_overlap": len(sa & sb) / max(1, len(sa))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="/tmp/probe_bench")
    ap.add_argument("--base", default="", help="a trained model file (default: train one here)")
    ap.add_argument("--tasks", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=4, help="probe batch size")
    ap.add_argument("--long-batch", type=int, default=4, help="batch size of the long fine-tunes")
    ap.add_argument("--base-batch", type=int, default=8)
    ap.add_argument("--patch", type=int, default=64, help="GT training patch (LQ = patch / 4)")
    ap.add_argument("--degrade-size", type=int, default=80, help="GT region that is degraded before cropping")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--base-iters", type=int, default=5000)
    ap.add_argument("--base-lr", type=float, default=1e-3, help="cosine-decayed to a tenth")
    ap.add_argument("--iters", type=int, default=100)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--measure", default="holdout", help="probe.measure of every recipe (before | after | holdout)")
    ap.add_argument("--eval-batch", type=int, default=48, help="held-out pairs per task (measure: holdout)")
    ap.add_argument("--fast", default="16:2:2e-4,20:1:2e-4,24:1:2e-4:4,32:1:2e-4:4",
                    help="fast recipes ITERS:WINDOW:LR[:TUNE_LAST], comma separated")
    ap.add_argument("--ratio", type=float, default=0.4)
    ap.add_argument("--long-tasks", type=int, default=30)
    ap.add_argument("--long-iters", type=int, default=1000)
    ap.add_argument("--long-workers", type=int, default=2, help="processes for the long fine-tunes")
    ap.add_argument("--val-size", type=int, default=128)
    ap.add_argument("--val-per-image", type=int, default=4)
    ap.add_argument("--repeat-tasks", type=int, default=50,
                    help="re-probe this many tasks faithfully with another seed (the ranking's own noise)")
    ap.add_argument("--timing-tasks", type=int, default=10,
                    help="tasks on which all recipes are timed back to back (same machine load)")
    ap.add_argument("--report-only", action="store_true",
                    help="run nothing: compute the report from the results already in --out")
    args = ap.parse_args(argv)

    import torch
    from scipy.stats import spearmanr

    from restoration.competition.probe import ProbeConfig, tuned_share

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(1)
    net, base_secs = _base_model(args, out)
    partial = {}
    workers = []
    if args.long_tasks > 0 and not args.report_only:
        for part in range(args.long_workers):
            w = mp.get_context("spawn").Process(target=_long_worker, args=(vars(args), str(out), part,
                                                                            args.long_workers))
            w.start()
            workers.append(w)

    common = dict(batch_size=args.batch, patch_size=args.patch, degrade_size=args.degrade_size, seed=args.seed,
                  execution="loop", measure=args.measure, eval_batch=args.eval_batch)
    faithful = _probe_phase(args, net, "faithful", ProbeConfig(iters=args.iters, window=args.window, lr=args.lr,
                                                               **common), out)
    report: dict = {"device": "cpu", "threads_per_process": 1, "arch": "SRVGGNetCompact(num_feat=64, num_conv=16)",
                    "tasks": args.tasks, "batch": args.batch, "patch": args.patch, "degrade_size": args.degrade_size,
                    "measure": args.measure, "eval_batch": args.eval_batch,
                    "base_iters": args.base_iters, "base_train_seconds": base_secs, "long_batch": args.long_batch,
                    "faithful": {"iters": args.iters, "window": args.window, "lr": args.lr,
                                 "sec_per_task": sum(r["seconds"] for r in faithful.values()) / len(faithful)},
                    "fast": []}
    faithful_cfg = ProbeConfig(iters=args.iters, window=args.window, lr=args.lr, **common)
    fast_results, recipes = {}, {"faithful": faithful_cfg}
    for spec in [s for s in args.fast.split(",") if s]:
        name, kw = _recipe(spec)
        cfg = ProbeConfig(**kw, **common)
        res = _probe_phase(args, net, name, cfg, out)
        if res:
            fast_results[spec], recipes[spec] = res, cfg
    again = {}
    if args.repeat_tasks > 0:  # the faithful probe again with other batches: how reproducible is its ranking?
        again = _probe_phase(args, net, "faithful_seed1", ProbeConfig(
            iters=args.iters, window=args.window, lr=args.lr, **{**common, "seed": args.seed + 1}), out,
            limit=args.repeat_tasks)
        if again:
            report["faithful_repeat"] = _agreement(faithful, again, args.ratio)
    replicate = {}  # each fast recipe with the repeat's seed, against the repeat: a second draw of (a)
    for spec, cfg in list(recipes.items())[1:] if again else []:
        res = _probe_phase(args, net, f"{_recipe(spec)[0]}_seed{args.seed + 1}",
                           ProbeConfig(**{**asdict(cfg), "seed": args.seed + 1}), out, limit=args.repeat_tasks)
        replicate[spec] = _agreement(again, res, args.ratio)
    timing = _interleaved_timing(args, net, recipes, out) if args.timing_tasks > 0 else {}
    report["faithful"]["sec_per_task_interleaved"] = timing.get("faithful")
    report["timing_tasks"] = args.timing_tasks
    for spec, res in fast_results.items():
        partial[spec] = len(res)
        secs = sum(r["seconds"] for r in res.values()) / len(res)
        report["fast"].append({"recipe": spec, "sec_per_task_phase": secs,
                               "speedup_phases": report["faithful"]["sec_per_task"] / secs,
                               "sec_per_task_interleaved": timing.get(spec),
                               "speedup_interleaved": (timing["faithful"] / timing[spec]) if spec in timing else None,
                               "work_ratio": faithful_cfg.cost() / recipes[spec].cost(
                                   tuned_share(net, recipes[spec].tune_last)),
                               **_agreement(faithful, res, args.ratio),
                               # against the faithful run with other batches and held-out pairs: a fair rival
                               # to the faithful probe's agreement with itself (faithful_repeat)
                               "vs_faithful_repeat": _agreement(again, res, args.ratio) if again else None,
                               "replicate": replicate.get(spec)})
    for w in workers:
        w.join()
    long = {}
    for path in sorted(out.glob("long*.jsonl")):
        long.update(_done(path))
    if long:
        common_ids = sorted(set(long) & set(faithful))
        ind = [-faithful[i]["indicator"] for i in common_ids]
        gain = [long[i]["gain"] for i in common_ids]
        report["long"] = {"tasks": len(common_ids), "iters": args.long_iters,
                          "spearman_neg_indicator_vs_gain": float(spearmanr(ind, gain)[0]),
                          "mean_gain_db": sum(gain) / len(gain),
                          "base_minus_bicubic_db": sum(long[i]["psnr_before"] - long[i]["psnr_bicubic"]
                                                       for i in common_ids) / len(common_ids),
                          "sec_per_task": sum(long[i]["seconds"] for i in common_ids) / len(common_ids)}
        for spec, res in fast_results.items():  # does the fast probe find the tasks that gain as well?
            ids = sorted(set(long) & set(res))
            report["long"][f"spearman_fast_{spec}"] = float(spearmanr([-res[i]["indicator"] for i in ids],
                                                                      [long[i]["gain"] for i in ids])[0])
    report["completed"] = {"faithful": len(faithful), **partial, "long": len(long)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
