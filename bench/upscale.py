"""Tiled vs whole-image upscaling on CPU: time ratio and peak memory (RSS) for a 1024 x 1024 -> x4 upscale.

Usage: .venv/bin/python bench/upscale.py [--size 1024] [--num-conv 16] [--tiles 0,512,256] [--repeats 1]

The network is an SRVGGNetCompact of the released realistic size (num_feat 64, num_conv 16 by default; 32 is
the larger released variant) with RANDOM weights (the architecture's own initialisation): the figures measure
speed and memory only, not image quality. The input is a real photo resized to SIZE x SIZE.

Each case runs in its own fresh interpreter; its peak RSS is read by the parent from ``os.wait4`` (the kernel's
``ru_maxrss`` for that child), so torch's own ~0.3 GB is included. Times cover ``Upscaler.upscale`` only
(not the model load): wall seconds, and CPU seconds of the process (less sensitive to other load on a shared
machine; with --threads 1 it is the compute itself). Goals: tiled time <= 1.15 x whole-image time; peak RSS <= 1.0 GB
for the tiled run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_TIME_RATIO = 1.15
GOAL_RSS_GB = 1.0


def child(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from restoration.inference import Upscaler

    torch.set_num_threads(args.threads)
    img = np.load(args.image)
    up = Upscaler(args.model, device="cpu", tile=args.tile, tile_pad=16)
    t0, c0 = time.perf_counter(), time.process_time()
    out = up.upscale(img)
    took, cpu = time.perf_counter() - t0, time.process_time() - c0
    np.save(args.out, out)
    print(json.dumps({"seconds": took, "cpu_seconds": cpu, "tile": up.tile, "shape": list(out.shape)}))


def run_case(script: str, model: str, image: str, out: str, tile: int, threads: int) -> dict:
    cmd = [sys.executable, script, "--child", "--model", model, "--image", image, "--out", out,
           "--tile", str(tile), "--threads", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"case tile={tile} failed ({proc.returncode}):\n{stderr[-2000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_gb"] = usage.ru_maxrss * 1024 / 1e9  # Linux reports KiB
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--num-conv", type=int, default=16)
    ap.add_argument("--num-feat", type=int, default=64)
    ap.add_argument("--tiles", default="0,512,256", help="comma-separated tile sizes; 0 = whole image (the reference)")
    ap.add_argument("--repeats", type=int, default=1, help="runs per case, interleaved; the fastest is kept")
    ap.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--image", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--tile", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    import cv2
    import numpy as np
    import torch

    from restoration.data.offline_photos import list_offline_photos
    from restoration.inference import read_image, save_model
    from restoration.inference.descriptor import ModelDescriptor

    tiles = [int(t) for t in args.tiles.split(",")]
    if 0 not in tiles:
        tiles.insert(0, 0)
    with tempfile.TemporaryDirectory(prefix="bench-upscale-") as tmp:
        tmp = Path(tmp)
        kwargs = dict(num_in_ch=3, num_out_ch=3, num_feat=args.num_feat, num_conv=args.num_conv, upscale=4,
                      act_type="prelu")
        torch.manual_seed(0)
        desc = ModelDescriptor.create("SRVGGNetCompact", kwargs)
        model = save_model(desc.build(), tmp / "random.safetensors", arch=desc.arch, arch_kwargs=desc.arch_kwargs,
                           scale=4, name="random-weights")
        photo = list_offline_photos(lossless_only=True)[0]
        img = cv2.resize(read_image(photo.path)[:, :, :3], (args.size, args.size), interpolation=cv2.INTER_CUBIC)
        np.save(tmp / "in.npy", img)
        print(f"SRVGGNetCompact num_feat={args.num_feat} num_conv={args.num_conv} x4, random weights; "
              f"input {photo.name} resized to {args.size}x{args.size}; {args.threads} torch threads; "
              f"tile_pad 16; best of {args.repeats}; load average before: {os.getloadavg()[0]:.1f}")
        results: dict[int, dict] = {}
        for _ in range(args.repeats):
            for tile in tiles:
                r = run_case(__file__, str(model), str(tmp / "in.npy"), str(tmp / f"out{tile}.npy"), tile,
                             args.threads)
                best = results.get(tile)
                if best is None or r["seconds"] < best["seconds"]:
                    r["peak_rss_gb"] = max(r["peak_rss_gb"], best["peak_rss_gb"]) if best else r["peak_rss_gb"]
                    results[tile] = r
                elif r["peak_rss_gb"] > best["peak_rss_gb"]:
                    best["peak_rss_gb"] = r["peak_rss_gb"]
        ref = np.load(tmp / "out0.npy")
        base = results[0]["seconds"]
        cbase = results[0]["cpu_seconds"]
        print(f"{'tile':>6} {'wall s':>8} {'x whole':>8} {'cpu s':>8} {'x whole':>8} {'goal':>6} {'peak RSS GB':>12} "
              f"{'x 1.0 GB':>9} {'max |diff|/255':>15}")
        for tile in tiles:
            r = results[tile]
            diff = int(np.abs(np.load(tmp / f"out{tile}.npy").astype(np.int16) - ref).max())
            ratio, cratio = r["seconds"] / base, r["cpu_seconds"] / cbase
            label = "whole" if tile == 0 else str(tile)
            goal = "-" if tile == 0 else ("ok" if ratio <= GOAL_TIME_RATIO else "MISS")
            print(f"{label:>6} {r['seconds']:8.2f} {ratio:8.3f} {r['cpu_seconds']:8.2f} {cratio:8.3f} {goal:>6} "
                  f"{r['peak_rss_gb']:12.3f} {r['peak_rss_gb'] / GOAL_RSS_GB:9.2f} {diff:15d}")
        print(f"load average after: {os.getloadavg()[0]:.1f} (other processes on the machine slow every case)")
        print(f"output {ref.shape[1]}x{ref.shape[0]}; goals: tiled <= {GOAL_TIME_RATIO} x whole, "
              f"peak RSS <= {GOAL_RSS_GB} GB")


if __name__ == "__main__":
    main()
