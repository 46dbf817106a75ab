"""DegradationTask: frozen record, canonical JSON round trip, stable id, readable description, validation."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from restoration.degradations import DegradationSpace, DegradationTask, Kernel, Noise, Resize
from restoration.errors import RestorationError

FIXED = {
    "blur1": {"kind": "aniso", "size": 15, "sigma_x": 2.1, "sigma_y": 0.7, "theta": 0.5},
    "resize1": {"direction": "down", "scale": 0.5, "mode": "area"},
    "noise1": {"kind": "gaussian", "level": 10.0, "gray": False},
    "jpeg1": 60.0,
    "blur2": None,
    "resize2": {"direction": "keep", "scale": 1.0, "mode": "bicubic"},
    "noise2": {"kind": "poisson", "level": 1.5, "gray": True},
    "final_order": "jpeg_resize_sinc",
    "final_mode": "bilinear",
    "final_sinc": {"kind": "sinc", "size": 9, "omega": 1.25},
    "jpeg2": 80.0,
}


def test_round_trip_and_stable_id():
    task = DegradationTask.from_dict(FIXED)
    assert task.to_dict() == FIXED
    # The id hashes the canonical parameters: this literal guards against accidental format changes, which would
    # orphan every saved bank and log line.
    assert task.task_id == "88885d5a71e78b68"
    assert DegradationTask.from_dict(json.loads(json.dumps(task.to_dict()))).task_id == task.task_id
    assert DegradationTask.from_dict({**FIXED, "id": task.task_id}) == task
    tasks = DegradationSpace().sample_many(200, np.random.default_rng(0))
    assert len({t.task_id for t in tasks}) == 200
    for t in tasks:
        assert DegradationTask.from_dict(json.loads(json.dumps(t.to_dict()))) == t


def test_frozen_hashable_and_equal_by_parameters():
    a = DegradationTask.from_dict(FIXED)
    b = DegradationTask.from_dict(json.loads(json.dumps(FIXED)))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.jpeg1 = 10.0  # type: ignore[misc]
    c = dataclasses.replace(a, jpeg2=81.0)
    assert c != a and c.task_id != a.task_id


def test_describe_names_every_step_in_order():
    text = DegradationTask.from_dict(FIXED).describe()
    for part in ("aniso k15", "down ×0.500 area", "gaussian σ=10.00 color", "jpeg 60.0", "no blur",
                 "poisson ×1.50 gray", "jpeg 80.0 → resize bilinear + sinc k9"):
        assert part in text, part
    assert text.index("aniso") < text.index("no blur") < text.index("jpeg 80.0")


@pytest.mark.parametrize("change, message", [
    ({"blur1": {"kind": "box", "size": 7}}, r"blur1: unknown kernel type 'box'"),
    ({"resize1": {"direction": "sideways", "scale": 1.0, "mode": "area"}},
     r"resize1.direction: must be one of 'up', 'down' or 'keep', got 'sideways'"),
    ({"noise2": {"kind": "gaussian", "level": "high", "gray": False}}, r"noise2.level: expected a number, got 'high'"),
    ({"final_order": "random"}, "final_order"),
    ({"jpeg2": 0.0}, r"jpeg2 quality must be in \[1, 100\]"),
    ({"id": "0000000000000000"}, "does not match its parameters"),
    ({"extra": 1}, r"task.extra: unknown key \(known keys: blur1, blur2, "),
])
def test_bad_task_dicts_fail_with_the_field_named(change, message):
    with pytest.raises(RestorationError, match=message):
        DegradationTask.from_dict({**FIXED, **change})
    with pytest.raises(RestorationError, match=r"task\.jpeg1: missing"):
        DegradationTask.from_dict({k: v for k, v in FIXED.items() if k != "jpeg1"})


def test_parts_validate():
    with pytest.raises(RestorationError):
        Resize("up", 1.2, "nearest")
    with pytest.raises(RestorationError):
        Noise("speckle", 1.0, False)
    t = DegradationTask.from_dict(FIXED)
    with pytest.raises(RestorationError, match="final_sinc must be a sinc kernel"):
        dataclasses.replace(t, final_sinc=Kernel("iso", 7, sigma_x=1.0, sigma_y=1.0))


@pytest.mark.parametrize("field, value, message", [
    (("blur1", "sigma_x"), float("nan"), r"blur1.sigma_x: expected a finite number"),
    (("blur1", "size"), 101, r"blur1: kernel size 101 is over the maximum of 63"),
    (("resize1", "scale"), 1e6, r"resize scale must be a number in \[0.01, 4.0\]"),
    (("resize2", "scale"), 0.001, r"resize scale must be a number in \[0.01, 4.0\]"),
    (("noise1", "level"), 1e9, r"noise level must be a number in \[0, 255\]"),
    (("noise2", "level"), float("inf"), r"noise2.level: must be a finite number, got inf"),
    (("jpeg1",), float("nan"), r"jpeg1: must be a finite number, got nan"),
])
def test_values_are_checked_not_only_the_id(field, value, message):
    """A hand-edited bank without ids must not let NaN or a 1e6x resize reach the pipeline."""
    import copy

    d = copy.deepcopy(FIXED)
    node = d
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    with pytest.raises(RestorationError, match=message):
        DegradationTask.from_dict(d)


def test_tasks_built_in_python_are_checked_too():
    t = DegradationTask.from_dict(FIXED)
    nan_kernel = dataclasses.replace(t.blur1, sigma_x=float("nan"))  # Kernel alone lets NaN through
    with pytest.raises(RestorationError, match="blur1.sigma_x"):
        dataclasses.replace(t, blur1=nan_kernel)
    with pytest.raises(RestorationError, match="resize scale"):
        Resize("up", float("nan"), "area")
    with pytest.raises(RestorationError, match="noise gray must be true or false"):
        Noise("gaussian", 1.0, "yes")
