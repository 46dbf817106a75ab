#!/usr/bin/env python
"""Prepare HR training images the way Real-ESRGAN prepares DF2K(+OST): originals, multi-scale copies, sub-images,
a meta_info file and, optionally, an LMDB in BasicSR's format.

Inputs are the archives or folders a user downloaded (DIV2K_train_HR.zip, Flickr2K.tar, OST_dataset.zip, any folder
of images; see datasets/download.py). Output layout under --output:

    HR/<name>.png                 every input image as 8-bit RGB PNG
    multiscale/<name>T<i>.png     LANCZOS copies at --scales, then one with the shortest edge = --shortest-edge
    sub/<image>_s<k>.png          --crop-size crops every --step pixels of HR and multiscale images
    meta_info/meta_info_sub.txt   one path per line, relative to --output (dataroot_gt = --output)
    sub.lmdb/                     with --lmdb: data.mdb + meta_info.txt, keys = sub-image names without extension

Example:
    python datasets/prepare_hr.py -i ~/Downloads/DIV2K_train_HR.zip ~/Downloads/Flickr2K.tar -o datasets/DF2K --lmdb
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import tarfile
import zipfile
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from restoration.errors import RestorationError  # noqa: E402
from restoration.image_files import is_image_file  # noqa: E402

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
DEFAULT_SCALES = (0.75, 0.5, 1 / 3)  # Real-ESRGAN's DF2K multi-scale set


# ----------------------------------------------------------------------------------------------------------- inputs
def list_source(path: Path) -> list[str]:
    """Names of the images in a folder or an archive, in the order ``read_source`` yields them."""
    return [name for name, _ in _members(path)]


def _members(path: Path) -> list[tuple[str, object]]:
    if not path.exists():
        raise RestorationError(f"input not found: {path}")
    if path.is_dir():
        return [(f.name, f) for f in sorted(p for p in path.rglob("*") if p.is_file() and is_image_file(p.name))]
    low = path.name.lower()
    try:
        if low.endswith(".zip"):
            with zipfile.ZipFile(path) as zf:
                return [(os.path.basename(n), n) for n in sorted(zf.namelist())
                        if not n.endswith("/") and is_image_file(n)]
        if low.endswith(ARCHIVE_SUFFIXES):
            with tarfile.open(path) as tf:
                return [(os.path.basename(m.name), m.name) for m in sorted(tf.getmembers(), key=lambda m: m.name)
                        if m.isfile() and is_image_file(m.name)]
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise RestorationError(f"{path}: cannot read the archive ({exc})") from None
    if path.exists():
        raise RestorationError(f"{path}: not a folder or a .zip/.tar archive")
    raise RestorationError(f"input not found: {path}")


def read_source(path: Path) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) for each image of a folder or an archive; archive members are read, never extracted."""
    members = _members(path)
    if path.is_dir():
        for name, f in members:
            yield name, f.read_bytes()
    elif path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            for name, member in members:
                yield name, zf.read(member)
    else:
        with tarfile.open(path) as tf:
            for name, member in members:
                yield name, tf.extractfile(member).read()


def decode_rgb(data: bytes, name: str):
    """Bytes -> PIL RGB image (gray and alpha images are converted)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(data))
        img.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise RestorationError(f"{name}: not a readable image ({exc})") from None
    return img if img.mode == "RGB" else img.convert("RGB")


# -------------------------------------------------------------------------------------------------------- transforms
def multiscale(img, scales: tuple[float, ...], shortest_edge: int) -> list:
    """LANCZOS copies at each scale, then one whose shortest edge is ``shortest_edge`` (skipped if that would
    upscale)."""
    from PIL import Image

    w, h = img.size
    out = [img.resize((int(w * s), int(h * s)), resample=Image.LANCZOS) for s in scales]
    if shortest_edge > 0 and min(w, h) > shortest_edge:
        if w < h:
            size = (shortest_edge, int(shortest_edge * h / w))
        else:
            size = (int(shortest_edge * w / h), shortest_edge)
        out.append(img.resize(size, resample=Image.LANCZOS))
    return out


def crop_starts(length: int, crop: int, step: int, thresh: int) -> list[int]:
    """Top-left offsets along one axis: every ``step``, plus a last crop flush with the edge when the rest > thresh."""
    if length <= crop:
        return [0]
    starts = list(range(0, length - crop + 1, step))
    if length - (starts[-1] + crop) > thresh:
        starts.append(length - crop)
    return starts


def sub_images(arr, crop: int, step: int, thresh: int) -> list:
    """Crops of an HxWx3 array (an image not larger than ``crop`` stays whole)."""
    h, w = arr.shape[:2]
    return [arr[y:y + crop, x:x + crop] for y in crop_starts(h, crop, step, thresh)
            for x in crop_starts(w, crop, step, thresh)]


# --------------------------------------------------------------------------------------------------------- pipeline
def _write_png(path: Path, rgb, level: int) -> None:
    import cv2

    if not cv2.imwrite(str(path), rgb[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, level]):
        raise RestorationError(f"cannot write {path}")


def _process(name: str, data: bytes, out: Path, args) -> list[str]:
    import numpy as np

    img = decode_rgb(data, name)
    stem = Path(name).stem
    hr = np.asarray(img)
    _write_png(out / "HR" / f"{stem}.png", hr, args.compress_level)
    pieces = [(stem, hr)]
    if args.scales:
        for i, small in enumerate(multiscale(img, tuple(args.scales), args.shortest_edge)):
            arr = np.asarray(small)
            _write_png(out / "multiscale" / f"{stem}T{i}.png", arr, args.compress_level)
            pieces.append((f"{stem}T{i}", arr))
    if args.crop_size <= 0:
        return [f"HR/{stem}.png"] + [f"multiscale/{n}.png" for n, _ in pieces[1:]]
    written = []
    for base, arr in pieces:
        for k, crop in enumerate(sub_images(arr, args.crop_size, args.step, args.thresh_size), start=1):
            rel = f"sub/{base}_s{k:03d}.png"
            _write_png(out / rel, np.ascontiguousarray(crop), args.compress_level)
            written.append(rel)
    return written


def _check_output(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise RestorationError(f"output {out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise RestorationError(f"output folder {out} is not empty; choose another or pass --overwrite "
                               "(files this script writes are replaced, others are left alone)")


def make_lmdb(out: Path, rel_paths: list[str], compress_level: int) -> Path:
    """BasicSR-format LMDB of the sub-images (keys = file names without extension) via basicsr's own writer."""
    import restoration  # noqa: F401  (torchvision compat hook: basicsr imports torchvision)
    # isort: split
    from basicsr.utils.lmdb_util import make_lmdb_from_imgs

    lmdb_path = out / "sub.lmdb"
    if lmdb_path.exists():
        import shutil

        shutil.rmtree(lmdb_path)  # only reached with --overwrite on our own output folder
    root = out / Path(rel_paths[0]).parent
    names = [Path(p).name for p in rel_paths]
    make_lmdb_from_imgs(str(root), str(lmdb_path), names, [Path(n).stem for n in names],
                        compress_level=compress_level, multiprocessing_read=False)
    return lmdb_path


