#!/usr/bin/env python
"""Build the offline photo corpus: real photographs from Debian wallpaper packages plus the package photos, with a
fixed train / val / test split, each file's licence, and BasicSR-style training sub-images.

Nothing is installed: each package is fetched with ``apt-get download`` into the cache and unpacked with
``dpkg -x``. Only the photographs of the catalogue below are kept (the packages also hold illustrations). Wallpapers
are high-quality JPEGs of 1.3-15 MP: each is downscaled (area filter) by at least 2x, to at most 1280 px on its
longer side, which washes out the compression. The split is fixed by name; the test photos are never trained on.

Output (``--output``, default ``datasets/corpus``)::

    HR/{train,val,test}/<name>.png      the photographs after the downscale
    HR/train_added/<name>.png           the training photos added in the second corpus (the Lomiri ones), apart so
                                        that HR/train, which the task probes read, stays the first corpus
    train/                              datasets/prepare_hr.py on both training folders: multi-scale copies,
                                        400 px sub-images,
      meta_info/meta_info_sub.txt       every sub-image
      meta_info/meta_info_textured_v2.txt  those whose texture (mean gradient magnitude) is above --min-texture
      meta_info/meta_info_textured.txt     the same without the Lomiri photos (the first corpus, 24 training
                                           photos: the recipes made before they were added read this one)
    LICENCES.md, corpus.json            source package, original file, author and licence of every photo

Example:
    python datasets/photo_corpus.py -o datasets/corpus          # or: make data
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from restoration.errors import RestorationError  # noqa: E402

PLASMA = "plasma-workspace-wallpapers"
MATE = "mate-backgrounds"
LOMIRI = ("lomiri-wallpapers-16.04", "lomiri-wallpapers-20.04")
PACKAGES = (PLASMA, MATE, *LOMIRI)
# The photographs of each package (the rest are illustrations); checked by eye on the Debian 12 packages.
PLASMA_PHOTOS = ("BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey",
                 "Kite", "OneStandsOut", "Path", "Volna", "summer_1am")
MATE_PHOTOS = ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow", "LadyBird", "RainDrops", "Storm",
               "TwoWings", "Wood", "YellowFlower")
# Added in the second corpus: dense natural textures (forest floor, rock, grass, bark, foliage, fur, bristles), which
# the first 24 training photos lacked. (release folder in the copyright file, file stem); named by the part before _by_.
LOMIRI_PHOTOS = (("16.04", "life_by_Aitzol_Berasategi"), ("16.04", "picosdeeuropa_by_Aitzol_Berasategi"),
                 ("16.04", "aitzgorri_by_Aitzol_Berasategi"), ("16.04", "sunset_by_Aitzol_Berasategi"),
                 ("16.04", "friends_by_Aitzol_Berasategi"), ("16.04", "Dragonfly_by_Bolly"),
                 ("16.04", "seeding_by_Clements_Engelhardt"), ("16.04", "Picture_0B_by_freespace"),
                 ("16.04", "Picture_1A_by_freespace"), ("16.04", "Wine_by_Jakkub_Mede"),
                 ("20.04", "Kleiber_by_Lukas_Baubkus"))
ADDED = tuple(stem.partition("_by_")[0] for _, stem in LOMIRI_PHOTOS)
# Lossless photos shipped by Python packages (restoration.data.offline_photos).
PACKAGE_PHOTOS = ("monarch", "sail", "tulips", "kodim23", "barbara", "astronaut", "chelsea", "coffee")
# Fixed split: textured, varied content in val and test (fur, foliage, wood, fabric, hard edges); never trained on.
SPLIT = {"test": ("EveningGlow", "Path", "LadyBird", "ColorfulCups", "barbara"),
         "val": ("Grey", "Garden", "chelsea")}
MAX_SIDE = 1280
MIN_DOWNSCALE = 0.5


@dataclass(frozen=True)
class Photo:
    name: str
    path: Path
    source: str
    author: str
    licence: str
    lossless: bool

    @property
    def split(self) -> str:
        return next((s for s, names in SPLIT.items() if self.name in names), "train")

    @property
    def folder(self) -> str:
        """The HR folder: its split's, or train_added for the photos of the second corpus."""
        return "train_added" if self.name in ADDED else self.split


# ------------------------------------------------------------------------------------------------------- packages
def fetch(cache: Path, packages: tuple[str, ...] = PACKAGES) -> Path:
    """Download (once) and unpack the packages; returns the folder they are unpacked into."""
    cache.mkdir(parents=True, exist_ok=True)
    root = cache / "root"
    for pkg in packages:
        debs = sorted(cache.glob(f"{pkg}_*.deb"))
        if not debs:
            print(f"downloading {pkg} with apt-get ...", flush=True)
            done = subprocess.run(["apt-get", "download", pkg], cwd=cache, capture_output=True, text=True)
            debs = sorted(cache.glob(f"{pkg}_*.deb"))
            if done.returncode != 0 or not debs:
                last = (done.stderr.strip().splitlines() or ["no output"])[-1]
                raise RestorationError(f"apt-get download {pkg} failed ({last}); run `apt-get update` first")
        stamp = root / f".{debs[-1].name}.unpacked"
        if not stamp.exists():
            root.mkdir(exist_ok=True)
            done = subprocess.run(["dpkg", "-x", str(debs[-1]), str(root)], capture_output=True, text=True)
            if done.returncode != 0:
                raise RestorationError(f"dpkg -x {debs[-1].name} failed: {done.stderr.strip()}")
            stamp.touch()
    return root


