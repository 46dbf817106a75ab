"""Batched torch synthesis of LQ images from GT images and degradation tasks (Real-ESRGAN order of operations).

Why batched: the hot path of training is one ``degrade`` call per batch. Samples sharing a task form a group
that goes through every op together. Across groups, the blurs run as few grouped convolutions with per-item
kernels on a shared canvas (blur.py) and JPEG runs on zero-padded stacks with per-sample qualities (jpeg.py);
only the resizes and noise, whose output size or statistics depend on the task, run once per group. All
randomness (noise realisations) comes from the caller's ``torch.Generator``: same seed, same LQ (bit-identical
on CPU).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from restoration.degradations.blur import blur_many
from restoration.degradations.chunks import map_rows
from restoration.degradations.jpeg import jpeg as _jpeg_codec
from restoration.degradations.space import space_from_any
from restoration.degradations.task import DegradationTask, Noise
from restoration.errors import RestorationError

_GRAY = (0.2989, 0.587, 0.114)  # luma weights of torchvision's rgb_to_grayscale (used by Real-ESRGAN's noise)


# ---------------------------------------------------------------------------------------------------- helpers
def _resize(x: torch.Tensor, size: tuple[int, int] | None, factor: float | None, mode: str, step: str) -> torch.Tensor:
    if size is not None:
        if size[0] < 1 or size[1] < 1:
            raise RestorationError(f"the {step} step would shrink the image to {size[0]}x{size[1]} px; "
                                   "use larger GT images")
        return map_rows(lambda c: F.interpolate(c, size=size, mode=mode), x)
    if factor is None:
        raise ValueError("_resize needs a size or a factor")
    h, w = x.shape[-2:]
    if math.floor(h * factor) < 1 or math.floor(w * factor) < 1:
        raise RestorationError(f"the {step} step (x{factor}) would shrink a {h}x{w} image to nothing; "
                               "use larger GT images")
    return map_rows(lambda c: F.interpolate(c, scale_factor=factor, mode=mode), x)


def _randn(shape: tuple[int, ...], like: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    if gen is None or gen.device == like.device:
        return torch.randn(shape, generator=gen, device=like.device, dtype=like.dtype)
    return torch.randn(shape, generator=gen, device=gen.device, dtype=like.dtype).to(like.device)


def _poisson(rate: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    if gen is None or gen.device == rate.device:
        return torch.poisson(rate, generator=gen)
    return torch.poisson(rate.to(gen.device), generator=gen).to(rate.device)


def _poisson_noise(img: torch.Tensor, gen: torch.Generator | None) -> torch.Tensor:
    """Shot noise as Real-ESRGAN draws it: photon counts ~ Poisson(rounded image * L), where L, per sample, is
    2**ceil(log2(number of distinct 8-bit values)); returns the noise (counts / L - rounded image)."""
    n = img.shape[0]
    levels255 = torch.clamp((img * 255.0).round(), 0, 255)
    rounded = levels255 / 255.0
    idx = levels255.to(torch.int64).reshape(n, -1)
    if n > 1:
        idx = idx + 256 * torch.arange(n, device=img.device).unsqueeze(1)
    distinct = (torch.bincount(idx.reshape(-1), minlength=256 * n).view(n, 256) > 0).sum(1)
    vals = torch.exp2(torch.ceil(torch.log2(distinct.double()))).to(img.dtype).view(n, 1, 1, 1)
    return _poisson(rounded * vals, gen) / vals - rounded


def _add_noise(x: torch.Tensor, noise: Noise, gen: torch.Generator | None) -> torch.Tensor:
    n, c, h, w = x.shape
    level = torch.tensor(noise.level, dtype=x.dtype, device=x.device)
    if noise.kind == "gaussian":
        z = _randn((n, 1 if noise.gray else c, h, w), x, gen)
        return map_rows(lambda xc, zc: torch.clamp(xc + zc * level / 255.0, 0, 1), x, z)

    def shot(xc: torch.Tensor) -> torch.Tensor:
        if noise.gray:
            r, g, b = xc.unbind(dim=1)
            src = (_GRAY[0] * r + _GRAY[1] * g + _GRAY[2] * b).unsqueeze(1)
        else:
            src = xc
        return torch.clamp(xc + _poisson_noise(src, gen) * level, 0, 1)

    return map_rows(shot, x)


def _jpeg(items: list[torch.Tensor], qualities: list[float]) -> list[torch.Tensor]:
    """JPEG-compress several (n_i, 3, h_i, w_i) tensors (quality per item) in as few codec calls as possible.

    JPEG works on independent 16x16 macroblocks and the codec pads with zeros, so zero-padding every item to a
    common size and cropping back gives the same result as coding each alone. Items are bucketed by size so
    padding never more than doubles the work.
    """
    if not items:
        return []
    device = items[0].device
    out: list[torch.Tensor | None] = [None] * len(items)
    order = sorted(range(len(items)), key=lambda i: -(items[i].shape[-2] * items[i].shape[-1]))
    buckets: list[list[int]] = []
    for i in order:  # largest first; join the current bucket while padding waste stays below 2x
        h, w = items[i].shape[-2:]
        if buckets:
            b = buckets[-1]
            bh = max(items[j].shape[-2] for j in b)
            bw = max(items[j].shape[-1] for j in b)
            if _ceil16(max(bh, h)) * _ceil16(max(bw, w)) <= 2 * _ceil16(h) * _ceil16(w):
                b.append(i)
                continue
        buckets.append([i])
    for b in buckets:
        if len(b) == 1:  # alone: the codec pads to 16 px with zeros itself
            out[b[0]] = _jpeg_codec(items[b[0]], float(qualities[b[0]]))
            continue
        ph = _ceil16(max(items[j].shape[-2] for j in b))
        pw = _ceil16(max(items[j].shape[-1] for j in b))
        stack = torch.cat([F.pad(items[j], (0, pw - items[j].shape[-1], 0, ph - items[j].shape[-2]))
                           for j in b])
        q = torch.cat([torch.full((items[j].shape[0],), float(qualities[j]), dtype=items[j].dtype, device=device)
                       for j in b])
        coded = _jpeg_codec(stack, q)
        start = 0
        for j in b:
            n, _, h, w = items[j].shape
            out[j] = coded[start:start + n, :, :h, :w]
            start += n
    return out  # type: ignore[return-value]


def _ceil16(v: int) -> int:
    return -(-v // 16) * 16


# ---------------------------------------------------------------------------------------------------- public
def resolve_tasks(tasks, batch: int, bank=None) -> list[DegradationTask]:
    """A sequence of tasks, or bank indices (tensor / array / list of ints) with ``bank``."""
    if isinstance(tasks, DegradationTask):
        tasks = [tasks]
    if isinstance(tasks, (torch.Tensor, np.ndarray)):
        if bank is None:
            raise RestorationError("degrade: task indices were given without a task bank (pass bank=...)")
        idx = tasks.detach().cpu().long().tolist() if isinstance(tasks, torch.Tensor) else tasks.astype(int).tolist()
        tasks = [bank[i] for i in idx]
    tasks = list(tasks)
    if tasks and not isinstance(tasks[0], DegradationTask):
        if bank is None:
            raise RestorationError("degrade: expected DegradationTask objects (or indices together with bank=...)")
        tasks = [bank[int(i)] for i in tasks]
    if len(tasks) != batch:
        raise RestorationError(f"degrade: got {len(tasks)} task(s) for a batch of {batch} image(s)")
    for t in tasks:
        if not isinstance(t, DegradationTask):
            raise RestorationError(f"degrade: {type(t).__name__} is not a DegradationTask")
    return tasks


def random_tasks(n: int, generator: torch.Generator | None = None, space=None) -> list[DegradationTask]:
    """``n`` fresh tasks (group G0) from ``space``, seeded by one draw from ``generator`` (reproducible)."""
    device = generator.device if generator is not None else torch.device("cpu")
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=device).item())
    return space_from_any(space).sample_many(n, np.random.default_rng(seed))


def degrade(gt: torch.Tensor, tasks: Sequence[DegradationTask] | torch.Tensor | str,
            generator: torch.Generator | None = None, scale: int = 4, bank=None, space=None) -> torch.Tensor:
    """Synthesise LQ images: ``gt`` (B, 3, H, W) in [0, 1] → (B, 3, H//scale, W//scale), values k/255.

    ``tasks``: one task per sample (equal tasks are processed together); bank indices (tensor/array) with
    ``bank``; or ``"random"``: a fresh task per sample from ``space`` (default Real-ESRGAN), i.e. group G0, drawn
    from a seed taken from ``generator``. ``generator`` supplies every random draw; None uses torch's global one.
    Runs on ``gt``'s device without gradients.
    """
    if not isinstance(gt, torch.Tensor) or gt.ndim != 4 or gt.shape[1] != 3:
        shape = tuple(gt.shape) if isinstance(gt, torch.Tensor) else type(gt).__name__
        raise RestorationError(f"degrade: expected a (B, 3, H, W) tensor, got {shape}")
    if not gt.is_floating_point():
        raise RestorationError(f"degrade: expected a float tensor in [0, 1], got {gt.dtype}")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise RestorationError(f"degrade: scale must be a positive integer, got {scale!r}")
    b, _, H, W = gt.shape
    if H // scale < 1 or W // scale < 1:
        raise RestorationError(f"degrade: a {H}x{W} image is smaller than the scale factor {scale}")
    if isinstance(tasks, str):
        if tasks != "random":
            raise RestorationError(f"degrade: tasks must be DegradationTask objects, bank indices or 'random', "
                                   f"got {tasks!r}")
        task_list = random_tasks(b, generator, space)
    else:
        task_list = resolve_tasks(tasks, b, bank)
    if b == 0:
        return gt.new_zeros((0, 3, H // scale, W // scale))
    with torch.no_grad():
        return _run(gt.float(), task_list, generator, scale).to(gt.dtype)


class _Rows:
    """Batch rows of one task group: a slice when they are consecutive (no copy), else an index tensor."""

    def __init__(self, rows: list[int], device: torch.device) -> None:
        self.slice = slice(rows[0], rows[-1] + 1)
        consecutive = rows == list(range(rows[0], rows[-1] + 1))
        self.index = None if consecutive else torch.tensor(rows, device=device)

    def take(self, x: torch.Tensor) -> torch.Tensor:
        return x[self.slice] if self.index is None else x.index_select(0, self.index)

    def put(self, out: torch.Tensor, value: torch.Tensor) -> None:
        if self.index is None:
            out[self.slice] = value
        else:
            out.index_copy_(0, self.index, value)


def _run(x: torch.Tensor, tasks: list[DegradationTask], gen: torch.Generator | None, scale: int) -> torch.Tensor:
    B, C, H, W = x.shape
    device = x.device
    groups: dict[DegradationTask, list[int]] = {}
    for i, t in enumerate(tasks):
        groups.setdefault(t, []).append(i)
    keys = list(groups)
    index = {t: _Rows(groups[t], device) for t in keys}

    # 1st stage: blur (canvas-batched), then resize + noise per task (output size depends on the task), JPEG
    parts = [index[t].take(x) if len(keys) > 1 else x for t in keys]
    parts = blur_many(parts, [t.blur1 for t in keys], "first blur")
    for gi, t in enumerate(keys):
        if t.resize1.direction != "keep":
            parts[gi] = _resize(parts[gi], None, t.resize1.scale, t.resize1.mode, "first resize")
        parts[gi] = _add_noise(parts[gi], t.noise1, gen)
    parts = _jpeg(parts, [t.jpeg1 for t in keys])

    # 2nd stage: optional blur, resize relative to the final LR size, noise
    blurred = [(gi, t.blur2) for gi, t in enumerate(keys) if t.blur2 is not None]
    for (gi, _), y in zip(blurred, blur_many([parts[gi] for gi, _ in blurred], [k for _, k in blurred],
                                               "second blur")):
        parts[gi] = y
    for gi, t in enumerate(keys):
        size = (int(H / scale * t.resize2.scale), int(W / scale * t.resize2.scale))
        parts[gi] = _add_noise(_resize(parts[gi], size, None, t.resize2.mode, "second resize"), t.noise2, gen)

    # final step, two orders: [resize to LR + sinc] → JPEG, or JPEG → [resize to LR + sinc]
    late = [gi for gi, t in enumerate(keys) if t.final_order == "jpeg_resize_sinc"]
    for gi, y in zip(late, _jpeg([parts[gi] for gi in late], [keys[gi].jpeg2 for gi in late])):
        parts[gi] = y
    lr = (H // scale, W // scale)
    parts = [_resize(parts[gi], lr, None, t.final_mode, "final resize") for gi, t in enumerate(keys)]
    sinc = [(gi, t.final_sinc) for gi, t in enumerate(keys) if t.final_sinc is not None]
    for (gi, _), y in zip(sinc, blur_many([parts[gi] for gi, _ in sinc], [k for _, k in sinc], "final sinc")):
        parts[gi] = y
    early = [gi for gi, t in enumerate(keys) if t.final_order == "resize_sinc_jpeg"]
    for gi, y in zip(early, _jpeg([torch.clamp(parts[gi], 0, 1) for gi in early], [keys[gi].jpeg2 for gi in early])):
        parts[gi] = y

    if len(keys) == 1:
        out = parts[0]
    else:
        out = x.new_empty((B, C) + lr)
        for gi, t in enumerate(keys):
            index[t].put(out, parts[gi])
    return torch.clamp((out * 255.0).round(), 0, 255) / 255.0
