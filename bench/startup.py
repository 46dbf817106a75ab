"""Start-up cost of the package and the CLI, each in a fresh interpreter (median of N runs).

Usage: .venv/bin/python bench/startup.py [--runs 5]
Prints seconds and each figure as a ratio of the 1.5 s budget for `import restoration`.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import restoration": [sys.executable, "-c", "import restoration"],
    "restoration --help": [sys.executable, "-m", "restoration", "--help"],
    "import torch (reference)": [sys.executable, "-c", "import torch"],
    "import restoration + register()": [sys.executable, "-c", "import restoration; restoration.register()"],
}
BUDGET_S = 1.5


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"{'case':34s} {'median s':>9s} {'x budget':>9s}")
    for name, cmd in CASES.items():
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - t0)
        med = statistics.median(times)
        print(f"{name:34s} {med:9.3f} {med / BUDGET_S:9.2f}")


if __name__ == "__main__":
    main()
