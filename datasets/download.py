#!/usr/bin/env python
"""Official download addresses of the HR training sets Real-ESRGAN uses (DIV2K, Flickr2K, OST), printed, or fetched
with --fetch on a machine with internet access. Then run datasets/prepare_hr.py on the archives.

The datasets keep their own licences (DIV2K and Flickr2K: research use; OST: see the SFTGAN project): read them
before downloading. Nothing in this project downloads them on its own.

Examples:
    python datasets/download.py                      # list names, sizes and URLs
    python datasets/download.py --fetch DIV2K_train_HR Flickr2K -o ~/Downloads
"""
from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from pathlib import Path

# name -> (url, approximate size, what it is)
DATASETS: dict[str, tuple[str, str, str]] = {
    "DIV2K_train_HR": ("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip", "3.5 GB",
                       "DIV2K training set, 800 2K images (https://data.vision.ee.ethz.ch/cvl/DIV2K/)"),
    "DIV2K_valid_HR": ("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip", "0.45 GB",
                       "DIV2K validation set, 100 2K images (a common HR test set)"),
    "Flickr2K": ("https://cv.snu.ac.kr/research/EDSR/Flickr2K.tar", "20 GB",
                 "Flickr2K, 2650 2K images collected for EDSR"),
    "OST": ("https://openmmlab.oss-cn-hangzhou.aliyuncs.com/datasets/OST_dataset.zip", "2.6 GB",
            "OutdoorSceneTraining (SFTGAN): outdoor scenes in 7 categories; Real-ESRGAN uses its training part"),
}


def fetch(name: str, out_dir: Path, quiet: bool = False) -> Path:
    """Download one archive into ``out_dir`` (resumes nothing; an existing complete file is kept)."""
    from tqdm import tqdm

    url = DATASETS[name][0]
    target = out_dir / url.rsplit("/", 1)[-1]
    if target.exists():
        print(f"{target} exists, kept")
        return target
    out_dir.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    with urllib.request.urlopen(url, timeout=60) as resp, open(part, "wb") as fh:
        total = int(resp.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=target.name, disable=quiet) as bar:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                fh.write(chunk)
                bar.update(len(chunk))
    part.rename(target)
    return target


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fetch", nargs="+", choices=sorted(DATASETS), metavar="NAME",
                   help=f"download these archives ({', '.join(sorted(DATASETS))})")
    p.add_argument("-o", "--output", default="datasets/downloads", help="download folder (default: datasets/downloads)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if not args.fetch:
        for name, (url, size, what) in DATASETS.items():
            print(f"{name:15s} {size:>8s}  {url}\n{'':15s} {'':>8s}  {what}")
        print("\nThen: python datasets/prepare_hr.py -i <archives or folders> -o datasets/DF2K_OST [--lmdb]")
        return 0
    for name in args.fetch:
        try:
            path = fetch(name, Path(args.output), args.quiet)
        except (urllib.error.URLError, OSError) as exc:
            print(f"download.py: error: {name}: {exc}", file=sys.stderr)
            return 2
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
