"""What the C heap does with freed memory: give it back (upscaling) or keep it for reuse (training, probing).

glibc maps every large block (over 128 KB, a threshold it raises up to 32 MB as blocks are freed) on its own and
unmaps it on free, and trims the top of the heap past a threshold. The synthesis and the training steps allocate
the same large tensors at every step, and every fresh page is paid in a page fault, which here costs more than
the arithmetic on it (docs/BENCHMARKS.md). Upscaling wants the opposite: a window's blobs given back after it,
so memory stays flat over a large image. Elsewhere than glibc both are no-ops.
"""
from __future__ import annotations

import functools
from typing import Any

# glibc's mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 << 20  # glibc's ceiling for 64-bit: blocks above it stay mapped on their own
KEEP_FREE_TOP = 1 << 30  # bytes of free heap top kept before a trim


@functools.cache
def glibc() -> Any:
    """The C library when it is glibc (it has ``malloc_trim`` and ``mallopt``), else None."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


def release_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc's ``malloc_trim``). Called once the weights are in
    ncnn (the freed state dict is many small blocks that glibc would otherwise keep, 0.1 GB for x4plus) and after
    every window: a window's blobs are freed when it is done, and without a trim the heap they leave grows over an
    image (``docs/BENCHMARKS.md``). glibc's alternative, mapping every block over 256 KB on its own
    (``mallopt``), kept the heap as small but cost 18 % of the speed."""
    libc = glibc()
    if libc is not None:
        libc.malloc_trim(0)


def keep_freed_memory() -> bool:
    """Serve blocks of up to 32 MB (glibc's ceiling) from the heap and keep up to 1 GB of its free top, so that
    the tensors of one step reuse the pages of the last one instead of faulting in fresh ones. glibc would raise
    its threshold that far by itself, but only as blocks are freed, and it trims the heap meanwhile. For jobs that
    allocate the same shapes over and over (``restoration train``, ``restoration tasks``). True where applied."""
    libc = glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX)) and bool(libc.mallopt(M_TRIM_THRESHOLD,
                                                                                        KEEP_FREE_TOP))
