"""Training-step benchmark on CPU: iterations/s and the share of step time spent synthesising LQ images
(restoration.degradations.degrade in feed_data), optionally followed by a short training run whose validation
PSNR/SSIM is compared with bicubic upsampling on the same held-out pairs.

    .venv/bin/python bench/train_step.py                          # cpu_tiny.yml, 15 timed steps
    .venv/bin/python bench/train_step.py --force_yml network_g:num_feat=64 network_g:num_conv=32
    .venv/bin/python bench/train_step.py --train-iters 300        # + short run, validation vs bicubic

Every figure is measured in the run that prints it; nothing is written outside a temporary folder.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed_steps(opt_file: str, force: list[str], steps: int, warmup: int, root: str) -> dict:
    import torch
    from basicsr.models import build_model

    from restoration.train import _loaders, prepare

    opt, _ = prepare(opt_file, force_yml=["name=bench_steps"] + force, root=root)
    train_set, loader, _ = _loaders(opt, 0)
    model = build_model(opt)
    model.attach_training_data(train_set)
    it = iter(loader)
    t_data = t_synth = t_opt = 0.0
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        data = next(it)
        t1 = time.perf_counter()
        model.feed_data(data)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        model.optimize_parameters(i + 1)
        if model.device.type == "cuda":
            torch.cuda.synchronize()
        t3 = time.perf_counter()
        if i >= warmup:
            t_data, t_synth, t_opt = t_data + t1 - t0, t_synth + t2 - t1, t_opt + t3 - t2
    total = t_data + t_synth + t_opt
    net = opt["network_g"]
    d = opt["datasets"]["train"]
    return {"config": f"{net['type']} feat {net.get('num_feat')} conv {net.get('num_conv')}, batch "
                      f"{d['batch_size_per_gpu']} x {d['gt_size']} px",
            "it_per_s": steps / total, "synth_share": t_synth / total, "data_share": t_data / total,
            "step_ms": 1000 * total / steps, "synth_ms": 1000 * t_synth / steps}


def short_run(opt_file: str, force: list[str], iters: int, root: str) -> dict:
    from restoration.train import prepare, train_pipeline

    opt, _ = prepare(opt_file, force_yml=["name=bench_run", f"train:total_iter={iters}", f"val:val_freq={iters}",
                                          f"logger:save_checkpoint_freq={iters}", "logger:use_tb_logger=false"] + force,
                     root=root)
    t0 = time.perf_counter()
    model = train_pipeline(opt, None)
    name = next(iter(model.bicubic_results))
    return {"iters": iters, "seconds": time.perf_counter() - t0, "model": dict(model.metric_results),
            "bicubic": model.bicubic_results[name], "val_set": name}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opt", default=str(ROOT / "options/train/cpu_tiny.yml"))
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--train-iters", type=int, default=0, help="also run a short training and validate it")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--force_yml", nargs="*", default=[], help="option overrides, as for restoration train")
    args = ap.parse_args()
    import torch

    import restoration

    restoration.register()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bench-train-") as root:
        r = timed_steps(args.opt, list(args.force_yml), args.steps, args.warmup, root)
        print(f"config: {r['config']}; torch threads {torch.get_num_threads()}")
        print(f"iterations/s: {r['it_per_s']:.3f}  (step {r['step_ms']:.0f} ms, LQ synthesis {r['synth_ms']:.0f} ms)")
        print(f"share of step time in degradation synthesis: {100 * r['synth_share']:.1f}%  (goal <= 25%); "
              f"data loading {100 * r['data_share']:.1f}%")
        if args.train_iters:
            s = short_run(args.opt, list(args.force_yml), args.train_iters, root)
            m, b = s["model"], s["bicubic"]
            print(f"short run: {s['iters']} iterations in {s['seconds']:.0f} s; validation {s['val_set']}: "
                  f"PSNR {m['psnr']:.3f} dB vs bicubic {b['psnr']:.3f} dB ({m['psnr'] - b['psnr']:+.3f} dB), "
                  f"SSIM {m['ssim']:.4f} vs bicubic {b['ssim']:.4f}")


if __name__ == "__main__":
    main()