def dep5_licences(copyright_file: Path) -> list[tuple[list[str], str, str]]:
    """(file patterns, copyright, licence) of each ``Files:`` stanza of a Debian machine-readable copyright file."""
    stanzas = []
    for block in re.split(r"\n\s*\n", copyright_file.read_text(encoding="utf-8", errors="replace")):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1].isspace() and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Files" in fields:
            stanzas.append((fields["Files"].split(), fields.get("Copyright", ""), fields.get("License", "")))
    return stanzas


def _dep5_for(stanzas: list[tuple[list[str], str, str]], rel: str) -> tuple[str, str]:
    from fnmatch import fnmatch

    found = ("", "")
    for patterns, holder, licence in stanzas:  # the last matching stanza wins, as in DEP-5
        if any(fnmatch(rel, p) for p in patterns):
            found = (" ".join(holder.split()), licence)
    return found


def _area(stem: str) -> int:
    w, _, h = stem.partition("x")
    return int(w) * int(h) if w.isdigit() and h.isdigit() else 0


def plasma_photos(root: Path) -> list[Photo]:
    stanzas = dep5_licences(root / f"usr/share/doc/{PLASMA}/copyright")
    photos = []
    for name in PLASMA_PHOTOS:
        folder = root / "usr/share/wallpapers" / name
        # the largest file; several names of one size are often copies of it: prefer the largest declared size
        images = sorted((folder / "contents/images").glob("*.*"), key=lambda p: (p.stat().st_size, _area(p.stem)))
        if not images or images[-1].stat().st_size == 0:
            raise RestorationError(f"{PLASMA}: no image for {name} in {folder}")
        meta = json.loads((folder / "metadata.json").read_text(encoding="utf-8")).get("KPlugin", {})
        authors = ", ".join(a.get("Name", "") for a in meta.get("Authors", []) if a.get("Name"))
        holder, pkg_licence = _dep5_for(stanzas, f"wallpapers/{name}/x")
        licence = meta.get("License") or pkg_licence
        photos.append(Photo(name, images[-1], f"{PLASMA}:{images[-1].relative_to(root)}", authors or holder,
                            licence, False))
    return photos


def mate_photos(root: Path) -> list[Photo]:
    stanzas = dep5_licences(root / f"usr/share/doc/{MATE}/copyright")
    photos = []
    for name in MATE_PHOTOS:
        path = root / "usr/share/backgrounds/mate/nature" / f"{name}.jpg"
        if not path.is_file():
            raise RestorationError(f"{MATE}: {path} is missing")
        holder, licence = _dep5_for(stanzas, f"nature/{name}.jpg")
        photos.append(Photo(name, path, f"{MATE}:{path.relative_to(root)}", holder, licence, False))
    return photos


def lomiri_photos(root: Path) -> list[Photo]:
    stanzas = {release: dep5_licences(root / f"usr/share/doc/lomiri-wallpapers-{release}/copyright")
               for release in {r for r, _ in LOMIRI_PHOTOS}}
    photos = []
    for release, stem in LOMIRI_PHOTOS:
        pkg = f"lomiri-wallpapers-{release}"
        path = root / "usr/share/backgrounds" / f"{stem}.jpg"
        if not path.is_file():
            raise RestorationError(f"{pkg}: {path} is missing")
        holder, licence = _dep5_for(stanzas[release], f"{release}/{stem}.jpg")
        if not licence:
            raise RestorationError(f"{pkg}: no licence for {release}/{stem}.jpg in its copyright file")
        photos.append(Photo(stem.partition("_by_")[0], path, f"{pkg}:{path.relative_to(root)}", holder, licence,
                            False))
    return photos


def package_photos() -> list[Photo]:
    from restoration.data.offline_photos import list_offline_photos

    found = {p.name: p for p in list_offline_photos(lossless_only=True)}
    missing = [n for n in PACKAGE_PHOTOS if n not in found]
    if missing:
        raise RestorationError(f"package photos missing: {', '.join(missing)} (run `make assets`, which installs "
                               "sporco; scikit-image comes with the project)")
    return [Photo(n, found[n].path, found[n].source, "", found[n].licence, True) for n in PACKAGE_PHOTOS]


# -------------------------------------------------------------------------------------------------------- building
def downscale_factor(h: int, w: int, lossless: bool) -> float:
    """JPEG wallpapers: at least 2x smaller, longer side at most MAX_SIDE; lossless photos stay as they are."""
    return 1.0 if lossless else min(MIN_DOWNSCALE, MAX_SIDE / max(h, w))


