"""Samples/s of ``restoration.degradations.degrade`` against the basicsr reference path, same machine, one run.

Reference path (what Real-ESRGAN training does per batch): numpy kernel generation per sample as in
``RealESRGANDataset.__getitem__`` (first/second kernel, final sinc or pulse, padded to 21x21) followed by the
``RealESRNetModel.feed_data`` op sequence on the batch (filter2D, interpolate, Gaussian/Poisson noise, DiffJPEG,
second stage, the two final orders, 8-bit rounding), all with basicsr's own functions and default x4 options.
USM sharpening of the GT and the random crop are left out of both paths (the caller does them in both cases).

Ours: ``degrade`` on the same batch, in three task mixes:
  random  a fresh task per sample (group G0: ``space.sample`` per sample is inside the timing)
  bank    tasks drawn uniformly from a 4000-task bank (almost always all different)
  shared  4 distinct tasks, 4 samples each (a group-sampled batch)
Runs alternate reference/ours so machine load affects both alike; figures are means over the timed batches. A
table compares the JPEG codecs (basicsr DiffJPEG, kornia, ours) for speed and parity with DiffJPEG. A last one
times one task over a large group (the task probe's held-out set: 192 images of 160 px) with the ops cut into
chunks of 32 samples, as shipped, against one pass over the whole group, and checks the two are bit-identical.
The very last times the same groups in fresh processes: glibc's default heap, and freed memory kept for reuse
(``restoration.heap.keep_freed_memory``, what ``restoration train`` and ``restoration tasks`` apply), four of
each, alternated, with the page faults of each.

Usage: .venv/bin/python bench/degradation.py [--batch 16] [--size 256] [--iters 8] [--device auto] [--threads 0]
                                            [--group 192] [--group-size 160] [--group-tasks 8]
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F

import restoration  # noqa: F401  (compat hook before basicsr)

# isort: split
from basicsr.data.degradations import (
    circular_lowpass_kernel,
    random_add_gaussian_noise_pt,
    random_add_poisson_noise_pt,
    random_mixed_kernels,
)
from basicsr.utils.diffjpeg import DiffJPEG
from basicsr.utils.img_process_util import filter2D

from restoration.degradations import DegradationSpace, TaskBank, degrade

OPT = DegradationSpace().to_opt()  # Real-ESRGAN train_realesrnet_x4plus values
SIZES = [2 * v + 1 for v in range(3, 11)]


def _reference_kernel(suffix: str) -> np.ndarray:
    """One kernel drawn the way RealESRGANDataset draws it (basicsr functions, global numpy/random state)."""
    size = random.choice(SIZES)
    if np.random.uniform() < OPT["sinc_prob" + suffix]:
        omega = np.random.uniform(np.pi / 3, np.pi) if size < 13 else np.random.uniform(np.pi / 5, np.pi)
        k = circular_lowpass_kernel(omega, size, pad_to=False)
    else:
        k = random_mixed_kernels(OPT["kernel_list" + suffix], OPT["kernel_prob" + suffix], size,
                                 OPT["blur_sigma" + suffix], OPT["blur_sigma" + suffix], [-math.pi, math.pi],
                                 OPT["betag_range" + suffix], OPT["betap_range" + suffix], noise_range=None)
    p = (21 - size) // 2
    return np.pad(k, ((p, p), (p, p)))


def _reference_sinc() -> torch.Tensor:
    if np.random.uniform() < OPT["final_sinc_prob"]:
        size = random.choice(SIZES)
        return torch.FloatTensor(circular_lowpass_kernel(np.random.uniform(np.pi / 3, np.pi), size, pad_to=21))
    pulse = torch.zeros(21, 21)
    pulse[10, 10] = 1
    return pulse


def _resize_scale(prob, rng_range) -> float:
    kind = random.choices(["up", "down", "keep"], prob)[0]
    if kind == "up":
        return np.random.uniform(1, rng_range[1])
    return np.random.uniform(rng_range[0], 1) if kind == "down" else 1.0


def _noise(out: torch.Tensor, suffix: str) -> torch.Tensor:
    if np.random.uniform() < OPT["gaussian_noise_prob" + suffix]:
        return random_add_gaussian_noise_pt(out, sigma_range=OPT["noise_range" + suffix], clip=True, rounds=False,
                                            gray_prob=OPT["gray_noise_prob" + suffix])
    return random_add_poisson_noise_pt(out, scale_range=OPT["poisson_scale_range" + suffix],
                                       gray_prob=OPT["gray_noise_prob" + suffix], clip=True, rounds=False)


@torch.no_grad()
def reference(gt: torch.Tensor, jpeger: torch.nn.Module, scale: int = 4) -> torch.Tensor:
    """Dataset-side kernel generation per sample, then the feed_data op sequence on the batch."""
    dev = gt.device
    k1 = torch.stack([torch.FloatTensor(_reference_kernel("")) for _ in range(gt.shape[0])]).to(dev)
    k2 = torch.stack([torch.FloatTensor(_reference_kernel("2")) for _ in range(gt.shape[0])]).to(dev)
    sinc = torch.stack([_reference_sinc() for _ in range(gt.shape[0])]).to(dev)
    h, w = gt.shape[-2:]
    out = filter2D(gt, k1)
    out = F.interpolate(out, scale_factor=_resize_scale(OPT["resize_prob"], OPT["resize_range"]),
                        mode=random.choice(["area", "bilinear", "bicubic"]))
    out = _noise(out, "")
    q = out.new_zeros(out.size(0)).uniform_(*OPT["jpeg_range"])
    out = jpeger(torch.clamp(out, 0, 1), quality=q).contiguous()  # newer torch keeps its channels-last strides
    if np.random.uniform() < OPT["second_blur_prob"]:
        out = filter2D(out, k2)
    s2 = _resize_scale(OPT["resize_prob2"], OPT["resize_range2"])
    out = F.interpolate(out, size=(int(h / scale * s2), int(w / scale * s2)),
                        mode=random.choice(["area", "bilinear", "bicubic"]))
    out = _noise(out, "2")
    if np.random.uniform() < 0.5:
        out = F.interpolate(out, size=(h // scale, w // scale), mode=random.choice(["area", "bilinear", "bicubic"]))
        out = filter2D(out, sinc)
        q = out.new_zeros(out.size(0)).uniform_(*OPT["jpeg_range2"])
        out = jpeger(torch.clamp(out, 0, 1), quality=q).contiguous()  # newer torch keeps its channels-last strides
    else:
        q = out.new_zeros(out.size(0)).uniform_(*OPT["jpeg_range2"])
        out = jpeger(torch.clamp(out, 0, 1), quality=q).contiguous()  # newer torch keeps its channels-last strides
        out = F.interpolate(out, size=(h // scale, w // scale), mode=random.choice(["area", "bilinear", "bicubic"]))
        out = filter2D(out, sinc)
    return torch.clamp((out * 255.0).round(), 0, 255) / 255.0


def jpeg_codecs(gt: torch.Tensor, jpeger: torch.nn.Module, runs: int = 5) -> None:
    """The JPEG choice: basicsr DiffJPEG (what Real-ESRGAN trains with), kornia's codec, ours; speed and parity."""
    import kornia

    from restoration.degradations.jpeg import jpeg

    q = torch.linspace(30, 95, gt.shape[0], device=gt.device)
    with torch.no_grad():
        ref = jpeger(gt, quality=q.clone())
        codecs = {"basicsr DiffJPEG(differentiable=False)": lambda: jpeger(gt, quality=q.clone()),
                  "kornia jpeg_codec_differentiable": lambda: kornia.enhance.jpeg_codec_differentiable(gt, q),
                  "restoration.degradations.jpeg": lambda: jpeg(gt, q)}
        print(f"JPEG codecs on {tuple(gt.shape)}, qualities 30..95 (median of {runs}; parity vs DiffJPEG)")
        print(f"{'codec':40s} {'s/call':>8s} {'x DiffJPEG':>10s} {'mean|diff|*255':>15s} {'max|diff|*255':>14s} "
              f"{'identical':>10s}")
        base = None
        for name, fn in codecs.items():
            out = fn()
            ts = []
            for _ in range(runs):
                _sync(gt.device)
                t0 = time.perf_counter()
                fn()
                _sync(gt.device)
                ts.append(time.perf_counter() - t0)
            t = statistics.median(ts)
            base = base or t
            d = (out - ref).abs()
            print(f"{name:40s} {t:8.3f} {base / t:10.2f} {float(d.mean()) * 255:15.4f} {float(d.max()) * 255:14.3f} "
                  f"{float((d == 0).float().mean()):10.1%}")


