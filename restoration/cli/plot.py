"""``restoration plot``: draw an experiment's training curves (losses, validation metrics vs bicubic) as a PNG."""
from __future__ import annotations

import argparse
from pathlib import Path

from restoration.errors import RestorationError

NAME = "plot"
HELP = "plot an experiment's losses and validation metrics (curves.jsonl -> curves.png)"
DESCRIPTION = (
    "Training writes experiments/NAME/curves.jsonl (losses at every progress line, validation metrics and the "
    "bicubic baseline at every validation) and redraws curves.png at each validation and checkpoint. This command "
    "redraws it on demand, e.g. while a run is between validations."
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("experiment", help="experiment folder (experiments/NAME) or NAME")
    p.add_argument("--out", default=None, help="output PNG (default: curves.png in the experiment folder)")


def run(args: argparse.Namespace) -> int:
    from restoration.train_log import CURVES, PLOT, plot_curves

    folder = Path(args.experiment)
    if not (folder / CURVES).is_file() and (Path("experiments") / args.experiment / CURVES).is_file():
        folder = Path("experiments") / args.experiment
    if not (folder / CURVES).is_file():
        raise RestorationError(f"{folder / CURVES} does not exist (curves are written by restoration train)")
    out = Path(args.out) if args.out else folder / PLOT
    if out.suffix.lower() != ".png":
        raise RestorationError(f"--out must end in .png, got {out}")
    path = plot_curves(folder / CURVES, out)
    if path is None:
        raise RestorationError(f"{folder / CURVES} has no losses or metrics yet")
    print(f"wrote {path}")
    return 0
