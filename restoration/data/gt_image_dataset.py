"""GT-only training dataset: HR patches plus a task assignment; the LQ is synthesised later, on the device.

Sources (BasicSR conventions): an image folder, a ``meta_info`` file listing names inside ``dataroot_gt``, an
LMDB (``io_backend: {type: lmdb}``, keys from its ``meta_info.txt``), or ``dataroot_gt: offline``: the photos
installed packages ship (restoration.data.offline_photos; the last ``offline_val_count`` lossless ones are held
out for validation), so a fresh clone trains without a prepared dataset.

``__getitem__`` takes a *position* (see restoration.data.samplers): the image is ``perm_epoch[position % N]``
and the crop, flips and task come from a generator seeded with (seed, position).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data as tdata

from restoration.data.samplers import TaskSampler, position_rng
from restoration.errors import OptionError, RestorationError
from restoration.image_files import is_image_file

OFFLINE = "offline"


def offline_split(val_count: int) -> tuple[list[Path], list[Path]]:
    """Lossless offline photos, split into (train, held-out validation): the last ``val_count`` are held out."""
    from restoration.data.offline_photos import list_offline_photos

    paths = [p.path for p in list_offline_photos(lossless_only=True)]
    if len(paths) <= val_count:
        raise RestorationError(f"dataroot_gt: offline: only {len(paths)} offline photos found (need more than "
                               f"{val_count}); install sporco and scikit-image, or give an image folder")
    return paths[: len(paths) - val_count], paths[len(paths) - val_count:]


class ImageSource:
    """Reads GT images as float32 RGB HxWx3 in [0, 1] from a folder, meta_info list, LMDB or the offline photos."""

    def __init__(self, opt: dict, split: str = "train") -> None:
        from basicsr.utils import FileClient

        self.io_opt: dict[str, Any] = dict(opt.get("io_backend") or {"type": "disk"})
        root: Any = opt.get("dataroot_gt")
        self.cache: dict[int, np.ndarray] | None = {} if opt.get("cache_images", root == OFFLINE) else None
        name = opt.get("name", split)
        if root == OFFLINE:
            train, val = offline_split(int(opt.get("offline_val_count", 2)))
            self.paths = [str(p) for p in (train if split == "train" else val)]
            self.io_opt = {"type": "disk"}
        elif self.io_opt.get("type") == "lmdb":
            root = str(root)
            if not root.endswith(".lmdb") or not (Path(root) / "meta_info.txt").is_file():
                raise OptionError(f"datasets.{name}.dataroot_gt: {root} is not a BasicSR LMDB "
                                  "(*.lmdb with meta_info.txt)")
            self.io_opt.update(db_paths=[root], client_keys=["gt"])
            lines = (Path(root) / "meta_info.txt").read_text().splitlines()
            self.paths = [ln.split(" ")[0].rsplit(".", 1)[0] for ln in lines if ln.strip()]
        elif opt.get("meta_info"):
            lines = Path(opt["meta_info"]).read_text().splitlines()
            self.paths = [str(Path(root) / ln.split(" ")[0]) for ln in lines if ln.strip()]
        else:
            folder = Path(root)
            self.paths = sorted(str(p) for p in folder.rglob("*") if p.is_file() and is_image_file(p))
        if not self.paths:
            raise OptionError(f"datasets.{name}.dataroot_gt: no images found in {root}")
        self._client = None
        self._file_client_cls = FileClient

    def __len__(self) -> int:
        return len(self.paths)

    def read(self, index: int) -> np.ndarray:
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        from basicsr.utils import imfrombytes

        if self._client is None:  # created lazily: one per loader worker
            kind = self.io_opt.get("type", "disk")
            self._client = self._file_client_cls(kind, **{k: v for k, v in self.io_opt.items() if k != "type"})
        path = self.paths[index]
        try:
            raw = self._client.get(path, "gt")
            img = imfrombytes(raw, float32=True)
        except Exception as exc:  # a broken file names itself instead of a bare cv2/lmdb trace
            raise RestorationError(f"cannot read GT image {path}: {exc}") from None
        if img is None:
            raise RestorationError(f"cannot decode GT image {path}")
        if img.ndim == 2:
            img = np.repeat(img[:, :, None], 3, axis=2)
        img = np.ascontiguousarray(img[:, :, 2::-1])  # BGR -> RGB, drop alpha
        if self.cache is not None:
            self.cache[index] = img
        return img


def pad_to(img: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad an image smaller than ``size`` on either side (as Real-ESRGAN's dataset does)."""
    h, w = img.shape[:2]
    ph, pw = max(0, size - h), max(0, size - w)
    if ph or pw:
        img = cv2.copyMakeBorder(img, 0, ph, 0, pw, cv2.BORDER_REFLECT_101)
    return img


def _build_task_sampler(opt: dict) -> TaskSampler:
    tasks = dict(opt.get("tasks") or {})
    bank = None
    if tasks.get("bank"):
        from restoration.degradations import TaskBank

        bank = TaskBank.load_any(tasks["bank"])  # a file or a list of files (merged)
    seed = tasks.get("seed")
    return TaskSampler(tasks.get("mode", "random"), bank, tasks.get("group_weights"),
                       int(seed if seed is not None else opt.get("seed", 0)))


@DATASET_REGISTRY.register()  # pyright: ignore[reportOptionalCall]  # basicsr's Registry.register() is untyped
class GTImageDataset(tdata.Dataset):
    """GT patches (``gt_size``) with flips/rotations and a task assignment per sample.

    Items: ``gt`` (3, gt_size, gt_size) float RGB, ``gt_path``, ``task`` (bank index, -1 = fresh G0 task),
    ``group`` (0 = G0, 1.. = bank groups), ``position`` and ``task_seed`` (seeds the G0 task draw in the model).
    """

    def __init__(self, opt: dict[str, Any]) -> None:
        super().__init__()
        self.opt = opt
        self.source = ImageSource(opt, "train")
        self.gt_size = int(opt["gt_size"])
        self.hflip, self.rot = bool(opt.get("use_hflip", True)), bool(opt.get("use_rot", False))
        self.seed = int(opt.get("seed", 0))
        self.sampler = _build_task_sampler(opt)
        self._perm: tuple[int, np.ndarray] | None = None

    @property
    def bank(self):
        return self.sampler.bank

    def __len__(self) -> int:
        return len(self.source)

    def image_index(self, position: int) -> int:
        """A fresh permutation of the images every epoch (epoch = position // N)."""
        epoch, k = divmod(int(position), len(self.source))
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, position_rng(self.seed, epoch, 1).permutation(len(self.source)))
        return int(self._perm[1][k])

    def __getitem__(self, position: int) -> dict:
        index = self.image_index(position)
        img = pad_to(self.source.read(index), self.gt_size)
        rng = position_rng(self.seed, position)
        h, w = img.shape[:2]
        top, left = int(rng.integers(h - self.gt_size + 1)), int(rng.integers(w - self.gt_size + 1))
        img = img[top:top + self.gt_size, left:left + self.gt_size]
        flip, vflip, transpose = rng.random(3) < 0.5
        if self.hflip and flip:
            img = img[:, ::-1]
        if self.rot:
            if vflip:
                img = img[::-1]
            if transpose:
                img = img.transpose(1, 0, 2)
        task, group = self.sampler.draw(position)
        gt = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        return {"gt": gt, "gt_path": self.source.paths[index], "task": task, "group": group,
                "position": int(position), "task_seed": int(rng.integers(2 ** 62))}
