"""``train.distill_opt`` of a training option file: a cached teacher and an L1 term to its outputs.

Read by :mod:`restoration.data.distill_cache` (which samples to cache, where) and :mod:`restoration.losses.distill`
(how many cached samples per batch, the weight).
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, Strict, model_validator

from restoration.schema.base import Num, Section, Str, at_key

_Count = Annotated[int, Strict(), Field(ge=1)]


class Distill(Section):
    """Teacher ``teacher`` (zoo name or weight file, the recipe's scale) run once on ``num_samples`` patches drawn
    with ``seed``; ``per_batch`` of them join every batch with weight ``loss_weight`` on mean |output - teacher|.
    ``targets: teacher`` also makes the teacher's output the sharpened target (``gt_usm``, which the pixel and
    perceptual losses use with ``l1_gt_usm``/``percep_gt_usm``) of those samples, so the dominant perceptual term
    pulls toward the teacher's texture too; the discriminator still sees the real GT. ``context`` LQ pixels of the
    degraded image around each patch are shown to the teacher and cropped off its output, so the target is what it
    makes of the patch inside a photo, not of a tile bordered by zero padding (a multiple of 8: JPEG's blocks).
    ``tasks: dataset`` degrades each cached patch with the task the training dataset assigns it (its bank share, e.g.
    the light tasks, included) instead of a fresh task of the degradation space for every patch (``space``)."""

    type: Literal["L1Loss"] = "L1Loss"
    loss_weight: Annotated[Num, Field(ge=0)] = 1.0
    per_batch: _Count = 2
    teacher: Str
    num_samples: _Count
    seed: Annotated[int, Strict(), Field(ge=0)] = 0
    cache_dir: Str = ".cache/distill"
    targets: Literal["gt", "teacher"] = "gt"
    context: Annotated[int, Strict(), Field(ge=0, multiple_of=8)] = 0
    tasks: Literal["space", "dataset"] = "space"

    @model_validator(mode="after")
    def _enough_samples(self) -> "Distill":
        if self.per_batch > self.num_samples:
            raise at_key("per_batch", f"{self.per_batch} is more than num_samples ({self.num_samples})")
        return self
