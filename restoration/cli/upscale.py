"""``restoration upscale``: upscale an image or a folder of images with a model of the zoo or a weight file."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from restoration.errors import RestorationError

NAME = "upscale"
HELP = "upscale images (a file or a folder) with a trained model"
DESCRIPTION = (
    "Upscale an image or every image of a folder. Without -n/--model-path the default model of the zoo is used "
    "(see `restoration models`). Outputs are written as NAME_SUFFIX.EXT into the output folder; existing outputs "
    "there are replaced, inputs never (unless --overwrite)."
)
EXTS = ("auto", "png", "jpg", "webp", "tif")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-i", "--input", required=True, help="an image file or a folder of images")
    p.add_argument("-o", "--output", default="results",
                   help="output folder, or an output file when the input is one file (default: results)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("-n", "--model-name", default=None, help="a model of the zoo (default: the zoo's default model)")
    g.add_argument("--model-path", default=None, help="a .safetensors or BasicSR .pth weight file")
    p.add_argument("--models-dir", default=None, help="folder holding manifest.json (default: $RESTORATION_MODELS_DIR "
                                                      "or pretrained/)")
    p.add_argument("-s", "--outscale", type=float, default=None,
                   help="final scale, e.g. 3.5 (model scale, then resized); default: the model's scale")
    p.add_argument("--tile", type=int, default=0,
                   help="tile size in input pixels, 0 = whole image (default: 0); on CPU 512 keeps a 1024 px x4 "
                        "upscale under 1 GB of memory at the same speed")
    p.add_argument("--tile-pad", type=int, default=16, help="context pixels around each tile (default: 16)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--half", action="store_true", help="fp16 inference (CUDA only; ignored on CPU)")
    p.add_argument("--ext", choices=EXTS, default="auto",
                   help="output format; auto = the input's (PNG for images with alpha)")
    p.add_argument("--suffix", default="out", help="appended to output names: NAME_SUFFIX.EXT (default: out)")
    p.add_argument("--alpha-upsampler", choices=("model", "resize"), default="model",
                   help="upscale the alpha channel with the model or by bicubic resizing (default: model)")
    p.add_argument("--recursive", action="store_true", help="also take images in sub-folders (kept in the output)")
    p.add_argument("--overwrite", action="store_true", help="allow an output path to be one of the inputs")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="refuse inputs with more pixels (default: $RESTORATION_MAX_PIXELS or 100,000,000; 0 = no limit)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def _collect(inp: Path, recursive: bool, exclude: Path | None) -> list[Path]:
    from restoration.inference.io import is_image_file

    pattern = "**/*" if recursive else "*"
    files = []
    for f in sorted(inp.glob(pattern)):
        if not f.is_file() or not is_image_file(f) or f.name.startswith("."):
            continue
        if exclude is not None and exclude != inp.resolve() and exclude in f.resolve().parents:
            continue  # outputs of an earlier run written inside the input folder
        files.append(f)
    return files


def _out_ext(src: Path, ext: str, has_alpha: bool) -> str:
    if has_alpha and ext in ("auto", "jpg"):
        return "png"  # keep the alpha channel
    if ext != "auto":
        return ext
    e = src.suffix.lower().lstrip(".")
    return {"jpeg": "jpg", "tiff": "tif", "bmp": "png"}.get(e, e)


def _plan(args) -> tuple[list[tuple[Path, Path | None, Path]], bool]:
    """(input, output file or None to decide after reading, output folder) for each image; and folder mode."""
    from restoration.inference.io import IMAGE_EXTENSIONS

    inp, out = Path(args.input), Path(args.output)
    if not inp.exists():
        raise RestorationError(f"input not found: {inp}")
    if inp.is_dir():
        if out.suffix.lower() in IMAGE_EXTENSIONS:
            raise RestorationError(f"input {inp} is a folder: the output must be a folder, not {out}")
        files = _collect(inp, args.recursive, out.resolve() if out.exists() else None)
        if not files:
            raise RestorationError(f"no images found in {inp}" + ("" if args.recursive else " (try --recursive)"))
        return [(f, None, out / f.parent.relative_to(inp)) for f in files], True
    if out.suffix.lower() in IMAGE_EXTENSIONS:
        return [(inp, out, out.parent)], False
    return [(inp, None, out)], False


def _target(src: Path, fixed: Path | None, folder: Path, args, has_alpha: bool) -> Path:
    if fixed is not None:
        if has_alpha and fixed.suffix.lower() in (".jpg", ".jpeg"):
            raise RestorationError(f"{src} has an alpha channel that JPEG cannot store: choose a .png output")
        return fixed
    stem = f"{src.stem}_{args.suffix}" if args.suffix else src.stem
    return folder / f"{stem}.{_out_ext(src, args.ext, has_alpha)}"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def _check_not_input(plan, args) -> None:
    """Refuse, before any work, an output that would replace an input (the name can be known up front)."""
    if args.overwrite:
        return
    inputs = {p.resolve() for p, _, _ in plan}
    for src, fixed, folder in plan:
        candidates = [fixed] if fixed is not None else [
            _target(src, None, folder, args, alpha) for alpha in (False, True)]
        for cand in candidates:
            if cand.resolve() in inputs or _same_file(src, cand):
                raise RestorationError(
                    f"output {cand} would overwrite the input {src}; choose another output or --suffix, "
                    "or pass --overwrite"
                )


def run(args: argparse.Namespace) -> int:
    import logging

    from restoration.inference.io import read_image, write_image

    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    plan, folder_mode = _plan(args)
    _check_not_input(plan, args)

    from tqdm import tqdm

    from restoration.inference.upscaler import Upscaler, resolve_device

    if args.half and not resolve_device(args.device).startswith("cuda"):
        print("restoration upscale: --half is for CUDA only; running in float32 on the CPU", file=sys.stderr)
        args.half = False
    up = Upscaler(args.model_path or args.model_name, device=args.device, tile=args.tile, tile_pad=args.tile_pad,
                  half=args.half, models_dir=args.models_dir, alpha=args.alpha_upsampler)
    if args.outscale is not None and not (0 < args.outscale <= 64):
        raise RestorationError(f"--outscale must be in (0, 64], got {args.outscale}")
    outscale = args.outscale if args.outscale is not None else up.scale
    print(f"model {up.name}: {up.descriptor.summary()} on {up.device}"
          + (f", tile {up.tile} (pad {up.tile_pad})" if up.tile else ""))

    quiet = args.quiet
    bar = tqdm(total=len(plan), unit="img", desc="images", disable=quiet or len(plan) < 2, file=sys.stderr)
    written: list[Path] = []
    made: dict[Path, Path] = {}
    failed: list[tuple[Path, str]] = []
    start = time.perf_counter()
    for src, fixed, folder in plan:
        tiles = None
        try:
            img = read_image(src, max_pixels=args.max_pixels)
            has_alpha = img.ndim == 3 and img.shape[2] == 4
            dst = _target(src, fixed, folder, args, has_alpha)
            if not args.overwrite and _same_file(src, dst):
                raise RestorationError(f"output {dst} would overwrite the input {src} (pass --overwrite)")
            if dst.resolve() in made:  # e.g. a.png and a.jpg with --ext png: keep the first, say so
                raise RestorationError(f"output {dst} was already written from {made[dst.resolve()]} in this run")
            tiles = tqdm(total=up.count_tiles(img), unit="tile", desc=src.name[:30], leave=False,
                         disable=quiet, file=sys.stderr)

            def progress(done: int, total: int, _bar=tiles) -> None:
                if _bar.total != total:
                    _bar.total = total
                _bar.update(done - _bar.n)

            out = up.upscale(img, outscale=outscale, progress=progress)
            write_image(dst, out)
            written.append(dst)
            made[dst.resolve()] = src
        except RestorationError as exc:
            if not folder_mode:
                raise
            failed.append((src, str(exc)))
            tqdm.write(f"restoration upscale: skipped {src}: {exc}", file=sys.stderr)
        finally:
            if tiles is not None:
                tiles.close()
        bar.update(1)
    bar.close()
    took = time.perf_counter() - start
    where = written[0] if len(written) == 1 and not folder_mode else Path(args.output)
    print(f"upscaled {len(written)} of {len(plan)} image(s) x{outscale:g} with {up.name} in {took:.1f} s "
          f"-> {where}" + (f"; {len(failed)} failed" if failed else ""))
    for src, why in failed:
        print(f"  failed: {src}: {why}", file=sys.stderr)
    return 2 if failed else 0
