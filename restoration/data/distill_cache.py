"""Distillation cache: (GT patch, task, LQ patch, teacher output) samples computed once and reused by training.

A large teacher (RRDBNet realesrgan-x4plus takes seconds per 32 px patch on a CPU) is far too slow to run inside
a training step, so its outputs are computed once, here. ``num_samples`` GT patches are drawn from the training
corpus exactly as the training dataset draws them (crop, flips) with the cache's own ``seed``; each gets a fresh
task of the degradation space (or, with ``tasks: dataset``, the task the training dataset's sampler assigns it: a
bank task for its bank share) and its LQ is synthesised from the USM-sharpened GT, as the GAN stage does; the
teacher upscales every LQ patch once through the tiled :class:`~restoration.inference.Upscaler`. With
``context`` (LQ px), the patch is drawn and degraded that much larger on every side and the teacher's output is
cropped back, so the targets lack the zero-padded borders of a bare tile (x4plus run on the test set in bare 24 px
tiles: 0.18 dB PSNR-Y and 0.065 LPIPS-alex worse than on whole images, docs/results/x4plus_tiles24).

Everything is stored in one safetensors file (uint8 ``lq``, ``gt``, ``teacher``; int64 ``task_seed``, ``task``
and ``group``, labelled as the training dataset labels its samples; no pickle) named by a key: the digest of every
input (corpus files and contents, seed, N, patch size, flips, degradation space, task sampler and bank contents,
USM settings, scale, teacher file digest). A cache built from other inputs therefore never matches: training
finds the file by key, re-checks the key stored inside it, and refuses anything else with one error naming what
differs. ``python -m restoration.data.build_distill_cache -opt FILE.yml`` (``make distill-cache``) builds it.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from restoration.errors import RestorationError

FORMAT = "restoration-distill-cache/2"
TENSORS = ("lq", "gt", "teacher", "task_seed", "task", "group")


@dataclass(frozen=True)
class CacheSpec:
    """Everything a cache depends on, read from a training option file (``train.distill_opt`` and the data)."""

    train_data: dict
    degradation: dict | None
    usm: dict | None
    scale: int
    teacher: str
    num_samples: int
    seed: int
    cache_dir: Path
    base: Path = field(default=Path("."))
    context: int = 0
    tasks: str = "space"

    @classmethod
    def from_options(cls, opt: Mapping[str, Any], base: str | os.PathLike | None = None) -> "CacheSpec":
        """``opt``: loaded training options with ``train.distill_opt`` (see restoration.losses.distill)."""
        from restoration.losses.distill import check_distill_opt

        d = check_distill_opt(((opt.get("train") or {}).get("distill_opt")))
        root = Path(base) if base is not None else Path.cwd()
        cache_dir = Path(os.path.expanduser(d["cache_dir"]))
        return cls(train_data=dict(opt["datasets"]["train"]), degradation=opt.get("degradation"),
                   usm=opt.get("usm"), scale=int(opt["scale"]), teacher=str(d["teacher"]),
                   num_samples=int(d["num_samples"]), seed=int(d["seed"]),
                   cache_dir=cache_dir if cache_dir.is_absolute() else root / cache_dir, base=root,
                   context=int(d["context"]), tasks=str(d["tasks"]))

    # ------------------------------------------------------------------ key
    def dataset_opt(self) -> dict:
        """The training dataset's options with the cache's seed; its task sampler with ``tasks: dataset``, fresh
        random tasks (no bank) otherwise."""
        keep = ("name", "type", "dataroot_gt", "meta_info", "io_backend", "gt_size", "use_hflip", "use_rot",
                "offline_val_count", "filename_tmpl")
        opt = {k: v for k, v in self.train_data.items() if k in keep}
        for k in ("dataroot_gt", "meta_info"):
            if isinstance(opt.get(k), str) and opt[k] != "offline":
                opt[k] = self._at_base(opt[k])
        opt["gt_size"] = int(opt["gt_size"]) + 2 * self.context * self.scale  # cropped back after the teacher
        return dict(opt, tasks=self._tasks_opt(), seed=self.seed, phase="train", scale=self.scale)

    def _tasks_opt(self) -> dict:
        if self.tasks == "space":
            return {"mode": "random"}
        tasks = dict(self.train_data.get("tasks") or {})
        if tasks.get("bank"):
            banks = [tasks["bank"]] if isinstance(tasks["bank"], str) else list(tasks["bank"])
            tasks["bank"] = [self._at_base(p) for p in banks]
        return tasks

    def _at_base(self, path: str) -> str:
        """A path of the option file, relative ones taken from ``base`` (where the recipe is run from)."""
        return path if Path(path).is_absolute() else str(self.base / path)

    def teacher_file(self) -> Path:
        from restoration.inference.zoo import resolve_model

        return resolve_model(self.teacher)[0]

    def fields(self) -> dict:
        """The inputs the key digests (also stored in the file, to say what differs from a stale cache)."""
        from restoration.data.gt_image_dataset import ImageSource
        from restoration.degradations import DegradationSpace
        from restoration.hashing import sha256_file

        source = ImageSource(self.dataset_opt(), "train")
        corpus = hashlib.sha256()
        for p in source.paths:
            corpus.update(f"{Path(p).name}\0{sha256_file(p)}\n".encode())
        d = self.train_data
        return {"format": FORMAT, "corpus": f"{len(source.paths)} images, sha256 {corpus.hexdigest()}",
                "seed": self.seed, "num_samples": self.num_samples, "gt_size": int(d["gt_size"]),
                "use_hflip": bool(d.get("use_hflip", True)), "use_rot": bool(d.get("use_rot", False)),
                "scale": self.scale, "usm": dict(self.usm or {}),
                "degradation": DegradationSpace.from_opt(dict(self.degradation or {}) or None).to_opt(),
                "teacher": sha256_file(self.teacher_file())} | ({"context": self.context} if self.context else {}) \
            | ({"tasks": self._tasks_fields()} if self.tasks != "space" else {})

    def _tasks_fields(self) -> dict:
        """The dataset's task sampler with its bank files named by content (not by path)."""
        from restoration.hashing import sha256_file

        tasks = self._tasks_opt()
        return tasks | {"bank": [sha256_file(p) for p in tasks.get("bank") or []]}

    @staticmethod
    def key_of(fields: Mapping) -> str:
        return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:16]

    def path_for(self, key: str) -> Path:
        return self.cache_dir / f"distill_{key}.safetensors"


