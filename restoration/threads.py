"""How many torch threads a job uses, chosen once per job and logged, never left changed behind it.

On a small CPU machine torch's default (one intra-op thread per core) plus data workers, other ranks or another
process oversubscribes the cores, and OpenMP threads that spin while they wait make every parallel region pay for
it (measured on 2 cores: a small training step 6x slower). A job therefore takes the cores it is given
(``sched_getaffinity``), divided among the ranks on this machine, minus one per data worker, and the CLI asks
OpenMP to sleep rather than spin while waiting (``OMP_WAIT_POLICY=PASSIVE``, which costs nothing measurable on an
idle machine). ``OMP_NUM_THREADS`` or an explicit count always wins.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

THREADS_ENV = "OMP_NUM_THREADS"


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, which containers and ``taskset`` restrict)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def choose_threads(requested: int | str | None = "auto", *, workers: int = 0, local_ranks: int = 1) -> tuple[int, str]:
    """The intra-op thread count for one job and the reason, for the log.

    ``requested``: a positive int, or ``auto``/None. ``workers``: data-loader processes per rank (each runs
    single-threaded). ``local_ranks``: processes of this job on this machine (``LOCAL_WORLD_SIZE`` under torchrun).
    """
    if requested not in (None, "auto"):
        n = int(requested)
        if n < 1:
            raise ValueError(f"num_threads must be >= 1 or 'auto', got {requested!r}")
        return n, "set in the options"
    env = os.environ.get(THREADS_ENV, "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), f"{THREADS_ENV}={env}"
    cores = available_cores()
    share = max(1, cores // max(1, local_ranks))
    n = max(1, share - max(0, workers))
    why = f"auto: {cores} cores"
    if local_ranks > 1:
        why += f" / {local_ranks} local ranks"
    if workers:
        why += f" - {workers} data workers"
    return n, why


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` intra-op threads and restore the caller's count afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def prefer_passive_wait() -> None:
    """Ask OpenMP to sleep while waiting; only effective before torch is imported, so only entry points call it."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
