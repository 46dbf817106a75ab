"""The schema of ``train.balancing``: one model per balancer type, made from the type's ``DEFAULTS``/``CHOICES``.

A balancer declares its options as defaults (their Python type is the option's type) and the allowed values of
the options that are choices; this module turns that declaration into a pydantic model, so balancing options follow
the same rules as every other section (a string is never a number, unknown keys are errors).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Literal, Mapping, Optional

from pydantic import create_model

from restoration.schema.base import Bool, Int, Num, Section, Str, check

WHERE = "train.balancing"


def _annotation(default: Any, choices: tuple | None) -> Any:
    if choices is not None:
        return Literal[tuple(choices)]  # type: ignore[valid-type]
    if isinstance(default, bool):
        return Bool
    if isinstance(default, int):
        return Int
    if isinstance(default, float):
        return Num
    if isinstance(default, str):
        return Str
    return Any


@lru_cache(maxsize=None)
def _model(type_name: str, defaults: tuple[tuple[str, Any], ...], choices: tuple[tuple[str, tuple], ...]) -> type:
    wanted = dict(choices)
    fields = {k: (_annotation(v, wanted.get(k)), v) for k, v in defaults}
    fields["type"] = (Optional[Str], None)
    return create_model(f"Balancing_{type_name}", __base__=Section, **fields)  # type: ignore[call-overload]


def balancing_model(type_name: str, defaults: Mapping[str, Any], choices: Mapping[str, tuple]) -> type[Section]:
    """The model of one balancer type's options (``defaults`` = every option with its default)."""
    return _model(type_name, tuple(sorted(defaults.items())),
                  tuple(sorted((k, tuple(v)) for k, v in choices.items() if k in defaults)))


def check_balancing(type_name: str, opt: Mapping[str, Any], defaults: Mapping[str, Any],
                    choices: Mapping[str, tuple]) -> dict[str, Any]:
    """``opt`` checked against the options of ``type_name``: every option's value, defaults filled in."""
    values = check(balancing_model(type_name, defaults, choices), dict(opt), WHERE).model_dump()
    values.pop("type", None)
    return values
