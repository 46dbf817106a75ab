"""Fixtures for the web demo tests (helpers in demo_server.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from demo_server import write_tiny_zoo


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory) -> Path:
    """A model folder with one random SRVGGNetCompact x4 named "tiny" (the default)."""
    return write_tiny_zoo(tmp_path_factory.mktemp("zoo"))
