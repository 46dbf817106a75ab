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

from restoration.degradations.chunks import map_rows
from restoration.degradations.kernels import Kernel, kernel_vector, kernel_view
from restoration.errors import RestorationError

SEPARABLE_MIN_SIZE = 13
STRIP_CHANNELS = 24  # cut few-channel images into strips until a canvas has about this many channels
STRIP_MIN_ROWS = 48  # ... but never into strips shorter than this
STRIPS_MAX = 8
FFT_MIN_SIZE = 9  # non-separable kernels this large on images this large run as FFT products (CPU: 2-3x faster)
FFT_MIN_AREA = 128 * 128
CANVAS_CHANNELS_MAX = 96  # 32 RGB images per convolution or FFT: a (192, 3, 160, 160) stack at once ran ~2x slower


def kernel_stack(kernels: Sequence[Kernel], device: torch.device) -> torch.Tensor:
    """(n, K, K) float32, each kernel zero-padded to the largest size K (same result as its own size)."""
    size = max(k.size for k in kernels)
    arr = np.zeros((len(kernels), size, size), np.float32)
    for i, k in enumerate(kernels):
        o = (size - k.size) // 2
        arr[i, o:o + k.size, o:o + k.size] = kernel_view(k)
    return torch.from_numpy(arr).to(device)


def _vector_stack(kernels: Sequence[Kernel], device: torch.device) -> torch.Tensor:
    size = max(k.size for k in kernels)
    arr = np.zeros((len(kernels), size), np.float32)
    for i, k in enumerate(kernels):
        o = (size - k.size) // 2
        arr[i, o:o + k.size] = kernel_vector(k)
    return torch.from_numpy(arr).to(device)


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


class _Piece:
    """A reflect-padded slab of one item (the whole item, or a horizontal strip of it) and its kernel."""

    def __init__(self, padded: torch.Tensor, kernel: Kernel, item: int) -> None:
        self.padded, self.kernel, self.item = padded, kernel, item
        p = kernel.size // 2
        self.p, self.h, self.w = p, padded.shape[-2] - 2 * p, padded.shape[-1] - 2 * p
        self.rows = padded.shape[0]


