"""BasicSR-style module scanner: import every ``*<suffix>.py`` file of a package so its classes register."""
from __future__ import annotations

import importlib
import pkgutil


def import_modules(package: str, suffix: str) -> list[str]:
    """Import ``package.<name>`` for each module whose name ends with ``suffix``; return the names, sorted."""
    pkg = importlib.import_module(package)
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.endswith(suffix))
    for name in names:
        importlib.import_module(f"{package}.{name}")
    return names
