"""The torch thread count of one job (training, task probe/group/report): :func:`restoration.threads.choose_threads`,
then fewer threads when the machine is already busy.

``auto`` takes the cores the process may run on. On a machine whose other jobs already keep those cores busy, every
extra thread of ours waits for a core at each parallel region: measured on 2 cores with a load average of 6-7
(another training run, an upscale, a benchmark), the cpu_tiny step took 0.08 s with one thread and 0.35-1.4 s with
two, even with ``OMP_WAIT_POLICY=PASSIVE``. So ``auto`` keeps only the cores that are idle at the start (the
1-minute load average, taken before this job adds to it; a core at least half idle counts), at least one. An explicit
count in the options or ``OMP_NUM_THREADS`` is never changed.
"""
from __future__ import annotations

import math
import os

from restoration.threads import THREADS_ENV, available_cores, choose_threads


def idle_cores() -> float | None:
    """Cores not used by other jobs, from the 1-minute load average (None where the platform has none)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return None
    return available_cores() - load


def job_threads(requested: int | str | None = "auto", *, workers: int = 0, local_ranks: int = 1) -> tuple[int, str]:
    """``choose_threads``, and with ``auto`` (no ``OMP_NUM_THREADS``) no more threads than idle cores, at least 1."""
    n, why = choose_threads(requested, workers=workers, local_ranks=local_ranks)
    explicit = requested not in (None, "auto") or os.environ.get(THREADS_ENV, "").strip().isdigit()
    idle = None if explicit else idle_cores()
    if idle is not None and n > 1:
        share = max(1, math.floor(max(idle, 0.0) / max(1, local_ranks) + 0.5))  # a core half idle counts
        if share < n:
            return share, f"{why}; busy machine: load {available_cores() - idle:.1f} -> {share}"
    return n, why
