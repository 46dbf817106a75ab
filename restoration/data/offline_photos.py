"""Real photos that installed Python packages ship, usable offline (tests, the cpu_tiny recipe, samples).

The files are located with ``importlib.util.find_spec`` and read from disk; the packages are never imported
(sporco is installed without its dependencies).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from restoration._packages import package_dir


@dataclass(frozen=True)
class OfflinePhoto:
    name: str
    path: Path
    source: str
    licence: str
    lossless: bool


# (package, file, licence) — the licences are the ones stated by each package's data documentation.
_CATALOGUE: tuple[tuple[str, str, str], ...] = (
    ("sporco", "data/monarch.png", "Waterloo BragZone: free of copyright restrictions"),
    ("sporco", "data/sail.png", "Waterloo BragZone: free of copyright restrictions"),
    ("sporco", "data/tulips.png", "Waterloo BragZone: free of copyright restrictions"),
    ("sporco", "data/kodim23.png", "Kodak test image: released for unrestricted use"),
    ("sporco", "data/barbara.png", "attributed to Allen Gersho; freely redistributable test image"),
    ("skimage", "data/astronaut.png", "NASA: public domain"),
    ("skimage", "data/chelsea.png", "CC0 (Stefan van der Walt)"),
    ("skimage", "data/coffee.png", "CC0 (Rachel Michetti)"),
    ("skimage", "data/rocket.jpg", "SpaceX: public domain"),
    ("skimage", "data/hubble_deep_field.jpg", "NASA: public domain"),
)


def list_offline_photos(lossless_only: bool = False) -> list[OfflinePhoto]:
    """The catalogue entries whose files exist on this machine, in catalogue order."""
    photos = []
    for package, rel, licence in _CATALOGUE:
        root = package_dir(package)
        if root is None or not (root / rel).is_file():
            continue
        lossless = rel.endswith(".png")
        if lossless_only and not lossless:
            continue
        photos.append(OfflinePhoto(Path(rel).stem, root / rel, f"{package}/{rel}", licence, lossless))
    return photos
