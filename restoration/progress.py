"""Progress of long jobs (task probe, grouping, report) that reads well on a terminal and in a log file.

tqdm draws a bar by rewriting one line with carriage returns; redirected to a file, only the final state is
readable, and with ``disable=None`` nothing at all is drawn when the stream is not a terminal. :class:`Progress`
uses tqdm on a terminal and otherwise prints a plain line every ``every`` seconds (and at the start and the end)
with the count, the rate and the ETA of this run, e.g. ``probe shard 0/1: 12/50 tasks (24%), 0.35 tasks/s,
ETA 0:01:48``.
"""
from __future__ import annotations

import datetime
import os
import sys
import time
from typing import TextIO

EVERY_S = 30.0  # seconds between two progress lines when not on a terminal


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _clock(seconds: float) -> str:
    return str(datetime.timedelta(seconds=int(max(0.0, seconds))))


class Progress:
    """``update(n)`` adds, ``set(n)`` sets the position; ``close()`` prints the last line. See the module docstring."""

    def __init__(self, desc: str, total: int, initial: int = 0, unit: str = "it", stream: TextIO | None = None,
                 every: float | None = None, tty: bool | None = None) -> None:
        self.desc, self.total, self.unit = desc, int(total), unit
        self.stream = stream if stream is not None else sys.stderr
        self.every = every_from_env() if every is None else float(every)
        self.n = self.initial = int(initial)
        self.start = self.last = time.monotonic()
        self.closed = False
        self.bar = None
        if _is_tty(self.stream) if tty is None else tty:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True, file=self.stream)
        else:
            self._line(first=True)

    def line(self) -> str:
        """The progress line for the current position."""
        elapsed = time.monotonic() - self.start
        done = self.n - self.initial
        pct = f" ({100 * self.n / self.total:.0f}%)" if self.total else ""
        text = f"{self.desc}: {self.n}/{self.total} {self.unit}s{pct}"
        if done > 0 and elapsed > 0:
            rate = done / elapsed
            text += f", {rate:.3g} {self.unit}s/s, ETA {_clock((self.total - self.n) / rate)}"
        return text + f", {_clock(elapsed)} elapsed"

    def _line(self, first: bool = False) -> None:
        self.last = time.monotonic()
        print(self.line() + (" (started)" if first else ""), file=self.stream, flush=True)

    def set(self, n: int) -> None:
        n = int(n)
        if self.bar is not None:
            self.bar.update(n - self.bar.n)
        self.n = n
        if self.bar is None and time.monotonic() - self.last >= self.every:
            self._line()

    def update(self, n: int = 1) -> None:
        self.set(self.n + n)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.bar is not None:
            self.bar.close()
        else:
            self._line()


def every_from_env(default: float = EVERY_S) -> float:
    """``RESTORATION_PROGRESS_EVERY`` (seconds) when set to a number, else ``default``."""
    try:
        return float(os.environ.get("RESTORATION_PROGRESS_EVERY", default))
    except ValueError:
        return default
