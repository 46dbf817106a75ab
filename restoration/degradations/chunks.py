"""Row chunks that stay in cache, for the per-sample ops of the synthesis.

A degradation op makes several passes over its stack. One task over the probe's 192 held-out images of 160 px is
59 MB per stack, and every pass then streams from memory; 32 such images stay in cache (192 at once ran about
twice as slow per image). The ops cut here are per sample, and the random draws inside them (torch.poisson)
happen element after element, so cutting never changes a value (tested to the bit). Each chunk's result is
written into one output while it is still in cache, instead of joining the chunks at the end.
"""
from __future__ import annotations

from typing import Callable

import torch

CHUNK = 32  # samples per pass on CPU


def map_rows(fn: Callable[..., torch.Tensor], *xs: torch.Tensor, rows: int | None = None) -> torch.Tensor:
    """``fn(*xs)`` computed ``rows`` (default ``CHUNK``) rows at a time (dimension 0, the same rows of every
    ``xs``) on CPU."""
    n, step = xs[0].shape[0], rows or CHUNK
    if n <= step or xs[0].device.type != "cpu":
        return fn(*xs)
    out: torch.Tensor | None = None
    for i in range(0, n, step):
        y = fn(*(x[i:i + step] for x in xs))
        if out is None:
            out = y.new_empty((n,) + tuple(y.shape[1:]))
        out[i:i + y.shape[0]] = y
    assert out is not None  # n > step >= 1: at least one chunk
    return out
