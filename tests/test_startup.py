"""``import restoration`` stays cheap: no torch, and under 0.1 s of import time (bench/startup.py measures the
whole interpreter start; this checks the package's own share, which ``-X importtime`` reports)."""
from __future__ import annotations

import subprocess
import sys

BUDGET_US = 100_000


def _import_restoration() -> tuple[int, list[str]]:
    """(cumulative import time of ``restoration`` in µs, heavy modules loaded) in a fresh interpreter."""
    heavy = "('torch', 'numpy', 'basicsr', 'lpips')"
    code = f"import sys, restoration; print(','.join(m for m in {heavy} if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          check=True)
    line = next(ln for ln in proc.stderr.splitlines() if ln.rstrip().endswith("| restoration"))
    return int(line.split("|")[1]), [m for m in proc.stdout.strip().split(",") if m]


def test_import_restoration_is_light_and_fast():
    runs = [_import_restoration() for _ in range(3)]  # the best of three: the machine is shared
    assert all(heavy == [] for _, heavy in runs), runs
    best = min(us for us, _ in runs)
    assert best < BUDGET_US, f"import restoration took {best / 1e6:.3f} s (budget {BUDGET_US / 1e6} s)"
