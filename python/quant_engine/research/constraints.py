"""Constraints on a sweep's parameter combinations, written as text or as tuples; one parser.

``"fast < slow"`` or ``"slow >= 20"``: a constraint compares a parameter with another parameter or
a number, ``name OP name``, ``name OP number`` or ``number OP name``, with ``OP`` one of
``< <= > >= == !=`` (no arithmetic, one comparison per constraint). The tuple form ``("fast", "<", "slow")`` is checked the same way.
Errors are :class:`~quant_engine.errors.InvalidArgumentError` naming the bad token, its position
and what is allowed there (the strategy's parameters, the operators).
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Iterable, Sequence
from typing import Any

from quant_engine.errors import InvalidArgumentError
from quant_engine.strategy.compiled import Constraint

__all__ = ["OPERATORS", "parse_where"]

#: The comparison operators a constraint may use.
OPERATORS: tuple[str, ...] = ("<", "<=", ">", ">=", "==", "!=")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op><=|>=|==|!=|<|>)|(?P<bad>\S))"
)


def _is_one_tuple(where: Any) -> bool:
    return isinstance(where, tuple) and len(where) == 3 and isinstance(where[0], str) and isinstance(where[1], str)


def parse_where(where: str | Constraint | Iterable[str | Constraint] | None, params: Sequence[str]) -> list[Constraint]:
    """``where`` as a list of ``(param, op, param-or-number)`` tuples, checked against ``params``.

    ``where`` is one constraint (a string such as ``"fast < slow"`` or a tuple), an iterable of
    them, or None/empty for no constraint.
    """
    if where is None:
        return []
    items: list[Any] = [where] if isinstance(where, str) or _is_one_tuple(where) else list(where)
    return [_parse_text(item, params) if isinstance(item, str) else _check_tuple(item, params) for item in items]


def _allowed(params: Sequence[str]) -> str:
    return f"parameters: {', '.join(params) or '(none)'}; operators: {' '.join(OPERATORS)}"


def _unknown(name: str, params: Sequence[str], where: str) -> InvalidArgumentError:
    close = difflib.get_close_matches(name, list(params), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return InvalidArgumentError(f"where '{where}': unknown parameter '{name}'{hint}; {_allowed(params)}")


def _tokens(text: str, params: Sequence[str]) -> list[tuple[str, str, int]]:
    out: list[tuple[str, str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:  # only trailing whitespace is left
            break
        kind = m.lastgroup or "bad"
        start = m.start(kind)
        if kind == "bad":
            extra = " (use == for equality)" if m.group(kind) == "=" else ""
            raise InvalidArgumentError(
                f"where '{text}': unexpected '{m.group(kind)}' at position {start + 1}{extra}; {_allowed(params)}"
            )
        out.append((kind, m.group(kind), start))
        pos = m.end()
    return out


def _parse_text(text: str, params: Sequence[str]) -> Constraint:
    tokens = _tokens(text, params)
    if not tokens:
        raise InvalidArgumentError(f"where '{text}': empty constraint; write e.g. 'fast < slow' ({_allowed(params)})")
    shape = [kind for kind, _, _ in tokens]
    for i, expected in enumerate(("operand", "op", "operand")):
        if i >= len(tokens):
            raise InvalidArgumentError(
                f"where '{text}': incomplete, expected {_expected(expected)} at the end; {_allowed(params)}"
            )
        kind, value, start = tokens[i]
        if (expected == "op") != (kind == "op"):
            raise InvalidArgumentError(
                f"where '{text}': unexpected '{value}' at position {start + 1}, expected {_expected(expected)}; {_allowed(params)}"
            )
    if len(tokens) > 3:
        _, value, start = tokens[3]
        raise InvalidArgumentError(
            f"where '{text}': unexpected '{value}' at position {start + 1}: one comparison per constraint "
            "(give several constraints as a list)"
        )
    (lk, left, _), (_, op, _), (rk, right, _) = tokens
    for kind, value in ((lk, left), (rk, right)):
        if kind == "name" and value not in params:
            raise _unknown(value, params, text)
    if shape[0] == "number" and shape[2] == "number":
        raise InvalidArgumentError(f"where '{text}': compares two numbers; name a parameter ({_allowed(params)})")
    if lk == "number":
        return (right, _FLIP[op], float(left))
    return (left, op, right if rk == "name" else float(right))


def _expected(what: str) -> str:
    return "an operator" if what == "op" else "a parameter or a number"


def _check_tuple(item: Any, params: Sequence[str]) -> Constraint:
    shown = repr(item)
    if not (isinstance(item, tuple) and len(item) == 3):
        raise InvalidArgumentError(
            f"where {shown}: expected 'name OP value' text or a (name, op, value) tuple; {_allowed(params)}"
        )
    left, op, right = item
    if not isinstance(left, str) or left not in params:
        raise _unknown(str(left), params, shown)
    if op not in OPERATORS:
        raise InvalidArgumentError(f"where {shown}: unknown operator {op!r}; {_allowed(params)}")
    if isinstance(right, str):
        if right not in params:
            raise _unknown(right, params, shown)
        return (left, op, right)
    if isinstance(right, bool) or not isinstance(right, numbers.Real):
        raise InvalidArgumentError(
            f"where {shown}: compare with a parameter name or a number, not {type(right).__name__}"
        )
    return (left, op, float(right))
