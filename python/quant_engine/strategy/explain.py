"""Decoder errors of strategy documents, explained: what was found, what would be valid.

msgspec reports *where* a document is wrong (``Invalid value 'cross_abov' - at
`$.entry_long.op```); :func:`explain` adds *what would be valid*: the allowed operators or enum
values with the closest spelling, whether a numeric expression stands where a condition belongs (or
the reverse), and the dict key a ``[...]`` path stands for (``$.params.k``).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from typing import Any

from quant_engine.errors import StrategyValidationError
from quant_engine.strategy import nodes as N
from quant_engine.strategy.spec import AtrStop, EquityFraction, Fixed, Notional, PercentStop, PointsStop, RiskFraction
from quant_engine.suggest import allowed, did_you_mean

__all__ = ["explain", "NUM_OPS", "COND_OPS"]


def _tag(cls: type) -> str:
    return str(cls.__struct_config__.tag)  # type: ignore[attr-defined]


NUM_OPS: tuple[str, ...] = tuple(_tag(c) for c in N.NUM_NODES)
"""The ``op`` of every numeric node."""
COND_OPS: tuple[str, ...] = tuple(_tag(c) for c in N.COND_NODES)
"""The ``op`` of every condition node."""
_NODE_BY_OP: dict[str, type[N.Node]] = {_tag(c): c for c in (*N.NUM_NODES, *N.COND_NODES)}
_STOP_KINDS = tuple(_tag(c) for c in (PercentStop, AtrStop, PointsStop))
_SIZING_KINDS = tuple(_tag(c) for c in (Fixed, Notional, EquityFraction, RiskFraction))
_AT = re.compile(r"^(.*) - at `(\$[^`]*)`$", re.S)
_SEGMENT = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")


def _walk(data: Any, path: str) -> tuple[Any, str]:
    """The value at ``path`` in ``data`` and the path with ``[...]`` replaced by the dict key
    whose value is wrong (the first that is not a number)."""
    node, out = data, "$"
    for m in _SEGMENT.finditer(path[1:]):
        name, index = m.group(1), m.group(2)
        if name is not None:
            node = node.get(name) if isinstance(node, Mapping) else None
            out += f".{name}"
        elif index == "...":
            key = _bad_key(node)
            node = node.get(key) if isinstance(node, Mapping) and key is not None else None
            out += f".{key}" if key is not None else "[...]"
        else:
            i = int(index)
            node = node[i] if isinstance(node, list) and i < len(node) else None
            out += f"[{i}]"
    return node, out


def _bad_key(d: Any) -> str | None:
    if not isinstance(d, Mapping) or not d:
        return None
    for k, v in d.items():
        if isinstance(v, bool) or not isinstance(v, (int, float, Mapping)):
            return str(k)
    return str(next(iter(d)))


def _literals(tp: Any) -> list[str]:
    if typing.get_origin(tp) is typing.Literal:
        return [str(a) for a in typing.get_args(tp)]
    return [v for a in typing.get_args(tp) for v in _literals(a)]


def _op_reason(op: str) -> str:
    if op in NUM_OPS:
        return (
            f"`{op}` is a numeric expression where a condition belongs: a condition is true, false or a node "
            f'with op {allowed(COND_OPS)} (compare it: {{"op": "gt", "left": ..., "right": ...}})'
        )
    if op in COND_OPS:
        return (
            f"`{op}` is a condition where a numeric expression belongs: a number, a bar field "
            f"({allowed(N.FIELDS)}) or a node with op {allowed(NUM_OPS)}"
        )
    return (
        f"unknown operator `{op}`{did_you_mean(op, (*COND_OPS, *NUM_OPS))}; operators: {allowed((*COND_OPS, *NUM_OPS))}"
    )


def _reason(reason: str, path: str, data: Any) -> str:
    m = re.match(r"Invalid value '(.*)'$", reason)
    if m and path.endswith(".op"):
        return _op_reason(m.group(1))
    if m and path.endswith(".kind"):
        kinds = _SIZING_KINDS if path.startswith("$.sizing") else _STOP_KINDS
        return f"unknown kind `{m.group(1)}`{did_you_mean(m.group(1), kinds)}; kinds: {allowed(kinds)}"
    m = re.match(r"Invalid enum value '(.*)'$", reason)
    if m:
        parent, _ = _walk(data, path.rsplit(".", 1)[0])
        field = path.rsplit(".", 1)[1]
        cls = _NODE_BY_OP.get(str(parent.get("op"))) if isinstance(parent, Mapping) else None
        hints = typing.get_type_hints(cls, include_extras=True) if cls is not None else {}
        values = _literals(hints[field]) if field in hints else list(N.FIELDS)
        return f"invalid value `{m.group(1)}`{did_you_mean(m.group(1), values)}; allowed: {allowed(values)}"
    m = re.match(r"Object contains unknown field `(.*)`$", reason)
    if m:
        node, _ = _walk(data, path)
        cls = _NODE_BY_OP.get(str(node.get("op"))) if isinstance(node, Mapping) else None
        if cls is not None:
            fields = cls.__struct_fields__
            return f"unknown field `{m.group(1)}`{did_you_mean(m.group(1), fields)}; fields of `{node['op']}`: {allowed(fields)}"
        return f"unknown field `{m.group(1)}`"
    m = re.match(r"Expected `(.*)`, got `(.*)`$", reason)
    if m and "bool" in m.group(1) and m.group(2) in ("float", "int", "str"):
        what = "a bar field" if m.group(2) == "str" else "a number"
        return f"{what} where a condition belongs: a condition is true, false or a node with op {allowed(COND_OPS)}"
    if m and "bool" not in m.group(1) and m.group(2) == "bool":
        return "a condition (true/false) where a numeric expression belongs"
    return reason


def explain(exc: Exception, data: Any) -> StrategyValidationError:
    """``exc`` (a msgspec validation error on ``data``, the document as parsed JSON) as a
    :class:`StrategyValidationError` that says what would be valid."""
    text = str(exc)
    m = _AT.match(text)
    if m is None:
        return StrategyValidationError(text, "$")
    _, path = _walk(data, m.group(2))
    return StrategyValidationError(_reason(m.group(1), m.group(2), data), path)