def chunking(group: int, size: int, tasks: int, device: torch.device) -> None:
    """One task over ``group`` samples, chunked as shipped against one pass (chunking off), alternated per task."""
    from restoration.degradations import blur, chunks

    shipped = (chunks.CHUNK, blur.CANVAS_CHANNELS_MAX)
    gt = (torch.rand(group, 3, size, size, generator=torch.Generator().manual_seed(1)) * 255).round().div(255)
    gt = gt.to(device)
    bank = TaskBank.sample(tasks, seed=1)
    times: dict[str, list[float]] = {"chunked": [], "one pass": []}
    same = 0
    for k, task in enumerate(bank.tasks):
        out = {}
        for name in times:
            whole = name == "one pass"
            chunks.CHUNK = 1 << 30 if whole else shipped[0]
            blur.CANVAS_CHANNELS_MAX = 1 << 30 if whole else shipped[1]
            _sync(device)
            t0 = time.perf_counter()
            out[name] = degrade(gt, [task] * group, torch.Generator(device=device).manual_seed(k))
            _sync(device)
            times[name].append(time.perf_counter() - t0)
        same += int(torch.equal(out["chunked"], out["one pass"]))
    chunks.CHUNK, blur.CANVAS_CHANNELS_MAX = shipped
    t = {n: statistics.fmean(v) for n, v in times.items()}
    print(f"\none task over {group} images of {size} px ({tasks} tasks, alternated; means)")
    print(f"{'ops':12s} {'s/group':>8s} {'ms/image':>9s} {'x one pass':>11s}")
    for n in times:
        print(f"{n:12s} {t[n]:8.3f} {1000 * t[n] / group:9.2f} {t['one pass'] / t[n]:11.2f}")
    print(f"bit-identical outputs: {same}/{tasks} tasks")


