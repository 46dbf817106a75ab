"""Scalar types, the section base class and the one-line error format shared by every option schema.

The rule for numbers, everywhere: a number is a YAML number. A string is never read as a number, because PyYAML
(YAML 1.1) reads ``2e-4`` as the string "2e-4" and silently coercing it in some sections but not others is how
option files end up half-checked; the error says how to write it (``!!float 2e-4`` as BasicSR files do, or
``0.0002``). An integer is accepted where a float is expected, never the reverse, and booleans are not numbers.
Lists are accepted where tuples are expected (YAML has no tuples).
"""
from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Callable, Mapping, TypeVar, cast

from pydantic import AllowInfNan, BaseModel, ConfigDict, Field, Strict, ValidationError, WrapValidator, model_validator
from pydantic_core import PydanticCustomError

from restoration.errors import OptionError

Num = Annotated[float, Strict(), AllowInfNan(False)]
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Pos = Annotated[Int, Field(ge=1)]
NonNeg = Annotated[Int, Field(ge=0)]
PosNum = Annotated[Num, Field(gt=0)]
NUMBER_HINT = "PyYAML reads 2e-4 as a string: write !!float 2e-4 or 0.0002"

T = TypeVar("T")


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return f"a list {list(value)!r}"[:120]
    return f"{type(value).__name__} {value!r}" if value is not None else "nothing (null)"


def _known(model: Any) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return sorted(model.model_fields)
    return sorted(f.name for f in dataclasses.fields(model))


