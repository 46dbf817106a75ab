"""Reading a YAML file into plain data, with one OptionError naming the file for every way it can fail, and
reading an option file with the files it inherits from (``_base_``).

A leaf module (PyYAML and errors only), so that the degradation space, the option loader and the CLI read their
files the same way without the degradations package importing the option loader, which validates degradations.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from restoration.errors import OptionError


def read_yaml(path: str | os.PathLike, what: str = "option file") -> Any:
    """The parsed content of a YAML file; a missing file or a syntax error is one OptionError naming the file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise OptionError(f"{what} {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise OptionError(f"{path}: not valid YAML ({' '.join(str(exc).split())[:200]})") from None


BASE_KEY = "_base_"


def merge(base: dict, child: dict) -> dict:
    """``child`` over ``base``: mappings merge key by key (recursively), anything else in ``child`` replaces."""
    out = dict(base)
    for key, value in child.items():
        out[key] = merge(out[key], value) if isinstance(out.get(key), dict) and isinstance(value, dict) else value
    return out


def read_options(path: str | os.PathLike, what: str = "option file", _chain: tuple[Path, ...] = ()) -> dict:
    """An option file with its ``_base_`` files merged in: ``_base_: other.yml`` (or a list, applied in order),
    relative to the including file; the including file wins. A cycle is one OptionError showing it."""
    path = Path(path)
    here = path.resolve()
    if here in _chain:
        names = " -> ".join(p.name for p in _chain[_chain.index(here):] + (here,))
        raise OptionError(f"{_chain[0]}: {BASE_KEY} files include each other ({names})")
    data = read_yaml(path, what)
    if not isinstance(data, dict):
        raise OptionError(f"{path}: expected a mapping of options at the top level")
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        return data
    names = [bases] if isinstance(bases, str) else bases
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise OptionError(f"{path}: {BASE_KEY}: expected a file name or a list of file names, got {bases!r}")
    merged: dict = {}
    for name in names:
        base = path.parent / os.path.expanduser(name)
        if not base.is_file():
            raise OptionError(f"{path}: {BASE_KEY}: file {base} does not exist")
        merged = merge(merged, read_options(base, what, _chain + (here,)))
    return merge(merged, data)
