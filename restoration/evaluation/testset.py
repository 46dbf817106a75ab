"""Per-group test sets: HR images degraded by tasks of a TaskBank group, reproducibly, with a manifest.

Layout under the output folder::

    HR/<name>.png                 8-bit RGB, cropped to a multiple of the scale (BasicSR's "GTmod")
    LQ/<group>/<name>.png         one LQ per HR image and group (``<name>_<k>.png`` with several variants)
    manifest.json                 for each LQ file: HR file, group, task index, task_id, seed

Every random choice (which task of the group, the degradation's noise) comes from a seed derived from
(seed, group name, image name, variant), so re-running gives byte-identical files and adding images or groups does
not change the others.
"""
from __future__ import annotations

import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from restoration.errors import RestorationError

MANIFEST_FORMAT = "restoration.testset"
MANIFEST_VERSION = 1
RANDOM_GROUP = "G0_random"  # fresh tasks sampled from the bank's degradation space
CLEAN_GROUP = "clean_bicubic"  # no degradation: an antialiased bicubic downscale (the classic SR benchmark input)


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def derived_seed(seed: int, group: str, image: str, variant: int) -> tuple[int, np.random.Generator]:
    """(torch seed, numpy generator) for one LQ file, independent of processing order."""
    ss = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, _crc(group), _crc(image), int(variant)])
    torch_seed = int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))
    return torch_seed, np.random.default_rng(ss.spawn(1)[0])


def _read_hr(path: Path, scale: int, crop: int) -> np.ndarray:
    from restoration.inference import read_image
    from restoration.metrics.images import to_rgb8

    img = to_rgb8(read_image(path), str(path))
    h, w = img.shape[:2]
    if crop:
        ch, cw = min(h, crop), min(w, crop)
        top, left = (h - ch) // 2, (w - cw) // 2
        img = img[top:top + ch, left:left + cw]
        h, w = img.shape[:2]
    h, w = h - h % scale, w - w % scale
    if h < 4 * scale or w < 4 * scale:
        raise RestorationError(f"{path}: {w}x{h} is too small for scale {scale}")
    return np.ascontiguousarray(img[:h, :w])


def _write_png(path: Path, rgb: np.ndarray) -> None:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3]):
        raise RestorationError(f"cannot write {path}")


def hr_files(hr_dir: Path) -> list[Path]:
    from restoration.image_files import is_image_file

    if not hr_dir.is_dir():
        raise RestorationError(f"HR folder not found: {hr_dir}")
    files = sorted(f for f in hr_dir.iterdir() if f.is_file() and is_image_file(f))
    if not files:
        raise RestorationError(f"no images in {hr_dir}")
    stems = [f.stem for f in files]
    dup = {s for s in stems if stems.count(s) > 1}
    if dup:
        raise RestorationError(f"{hr_dir}: several files share the name {sorted(dup)[0]!r} (different extensions)")
    return files


