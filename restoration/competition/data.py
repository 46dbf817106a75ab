"""GT images for the task-competition pipeline: training patches for probes and joint fine-tunes, and fixed
validation crops for the PIS of Step B.

Images come from a folder or, when none is given, from the offline photos that installed packages ship
(lossless ones only: a JPEG GT would teach the network JPEG artefacts). Every random choice (which image, where to
crop, the degradation's noise) is drawn from the ``torch.Generator`` the caller passes, so a task's batches depend
only on that generator's seed, never on the order in which tasks are processed.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from restoration.degradations import DegradationTask, degrade
from restoration.errors import RestorationError
from restoration.image_files import IMAGE_EXTENSIONS, is_image_file


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3]
    if img.dtype == np.uint16:
        img = (img.astype(np.float64) / 257.0).round().astype(np.uint8)
    return np.ascontiguousarray(img)


def load_folder(folder: str | Path) -> list[tuple[str, np.ndarray]]:
    """All images of a folder (sorted by name) as RGB uint8 arrays."""
    from restoration.inference import read_image

    folder = Path(folder)
    if not folder.is_dir():
        raise RestorationError(f"GT image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))
    if not files:
        raise RestorationError(f"GT image folder {folder} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
    return [(p.stem, _to_rgb8(read_image(p))) for p in files]


def load_offline(val_count: int) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """The lossless offline photos, split into (train, val): the last ``val_count`` are held out."""
    from restoration.data.offline_photos import list_offline_photos
    from restoration.inference import read_image

    photos = list_offline_photos(lossless_only=True)
    if len(photos) < val_count + 1:
        raise RestorationError(
            f"only {len(photos)} offline photos found; install sporco and scikit-image or set gt.folder")
    imgs = [(p.name, _to_rgb8(read_image(p.path))) for p in photos]
    return imgs[: len(imgs) - val_count], imgs[len(imgs) - val_count:]


def load_gt(opt: dict | None) -> tuple[list[tuple[str, np.ndarray]], list[tuple[str, np.ndarray]]]:
    """(train images, validation images) from the ``gt`` option block: ``folder``, ``val_folder``, ``val_count``."""
    opt = dict(opt or {})
    val_count = int(opt.get("val_count", 2))
    if opt.get("folder"):
        train = load_folder(opt["folder"])
        if opt.get("val_folder"):
            return train, load_folder(opt["val_folder"])
        if len(train) <= val_count:
            raise RestorationError(f"gt.folder {opt['folder']}: need more than gt.val_count={val_count} images "
                                   "(or set gt.val_folder)")
        return train[: len(train) - val_count], train[len(train) - val_count:]
    train, val = load_offline(val_count)
    if opt.get("val_folder"):
        val = load_folder(opt["val_folder"])
    return train, val


class PatchSource:
    """Random (LQ, GT) training pairs for one task at a time.

    A GT region of ``degrade_size`` px is degraded as a whole (the Real-ESRGAN chain needs room for 21-tap kernels
    after a 0.15x resize), then an aligned ``patch_size`` GT / ``patch_size // scale`` LQ crop is cut from it: small
    training patches stay cheap without shrinking the images the degradation sees.
    """

    def __init__(self, images: Sequence[np.ndarray], patch_size: int, degrade_size: int = 0, scale: int = 4,
                 device: str | torch.device = "cpu") -> None:
        self.scale = int(scale)
        self.patch_size = int(patch_size)
        self.degrade_size = int(degrade_size or patch_size)
        if self.patch_size % self.scale or self.degrade_size % self.scale:
            raise RestorationError(f"patch_size {patch_size} and degrade_size {degrade_size} must be multiples of "
                                   f"the scale {scale}")
        if self.degrade_size < self.patch_size:
            raise RestorationError(f"degrade_size {degrade_size} is smaller than patch_size {patch_size}")
        self.device = torch.device(device)
        small = [img.shape[:2] for img in images if min(img.shape[:2]) < self.degrade_size]
        if small or not images:
            raise RestorationError(f"every GT image must be at least {self.degrade_size} px on each side "
                                   f"(found {small[:3] or 'no images'})")
        self.images = [torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).to(self.device)
                       for img in images]

    def _rand(self, high: int, gen: torch.Generator) -> int:
        return int(torch.randint(0, max(1, high), (1,), generator=gen, device=gen.device).item())

    def gt_regions(self, n: int, gen: torch.Generator) -> torch.Tensor:
        """``n`` random GT regions (n, 3, degrade_size, degrade_size) in [0, 1]."""
        s = self.degrade_size
        out = []
        for _ in range(n):
            img = self.images[self._rand(len(self.images), gen)]
            y = self._rand(img.shape[1] - s + 1, gen)
            x = self._rand(img.shape[2] - s + 1, gen)
            out.append(img[:, y:y + s, x:x + s])
        return torch.stack(out).float().div_(255.0)

    def batch(self, task: DegradationTask, n: int, gen: torch.Generator,
              crop_gen: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(lq, gt) of ``n`` pairs degraded with ``task``. Noise comes from ``gen``; which image and where to crop
        from ``crop_gen`` (default ``gen``): sharing ``crop_gen``'s seed across tasks gives them the same content,
        so their losses differ by the degradation only (common random numbers)."""
        crop_gen = gen if crop_gen is None else crop_gen
        gt = self.gt_regions(n, crop_gen)
        lq = degrade(gt, [task] * n, generator=gen, scale=self.scale)
        if self.degrade_size == self.patch_size:
            return lq, gt
        p, s = self.patch_size // self.scale, self.scale
        room = (self.degrade_size - self.patch_size) // s + 1
        lqs, gts = [], []
        for i in range(n):
            y, x = self._rand(room, crop_gen), self._rand(room, crop_gen)
            lqs.append(lq[i, :, y:y + p, x:x + p])
            gts.append(gt[i, :, y * s:(y + p) * s, x * s:(x + p) * s])
        return torch.stack(lqs), torch.stack(gts)


def validation_crops(images: Sequence[np.ndarray], size: int, per_image: int = 1) -> torch.Tensor:
    """Fixed GT crops for PSNR evaluation: ``per_image`` crops spread along the diagonal of each image."""
    crops = []
    for img in images:
        h, w = img.shape[:2]
        if min(h, w) < size:
            raise RestorationError(f"validation image of {w}x{h} px is smaller than val_size {size}")
        for k in range(per_image):
            f = (k + 0.5) / per_image
            y, x = int((h - size) * f), int((w - size) * f)
            crops.append(img[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(crops).transpose(0, 3, 1, 2).copy()).float().div_(255.0)
