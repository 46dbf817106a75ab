"""``restoration upscale``: upscale an image or a folder of images with a model of the zoo or a weight file."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from restoration.errors import RestorationError

NAME = "upscale"
HELP = "upscale images (a file or a folder) with a trained model"
DESCRIPTION = (
    "Upscale an image or every image of a folder. Without -n/--model-path the default model of the zoo is used "
    "(see `restoration models`). Outputs are written as NAME_SUFFIX.EXT into the output folder; an existing file "
    "is never replaced without --overwrite, and files that are outputs of an earlier run into the same folder are "
    "not taken as inputs. Real-ESRGAN's spellings are accepted too: --model_name, --model_path, --tile_pad, "
    "--alpha_upsampler realesrgan|bicubic, --denoise_strength, --fp32 (float32 is the default here), -g/--gpu-id."
)
EXTS = ("auto", "png", "jpg", "webp", "tif")
ALPHA_VALUES = {"model": "model", "resize": "resize", "realesrgan": "model", "bicubic": "resize"}
UNSUPPORTED_OPTIONS = {
    "--face_enhance": "GFPGAN face enhancement is not part of this project",
    "--face-enhance": "GFPGAN face enhancement is not part of this project",
    "--pre_pad": "tiles get --tile-pad context pixels; a whole image needs no pre-padding",
    "--pre-pad": "tiles get --tile-pad context pixels; a whole image needs no pre-padding",
}


def _count(value: str) -> int:
    """A pixel count >= 0 (0 = no limit); 1e8 and 100_000_000 are accepted."""
    try:
        n = float(value.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of pixels, got {value!r}") from None
    if not n >= 0 or n != int(n):
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels >= 0 (0 = no limit), got {value}")
    return int(n)


def _alpha(value: str) -> str:
    if value not in ALPHA_VALUES:
        raise argparse.ArgumentTypeError(f"expected model or resize (Real-ESRGAN: realesrgan or bicubic), "
                                         f"got {value!r}")
    return ALPHA_VALUES[value]


def _gpu(value: str) -> str:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"expected a GPU index, got {value!r}")
    return f"cuda:{value}"


def add_arguments(p: argparse.ArgumentParser) -> None:
    hidden = quiet = argparse.SUPPRESS  # Real-ESRGAN spellings: accepted, not listed (their defaults are ours)
    p.add_argument("-i", "--input", required=True, help="an image file or a folder of images")
    p.add_argument("-o", "--output", default="results",
                   help="output folder, or an output file when the input is one file (default: results)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--model-name", default=None, help="a model of the zoo (default: the zoo's default model)")
    g.add_argument("--model_name", dest="model_name", default=quiet, help=hidden)
    g.add_argument("--model-path", default=None, help="a .safetensors or BasicSR .pth weight file")
    g.add_argument("--model_path", dest="model_path", default=quiet, help=hidden)
    p.add_argument("--models-dir", default=None, help="folder holding manifest.json (default: $RESTORATION_MODELS_DIR "
                                                      "or pretrained/)")
    p.add_argument("-s", "--outscale", type=float, default=None,
                   help="final scale, e.g. 3.5 (model scale, then resized); default: the model's scale")
    p.add_argument("-dn", "--denoise-strength", "--denoise_strength", dest="denoise_strength", type=float,
                   default=None, help="0..1, for a model with a without-denoise twin (Real-ESRGAN's "
                                      "realesr-general-x4v3 + wdn): their weights are interpolated")
    p.add_argument("-t", "--tile", type=int, default=None,
                   help="tile size in input pixels, 0 = whole image (default: whole images for small models, "
                        "128 px tiles on CPU for large ones such as RRDBNet); on CPU 512 keeps a 1024 px x4 "
                        "upscale under 1 GB of memory at the same speed")
    p.add_argument("--tile-pad", type=int, default=16, help="context pixels around each tile (default: 16)")
    p.add_argument("--tile_pad", dest="tile_pad", type=int, default=quiet, help=hidden)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("-g", "--gpu-id", "--gpu_id", dest="device", type=_gpu, default=quiet, help=hidden)
    p.add_argument("--half", action="store_true", help="fp16 inference (CUDA only; ignored on CPU)")
    p.add_argument("--fp32", action="store_false", dest="half", default=quiet, help=hidden)
    p.add_argument("--int8", action="store_true",
                   help="CPU only: int8 network (calibrated on bundled photos, compiled once, tens of seconds; "
                        "about 1.5x float32 on Compact models, within 0.1 dB of it; no gain on RRDBNet; needs the "
                        "[int8] extra); tiles of 128 px by default")
    p.add_argument("--backend", choices=("auto", "torch", "ncnn"), default="auto",
                   help="CPU float32 runtime: torch, or ncnn for SRVGGNetCompact and RRDBNet x4 models (about 2x "
                        "faster, outputs within 1/255; RRDBNet needs about 1.15x torch's memory with it; needs the "
                        "ncnn package, which `make assets` installs); auto (default): ncnn for SRVGGNetCompact "
                        "models on the CPU when ncnn is installed, else torch")
    p.add_argument("--threads", default="auto",
                   help="torch threads: auto (the cores other jobs leave idle; OMP_NUM_THREADS wins) or a count")
    p.add_argument("--ext", choices=EXTS, default="auto",
                   help="output format; auto = the input's (PNG for images with alpha)")
    p.add_argument("--suffix", default="out", help="appended to output names: NAME_SUFFIX.EXT (default: out)")
    p.add_argument("--alpha-upsampler", "--alpha_upsampler", type=_alpha, default="model", metavar="{model,resize}",
                   help="upscale the alpha channel with the model or by bicubic resizing (default: model)")
    p.add_argument("--recursive", action="store_true", help="also take images in sub-folders (kept in the output)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files (even inputs)")
    p.add_argument("--max-pixels", type=_count, default=None,
                   help="refuse inputs with more pixels "
                        "(default: $RESTORATION_MAX_PIXELS or 100,000,000; 0 = no limit)")
    p.add_argument("--max-output-pixels", type=_count, default=None,
                   help="refuse outputs with more pixels (default: $RESTORATION_MAX_OUTPUT_PIXELS or 1,000,000,000; "
                        "0 = no limit)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _model_hint(name: str, models_dir: str | None) -> str:
    """'; did you mean X?' for a mistyped zoo name (case, '_' and '-' do not count)."""
    import difflib

    from restoration.inference.zoo import list_models

    try:
        names = [m.name for m in list_models(models_dir)]
    except RestorationError:
        return ""
    norm = {n.lower().replace("_", "-"): n for n in names}
    close = difflib.get_close_matches(name.lower().replace("_", "-"), list(norm), n=1, cutoff=0.6)
    return f"; did you mean {norm[close[0]]!r}?" if close else ""


def _check_numbers(args: argparse.Namespace) -> None:
    if args.outscale is not None and not (0 < args.outscale <= 64):
        raise RestorationError(f"--outscale must be in (0, 64], got {args.outscale:g}")
    if (args.tile is not None and args.tile < 0) or args.tile_pad < 0:
        raise RestorationError(f"--tile and --tile-pad must be >= 0, got {args.tile} and {args.tile_pad}")
    if args.threads != "auto" and not (str(args.threads).isdigit() and int(args.threads) > 0):
        raise RestorationError(f"--threads must be auto or a count >= 1, got {args.threads!r}")
    if args.denoise_strength is not None and not 0 <= args.denoise_strength <= 1:
        raise RestorationError(f"--denoise-strength must be in [0, 1], got {args.denoise_strength:g}")


def _load(args: argparse.Namespace):
    from restoration.devices import resolve_device
    from restoration.inference.upscaler import Upscaler

    if args.half and not resolve_device(args.device).startswith("cuda"):
        print("restoration upscale: --half is for CUDA only; running in float32 on the CPU", file=sys.stderr)
        args.half = False
    if args.int8 and args.half:
        raise RestorationError("--int8 (CPU) and --half (CUDA) exclude each other")
    if args.int8 and resolve_device(args.device) != "cpu":
        raise RestorationError("--int8 runs on the CPU only: add --device cpu (or use --half on CUDA)")
    try:
        return Upscaler(args.model_path or args.model_name, device=args.device, tile=args.tile,
                        tile_pad=args.tile_pad, half=args.half, models_dir=args.models_dir,
                        alpha=args.alpha_upsampler, max_output_pixels=args.max_output_pixels,
                        denoise_strength=args.denoise_strength, threads=args.threads, int8=args.int8,
                        backend=args.backend)
    except RestorationError as exc:
        if args.model_name and "unknown model" in str(exc) and "did you mean" not in str(exc):
            raise RestorationError(f"{exc}{_model_hint(args.model_name, args.models_dir)}") from None
        raise


def run(args: argparse.Namespace) -> int:
    import logging

    from restoration.threads import prefer_passive_wait

    prefer_passive_wait()  # before torch loads: waiting OpenMP threads sleep instead of spinning on a shared machine

    # warnings of the library (e.g. an out-of-memory retry) as our own lines, for this run only: a handler left on
    # the root logger would outlive the stream it was bound to when the CLI runs inside another program
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("restoration upscale: warning: %(message)s"))
    handler.setLevel(logging.WARNING)
    logger = logging.getLogger("restoration")
    logger.addHandler(handler)
    try:
        return _run(args)
    finally:
        logger.removeHandler(handler)


def _run(args: argparse.Namespace) -> int:
    from restoration.cli import _upscale_plan as planning

    _check_numbers(args)
    jobs, folder_mode, own = planning.plan(args)
    planning.check_outputs(jobs, args)

    from tqdm import tqdm

    from restoration.inference.io import read_image, write_image
    from restoration.inference.tiling import tiles_for

    up = _load(args)
    outscale = args.outscale if args.outscale is not None else up.scale
    print(f"model {up.name}: {up.descriptor.summary()} on {up.device}" + (" in int8" if up.int8 else "")
          + (" with ncnn" if up.backend == "ncnn" else "")
          + (f", tile {up.tile} (pad {up.tile_pad})" if up.tile else "")
          + (f", {up.threads} thread(s)" if up.threads else ""))
    if own:
        print(f"restoration upscale: skipping {len(own)} file(s) that are outputs of an earlier run "
              f"(*_{args.suffix}.*), e.g. {own[0]}", file=sys.stderr)

    def warn(message: str) -> None:
        tqdm.write(f"restoration upscale: warning: {message}", file=sys.stderr)

    quiet = args.quiet
    bar = tqdm(total=len(jobs), unit="img", desc="images", disable=quiet or len(jobs) < 2, file=sys.stderr)
    written: list[Path] = []
    made: dict[Path, Path] = {}
    failed: list[tuple[Path, str]] = []
    start = time.perf_counter()
    for job in jobs:
        tiles = None
        try:
            img = read_image(job.src, max_pixels=args.max_pixels, warn=warn)
            has_alpha = img.ndim == 3 and img.shape[2] == 4
            dst = planning.target(job, args, has_alpha)
            if dst.resolve() in made:  # e.g. a.png and a.jpg with --ext png: keep the first, say so
                raise RestorationError(f"output {dst} was already written from {made[dst.resolve()]} in this run")
            if not args.overwrite and dst.exists():
                if planning.same_file(job.src, dst):
                    raise RestorationError(f"output {dst} would overwrite the input {job.src}; pass --overwrite")
                raise RestorationError(f"output {dst} already exists; pass --overwrite to replace it")
            up.check_output_size(img.shape[0], img.shape[1], outscale)
            n_tiles, passes = tiles_for(img.shape[0], img.shape[1], up.tile), up.passes(img)
            label = job.src.name[:30] + (f" ({passes} passes of {n_tiles} tiles)" if passes > 1 else "")
            tiles = tqdm(total=n_tiles * passes, unit="tile", desc=label, leave=False,
                         disable=quiet or n_tiles < 2, file=sys.stderr)

            def progress(done: int, total: int, _bar=tiles) -> None:
                if _bar.total != total:
                    _bar.total = total
                _bar.update(done - _bar.n)

            out = up.upscale(img, outscale=outscale, progress=progress)
            write_image(dst, out)
            written.append(dst)
            made[dst.resolve()] = job.src
        except (RestorationError, MemoryError) as exc:
            why = str(exc) if isinstance(exc, RestorationError) else "out of memory (try --tile)"
            if not folder_mode:
                raise RestorationError(why) from None
            failed.append((job.src, why))
            tqdm.write(f"restoration upscale: skipped {job.src}: {why}", file=sys.stderr)
        finally:
            if tiles is not None:
                tiles.close()
        bar.update(1)
    bar.close()
    took = time.perf_counter() - start
    where = written[0] if len(written) == 1 and not folder_mode else Path(args.output)
    print(f"upscaled {len(written)} of {len(jobs)} image(s) x{outscale:g} with {up.name} in {took:.1f} s "
          f"-> {where}" + (f"; {len(failed)} failed" if failed else ""))
    for src, why in failed:
        print(f"  failed: {src}: {why}", file=sys.stderr)
    return 2 if failed else 0