def write_hr(photo: Photo, out: Path) -> tuple[int, int]:
    import cv2

    img = cv2.imread(str(photo.path), cv2.IMREAD_COLOR)
    if img is None:
        raise RestorationError(f"cannot decode {photo.path}")
    h, w = img.shape[:2]
    f = downscale_factor(h, w, photo.lossless)
    if f < 1:
        img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
    target = out / "HR" / photo.folder / f"{photo.name}.png"
    for stale in (out / "HR").glob(f"*/{photo.name}.png"):  # a copy left in another folder by an older build
        if stale != target:
            stale.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp.png")
    if not cv2.imwrite(str(tmp), img):
        raise RestorationError(f"cannot write {tmp}")
    tmp.replace(target)
    return img.shape[0], img.shape[1]


def texture(path: Path) -> float:
    """Mean gradient magnitude of the luma, in 8-bit levels per pixel: flat sky and bokeh score below ~2."""
    import cv2
    import numpy as np

    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if img is None:
        raise RestorationError(f"cannot decode {path}")
    gray = img.astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3) / 8, cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3) / 8
    return float(np.sqrt(gx * gx + gy * gy).mean())


def photo_of(sub_image: str) -> str:
    """The photo a sub-image comes from: prepare_hr.py names them <photo>[T<scale>]_s<index>."""
    return re.sub(r"(T\d+)?_s\d+$", "", Path(sub_image).stem)


def make_subimages(out: Path, min_texture: float, workers: int) -> dict:
    """prepare_hr.py on HR/train and HR/train_added, then the textured subset of the sub-images as meta_info files:
    all training photos (v2), and the first corpus without the added photos (older recipes read the same data)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import prepare_hr as prep  # datasets/prepare_hr.py, next to this script

    train = out / "train"
    if train.exists():
        shutil.rmtree(train)  # rebuilt whole: it is derived from the training HR folders only
    inputs = [out / "HR" / "train"] + [d for d in [out / "HR" / "train_added"] if d.is_dir()]
    args = argparse.Namespace(input=[str(d) for d in inputs], output=str(train), scales=[0.75, 0.5, 1 / 3],
                              shortest_edge=400, crop_size=400, step=200, thresh_size=0, compress_level=3,
                              lmdb=False, workers=workers, overwrite=False, quiet=True)
    summary = prep.prepare(args)
    rel = Path(summary["meta_info"]).read_text().split()
    scores = {r: texture(train / r) for r in rel}
    kept = [r for r in rel if scores[r] >= min_texture]
    first = [r for r in kept if photo_of(r) not in ADDED]
    (train / "meta_info" / "meta_info_textured_v2.txt").write_text("".join(r + "\n" for r in kept))
    (train / "meta_info" / "meta_info_textured.txt").write_text("".join(r + "\n" for r in first))
    return {"sub_images": len(rel), "textured": len(kept), "textured_first_corpus": len(first),
            "min_texture": min_texture}


def build(out: Path, cache: Path, min_texture: float = 2.0, workers: int = 2) -> dict:
    root = fetch(cache)
    photos = plasma_photos(root) + mate_photos(root) + package_photos() + lomiri_photos(root)
    names = [p.name for p in photos]
    if len(set(names)) != len(names):
        raise RestorationError("two catalogue photos share a name")
    rows = []
    for p in photos:
        h, w = write_hr(p, out)
        rows.append(dict(asdict(p), path=str(p.path.name), split=p.split, folder=p.folder, size=[w, h]))
    summary = {"photos": len(rows), "split": {s: sum(r["split"] == s for r in rows) for s in ("train", "val", "test")}}
    summary.update(make_subimages(out, min_texture, workers))
    (out / "corpus.json").write_text(json.dumps({"summary": summary, "photos": rows}, indent=1) + "\n")
    lines = [f"| {r['name']} | {r['split']} | {r['size'][0]}x{r['size'][1]} | {r['source']} | {r['author']} | "
             f"{r['licence']} |" for r in rows]
    (out / "LICENCES.md").write_text(
        "# Photo corpus\n\nBuilt by datasets/photo_corpus.py from Debian packages (each package's copyright file "
        "and the wallpapers' metadata.json) and Python packages.\n\n| name | split | size | source | author / "
        "copyright | licence |\n|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")
    return summary


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="datasets/corpus", help="output folder (default: datasets/corpus)")
    p.add_argument("--cache", default=None, help="where .deb files are kept (default: OUTPUT/.debs)")
    p.add_argument("--min-texture", type=float, default=2.0,
                   help="mean gradient magnitude (8-bit levels) below which a sub-image is left out of "
                        "the meta_info_textured files (default: 2.0)")
    p.add_argument("--workers", type=int, default=2, help="threads for the sub-images (default: 2)")
    args = p.parse_args(argv)
    out = Path(args.output)
    try:
        summary = build(out, Path(args.cache) if args.cache else out / ".debs", args.min_texture, args.workers)
    except RestorationError as exc:
        print(f"photo_corpus.py: error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
