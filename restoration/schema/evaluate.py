"""The schema of an evaluation option file (``options/test/*.yml``, ``restoration evaluate -opt``)."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from restoration.schema.base import Bool, NonNeg, Section, Str, either

LPIPS_NETS = ("alex", "vgg")


class EvaluateFile(Section):
    """Every key may be given on the command line instead; the command line wins."""

    name: Str | None = None
    model: Annotated[Str | list[Str] | None, either("a model name or a list of names")] = Field(
        default=None, description="zoo name(s) or weight file(s) (.safetensors / .pth)")
    models_dir: Str | None = None
    testset: Str | None = Field(default=None, description="test-set folder (HR/, LQ/<group>/, manifest.json)")
    groups: list[Str] | None = Field(default=None, description="only these groups (default: all)")
    lpips: list[Literal[LPIPS_NETS]] | None = ["alex"]  # type: ignore[valid-type]
    crop_border: NonNeg | None = Field(default=None, description="default: the scale")
    device: Str | None = "auto"
    tile: NonNeg | None = 0
    tile_pad: NonNeg | None = 16
    max_images: NonNeg | None = 0
    output: Str | None = None
    save_images: Bool | None = False
    baseline: Bool | None = True
