#!/usr/bin/env python
"""Build a per-group test set: every HR image degraded by a task of each TaskBank group, reproducibly.

    <out>/HR/<name>.png           HR cropped to a multiple of --scale
    <out>/LQ/<group>/<name>.png   LQ made by restoration.degradations.degrade with a task of that group
    <out>/manifest.json           for every LQ file: HR file, group, task index, task_id, seed

The same inputs and --seed give byte-identical files. Evaluate with `restoration evaluate --testset <out> ...`.

Example (offline, with the photos installed packages ship):
    python datasets/offline_photos.py -o datasets/offline_hr --lossless-only
    restoration tasks sample --num 64 --seed 0 --out tasks.json      # or any bank with groups
    python datasets/make_testset.py --hr datasets/offline_hr --bank tasks.json -o datasets/testsets/offline_x4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from restoration.errors import RestorationError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hr", required=True, help="folder of HR images")
    p.add_argument("--bank", required=True, help="TaskBank JSON (its groups; a bank without groups is one group 'all')")
    p.add_argument("-o", "--output", required=True, help="output folder (must be empty unless --overwrite)")
    p.add_argument("--groups", nargs="+", default=None, help="only these groups (default: all groups of the bank)")
    p.add_argument("--clean-group", action="store_true",
                   help="also a group clean_bicubic: the HR image downscaled by antialiased bicubic, no degradation")
    p.add_argument("--random-group", action="store_true",
                   help="also a group G0_random of fresh tasks sampled from the bank's degradation space")
    p.add_argument("--seed", type=int, default=0, help="seed of every random choice (default: 0)")
    p.add_argument("--variants", type=int, default=1, help="LQ images per HR image and group (default: 1)")
    p.add_argument("--scale", type=int, default=4, help="downscaling factor (default: 4)")
    p.add_argument("--crop", type=int, default=0, help="centre-crop HR images to at most this size, 0 = keep")
    p.add_argument("--max-images", type=int, default=0, help="use only the first N HR images (sorted), 0 = all")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from tqdm import tqdm

    from restoration.evaluation.testset import make_testset

    try:
        with tqdm(desc="test set", unit="img", disable=args.quiet) as bar:
            def progress(done: int, total: int) -> None:
                bar.total = total
                bar.update(done - bar.n)

            manifest = make_testset(args.hr, args.bank, args.output, seed=args.seed, groups=args.groups,
                                    random_group=args.random_group, clean_group=args.clean_group,
                                    variants=args.variants, scale=args.scale, crop=args.crop,
                                    max_images=args.max_images, overwrite=args.overwrite,
                                    progress=progress)
    except RestorationError as exc:
        print(f"make_testset.py: error: {exc}", file=sys.stderr)
        return 2
    groups = ", ".join(manifest["groups"])
    print(f"{len(manifest['files'])} LQ images in {len(manifest['groups'])} groups ({groups}) -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
