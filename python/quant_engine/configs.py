"""The one validator of configurations given as objects or dicts (execution, risk limits,
instrument overrides, backtest runs).

:func:`checked` turns a mapping (or an instance, whose nested values may still be mappings) into
an instance of a ``msgspec.Struct`` class, once, at construction. Every key is checked against the
class's fields at every level, so a typo (``execution.slippage.fixed_bsp``) is an
:class:`~quant_engine.errors.InvalidArgumentError` naming the key, its path, the allowed keys and
the closest spelling, never a silently ignored setting. Type errors name the path too and never
show the decoder's internals.
"""

from __future__ import annotations

import math
import re
import typing
from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar

import msgspec

from quant_engine.errors import InvalidArgumentError
from quant_engine.suggest import allowed, did_you_mean

__all__ = ["checked", "check_keys"]

S = TypeVar("S", bound=msgspec.Struct)

_AT = re.compile(r"^(.*) - at `\$(.*)`$", re.S)


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls, include_extras=True)


def _struct_in(tp: Any) -> tuple[str, type[msgspec.Struct]] | None:
    """("struct", cls) or ("dict", cls) when ``tp`` holds a Struct directly, optionally, or as
    the values of a dict."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return "struct", tp
    if origin is typing.Annotated:
        return _struct_in(typing.get_args(tp)[0])
    if origin in (dict, Mapping) and len(typing.get_args(tp)) == 2:
        inner = _struct_in(typing.get_args(tp)[1])
        return ("dict", inner[1]) if inner is not None and inner[0] == "struct" else None
    if origin is typing.Union or type(tp).__name__ == "UnionType":
        for arg in typing.get_args(tp):
            found = _struct_in(arg)
            if found is not None:
                return found
    return None


def check_keys(data: Mapping[str, Any], cls: type[msgspec.Struct], path: str) -> None:
    """Raises :class:`InvalidArgumentError` for the first key of ``data`` (at any depth) that
    ``cls`` does not have."""
    fields = cls.__struct_fields__
    for key in data:
        if key not in fields:
            raise InvalidArgumentError(
                f"unknown key `{path}.{key}`{did_you_mean(str(key), fields)}; allowed: {allowed(fields)}"
            )
    hints = _hints(cls)
    for key, value in data.items():
        found = _struct_in(hints[key])
        if found is None:
            continue
        shape, inner = found
        if shape == "struct" and isinstance(value, Mapping):
            check_keys(value, inner, f"{path}.{key}")
        elif shape == "dict" and isinstance(value, Mapping):
            for name, item in value.items():
                if isinstance(item, Mapping):
                    check_keys(item, inner, f"{path}.{key}.{name}")


def _check_finite(data: Any, path: str) -> None:
    """Configurations travel as JSON, which has no NaN or infinity: refuse them by path."""
    if isinstance(data, float) and not math.isfinite(data):
        raise InvalidArgumentError(f"`{path}`: expected a finite number, got {data}")
    if isinstance(data, Mapping):
        for key, value in data.items():
            _check_finite(value, f"{path}.{key}")
    elif isinstance(data, (list, tuple)):
        for i, value in enumerate(data):
            _check_finite(value, f"{path}[{i}]")


def _message(exc: msgspec.ValidationError, path: str) -> str:
    text = str(exc)
    m = _AT.match(text)
    if m is None:
        return f"`{path}`: {text}"
    where = f"{path}{m.group(2)}".replace("[...]", ".<key>")
    reason = m.group(1).replace("Expected `", "expected `").replace("Object", "a table")
    return f"`{where}`: {reason}"


def checked(value: Any, cls: type[S], path: str) -> S:
    """``value`` (an instance of ``cls`` or a mapping of its fields, nested values as objects
    or mappings) as a validated ``cls`` instance; ``path`` names it in errors (``execution``).

    Raises:
        InvalidArgumentError: an unknown key (with the allowed ones and the closest spelling), a
            value of the wrong type, a NaN or infinite number, or a value that is not a mapping.
    """
    if isinstance(value, cls):
        data = msgspec.to_builtins(value)
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        raise InvalidArgumentError(
            f"`{path}` must be a {cls.__name__} or a dict of its fields, got {type(value).__name__}"
        )
    check_keys(data, cls, path)
    _check_finite(data, path)
    try:
        return msgspec.convert(data, type=cls)
    except msgspec.ValidationError as exc:
        raise InvalidArgumentError(_message(exc, path)) from None