# ---------------------------------------------------------------------------------------------- building
def draw_samples(spec: CacheSpec) -> dict[str, np.ndarray]:
    """GT patches, task seeds and LQ patches (uint8 NCHW), deterministic in the spec's seed; GT and LQ keep their
    ``context`` (cropped off by :func:`build_cache` after the teacher has seen it)."""
    import torch
    from basicsr.utils.img_process_util import USMSharp

    from restoration.data.gt_image_dataset import GTImageDataset
    from restoration.data.samplers import task_of
    from restoration.degradations import DegradationSpace, degrade

    dataset = GTImageDataset(spec.dataset_opt())
    space = DegradationSpace.from_opt(dict(spec.degradation or {}) or None)
    usm = USMSharp(**spec.usm) if spec.usm else USMSharp()  # as the GAN stage builds it
    gts, lqs, seeds, labels = [], [], [], []
    with torch.no_grad():
        for i in range(spec.num_samples):
            item = dataset[i]
            gt = item["gt"][None]
            task = task_of(item["task"], item["task_seed"], dataset.bank, space)
            gen = torch.Generator().manual_seed(int(np.random.default_rng([spec.seed, i, 3]).integers(2 ** 62)))
            lq = degrade(usm(gt), [task], generator=gen, scale=spec.scale)
            gts.append(_to_uint8(gt))
            lqs.append(_to_uint8(lq))
            seeds.append(int(item["task_seed"]))
            labels.append((int(item["task"]), int(item["group"])))
    task, group = np.asarray(labels, dtype=np.int64).reshape(-1, 2).T
    return {"gt": np.concatenate(gts), "lq": np.concatenate(lqs), "task_seed": np.asarray(seeds, dtype=np.int64),
            "task": np.ascontiguousarray(task), "group": np.ascontiguousarray(group)}


def _centre(x, margin: int):
    """NCHW ``x`` without ``margin`` pixels on every side."""
    return x[..., margin:x.shape[-2] - margin, margin:x.shape[-1] - margin] if margin else x


def _to_uint8(x) -> np.ndarray:
    """Float NCHW in [0, 1] -> uint8 (exact for GT photos and for LQ, which degrade() rounds to 8 bits)."""
    return (x.clamp(0, 1) * 255).round().byte().numpy()


def run_teacher(spec: CacheSpec, lq: np.ndarray, device: str = "auto",
                progress: Callable[[int, int, float], None] | None = None) -> np.ndarray:
    """The teacher's output for every LQ patch (uint8 NCHW), one patch at a time through the tiled Upscaler."""
    from restoration.inference import Upscaler

    up = Upscaler(spec.teacher, device=device, tile=None)
    if up.scale != spec.scale:
        raise RestorationError(f"train.distill_opt.teacher: {spec.teacher!r} upscales x{up.scale}, the recipe "
                               f"trains x{spec.scale}")
    outs = []
    start = time.perf_counter()
    for i, patch in enumerate(lq):
        out = up.upscale(np.ascontiguousarray(patch.transpose(1, 2, 0)))
        outs.append(out.transpose(2, 0, 1)[None])
        if progress is not None:
            progress(i + 1, len(lq), time.perf_counter() - start)
    return np.concatenate(outs)