def _pieces(x: torch.Tensor, kernel: Kernel, item: int) -> list[_Piece]:
    """Few-channel images are cut into horizontal strips (overlapping by the kernel) that become separate canvas
    rows: a depthwise convolution over more channels runs several times faster per multiply-add."""
    n, c, h, w = x.shape
    p = kernel.size // 2
    padded = F.pad(x, (p, p, p, p), mode="reflect")
    strips = max(1, min(STRIPS_MAX, h // STRIP_MIN_ROWS, -(-STRIP_CHANNELS // (n * c))))
    if strips == 1:
        return [_Piece(padded, kernel, item)]
    hs = -(-h // strips)
    return [_Piece(padded[:, :, y:min(y + hs, h) + 2 * p], kernel, item) for y in range(0, h, hs)]


def _cost(rows: int, c: int, h: int, w: int, k: int, separable: bool) -> float:
    """Rough time of one grouped convolution over a (rows, c, h, w) canvas with k-tap kernels: multiply-adds
    divided by an efficiency that grows with the channel count (measured on CPU: ~7 GMAC/s at 3 channels, ~30 at
    48), plus a fixed per-call overhead."""
    ch = rows * c
    if separable:  # two 1-D passes; torch's 1-D depthwise kernels run ~3x slower per multiply-add
        return 3 * ch * h * w * 2 * k * (ch + 12) / ch + 4e6
    return ch * h * w * k * k * (ch + 12) / ch + 2e6


def _buckets(pieces: list[_Piece], idx: list[int], separable: bool) -> list[list[int]]:
    """Greedy: largest kernels first; a piece joins the bucket where it adds least, if that beats going alone."""
    buckets: list[list[int]] = []
    stats: list[tuple[int, int, int, int, float]] = []  # rows, max h, max w, max k, cost
    for i in sorted(idx, key=lambda i: (-pieces[i].kernel.size, -pieces[i].h * pieces[i].w)):
        pc = pieces[i]
        c = pc.padded.shape[1]
        best, best_extra = None, _cost(pc.rows, c, pc.h, pc.w, pc.kernel.size, separable)
        for bi, (rows, h, w, k, cost) in enumerate(stats):
            if (rows + pc.rows) * c > CANVAS_CHANNELS_MAX and pc.padded.device.type == "cpu":
                continue
            extra = _cost(rows + pc.rows, c, max(h, pc.h), max(w, pc.w), max(k, pc.kernel.size), separable) - cost
            if extra < best_extra:
                best, best_extra = bi, extra
        if best is None:
            buckets.append([i])
            stats.append((pc.rows, pc.h, pc.w, pc.kernel.size, best_extra))
        else:
            rows, h, w, k, cost = stats[best]
            buckets[best].append(i)
            stats[best] = (rows + pc.rows, max(h, pc.h), max(w, pc.w), max(k, pc.kernel.size), cost + best_extra)
    return buckets


def _canvas_blur(pieces: list[_Piece], b: list[int], separable: bool) -> list[torch.Tensor]:
    K = max(pieces[j].kernel.size for j in b)
    P = K // 2
    hc, wc = max(pieces[j].h for j in b), max(pieces[j].w for j in b)
    rows = sum(pieces[j].rows for j in b)
    first = pieces[b[0]].padded
    c, device = first.shape[1], first.device
    if len(b) == 1 and pieces[b[0]].p == P:
        canvas = first
    else:
        canvas = first.new_zeros((rows, c, hc + 2 * P, wc + 2 * P))
        r = 0
        for j in b:
            pc = pieces[j]
            o = P - pc.p  # the piece's own reflect padding sits inside the zero frame of the larger kernel
            canvas[r:r + pc.rows, :, o:o + pc.h + 2 * pc.p, o:o + pc.w + 2 * pc.p] = pc.padded
            r += pc.rows
    reps = torch.tensor([pieces[j].rows * c for j in b], device=device)
    canvas = canvas.reshape(1, rows * c, hc + 2 * P, wc + 2 * P)
    kernels = [pieces[j].kernel for j in b]
    if separable:
        v = _vector_stack(kernels, device).repeat_interleave(reps, dim=0)
        res = F.conv2d(canvas, v.view(rows * c, 1, 1, K), groups=rows * c)
        res = F.conv2d(res, v.view(rows * c, 1, K, 1), groups=rows * c)
    else:
        weight = kernel_stack(kernels, device).repeat_interleave(reps, dim=0).unsqueeze(1)
        res = F.conv2d(canvas, weight, groups=rows * c)
    res = res.view(rows, c, hc, wc)
    out, r = [], 0
    for j in b:
        pc = pieces[j]
        out.append(res[r:r + pc.rows, :, :pc.h, :pc.w])
        r += pc.rows
    return out


def _fast_len(n: int) -> int:
    """The smallest 5-smooth integer >= n: FFT lengths with only small prime factors are several times faster."""
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


def _fft_blur(x: torch.Tensor, kernel: Kernel) -> torch.Tensor:
    """filter2D semantics (reflect padding, correlation) computed as a product of Fourier transforms.

    The transform length is at least the padded size, so the circular wrap-around only reaches the first k-1
    outputs, which are cut away; what is kept equals the direct correlation up to float rounding (~1e-6)."""
    k = kernel.size
    p = k // 2
    h, w = x.shape[-2:]
    xp = F.pad(x, (p, p, p, p), mode="reflect")
    size = (_fast_len(xp.shape[-2]), _fast_len(xp.shape[-1]))
    kt = torch.from_numpy(np.ascontiguousarray(kernel_view(kernel)[::-1, ::-1])).to(x)
    y = torch.fft.irfft2(torch.fft.rfft2(xp, s=size) * torch.fft.rfft2(kt, s=size), s=size)
    return y[..., k - 1:k - 1 + h, k - 1:k - 1 + w].contiguous()


def blur_many(items: list[torch.Tensor], kernels: Sequence[Kernel], step: str = "blur") -> list[torch.Tensor]:
    """Blur each (n_i, C, h_i, w_i) tensor with its own kernel (shared by its n_i rows); same sizes out."""
    for x, k in zip(items, kernels):
        _check_size(x.shape[-2], x.shape[-1], k.size, step)
    rows = [max(1, CANVAS_CHANNELS_MAX // x.shape[1]) for x in items]
    if any(x.device.type == "cpu" and x.shape[0] > r for x, r in zip(items, rows)):  # row chunks that stay in cache
        if len(items) == 1:
            return [map_rows(lambda c: blur_many([c], kernels, step)[0], items[0], rows=rows[0])]
        cut = [(i, j) for i, (x, r) in enumerate(zip(items, rows)) for j in range(0, x.shape[0], r)]
        done = blur_many([items[i][j:j + rows[i]] for i, j in cut], [kernels[i] for i, _ in cut], step)
        return [torch.cat([y for (i, _), y in zip(cut, done) if i == n]) for n in range(len(items))]
    fft = {i for i, (x, k) in enumerate(zip(items, kernels))
           if x.device.type == "cpu" and k.size >= FFT_MIN_SIZE and x.shape[-2] * x.shape[-1] >= FFT_MIN_AREA
           and kernel_vector(k) is None}
    pieces = [pc for i, (x, k) in enumerate(zip(items, kernels)) if i not in fft for pc in _pieces(x, k, i)]
    results: list[torch.Tensor | None] = [None] * len(pieces)
    # separable only where two 1-D passes beat one 2-D pass (large kernels; see _cost)
    sep = [i for i, pc in enumerate(pieces)
           if pc.kernel.size >= SEPARABLE_MIN_SIZE and kernel_vector(pc.kernel) is not None]
    full = [i for i in range(len(pieces)) if i not in set(sep)]
    for idx, separable in ((sep, True), (full, False)):
        for b in _buckets(pieces, idx, separable):
            for j, y in zip(b, _canvas_blur(pieces, b, separable)):
                results[j] = y
    out: list[list[torch.Tensor]] = [[] for _ in items]
    for i in sorted(fft):
        out[i].append(_fft_blur(items[i], kernels[i]))
    for pc, y in zip(pieces, results):
        assert y is not None  # every piece is in exactly one bucket
        out[pc.item].append(y)  # strips come in order, top to bottom
    return [parts[0] if len(parts) == 1 else torch.cat(parts, dim=2) for parts in out]
