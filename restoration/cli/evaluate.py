"""``restoration evaluate``: per-group PSNR-Y / SSIM-Y / LPIPS of a model against bicubic on a test set."""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from restoration.errors import OptionError, RestorationError

NAME = "evaluate"
HELP = "per-group PSNR-Y/SSIM-Y/LPIPS of one or several models vs bicubic on a test set (Markdown, CSV, JSON, chart)"
DESCRIPTION = (
    "Evaluate models (zoo names, Real-ESRGAN names of imported models, or weight files) side by side with bicubic on "
    "a test set made by datasets/make_testset.py (HR/, LQ/<group>/, manifest.json). Writes results.md, results.csv, "
    "results.json and results.png into the output folder, by default results/evaluate/<model names> (an earlier "
    "run's results there are kept unless --overwrite). LPIPS columns need the real backbone weights (`make assets`); "
    "without them they are marked unavailable. `--compare A B` prints B minus A per group from two results."
)
# option-file key -> (type, default)
LPIPS_NETS = ("alex", "vgg")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-opt", "--opt", default=None, help="options/test/*.yml file (command-line flags override it)")
    p.add_argument("-n", "--model", nargs="+", action="extend", default=None, metavar="MODEL",
                   help="zoo model name(s) or weight file(s) (.safetensors / .pth); several are compared side by side "
                        "(--model A B, or --model A --model B)")
    p.add_argument("--models-dir", default=None, help="folder holding the zoo manifest.json")
    p.add_argument("--testset", default=None, help="test-set folder (HR/, LQ/<group>/, manifest.json)")
    p.add_argument("--groups", nargs="+", default=None, help="only these groups (default: all)")
    p.add_argument("--lpips", nargs="*", choices=LPIPS_NETS, default=None,
                   help="LPIPS backbones (default: alex; give none to skip LPIPS)")
    p.add_argument("--crop-border", type=int, default=None, help="border crop for PSNR/SSIM (default: the scale)")
    p.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--tile", type=int, default=None, help="tile size in LQ pixels, 0 = whole image (default: 0)")
    p.add_argument("--tile-pad", type=int, default=None,
                   help="context pixels around each tile (default: 16; 0 shows each tile alone, as a training patch)")
    p.add_argument("--max-images", type=int, default=None, help="at most N images per group (default: all)")
    p.add_argument("-o", "--output", default=None, help="output folder (default: results/evaluate/<name>)")
    p.add_argument("--save-images", action="store_true", help="also write the model outputs (<output>/images/)")
    p.add_argument("--grid", type=int, default=0, metavar="N",
                   help="also write grid.png: a textured crop of N images per group, LQ | bicubic | models | GT "
                        "(implies --save-images)")
    p.add_argument("--heaviest", type=int, default=0, metavar="K",
                   help="also write heaviest.md and heaviest.png: the K degraded inputs with the lowest bicubic "
                        "PSNR-Y, per model and as a crop grid (where a model invents structure; implies --save-images)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the results of an earlier run in the output folder")
    p.add_argument("--no-baseline", action="store_true", help="skip the bicubic baseline rows")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"), default=None,
                   help="compare two results (results.json files or their folders) instead of evaluating")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def _defaults() -> dict[str, Any]:
    from restoration.schema.evaluate import EvaluateFile

    return EvaluateFile().model_dump()


def load_options(path: str) -> dict[str, Any]:
    """Read and validate an evaluation option file (schema: restoration.schema.evaluate); OptionError names the
    key. A key set to null keeps its default."""
    from restoration.schema.base import check
    from restoration.schema.evaluate import EvaluateFile
    from restoration.yaml_files import read_options

    try:
        given = check(EvaluateFile, read_options(path)).model_dump(exclude_unset=True)
    except OptionError as exc:
        raise OptionError(f"{path}: {exc}") from None
    opts = {**_defaults(), **{k: v for k, v in given.items() if v is not None}}
    for key in ("testset", "models_dir", "output"):  # relative paths: from the working directory, like BasicSR
        if opts[key] is not None:
            opts[key] = str(Path(opts[key]).expanduser())
    return opts


def _merge(args: argparse.Namespace) -> dict[str, Any]:
    opts = load_options(args.opt) if args.opt else _defaults()
    flags = {"model": args.model, "models_dir": args.models_dir, "testset": args.testset, "groups": args.groups,
             "lpips": args.lpips, "crop_border": args.crop_border, "device": args.device, "tile": args.tile,
             "tile_pad": args.tile_pad, "max_images": args.max_images, "output": args.output}
    opts.update({k: v for k, v in flags.items() if v is not None})
    if args.save_images or args.grid or args.heaviest:
        opts["save_images"] = True
    if args.no_baseline:
        opts["baseline"] = False
    for key in ("model", "testset"):
        if not opts[key]:
            raise RestorationError(f"no {key} given: pass --{key} or set `{key}:` in the option file")
    if isinstance(opts["model"], str):
        opts["model"] = [opts["model"]]
    if not all(isinstance(m, str) and m for m in opts["model"]):
        raise OptionError(f"model: expected a name or a list of names, got {opts['model']!r}")
    return opts


def output_name(labels: list[str]) -> str:
    """The default output folder's name: the models' names (not their checkpoint files), file-system safe."""
    name = "+".join(re.sub(r"[^A-Za-z0-9_.@#-]+", "_", label) for label in labels)
    return name if len(name) <= 120 else name[:100] + f"+{len(labels)}-models"


def _run_compare(args: argparse.Namespace) -> int:
    from restoration.evaluation import report

    cmp = report.compare(report.load_result(args.compare[0]), report.load_result(args.compare[1]))
    text = report.compare_markdown(cmp)
    print(text, end="")
    if args.output:
        out = Path(args.output)
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text(text)
        (out / "compare.csv").write_text(report.compare_csv(cmp))
        (out / "compare.json").write_text(json.dumps(cmp, indent=1, allow_nan=False) + "\n")
        print(f"written: {out / 'compare.md'}, .csv, .json")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.compare:
        return _run_compare(args)
    from tqdm import tqdm

    from restoration.evaluation import report
    from restoration.evaluation.runner import evaluate, model_label

    opts = _merge(args)
    labels = [model_label(m, opts["models_dir"]) for m in opts["model"]]
    if not opts["name"]:
        opts["name"] = output_name(labels)
    out = Path(opts["output"] or Path("results") / "evaluate" / opts["name"])
    if (out / "results.json").exists() and not args.overwrite:
        raise RestorationError(f"{out} already holds results: pass --overwrite to replace them, or choose -o")
    with tqdm(desc="evaluate", unit="img", disable=args.quiet) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        result = evaluate(opts["model"], opts["testset"], groups=opts["groups"], lpips_nets=opts["lpips"] or [],
                          crop_border=opts["crop_border"], device=opts["device"], tile=opts["tile"],
                          tile_pad=opts["tile_pad"], max_images=opts["max_images"], models_dir=opts["models_dir"],
                          save_images=out / "images" if opts["save_images"] else None, baseline=opts["baseline"],
                          progress=progress)
    result["name"] = opts["name"]
    paths = report.write_all(result, out)
    print(report.to_markdown(result), end="")
    print(f"written: {paths['md']}, {paths['csv'].name}, {paths['json'].name}, {paths['png'].name}")
    if args.grid:
        from restoration.evaluation.grid import crop_grid

        print(f"written: {crop_grid(result, out / 'images', out / 'grid.png', per_group=args.grid)}")
    if args.heaviest:
        from restoration.evaluation.heaviest import write_heaviest

        md, png = write_heaviest(result, out / "images", out, args.heaviest)
        print(f"written: {md}, {png.name}")
    return 0
