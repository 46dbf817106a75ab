"""Per-item blur of many differently sized images with their own kernels, in few grouped convolutions.

Why not one call per image: on CPU a depthwise convolution over 3 channels runs ~5x slower per multiply-add than
one over dozens of channels, and Real-ESRGAN tasks give every sample its own size and kernel. So items are
stacked on a zero canvas, each reflect-padded by its own radius (a kernel zero-padded to a larger size gives the
same output inside the image), and blurred by one grouped convolution; a cost model decides which items share
a canvas. Isotropic Gaussian kernels (~40% of Real-ESRGAN draws) are exactly separable and run as two 1-D passes.
Semantics are basicsr's ``filter2D``: reflect padding, correlation, output the size of the input.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from restoration.degradations.kernels import Kernel, kernel_array, kernel_vector
from restoration.errors import RestorationError


SEPARABLE_MIN_SIZE = 13


def kernel_stack(kernels: Sequence[Kernel], device: torch.device) -> torch.Tensor:
    """(n, K, K) float32, each kernel zero-padded to the largest size K (same result as its own size)."""
    size = max(k.size for k in kernels)
    arr = np.stack([kernel_array(k, pad_to=size) for k in kernels]).astype(np.float32)
    return torch.from_numpy(arr).to(device)


def _vector_stack(kernels: Sequence[Kernel], device: torch.device) -> torch.Tensor:
    size = max(k.size for k in kernels)
    rows = []
    for k in kernels:
        v = kernel_vector(k)
        p = (size - k.size) // 2
        rows.append(np.pad(v, (p, p)))
    return torch.from_numpy(np.stack(rows).astype(np.float32)).to(device)


def filter2d(x: torch.Tensor, kernels: torch.Tensor, step: str = "blur") -> torch.Tensor:
    """Reflect-padded 2-D correlation. ``kernels``: (1, K, K) shared by all samples or (n, K, K) one per sample."""
    n, c, h, w = x.shape
    k = kernels.shape[-1]
    _check_size(h, w, k, step)
    p = k // 2
    xp = F.pad(x, (p, p, p, p), mode="reflect")
    # Always the depthwise form (groups = n*c): a 1-in/1-out convolution over n*c images goes through im2col.
    weight = (kernels.expand(n, k, k) if kernels.shape[0] == 1 else kernels).repeat_interleave(c, dim=0).unsqueeze(1)
    return F.conv2d(xp.reshape(1, n * c, h + 2 * p, w + 2 * p), weight, groups=n * c).view(n, c, h, w)


def _check_size(h: int, w: int, k: int, step: str) -> None:
    if k // 2 >= h or k // 2 >= w:
        raise RestorationError(
            f"image of {h}x{w} px is too small for the {k}x{k} kernel at the {step} step (reflect padding needs "
            f"more than {k // 2} px per side); use larger GT images or smaller kernels (kernel_range)")


def _cost(items: list[torch.Tensor], kernels: Sequence[Kernel], bucket: list[int], separable: bool) -> float:
    """Rough time of one grouped convolution over a canvas holding ``bucket``: multiply-adds divided by an
    efficiency that grows with the channel count (measured on CPU: ~7 GMAC/s at 3 channels, ~30 at 48), plus a
    fixed per-call overhead."""
    ch = sum(items[j].shape[0] for j in bucket) * items[bucket[0]].shape[1]
    k = max(kernels[j].size for j in bucket)
    area = max(items[j].shape[-2] for j in bucket) * max(items[j].shape[-1] for j in bucket)
    if separable:  # two 1-D passes; torch's 1-D depthwise kernels run ~3x slower per multiply-add
        return 3 * ch * area * 2 * k * (ch + 12) / ch + 4e6
    return ch * area * k * k * (ch + 12) / ch + 2e6


def _buckets(items: list[torch.Tensor], kernels: Sequence[Kernel], idx: list[int], separable: bool) -> list[list[int]]:
    """Greedy: largest kernels first; an item joins the bucket where it adds least, if that beats going alone."""
    buckets: list[list[int]] = []
    costs: list[float] = []
    for i in sorted(idx, key=lambda i: (-kernels[i].size, -items[i].shape[-2] * items[i].shape[-1])):
        best, best_extra = None, _cost(items, kernels, [i], separable)
        for bi, b in enumerate(buckets):
            extra = _cost(items, kernels, b + [i], separable) - costs[bi]
            if extra < best_extra:
                best, best_extra = bi, extra
        if best is None:
            buckets.append([i])
            costs.append(best_extra)
        else:
            buckets[best].append(i)
            costs[best] += best_extra
    return buckets


def _canvas_blur(items: list[torch.Tensor], kernels: Sequence[Kernel], b: list[int], separable: bool) -> list:
    K = max(kernels[j].size for j in b)
    P = K // 2
    hc, wc = max(items[j].shape[-2] for j in b), max(items[j].shape[-1] for j in b)
    rows = sum(items[j].shape[0] for j in b)
    c = items[b[0]].shape[1]
    device = items[b[0]].device
    if len(b) == 1 and items[b[0]].shape[-2:] == (hc, wc):
        canvas = F.pad(items[b[0]], (P, P, P, P), mode="reflect")
    else:
        canvas = items[b[0]].new_zeros((rows, c, hc + 2 * P, wc + 2 * P))
        r = 0
        for j in b:
            n, _, h, w = items[j].shape
            p = kernels[j].size // 2
            o = P - p
            canvas[r:r + n, :, o:o + h + 2 * p, o:o + w + 2 * p] = F.pad(items[j], (p, p, p, p), mode="reflect")
            r += n
    reps = torch.tensor([items[j].shape[0] * c for j in b], device=device)
    canvas = canvas.reshape(1, rows * c, hc + 2 * P, wc + 2 * P)
    if separable:
        v = _vector_stack([kernels[j] for j in b], device).repeat_interleave(reps, dim=0)
        res = F.conv2d(canvas, v.view(rows * c, 1, 1, K), groups=rows * c)
        res = F.conv2d(res, v.view(rows * c, 1, K, 1), groups=rows * c)
    else:
        weight = kernel_stack([kernels[j] for j in b], device).repeat_interleave(reps, dim=0).unsqueeze(1)
        res = F.conv2d(canvas, weight, groups=rows * c)
    res = res.view(rows, c, hc, wc)
    out, r = [], 0
    for j in b:
        n, _, h, w = items[j].shape
        out.append(res[r:r + n, :, :h, :w])
        r += n
    return out


def blur_many(items: list[torch.Tensor], kernels: Sequence[Kernel], step: str = "blur") -> list[torch.Tensor]:
    """Blur each (n_i, C, h_i, w_i) tensor with its own kernel (shared by its n_i rows); same sizes out."""
    for x, k in zip(items, kernels):
        _check_size(x.shape[-2], x.shape[-1], k.size, step)
    out: list[torch.Tensor | None] = [None] * len(items)
    # separable only where two 1-D passes beat one 2-D pass (large kernels; see _cost)
    sep = [i for i, k in enumerate(kernels) if k.size >= SEPARABLE_MIN_SIZE and kernel_vector(k) is not None]
    full = [i for i in range(len(kernels)) if i not in set(sep)]
    for idx, separable in ((sep, True), (full, False)):
        for b in _buckets(items, kernels, idx, separable):
            for j, y in zip(b, _canvas_blur(items, kernels, b, separable)):
                out[j] = y
    return out  # type: ignore[return-value]