HEAP_CHILD = """
import resource, sys, time
import torch
from restoration.degradations import TaskBank, degrade
from restoration.heap import keep_freed_memory
mode, group, size, tasks, threads = sys.argv[1], *map(int, sys.argv[2:])
if mode == "kept":
    keep_freed_memory()
torch.set_num_threads(threads)
gt = (torch.rand(group, 3, size, size, generator=torch.Generator().manual_seed(1)) * 255).round().div(255)
bank = TaskBank.sample(tasks, seed=1)
degrade(gt, [bank.tasks[0]] * group, torch.Generator().manual_seed(0))  # warm-up
f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
for k, task in enumerate(bank.tasks):
    degrade(gt, [task] * group, torch.Generator().manual_seed(k))
print((time.perf_counter() - t0) / tasks, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / tasks)
"""


def heap(group: int, size: int, tasks: int, threads: int, rounds: int = 4) -> None:
    """The chunking table's groups in fresh processes: glibc's default heap against freed memory kept, the two
    alternated over ``rounds`` pairs (which goes first alternates too): one pair moved by 0.1 s either way."""
    import subprocess
    import sys

    runs: dict[str, list[tuple[float, float]]] = {"default": [], "kept": []}
    for r in range(rounds):
        for mode in ("default", "kept") if r % 2 == 0 else ("kept", "default"):
            out = subprocess.run([sys.executable, "-c", HEAP_CHILD, mode, str(group), str(size), str(tasks),
                                  str(threads)], capture_output=True, text=True, check=True).stdout.split()
            runs[mode].append((float(out[-2]), float(out[-1])))
    rows = {mode: (statistics.mean(t for t, _ in v), statistics.mean(f for _, f in v)) for mode, v in runs.items()}
    print(f"\none task over {group} images of {size} px, {tasks} tasks, {rounds} fresh processes each, alternated "
          "(means)")
    print(f"{'heap':30s} {'s/group':>8s} {'x default':>10s} {'page faults/group':>18s}")
    for mode, label in (("default", "glibc default"), ("kept", "kept for reuse (as shipped)")):
        t, f = rows[mode]
        print(f"{label:30s} {t:8.3f} {rows['default'][0] / t:10.2f} {f:18.0f}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--iters", type=int, default=8, help="timed batches per path and mix")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = leave torch's default)")
    ap.add_argument("--group", type=int, default=192, help="samples of one task in the chunking table")
    ap.add_argument("--group-size", type=int, default=160, help="their size in px")
    ap.add_argument("--group-tasks", type=int, default=8, help="tasks timed in the chunking table")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    gt = torch.rand(args.batch, 3, args.size, args.size, device=device)
    jpeger = DiffJPEG(differentiable=False).to(device)
    space = DegradationSpace()
    bank = TaskBank.sample(4000, seed=0)
    rng = np.random.default_rng(0)
    gen = torch.Generator(device=device).manual_seed(0)

    def ours(mix: str) -> None:
        if mix == "random":
            tasks = space.sample_many(args.batch, rng)
        elif mix == "bank":
            tasks = [bank[int(i)] for i in rng.integers(len(bank), size=args.batch)]
        else:
            distinct = [bank[int(i)] for i in rng.integers(len(bank), size=4)]
            tasks = [distinct[i % 4] for i in range(args.batch)]
        degrade(gt, tasks, gen)

    mixes = ["random", "bank", "shared"]
    names = ["reference"] + mixes
    wall: dict[str, list[float]] = {n: [] for n in names}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    for it in range(args.iters + 1):  # the first round warms up caches and is not counted
        for name in names:
            _sync(device)
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "reference":
                reference(gt, jpeger)
            else:
                ours(name)
            _sync(device)
            if it:
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)

    # Throughput = samples / total time, so means (per-batch cost is skewed: the reference resizes a whole batch
    # with one factor, so a few batches upscaled x1.5 dominate its time).
    med = {n: statistics.fmean(wall[n]) for n in names}
    med_cpu = {n: statistics.fmean(cpu[n]) for n in names}
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch {args.batch}x3x{args.size}x{args.size}, "
          f"{args.iters} timed batches per path (means; CPU = process time, less sensitive to other load)")
    print(f"{'path':38s} {'s/batch':>8s} {'samples/s':>10s} {'x ref':>7s} {'CPU s/batch':>12s} {'x ref (CPU)':>12s}")
    labels = {"reference": "basicsr reference (dataset+feed_data)", **{m: f"degrade, {m} tasks" for m in mixes}}
    for n in names:
        print(f"{labels[n]:38s} {med[n]:8.3f} {args.batch / med[n]:10.1f} {med['reference'] / med[n]:7.2f} "
              f"{med_cpu[n]:12.3f} {med_cpu['reference'] / med_cpu[n]:12.2f}")
    print()
    jpeg_codecs(gt, jpeger)
    chunking(args.group, args.group_size, args.group_tasks, device)
    if device.type == "cpu":
        heap(args.group, args.group_size, args.group_tasks, torch.get_num_threads())


if __name__ == "__main__":
    main()
