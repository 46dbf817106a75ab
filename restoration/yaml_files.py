"""Reading a YAML file into plain data, with one OptionError naming the file for every way it can fail.

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
