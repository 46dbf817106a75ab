"""Run the web demo from a checkout: ``python app/main.py [--port 7860] ...`` (the options of ``restoration demo``).

The demo's code is :mod:`restoration.app` (so an installed wheel has it too); this file only forwards to the
``restoration demo`` command, the same entry ``make demo`` uses.
"""
from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the checkout importable when it is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from restoration.cli import main  # noqa: E402


def run(argv: list[str] | None = None) -> int:
    return main(["demo", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(run())
