"""Subtree patterns: what a causal memory bans, and how a strategy is matched against it.

A pattern is a node of the strategy language written as plain JSON (every field spelled out, defaults
included) in which any numeric leaf may be a range ``{"range": [lo, hi]}`` and any field may be left
out (a wildcard). ``{"op": "rsi", "n": {"range": [2, 4]}}`` bans every RSI with a window of 2 to 4
bars, whatever its input; ``{"op": "call", "fn": "peek"}`` bans a user operator.

A strategy *contains* a pattern when some node of its rules, with parameters bound, matches it, or
some node of its canonical form does (so ``lt(a, b)`` is caught by a pattern written as
``gt(b, a)``). :func:`shape_family` names the structure of a strategy with its numbers blanked: the
family the Swarm records candidates under and family budgets count.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import msgspec

from quant_engine.strategy import Strategy, bind_params, canonicalize
from quant_engine.strategy import nodes as N
from quant_engine.strategy.spec import RULES
from quant_engine.strategy.walk import iter_rules, iter_tree

__all__ = ["node_json", "generalize", "matches", "find_pattern", "shape_family", "WINDOW_FIELDS"]

WINDOW_FIELDS = frozenset({"n", "fast", "slow", "signal"})
"""Integer window fields: their ranges are rounded outwards to whole bars."""


def node_json(value: Any) -> Any:
    """A node (or leaf) as plain JSON with every field written out, defaults included."""
    if isinstance(value, N.Node):
        out: dict[str, Any] = {"op": type(value).__struct_config__.tag}
        for name in value.__struct_fields__:
            out[name] = node_json(getattr(value, name))
        return out
    if isinstance(value, list):
        return [node_json(v) for v in value]
    if isinstance(value, dict):
        return {k: node_json(v) for k, v in value.items()}
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    return msgspec.to_builtins(value)


def generalize(value: Any, spread: float = 0.2) -> Any:
    """``value`` (a node) as a pattern whose numeric leaves are ranges of +-``spread`` around
    them (windows rounded outwards to whole bars, at least one bar either side)."""
    return _generalize(node_json(value), spread, None)


def _generalize(v: Any, spread: float, key: str | None) -> Any:
    if isinstance(v, dict):
        return {k: _generalize(x, spread, k) for k, x in v.items()}
    if isinstance(v, list):
        return [_generalize(x, spread, key) for x in v]
    if isinstance(v, float):
        lo, hi = sorted((v * (1 - spread), v * (1 + spread)))
        if key in WINDOW_FIELDS:
            lo, hi = max(1.0, math.floor(min(lo, v - 1))), math.ceil(max(hi, v + 1))
        elif v == 0.0:
            lo, hi = -spread, spread
        return {"range": [lo, hi]}
    return v


def _is_range(p: Any) -> bool:
    return isinstance(p, dict) and set(p) == {"range"}


def matches(pattern: Any, value: Any) -> bool:
    """Whether a JSON ``value`` (from :func:`node_json`) matches ``pattern``."""
    if _is_range(pattern):
        lo, hi = pattern["range"]
        return isinstance(value, float) and lo <= value <= hi
    if isinstance(pattern, dict):
        if not isinstance(value, dict):
            return False
        return all(k in value and matches(p, value[k]) for k, p in pattern.items())
    if isinstance(pattern, list):
        return isinstance(value, list) and len(value) == len(pattern) and all(map(matches, pattern, value))
    if isinstance(pattern, float) and isinstance(value, float):
        return pattern == value
    return bool(pattern == value) and type(pattern) is type(value)


def _search(strategy: Strategy, pattern: Any, note: str) -> str | None:
    for rule_path, root in iter_rules(strategy):
        for path, value, _ in iter_tree(root, rule_path):
            if isinstance(value, N.Node) and matches(pattern, node_json(value)):
                return path + note
    return None


def find_pattern(strategy: Strategy, pattern: Any) -> str | None:
    """The path of the first node of ``strategy`` that matches ``pattern`` (parameters bound),
    else of its canonical form (the path then ends in `` (canonical form)``), else None."""
    bound = bind_params(strategy)
    return _search(bound, pattern, "") or _search(canonicalize(strategy), pattern, " (canonical form)")


def _blank(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _blank(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_blank(x) for x in v]
    return "#" if isinstance(v, float) else v


def shape_family(strategy: Strategy) -> str:
    """The strategy's shape: its canonical rules with every number blanked, as
    ``shape:<16 hex>`` (jittered parameters share a shape; another operator makes another)."""
    canon = canonicalize(strategy)
    shape = {rule: _blank(node_json(getattr(canon, rule))) for rule in RULES if getattr(canon, rule) is not None}
    for slot in ("stop_loss", "take_profit", "sizing"):
        obj = getattr(canon, slot)
        if obj is not None:
            shape[slot] = type(obj).__struct_config__.tag
    digest = hashlib.sha256(msgspec.json.encode(shape, order="sorted")).hexdigest()
    return f"shape:{digest[:16]}"