def build_cache(spec: CacheSpec, device: str = "auto",
                progress: Callable[[int, int, float], None] | None = None) -> Path:
    """Build (or keep, when up to date) the cache file of ``spec``; returns its path."""
    from safetensors.numpy import save

    from restoration.atomic import write_bytes

    fields = spec.fields()
    key = CacheSpec.key_of(fields)
    path = spec.path_for(key)
    if path.is_file():
        load_cache(spec)  # an up-to-date name whose content is not: the same error training would give
        return path
    data = draw_samples(spec)
    data["teacher"] = run_teacher(spec, data["lq"], device, progress)
    for k in ("lq", "gt", "teacher"):
        data[k] = _centre(data[k], spec.context * (1 if k == "lq" else spec.scale))
    meta = {"format": FORMAT, "key": key, "fields": json.dumps(fields, sort_keys=True), "teacher_name": spec.teacher}
    write_bytes(path, save({k: np.ascontiguousarray(data[k]) for k in TENSORS}, metadata=meta))
    return path


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class DistillCache:
    """The cached samples as uint8 tensors and their int64 task labels; ``draw`` returns the images as float
    tensors in [0, 1] on a device, with their ``task`` (bank index, -1 = a G0 task) and ``group``."""

    lq: Any
    gt: Any
    teacher: Any
    task: Any
    group: Any
    key: str
    path: Path

    def __len__(self) -> int:
        return int(self.lq.shape[0])

    def draw(self, rng: np.random.Generator, k: int, device) -> dict:
        idx = rng.choice(len(self), size=min(k, len(self)), replace=False)
        import torch

        sel = torch.from_numpy(np.sort(idx))
        return {n: getattr(self, n)[sel].to(device).float().div_(255) for n in ("lq", "gt", "teacher")} \
            | {n: getattr(self, n)[sel].to(device).long() for n in ("task", "group")}


def _differences(found: Mapping, wanted: Mapping) -> str:
    names = sorted(k for k in set(found) | set(wanted) if found.get(k) != wanted.get(k))
    return ", ".join(f"{k} ({found.get(k)!r} there, {wanted.get(k)!r} now)" if k in ("seed", "num_samples", "gt_size",
                                                                                        "scale", "format")
                     else k for k in names)


def load_cache(spec: CacheSpec) -> DistillCache:
    """The cache built for exactly these inputs; one RestorationError when it is missing, stale or damaged."""
    from safetensors import SafetensorError, safe_open

    fields = spec.fields()
    key = CacheSpec.key_of(fields)
    path = spec.path_for(key)
    if not path.is_file():
        others = sorted(spec.cache_dir.glob("distill_*.safetensors")) if spec.cache_dir.is_dir() else []
        stale = f"; {len(others)} cache(s) there were built from other inputs (stale, not used)" if others else ""
        raise RestorationError(f"distillation cache {path} does not exist{stale}: build it with `make distill-cache` "
                               f"(python -m restoration.data.build_distill_cache -opt <this option file>)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {n: f.get_tensor(n) for n in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise RestorationError(f"distillation cache {path} cannot be read ({exc}); delete it and rebuild") from None
    if meta.get("key") != key:
        try:
            found = json.loads(meta.get("fields", "{}"))
        except json.JSONDecodeError:
            found = {}
        raise RestorationError(f"distillation cache {path} was built from other inputs (differs in: "
                               f"{_differences(found, fields) or 'its key'}); delete it and rebuild")
    missing = [n for n in TENSORS if n not in tensors]
    n, size, scale = spec.num_samples, int(fields["gt_size"]), spec.scale
    shapes = {"lq": (n, 3, size // scale, size // scale), "gt": (n, 3, size, size), "teacher": (n, 3, size, size),
              "task": (n,), "group": (n,)}
    bad = [k for k, s in shapes.items() if k in tensors and tuple(tensors[k].shape) != s]
    if missing or bad:
        problems = [f"missing {', '.join(missing)}"] * bool(missing) + [f"wrong shape of {', '.join(bad)}"] * bool(bad)
        what = "; ".join(problems)
        raise RestorationError(f"distillation cache {path} is damaged ({what}); delete it and rebuild")
    return DistillCache(tensors["lq"], tensors["gt"], tensors["teacher"], tensors["task"], tensors["group"], key, path)
