"""Which schema an option file follows, checking a file against it, and the JSON schema of each kind of file."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from restoration.errors import OptionError

KINDS = ("train", "tasks", "space", "evaluate")
DESCRIPTIONS = {
    "train": "training option file (options/train/*.yml, restoration train -opt)",
    "tasks": "task-pipeline option file (options/tasks/probe_*.yml, group_*.yml, restoration tasks probe/group -opt)",
    "space": "degradation space (options/tasks/space_*.yml; the degradation: block of a training file)",
    "evaluate": "evaluation option file (options/test/*.yml, restoration evaluate -opt)",
}


def model_of(kind: str, typed_probe: bool = False) -> Any:
    """The pydantic model (or options dataclass) of one kind of option file."""
    if kind == "train":
        from restoration.schema.train import TrainOptions

        return TrainOptions
    if kind == "tasks":
        from restoration.schema.tasks import TaskFile, task_file_model

        return task_file_model() if typed_probe else TaskFile
    if kind == "space":
        from restoration.degradations.space import DegradationSpace

        return DegradationSpace
    if kind == "evaluate":
        from restoration.schema.evaluate import EvaluateFile

        return EvaluateFile
    raise OptionError(f"unknown kind of option file {kind!r} (choose from {', '.join(KINDS)})")


def kind_of(data: dict) -> str:
    """Guess the kind from the keys every file of that kind has."""
    if "model_type" in data or "network_g" in data:
        return "train"
    if "bank" in data:
        return "tasks"
    if "testset" in data or "lpips" in data:
        return "evaluate"
    return "space"


def check_option_file(path: str | os.PathLike, kind: str | None = None) -> str:
    """Validate a file against its schema (with its ``_base_`` files; no file it names is opened, no model built).
    Returns the kind; raises one OptionError naming the file and the key."""
    from restoration.schema.base import check
    from restoration.yaml_files import read_options

    path = Path(path)
    data = read_options(path)
    kind = kind or kind_of(data)
    if kind == "space" and isinstance(data.get("degradation"), dict):
        data = data["degradation"]
    try:
        check(model_of(kind), data)
        if kind == "tasks":  # the probe blocks: ProbeConfig, with the fast block on top of the probe block
            from restoration.competition.probe import ProbeConfig

            ProbeConfig.from_opt(data.get("probe"), "probe")
            ProbeConfig.from_opt({**(data.get("probe") or {}), **(data.get("fast") or {})}, "fast")
        if kind == "train" and data["train"].get("balancing") is not None:
            from restoration.balancers.registry import build_balancer

            build_balancer(data["train"]["balancing"])
    except OptionError as exc:
        raise OptionError(f"{path}: {exc}") from None
    return kind


def json_schema(kind: str) -> dict[str, Any]:
    """The JSON schema (draft 2020-12) of one kind of option file, for editors and other tools."""
    from pydantic import BaseModel, TypeAdapter

    model = model_of(kind, typed_probe=True)
    schema = model.model_json_schema() if isinstance(model, type) and issubclass(model, BaseModel) \
        else TypeAdapter(model).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["description"] = f"restoration: {DESCRIPTIONS[kind]}. A file may start with _base_: FILE (or a list)."
    schema.setdefault("properties", {})["_base_"] = {
        "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
        "description": "option file(s) this one inherits from, relative to it; deep merge, this file wins"}
    return schema
