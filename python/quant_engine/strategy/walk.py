"""Traversal of strategy expression trees with JSON paths (``$.entry_long.args[1].n``).

Every validation error, canonicalization step and compiler diagnostic names the node it is about
by the path produced here, in the same form msgspec uses for decode errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from quant_engine.strategy.nodes import Node
from quant_engine.strategy.spec import RULES, Strategy

__all__ = ["children", "iter_tree", "iter_rules", "depth_of"]


def children(node: Any) -> Iterator[tuple[str, Any]]:
    """The direct operands of ``node`` as ``(path suffix, value)``: sub-nodes, constants, field
    names and parameter placeholders (windows and other scalar attributes included)."""
    if not isinstance(node, Node):
        return
    for name in node.__struct_fields__:
        value = getattr(node, name)
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield f".{name}[{i}]", item
        elif isinstance(value, dict):
            for key in sorted(value):
                yield f".{name}.{key}", value[key]
        else:
            yield f".{name}", value


def iter_tree(root: Any, path: str) -> Iterator[tuple[str, Any, int]]:
    """Every value in the tree below and including ``root``, pre-order, as
    ``(path, value, depth)`` (the root has depth 1)."""
    stack: list[tuple[str, Any, int]] = [(path, root, 1)]
    while stack:
        p, value, depth = stack.pop()
        yield p, value, depth
        if isinstance(value, Node):
            kids = list(children(value))
            for suffix, child in reversed(kids):
                stack.append((p + suffix, child, depth + 1))


def iter_rules(strategy: Strategy) -> Iterator[tuple[str, Any]]:
    """The present rule trees of a strategy as ``(path, root)``."""
    for rule in RULES:
        root = getattr(strategy, rule)
        if root is not None:
            yield f"$.{rule}", root


def depth_of(root: Any) -> int:
    """The depth of the deepest node below ``root`` (a leaf has depth 1)."""
    return max((d for _, v, d in iter_tree(root, "$") if isinstance(v, Node) or d == 1), default=1)
