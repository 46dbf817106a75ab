"""The degradation lab: one photo, one degradation task, the model's answer, the PSNR — each task is a
separate problem the shared network has to solve, and this page shows how well it solves a chosen one.

Degradation synthesis is ``restoration.degradations``'s, restoration is ``restoration.inference``'s, PSNR is
``restoration.metrics``'s; this module only picks the task and crops the photo.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from restoration.app.service import DemoConfig, ModelCache, Progress, load_upload, resize_to, to_display
from restoration.errors import RestorationError

if TYPE_CHECKING:
    from restoration.degradations import DegradationTask

MODES = ("random", "bank", "group")
MODE_LABELS = {
    "random": "random task from the Real-ESRGAN space",
    "bank": "task from the bank (index or id)",
    "group": "random task of a bank group",
}
DEFAULT_BANK_SEED = 0
MIN_CROP = 32


class BankSource:
    """The lab's default task bank (``--bank FILE``, or a bank sampled once with seed 0) and uploaded ones."""

    def __init__(self, config: DemoConfig):
        self._config = config
        self._bank = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        if self._config.bank:
            return f"bank file {Path(self._config.bank).name}"
        return f"{self._config.bank_size} tasks sampled with seed {DEFAULT_BANK_SEED} (pass --bank FILE for yours)"

    def default(self):
        with self._lock:
            if self._bank is None:
                from restoration.degradations import TaskBank

                if self._config.bank:
                    self._bank = TaskBank.load(self._config.bank)
                else:
                    self._bank = TaskBank.sample(self._config.bank_size, seed=DEFAULT_BANK_SEED)
            return self._bank

    def get(self, uploaded: str | os.PathLike | None = None):
        """The uploaded bank file when one is given, else the default bank. Messages name the upload by its file
        name, never by the server's temporary path."""
        if uploaded:
            from restoration.degradations import TaskBank

            try:
                return TaskBank.load(uploaded)
            except RestorationError as exc:
                name = Path(uploaded).name
                msg = str(exc).replace(str(uploaded), name).replace(str(Path(uploaded).parent) + os.sep, "")
                raise RestorationError(f"task bank {msg}" if msg.startswith(name) else msg) from None
        return self.default()


def group_names(bank) -> list[str]:
    return list(bank.groups or {})


@dataclass(frozen=True)
class TaskPick:
    task: DegradationTask
    index: int | None     # index in the bank, None for a fresh random task
    label: str


def pick_task(bank, mode: str, seed: int, ref: str | None = None, group: str | None = None) -> TaskPick:
    """Resolve the lab's task widgets to one task; RestorationError names what is wrong."""
    rng = np.random.default_rng(int(seed))
    if mode == "random":
        from restoration.degradations import DegradationSpace

        task = DegradationSpace.from_opt(None).sample(rng)
        return TaskPick(task, None, f"fresh random task (seed {int(seed)})")
    if mode == "bank":
        ref = (ref or "").strip()
        if not ref:
            raise RestorationError(f"give a task index (0..{len(bank) - 1}) or a task id from the bank")
        i = bank.resolve(ref)
        return TaskPick(bank[i], i, f"bank task {i}")
    if mode == "group":
        groups = bank.groups or {}
        if not groups:
            raise RestorationError("this bank has no groups: load a grouped bank (restoration tasks group) "
                                   "or pick a task")
        if group not in groups:
            raise RestorationError(f"unknown group {group!r}; the bank's groups: {', '.join(groups)}")
        members = list(groups[group])
        if not members:
            raise RestorationError(f"group {group!r} is empty")
        i = int(members[int(rng.integers(len(members)))])
        return TaskPick(bank[i], i, f"group {group!r}: bank task {i} ({len(members)} tasks in the group)")
    raise RestorationError(f"unknown task mode {mode!r}; one of {', '.join(MODES)}")


def center_crop(img: np.ndarray, size: int, multiple: int) -> np.ndarray:
    """A centred crop at most ``size`` px a side (0 = whole image), each side a multiple of ``multiple``."""
    h, w = img.shape[:2]
    th = min(h, size) if size > 0 else h
    tw = min(w, size) if size > 0 else w
    th, tw = th - th % multiple, tw - tw % multiple
    if th < MIN_CROP or tw < MIN_CROP:
        raise RestorationError(f"photo too small for the lab: {w}x{h}; it needs at least {MIN_CROP}x{MIN_CROP} px")
    y, x = (h - th) // 2, (w - tw) // 2
    return np.ascontiguousarray(img[y:y + th, x:x + tw])


@dataclass
class LabResult:
    gt: np.ndarray
    lq: np.ndarray
    restored: np.ndarray
    psnr_model: float
    psnr_bicubic: float
    ssim_model: float
    ssim_bicubic: float
    pick: TaskPick
    model: str
    scale: int

    def summary(self) -> str:
        h, w = self.gt.shape[:2]
        lh, lw = self.lq.shape[:2]
        gain = self.psnr_model - self.psnr_bicubic
        return (f"**PSNR (Y, border {self.scale}) model `{self.model}`: {self.psnr_model:.2f} dB** · bicubic: "
                f"{self.psnr_bicubic:.2f} dB · gain {gain:+.2f} dB · SSIM {self.ssim_model:.4f} "
                f"(bicubic {self.ssim_bicubic:.4f})  \n"
                f"GT {w}×{h} → LQ {lw}×{lh} (×{self.scale}) · {self.pick.label}  \n"
                f"`{self.pick.task.describe()}`")


def lab_request(cache: ModelCache, banks: BankSource, config: DemoConfig, path: str | None, model: str | None,
                device: str = "auto", mode: str = "random", seed: int = 0, ref: str | None = None,
                group: str | None = None, crop: int = 256, bank_file: str | None = None, name: str | None = None,
                progress: Progress | None = None) -> LabResult:
    """Degrade a crop of the photo with the chosen task (seeded noise), restore it, score both against the crop."""
    import torch

    from restoration.degradations import degrade
    from restoration.metrics import psnr, ssim

    choice = cache.choice(model)
    if int(crop) != 0 and int(crop) < MIN_CROP:
        raise RestorationError(f"crop size must be at least {MIN_CROP} px (or 0 for the whole photo), got {int(crop)}")
    img = to_display(load_upload(path, config.max_pixels, name))[:, :, :3]
    bank = banks.get(bank_file) if mode != "random" else None
    pick = pick_task(bank, mode, seed, ref, group)
    up = cache.get(choice.name, device)
    scale = int(up.scale)
    gt = center_crop(img, int(crop), scale)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        t = torch.from_numpy(gt).permute(2, 0, 1)[None].float().div_(255.0)
        lq_t = degrade(t, [pick.task], generator=gen, scale=scale)
    lq = (lq_t[0].permute(1, 2, 0).clamp_(0, 1).mul_(255.0).round_()).to(torch.uint8).numpy()
    restored = up.upscale(lq, outscale=scale, progress=progress, tile=0)
    if restored.shape != gt.shape:
        raise RestorationError(f"model output {restored.shape} does not match the crop {gt.shape}")
    bicubic = resize_to(lq, gt.shape[1], gt.shape[0])
    return LabResult(
        gt=gt, lq=np.ascontiguousarray(lq), restored=restored,
        psnr_model=float(psnr(restored, gt, crop_border=scale)),
        psnr_bicubic=float(psnr(bicubic, gt, crop_border=scale)),
        ssim_model=float(ssim(restored, gt, crop_border=scale)),
        ssim_bicubic=float(ssim(bicubic, gt, crop_border=scale)),
        pick=pick, model=choice.name, scale=scale,
    )
