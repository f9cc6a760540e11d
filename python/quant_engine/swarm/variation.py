"""Variation operators of the evolutionary search: subtree mutation, operator mutation, crossover
and parameter jitter, on the strategy language's AST.

Every operator returns a new :class:`~quant_engine.strategy.Strategy` (the structs are frozen) or
None when it found nothing to vary; the Swarm validates every child with the strategy validator
(and the Gatekeeper's constraints) and counts a refusal, so an operator may produce an invalid
child, never an unchecked one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import numpy as np

from quant_engine.strategy import Strategy
from quant_engine.strategy import nodes as N
from quant_engine.strategy.spec import RULES
from quant_engine.swarm.grammar import CONSTANT_RANGES, Grammar, scale_of

__all__ = ["Site", "sites", "replace_at", "mutate_subtree", "mutate_operator", "crossover", "jitter", "OPERATORS"]

Site = tuple[tuple[str, int | None], ...]
"""A position in a strategy: ``(("entry_long", None), ("args", 1), ("left", None))``."""

_SWAPS: tuple[tuple[type, ...], ...] = (
    (N.Sma, N.Ema, N.Wma),
    (N.RollingMax, N.RollingMin),
    (N.Gt, N.Lt, N.Ge, N.Le),
    (N.CrossAbove, N.CrossBelow),
    (N.And, N.Or),
)


def sites(strategy: Strategy) -> Iterator[tuple[Site, Any]]:
    """Every node and leaf of the strategy's rules with its site (pre-order)."""
    for rule in RULES:
        root = getattr(strategy, rule)
        if root is not None:
            yield from _walk(root, ((rule, None),))


def _walk(value: Any, site: Site) -> Iterator[tuple[Site, Any]]:
    yield site, value
    if isinstance(value, N.Node):
        for name in value.__struct_fields__:
            child = getattr(value, name)
            if isinstance(child, list):
                for i, item in enumerate(child):
                    yield from _walk(item, site + ((name, i),))
            elif not isinstance(child, dict):
                yield from _walk(child, site + ((name, None),))


def _get(value: Any, site: Site) -> Any:
    for name, idx in site:
        value = getattr(value, name)
        if idx is not None:
            value = value[idx]
    return value


def replace_at(obj: Any, site: Site, new: Any) -> Any:
    """``obj`` (a strategy or node) with the value at ``site`` replaced by ``new``."""
    if not site:
        return new
    (name, idx), rest = site[0], site[1:]
    child = getattr(obj, name)
    if idx is None:
        return msgspec.structs.replace(obj, **{name: replace_at(child, rest, new)})
    items = list(child)
    items[idx] = replace_at(items[idx], rest, new)
    return msgspec.structs.replace(obj, **{name: items})


def _is_cond(v: Any) -> bool:
    return isinstance(v, N.COND_NODES)


def mutate_subtree(strategy: Strategy, grammar: Grammar) -> Strategy | None:
    """Replaces a random condition with a new random one, or a random series with a new series
    of the same scale."""
    cands = [
        (s, v) for s, v in sites(strategy) if _is_cond(v) or scale_of(v) in CONSTANT_RANGES or scale_of(v) == "price"
    ]
    if not cands:
        return None
    site, value = cands[int(grammar.rng.integers(len(cands)))]
    new = grammar.condition(depth=max(0, len(site) - 1)) if _is_cond(value) else grammar.series(str(scale_of(value)))
    return replace_at(strategy, site, new)


def mutate_operator(strategy: Strategy, grammar: Grammar) -> Strategy | None:
    """Swaps a node's operator for a sibling of the same arity (sma <-> ema <-> wma, gt <-> lt,
    and <-> or, cross_above <-> cross_below, rolling_max <-> rolling_min)."""
    cands = [(s, v) for s, v in sites(strategy) if any(type(v) in group for group in _SWAPS)]
    if not cands:
        return None
    site, value = cands[int(grammar.rng.integers(len(cands)))]
    group = next(g for g in _SWAPS if type(value) in g)
    others = [c for c in group if c is not type(value)]
    cls = others[int(grammar.rng.integers(len(others)))]
    fields = {name: getattr(value, name) for name in value.__struct_fields__}
    return replace_at(strategy, site, cls(**fields))


def crossover(a: Strategy, b: Strategy, rng: np.random.Generator) -> Strategy | None:
    """``a`` with one of its subtrees replaced by a subtree of ``b`` of the same kind (a
    condition for a condition, a series for a series of the same scale)."""

    def kind(v: Any) -> str | None:
        if _is_cond(v):
            return "cond"
        s = scale_of(v)
        return s if isinstance(v, N.Node) and s is not None else None

    donors: dict[str, list[Any]] = {}
    for _, v in sites(b):
        k = kind(v)
        if k is not None:
            donors.setdefault(k, []).append(v)
    cands = [(s, v) for s, v in sites(a) if kind(v) in donors]
    if not cands:
        return None
    site, value = cands[int(rng.integers(len(cands)))]
    pool = donors[str(kind(value))]
    return replace_at(a, site, pool[int(rng.integers(len(pool)))])


_WINDOWS = ("n", "fast", "slow", "signal")


def jitter(strategy: Strategy, rng: np.random.Generator, scale: float = 0.2) -> Strategy | None:
    """Moves one number of the rules (a window or a constant) by up to +-``scale`` (windows by at
    least one bar), or the stop or time stop when the rules have none."""
    cands: list[tuple[Site, Any, str]] = []
    for site, v in sites(strategy):
        if isinstance(v, N.Node):
            for name in v.__struct_fields__:
                x = getattr(v, name)
                if name in _WINDOWS and isinstance(x, int) and not isinstance(x, bool):
                    cands.append((site + ((name, None),), x, "window"))
                elif name == "k" and isinstance(x, float):
                    cands.append((site + ((name, None),), x, "scale"))
        elif isinstance(v, float) and not isinstance(v, bool):
            cands.append((site, v, "constant"))
    if isinstance(strategy.time_stop, int):
        cands.append(((("time_stop", None),), strategy.time_stop, "window"))
    if not cands:
        return None
    site, value, what = cands[int(rng.integers(len(cands)))]
    factor = 1.0 + rng.uniform(-scale, scale)
    if what == "window":
        step = max(1, int(round(abs(value * (factor - 1.0)))))
        new: Any = max(1, int(value) + (step if rng.random() < 0.5 else -step))
    elif what == "scale":
        new = float(f"{max(0.1, value * factor):.4g}")
    else:
        new = float(f"{value * factor + (rng.normal(0, 0.01) if value == 0 else 0.0):.4g}")
    return replace_at(strategy, site, new)


OPERATORS = ("mutate_subtree", "mutate_operator", "crossover", "jitter", "random")
"""The ways a child is made, as counted by the Swarm."""