def prepare(args: argparse.Namespace) -> dict:
    from tqdm import tqdm

    out = Path(args.output)
    _check_output(out, args.overwrite)
    sources, seen = [], {}
    for src in args.input:
        names = list_source(Path(src))
        for name in names:
            stem = Path(name).stem
            if stem in seen:
                raise RestorationError(f"two inputs are named {stem!r} ({seen[stem]} and {src}); rename one")
            seen[stem] = src
        sources.append(Path(src))
    if not seen:
        raise RestorationError(f"no images found in {', '.join(map(str, args.input))}")
    for sub in ("HR", "multiscale" if args.scales else None, "sub" if args.crop_size > 0 else None, "meta_info"):
        if sub:
            (out / sub).mkdir(parents=True, exist_ok=True)
    rel_paths: list[str] = []
    workers = max(1, args.workers)
    # Files are read in this thread (archive handles are not thread-safe) and processed by the pool, with at most
    # 2 x workers images in memory at once.
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=len(seen), desc="prepare", unit="img", disable=args.quiet) as bar:
        pending: deque = deque()

        def drain(limit: int) -> None:
            while len(pending) > limit:
                rel_paths.extend(pending.popleft().result())
                bar.update(1)

        for src in sources:
            for name, data in read_source(src):
                pending.append(pool.submit(_process, name, data, out, args))
                drain(2 * workers)
        drain(0)
    rel_paths.sort()
    meta = out / "meta_info" / ("meta_info_sub.txt" if args.crop_size > 0 else "meta_info_multiscale.txt")
    meta.write_text("".join(p + "\n" for p in rel_paths))
    summary = {"images": len(seen), "files": len(rel_paths), "meta_info": str(meta)}
    if args.lmdb:
        import contextlib

        with contextlib.ExitStack() as stack:
            if args.quiet:  # basicsr's writer prints and draws its own progress bar
                stack.enter_context(contextlib.redirect_stdout(io.StringIO()))
                stack.enter_context(contextlib.redirect_stderr(io.StringIO()))
            summary["lmdb"] = str(make_lmdb(out, rel_paths, args.compress_level))
    return summary


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--input", nargs="+", required=True, help="archives (.zip/.tar[.gz]) and/or image folders")
    p.add_argument("-o", "--output", required=True, help="output folder (must be empty unless --overwrite)")
    p.add_argument("--scales", type=float, nargs="*", default=list(DEFAULT_SCALES),
                   help="multi-scale factors (default: 0.75 0.5 1/3; give none to skip multi-scale copies)")
    p.add_argument("--shortest-edge", type=int, default=400,
                   help="extra copy with this shortest edge, 0 = none (default: 400)")
    p.add_argument("--crop-size", type=int, default=400, help="sub-image size, 0 = no cropping (default: 400)")
    p.add_argument("--step", type=int, default=200, help="stride between sub-images (default: 200)")
    p.add_argument("--thresh-size", type=int, default=0,
                   help="add an edge-flush crop when more than this many pixels are left over (default: 0)")
    p.add_argument("--compress-level", type=int, default=3, choices=range(10), metavar="0-9",
                   help="PNG compression level (default: 3)")
    p.add_argument("--lmdb", action="store_true", help="also write sub.lmdb (BasicSR LMDB format)")
    p.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), help="threads (default: up to 4)")
    p.add_argument("--overwrite", action="store_true", help="allow a non-empty output folder")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.crop_size > 0 and args.step <= 0:
        print("prepare_hr.py: error: --step must be > 0", file=sys.stderr)
        return 2
    try:
        summary = prepare(args)
    except RestorationError as exc:
        print(f"prepare_hr.py: error: {exc}", file=sys.stderr)
        return 2
    print(f"{summary['images']} images -> {summary['files']} files listed in {summary['meta_info']}"
          + (f"; LMDB {summary['lmdb']}" if "lmdb" in summary else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
