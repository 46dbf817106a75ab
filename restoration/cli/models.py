"""``restoration models``: list the models of the zoo (pretrained/manifest.json)."""
from __future__ import annotations

import argparse
import json

NAME = "models"
HELP = "list the installed models (the zoo) and which one is the default"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--models-dir", default=None,
                   help="folder holding manifest.json (default: $RESTORATION_MODELS_DIR or pretrained/)")
    p.add_argument("--json", action="store_true", help="print the entries as JSON")


def run(args: argparse.Namespace) -> int:
    from restoration.inference.zoo import MANIFEST, list_models, models_dir

    root = models_dir(args.models_dir)
    models = list_models(root)
    if args.json:
        print(json.dumps([
            {"name": m.name, "default": m.default, "file": str(m.path), "present": m.path.is_file(), "arch": m.arch,
             "scale": m.scale, "sha256": m.sha256, "description": m.description, "trained_on": m.trained_on,
             "metrics": m.metrics} for m in models], indent=2))
        return 0
    if not models:
        print(f"no models installed (manifest: {root / MANIFEST}). Use --model-path FILE with `restoration upscale`, "
              "or add one with `restoration export --register`.")
        return 0
    print(f"models in {root}:")
    for m in models:
        flag = "*" if m.default else " "
        missing = "" if m.path.is_file() else "  [file missing]"
        print(f"{flag} {m.name:<24} x{m.scale}  {m.arch:<16} {m.file}{missing}")
        if m.description:
            print(f"    {m.description}")
        if m.trained_on:
            print(f"    trained on: {m.trained_on}")
        if m.metrics:
            print("    metrics: " + ", ".join(f"{k}={v}" for k, v in m.metrics.items()))
    if any(m.default for m in models):
        print("* = default (used when -n is omitted)")
    else:
        print("no default model marked: pass -n NAME to `restoration upscale`")
    return 0
