"""``resolve_device``: one device-name rule for the CLI, the Upscaler, the demo and the competition jobs."""
from __future__ import annotations

import pytest
import torch

from restoration.devices import resolve_device
from restoration.errors import RestorationError


def test_auto_and_empty_pick_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto") == expected
    assert resolve_device("") == expected
    assert resolve_device(None) == expected
    assert resolve_device(" AUTO ") == expected


def test_explicit_cpu_is_kept():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("CPU") == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
@pytest.mark.parametrize("name", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_one_error(name):
    with pytest.raises(RestorationError, match=f"device '{name}' requested but CUDA is not available"):
        resolve_device(name)


def test_unknown_name_is_one_error():
    with pytest.raises(RestorationError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")


def test_every_caller_uses_the_same_function():
    """The inference package and the competition jobs share this function (no second copy with other rules)."""
    import restoration.competition.grouping_run as grouping_run
    import restoration.competition.probe_run as probe_run
    import restoration.inference as inference

    assert inference.resolve_device is resolve_device
    assert probe_run.resolve_device is resolve_device
    assert grouping_run.resolve_device is resolve_device