def make_testset(hr_dir: str | os.PathLike, bank_path: str | os.PathLike, out: str | os.PathLike, *, seed: int = 0,
                 groups: Sequence[str] | None = None, random_group: bool = False, clean_group: bool = False,
                 variants: int = 1, scale: int = 4, crop: int = 0, max_images: int = 0, overwrite: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> dict:
    """Build the test set; returns the manifest (also written to ``out/manifest.json``)."""
    import torch

    from restoration.degradations import TaskBank, degrade
    from restoration.degradations.space import space_from_any

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise RestorationError(f"output folder {out} is not empty; choose another or pass --overwrite")
    if variants < 1 or scale < 1:
        raise RestorationError(f"variants and scale must be >= 1 (got {variants}, {scale})")
    bank = TaskBank.load(bank_path)
    # a bank without groups is one group: 'all', or 'bank' beside the clean/random groups (whose images 'all' spans)
    all_groups = bank.groups or {"bank" if clean_group or random_group else "all": list(range(len(bank)))}
    if "all" in all_groups and len(all_groups) > 1:
        raise RestorationError(f"{bank_path}: the group name 'all' is reserved for every image of the test set; "
                               "rename that group")
    names = list(groups) if groups else list(all_groups)
    for g in names:
        if g not in all_groups:
            raise RestorationError(f"{bank_path}: no group {g!r}; groups: {', '.join(all_groups) or 'none'}")
        if not all_groups[g]:
            raise RestorationError(f"{bank_path}: group {g!r} has no tasks")
    plan: list[tuple[str, list[int] | None]] = [(g, list(all_groups[g])) for g in names]
    space = None
    if random_group:
        space = space_from_any(bank.meta.get("space"))  # the space the bank was sampled from, else the default
        plan.insert(0, (RANDOM_GROUP, None))
    if clean_group:
        plan.insert(0, (CLEAN_GROUP, []))
    files = hr_files(Path(hr_dir))
    if max_images:
        files = files[:max_images]

    entries: list[dict[str, Any]] = []
    total, done = len(files) * len(plan) * variants, 0
    for src in files:
        hr = _read_hr(src, scale, crop)
        hr_rel = f"HR/{src.stem}.png"
        _write_png(out / hr_rel, hr)
        gt = torch.from_numpy(hr).permute(2, 0, 1)[None].float() / 255.0
        for group, task_indices in plan:
            if group == CLEAN_GROUP:
                lq = torch.nn.functional.interpolate(gt, scale_factor=1 / scale, mode="bicubic", antialias=True)
                lq8 = (lq[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
                lq_rel = f"LQ/{group}/{src.stem}.png"
                _write_png(out / lq_rel, lq8)
                entries.append({"lq": lq_rel, "hr": hr_rel, "source": src.name, "group": group, "task_index": -1,
                                "task_id": "clean", "seed": 0})
                done += variants
                if progress:
                    progress(done, total)
                continue
            for k in range(variants):
                torch_seed, rng = derived_seed(seed, group, src.stem, k)
                if task_indices is None:
                    assert space is not None  # the random group is planned only with its space
                    task, index = space.sample(rng), -1
                    task_dict = task.to_dict()
                else:
                    index = int(task_indices[int(rng.integers(len(task_indices)))])
                    task, task_dict = bank[index], None
                gen = torch.Generator().manual_seed(torch_seed)
                lq = degrade(gt, [task], generator=gen, scale=scale)
                lq8 = (lq[0].permute(1, 2, 0).clamp(0, 1) * 255.0).round().to(torch.uint8).numpy()
                name = f"{src.stem}.png" if variants == 1 else f"{src.stem}_{k}.png"
                lq_rel = f"LQ/{group}/{name}"
                _write_png(out / lq_rel, lq8)
                entry = {"lq": lq_rel, "hr": hr_rel, "source": src.name, "group": group, "task_index": index,
                         "task_id": task.task_id, "seed": torch_seed}
                if task_dict is not None:
                    entry["task"] = task_dict
                entries.append(entry)
                done += 1
                if progress:
                    progress(done, total)
    manifest = {
        "format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "seed": int(seed), "scale": int(scale),
        "crop": int(crop), "variants": int(variants), "bank": Path(bank_path).name,
        "groups": {g: idx for g, idx in plan},  # task indices per group (null: fresh random tasks)
        "group_order": [g for g, _ in plan],
        "files": sorted(entries, key=lambda e: (e["group"], e["lq"])),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


@dataclass(frozen=True)
class TestSet:
    """A loaded test set: its root, scale and manifest entries."""

    root: Path
    scale: int
    entries: list[dict[str, Any]]
    group_order: tuple[str, ...] = ()

    @property
    def groups(self) -> list[str]:
        """Groups in the manifest's order (the order they were built in), then any others by first appearance."""
        seen = [g for g in self.group_order if any(e["group"] == g for e in self.entries)]
        for e in self.entries:
            if e["group"] not in seen:
                seen.append(e["group"])
        return seen


def load_testset(root: str | os.PathLike) -> TestSet:
    """Read ``root/manifest.json`` (validated), or infer a manifest from ``HR/`` and ``LQ/<group>/`` folders."""
    root = Path(root)
    path = root / "manifest.json"
    if not root.is_dir():
        raise RestorationError(f"test set folder not found: {root}")
    if not path.is_file():
        return _infer(root)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise RestorationError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT:
        raise RestorationError(f"{path}: not a test-set manifest (format != {MANIFEST_FORMAT!r})")
    if data.get("version") != MANIFEST_VERSION:
        raise RestorationError(f"{path}: manifest version {data.get('version')!r} is not supported")
    entries = data.get("files")
    if not isinstance(entries, list) or not entries:
        raise RestorationError(f"{path}: 'files' must be a non-empty list")
    for i, e in enumerate(entries):
        for key in ("lq", "hr", "group"):
            if not isinstance(e, dict) or not isinstance(e.get(key), str):
                raise RestorationError(f"{path}: files[{i}].{key} is missing")
        for key in ("lq", "hr"):
            if not (root / e[key]).is_file():
                raise RestorationError(f"{path}: files[{i}].{key} = {e[key]} does not exist under {root}")
    scale = data.get("scale")
    if not isinstance(scale, int) or scale < 1:
        raise RestorationError(f"{path}: 'scale' must be a positive integer")
    order = tuple(data["group_order"]) if isinstance(data.get("group_order"), list) else ()
    return TestSet(root, scale, entries, order)


def _infer(root: Path) -> TestSet:
    """A folder laid out like ours but without a manifest (e.g. made by hand): pair LQ/<group>/X with HR/X."""
    import cv2

    hr_dir, lq_dir = root / "HR", root / "LQ"
    if not hr_dir.is_dir() or not lq_dir.is_dir():
        raise RestorationError(f"{root}: no manifest.json and no HR/ + LQ/<group>/ folders")
    hr_by_stem = {f.stem: f for f in hr_files(hr_dir)}
    entries, scale = [], None
    for gdir in sorted(d for d in lq_dir.iterdir() if d.is_dir()):
        for f in hr_files(gdir):
            if f.stem not in hr_by_stem:
                raise RestorationError(f"{f}: no HR image named {f.stem}.* in {hr_dir}")
            hr = hr_by_stem[f.stem]
            if scale is None:
                a, b = cv2.imread(str(hr), cv2.IMREAD_UNCHANGED), cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
                if a is None or b is None:
                    raise RestorationError(f"{hr if a is None else f}: not a readable image")
                scale = max(1, round(a.shape[0] / b.shape[0]))
            entries.append({"lq": str(f.relative_to(root)), "hr": str(hr.relative_to(root)), "group": gdir.name,
                            "task_index": None, "task_id": None, "seed": None})
    if not entries:
        raise RestorationError(f"{root}: LQ/ holds no group folders with images")
    return TestSet(root, int(scale or 1), entries)
