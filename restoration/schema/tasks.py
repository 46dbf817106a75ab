"""The schema of the task pipeline's option files (``options/tasks/probe_*.yml``, ``group_*.yml``).

The ``probe:`` and ``fast:`` blocks are :class:`restoration.competition.probe.ProbeConfig` (a dataclass whose field
types are its schema; it imports torch, so it is checked where the probe is configured and joined in only for the
JSON-schema export, :func:`task_file_model`). A ``fast:`` block holds any subset of the probe's keys.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from restoration.degradations.space import DegradationSpace
from restoration.schema.base import Int, NonNeg, Num, Pos, PosNum, Section, Str

GROUP_MODES = ("iterative", "one_shot")


class Sample(Section):
    """How to create the bank when ``bank.path`` does not exist yet."""

    num_tasks: Pos
    seed: Int = 0
    space: DegradationSpace | None = None


class Bank(Section):
    path: Str
    sample: Sample | None = None

    @model_validator(mode="before")
    @classmethod
    def _path_alone(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


class Gt(Section):
    folder: Str | None = Field(default=None, description="training images (default: the offline photos)")
    val_folder: Str | None = None
    val_count: NonNeg = 2


class Select(Section):
    ratio: Annotated[Num, Field(gt=0, le=1)] = 0.4


class Group(Section):
    mode: Literal[GROUP_MODES] = "iterative"  # type: ignore[valid-type]
    thresholds: Annotated[list[Num], Field(min_length=1)] = [0.8, 0.6, 0.4, 0.2]
    iters: Pos = 10000
    batch_size: Pos = 4
    lr: PosNum = 2e-4
    betas: tuple[Num, Num] = (0.9, 0.99)
    patch_size: Pos = 64
    degrade_size: NonNeg = 0
    val_size: Pos = 128
    val_per_image: Pos = 2
    seed: Int = 0
    min_group_size: Pos = 1

    @field_validator("thresholds")
    @classmethod
    def _decreasing(cls, th: list[float]) -> list[float]:
        if sorted(th, reverse=True) != th:
            raise ValueError(f"must be in decreasing order, got {th}")
        return th


class TaskFile(Section):
    """A probe (Step A) or grouping (Step B) option file."""

    name: Annotated[Str, Field(min_length=1)]
    model: Str | None = Field(default=None,
                              description="the trained model: a file (safetensors, BasicSR .pth) or a zoo name")
    device: Str = "auto"
    bank: Bank
    output: Str | None = Field(default=None, description="default: experiments/tasks/<name>")
    gt: Gt = Gt()
    probe: dict[Str, Any] | None = None
    fast: dict[Str, Any] | None = None
    select: Select = Select()
    group: Group = Group()
    probe_results: Str | None = None
    output_bank: Str | None = None
    seed: Int | None = None


def task_file_model() -> type[TaskFile]:
    """TaskFile with the probe blocks typed (imports torch through ProbeConfig): for the JSON-schema export."""
    from pydantic import create_model

    from restoration.competition.probe import ProbeConfig

    return create_model("TaskFileSchema", __base__=TaskFile, probe=(ProbeConfig | None, None),
                        fast=(dict[Str, Any] | None, Field(default=None, description="any keys of probe")))
