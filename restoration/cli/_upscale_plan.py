"""Planning of ``restoration upscale``: which files are inputs, where each output goes, and what is refused before
any model is loaded (bad output names, outputs escaping the output folder, replacing files without --overwrite).

Only argparse-level imports at module level (the command list is built from ``restoration.cli`` on ``--help``).
"""
from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from restoration.errors import RestorationError


@dataclass
class Job:
    """One input; ``fixed`` is the output file when the user named it, else it is decided after reading."""

    src: Path
    fixed: Path | None
    folder: Path


def check_suffix(suffix: str) -> str:
    """The output name suffix must stay a part of a file name: no folders, no ``..``."""
    if any(sep in suffix for sep in ("/", "\\", os.sep)) or suffix in (".", "..") or "\0" in suffix:
        raise RestorationError(f"--suffix must be part of a file name (no '/', '\\' or '..'), got {suffix!r}")
    return suffix


def collect(inp: Path, recursive: bool, exclude: Path | None) -> list[Path]:
    """Image files of a folder (sorted); skips hidden files and an output folder inside the input folder."""
    from restoration.image_files import is_image_file

    files = []
    for f in sorted(inp.glob("**/*" if recursive else "*")):
        if not f.is_file() or not is_image_file(f):
            continue
        if exclude is not None and exclude != inp.resolve() and exclude in f.resolve().parents:
            continue  # outputs of an earlier run written inside the input folder
        files.append(f)
    return files


def out_ext(src: Path, ext: str, has_alpha: bool) -> str:
    if has_alpha and ext in ("auto", "jpg"):
        return "png"  # keep the alpha channel
    if ext != "auto":
        return ext
    e = src.suffix.lower().lstrip(".")
    e = {"jpeg": "jpg", "tiff": "tif", "bmp": "png"}.get(e, e)
    return e if e in ("png", "jpg", "webp", "tif") else "png"  # e.g. a GIF input gives a PNG output


def target(job: Job, args: argparse.Namespace, has_alpha: bool) -> Path:
    """The output file of ``job`` (inside its output folder: the suffix cannot lead elsewhere)."""
    if job.fixed is not None:
        if has_alpha and job.fixed.suffix.lower() in (".jpg", ".jpeg"):
            raise RestorationError(f"{job.src} has an alpha channel that JPEG cannot store: choose a .png output")
        return job.fixed
    stem = f"{job.src.stem}_{args.suffix}" if args.suffix else job.src.stem
    dst = job.folder / f"{stem}.{out_ext(job.src, args.ext, has_alpha)}"
    if Path(os.path.abspath(dst)).parent != Path(os.path.abspath(job.folder)):
        raise RestorationError(f"output {dst} would be written outside the output folder {job.folder}")
    return dst


def candidates(job: Job, args: argparse.Namespace) -> set[Path]:
    """Every output path ``job`` can have (JPEG switches to PNG for images with alpha)."""
    return {target(job, args, alpha) for alpha in (False, True)}


def _own_outputs(files: list[Path], inp: Path, out: Path, suffix: str) -> set[Path]:
    """Inputs that are outputs of an earlier run into the same folder: NAME_SUFFIX.* next to an input NAME.*."""
    if not suffix:
        return set()
    by_stem: dict[tuple[Path, str], Path] = {}
    for f in files:
        by_stem.setdefault(((out / f.parent.relative_to(inp)).resolve(), f.stem), f)
    own = set()
    end = f"_{suffix}"
    for f in files:
        if f.stem.endswith(end) and (f.parent.resolve(), f.stem[: -len(end)]) in by_stem:
            own.add(f)
    return own


def plan(args: argparse.Namespace) -> tuple[list[Job], bool, list[Path]]:
    """(jobs, folder mode, skipped earlier outputs); RestorationError for anything wrong with -i/-o/--suffix."""
    from restoration.image_files import IMAGE_EXTENSIONS
    from restoration.inference.io import UNWRITABLE_EXTENSIONS, output_extension_problem

    check_suffix(args.suffix)
    inp, out = Path(args.input), Path(args.output)
    if not inp.exists():
        raise RestorationError(f"input not found: {inp}")
    ext = out.suffix.lower()
    if inp.is_dir():
        if ext in IMAGE_EXTENSIONS or ext in UNWRITABLE_EXTENSIONS:
            raise RestorationError(f"input {inp} is a folder: the output must be a folder, not {out}")
        if out.exists() and not out.is_dir():
            raise RestorationError(f"output {out} is a file: a folder of inputs needs an output folder")
        files = collect(inp, args.recursive, out.resolve() if out.exists() else None)
        own = _own_outputs(files, inp, out, args.suffix)
        files = [f for f in files if f not in own]
        if not files:
            what = "only earlier outputs" if own else "no images"
            raise RestorationError(f"{what} found in {inp}" + ("" if args.recursive or own else " (try --recursive)"))
        return [Job(f, None, out / f.parent.relative_to(inp)) for f in files], True, sorted(own)
    if ext in IMAGE_EXTENSIONS:
        return [Job(inp, out, out.parent)], False, []
    if ext in UNWRITABLE_EXTENSIONS:
        raise RestorationError(output_extension_problem(out))
    if out.exists() and not out.is_dir():
        raise RestorationError(f"output {out} exists and is not a folder or an image file name "
                               f"({', '.join(e.lstrip('.') for e in IMAGE_EXTENSIONS)}): choose another -o")
    return [Job(inp, None, out)], False, []


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def check_outputs(jobs: list[Job], args: argparse.Namespace) -> None:
    """Before any work: refuse replacing an input, or any existing file, unless --overwrite."""
    if args.overwrite:
        return
    inputs = {j.src.resolve(): j.src for j in jobs}
    existing = []
    for job in jobs:
        cands = candidates(job, args)
        for cand in sorted(cands):
            victim = inputs.get(cand.resolve()) or (job.src if same_file(job.src, cand) else None)
            if victim is not None:
                raise RestorationError(f"output {cand} would overwrite the input {victim}; choose another output "
                                       "or --suffix, or pass --overwrite")
        if len(cands) == 1 and next(iter(cands)).exists():  # the name is certain before reading the image
            existing.append(next(iter(cands)))
    if existing:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise RestorationError(f"output {existing[0]} already exists{more}; pass --overwrite to replace")