class Section(BaseModel):
    """A mapping with a fixed set of keys: an unknown key is an error that lists the known ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _only_known_keys(cls, data: Any) -> Any:
        return only_known_keys(cls, data)


def only_known_keys(model: Any, data: Any) -> Any:
    """A ``mode="before"`` check for models and dataclasses: a mapping whose keys are all fields of ``model``."""
    if isinstance(data, Mapping):
        known = _known(model)
        extra = cls_extra_allowed(model)
        unknown = [k for k in data if k not in known]
        if unknown and not extra:
            raise PydanticCustomError("unknown_option", "{key}: unknown key (known keys: {known})",
                                      {"key": str(unknown[0]), "known": ", ".join(known)})
    return data


def cls_extra_allowed(model: Any) -> bool:
    config = getattr(model, "model_config", None) or getattr(model, "__pydantic_config__", {}) or {}
    return config.get("extra") == "allow"


def at_key(key: str, text: str) -> PydanticCustomError:
    """Raise from a ``mode="after"`` validator: the error is reported at ``key`` (a rule across fields)."""
    return PydanticCustomError("at_key", "{key}: {text}", {"key": key, "text": text})


def either(wanted: str) -> WrapValidator:
    """For a union field: one error ``expected WANTED, got VALUE`` instead of one error per member of the union."""

    def check(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as exc:
            errors = exc.errors()
            deep = [e for e in errors if e["type"] in ("unknown_option", "at_key", "value_error") or len(e["loc"]) > 1]
            bounds = [e for e in errors if e["type"] in _BOUNDS or e["type"] == "finite_number"]
            if deep and not isinstance(value, (str, int, float)):
                inner = deep[0]  # a mistake inside the member that fits: its message, without the member's tag
            elif bounds:
                inner = bounds[0]  # the right type, out of range
            else:
                raise PydanticCustomError("either", "expected {wanted}, got {got}",
                                          {"wanted": wanted, "got": _describe(value)}) from None
            sub, text = _loc_text({**inner, "loc": tuple(inner["loc"])[1:]})
            raise PydanticCustomError("nested", "{text}", {"sub": sub, "text": text}) from None

    return WrapValidator(check)


_WANTED = {"float_type": "a number", "int_type": "an integer", "bool_type": "true or false",
           "string_type": "a string", "list_type": "a list", "tuple_type": "a list", "dict_type": "a mapping",
           "model_type": "a mapping", "model_attributes_type": "a mapping", "dataclass_type": "a mapping",
           "dataclass_exact_type": "a mapping", "none_required": "null"}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}


def _where(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def error_line(error: Mapping, where: str = "", known: Any = None) -> str:
    """One pydantic error as ``dotted.key: what is wrong`` (``known``: the model, for unknown keyword arguments)."""
    loc, text = _loc_text(error, known)
    key = _where(loc)
    full = f"{where}.{key}" if where and key and not key.startswith("[") else f"{where}{key}"
    return f"{full}: {text}" if full else text


def _loc_text(error: Mapping, known: Any = None) -> tuple[tuple, str]:
    """(key path, what is wrong) of one pydantic error."""
    kind, value, ctx = error["type"], error.get("input"), error.get("ctx") or {}
    loc = tuple(error["loc"])
    if kind == "nested":  # an error inside a union member, its path relative to the union's key
        loc, text = loc + tuple(ctx["sub"]), ctx["text"]
    elif kind in ("unexpected_keyword_argument", "extra_forbidden") and known is not None and len(loc) == 1:
        text = f"unknown key (known keys: {', '.join(_known(known))})"
    elif kind in ("unexpected_keyword_argument", "extra_forbidden"):
        text = "unknown key"
    elif kind == "unknown_option":
        loc, text = loc + (ctx["key"],), f"unknown key (known keys: {ctx['known']})"
    elif kind == "at_key":  # a rule across fields, reported at the key it is about
        loc, text = loc + (ctx["key"],), ctx["text"]
    elif kind in _WANTED:
        text = f"expected {_WANTED[kind]}, got {_describe(value)}"
        if isinstance(value, str) and kind in ("float_type", "int_type"):
            text += f" ({NUMBER_HINT})"
    elif kind == "finite_number":
        text = f"must be a finite number, got {value}"
    elif kind in _BOUNDS:
        bound = next(iter(ctx.values()))
        text = f"must be {_BOUNDS[kind]} {bound}, got {value!r}"
    elif kind == "literal_error":
        text = f"must be one of {ctx.get('expected')}, got {_describe(value)}"
    elif kind == "missing" and loc and isinstance(loc[-1], int):  # a [low, high] pair given one value
        loc, text = loc[:-1], "too few values"
    elif kind == "missing":
        text = "missing"
    elif kind in ("too_short", "too_long"):
        text = f"expected {ctx.get('min_length', ctx.get('max_length'))} values, got {ctx.get('actual_length')}"
        if kind == "too_short" and ctx.get("min_length") == 1:
            text = "must not be empty"
    elif kind == "value_error":
        text = str(ctx.get("error", error["msg"]))
    elif kind == "either":
        text = f"expected {ctx['wanted']}, got {ctx['got']}"
    else:
        text = error["msg"]
    return loc, text


def option_error(exc: ValidationError, where: str = "", known: Any = None) -> OptionError:
    """The first problem of a ValidationError as one OptionError (one mistake at a time, like a compiler)."""
    return OptionError(error_line(exc.errors(include_url=False)[0], where, known))


def check(model: type[T], data: Any, where: str = "") -> T:
    """Validate ``data`` against ``model`` (a Section or an options dataclass); OptionError on the first problem."""
    from pydantic import TypeAdapter

    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data)
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        raise option_error(exc, where, model) from None


def raising_option_errors(cls: type[T], where: str = "") -> type[T]:
    """Make a pydantic dataclass raise OptionError (prefix ``where``) from ``__init__`` and attribute assignment,
    so direct construction in Python and option files report the same one-line error."""
    init, setattr_ = cls.__init__, cls.__setattr__

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            init(self, *args, **kwargs)
        except ValidationError as exc:
            raise option_error(exc, where, cls) from None

    def __setattr__(self, name: str, value: Any) -> None:
        try:
            setattr_(self, name, value)
        except ValidationError as exc:
            raise option_error(exc, where, cls) from None

    cls.__init__ = __init__  # type: ignore[method-assign]
    cls.__setattr__ = __setattr__  # type: ignore[method-assign]
    return cls


def options_dataclass(where: str) -> Callable[[type[T]], type[T]]:
    """A dataclass whose fields are an option block's schema: checked on construction and on every assignment
    (``cfg.execution = "gpu"`` is refused like the same key in a file), one OptionError prefixed ``where``."""
    from pydantic.dataclasses import dataclass

    def wrap(cls: type[T]) -> type[T]:
        made = cast("type[T]", dataclass(cls, config=ConfigDict(extra="forbid", validate_assignment=True)))
        return raising_option_errors(made, where)

    return wrap
