"""The canonical form of a strategy and its stable hash (the strategy's identity).

Two documents that always produce the same signals should have the same identity. The canonical
form therefore:

* binds template parameters to their values (``params`` becomes empty);
* folds constant sub-expressions (``{"op": "mul", "args": [2, 3]}`` becomes ``6``), removes
  identities (``x + 0``, ``x * 1``, ``true`` in ``and``, ``false`` in ``or``) and double negations;
* flattens nested ``add``/``mul``/``min``/``max``/``and``/``or`` and sorts their operands (by
  their canonical JSON), dropping duplicates where that is exact (``min``, ``max``, ``and``, ``or``);
* writes ``lt``/``le``/``cross_below`` as ``gt``/``ge``/``cross_above`` with swapped operands;
* sorts the instruments and drops free text (``name``, ``description``).

:func:`strategy_hash` is the SHA-256 of the canonical form's JSON (keys sorted, defaults omitted),
so it is stable across processes, machines and field order in the input document.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from typing import Any

import msgspec

from quant_engine.errors import StrategyValidationError
from quant_engine.strategy import nodes as N
from quant_engine.strategy.spec import RULES, Strategy

__all__ = ["canonicalize", "canonical_json", "strategy_hash", "bind_params", "node_key"]

_ENCODER = msgspec.json.Encoder(order="sorted")

_FOLDABLE = (N.Add, N.Sub, N.Mul, N.Div, N.Neg, N.Abs, N.Min, N.Max, N.Log)
_NARY = (N.Add, N.Mul, N.Min, N.Max)
_IDEMPOTENT = (N.Min, N.Max, N.And, N.Or)


def node_key(value: Any) -> bytes:
    """The canonical JSON bytes of a node or leaf (used to order commutative operands)."""
    return _ENCODER.encode(value)


def _is_const(v: Any) -> bool:
    return isinstance(v, float) and not isinstance(v, bool)


def _fold_value(node: Any, path: str) -> float:
    """Evaluates a constant-only arithmetic node (its operands are already folded floats)."""
    vals: list[float] = [float(v) for _, v in _operands(node)]
    kind = type(node)
    out: float
    if kind is N.Add:
        out = math.fsum(vals)
    elif kind is N.Mul:
        out = math.prod(vals)
    elif kind is N.Min:
        out = min(vals)
    elif kind is N.Max:
        out = max(vals)
    elif kind is N.Sub:
        out = vals[0] - vals[1]
    elif kind is N.Div:
        out = vals[0] / vals[1] if vals[1] != 0.0 else math.nan
    elif kind is N.Neg:
        out = -vals[0]
    elif kind is N.Abs:
        out = abs(vals[0])
    elif kind is N.Log:
        out = math.log(vals[0]) if vals[0] > 0.0 else math.nan
    else:  # pragma: no cover - guarded by _FOLDABLE
        raise TypeError(kind.__name__)
    if not math.isfinite(out):
        raise StrategyValidationError(
            "constant expression is undefined (division by zero, log of <= 0 or overflow)", path
        )
    return out + 0.0  # normalizes -0.0 to 0.0


def _compare_consts(node: Any) -> bool:
    a, b = node.left, node.right
    return bool(a > b) if isinstance(node, N.Gt) else bool(a >= b)


def _canon(value: Any, path: str, params: Mapping[str, float] | None) -> Any:
    if isinstance(value, N.Param):
        if params is None:
            return value
        return float(params[value.name])
    if not isinstance(value, N.Node):
        return value
    # canonicalize operands first
    updates: dict[str, Any] = {}
    for name in value.__struct_fields__:
        field = getattr(value, name)
        if isinstance(field, list):
            updates[name] = [_canon(x, f"{path}.{name}[{i}]", params) for i, x in enumerate(field)]
        elif isinstance(field, dict):
            updates[name] = {k: _canon(x, f"{path}.{name}.{k}", params) for k, x in field.items()}
        elif isinstance(field, N.Node):
            updates[name] = _canon(field, f"{path}.{name}", params)
    node = msgspec.structs.replace(value, **updates) if updates else value
    # windows bound from float params become ints
    node = _int_windows(node)

    if isinstance(node, N.Lt):
        node = N.Gt(left=node.right, right=node.left)
    elif isinstance(node, N.Le):
        node = N.Ge(left=node.right, right=node.left)
    elif isinstance(node, N.CrossBelow):
        node = N.CrossAbove(left=node.right, right=node.left)

    if isinstance(node, (N.Gt, N.Ge)) and _is_const(node.left) and _is_const(node.right):
        return _compare_consts(node)
    if isinstance(node, N.CrossAbove) and _is_const(node.left) and _is_const(node.right):
        return False  # two constants never cross
    if isinstance(node, (N.Neg, N.Not)) and isinstance(node.x, type(node)):
        return node.x.x
    if isinstance(node, N.Not) and isinstance(node.x, bool):
        return not node.x
    if isinstance(node, _NARY + (N.And, N.Or)):
        return _canon_nary(node, path)
    if isinstance(node, _FOLDABLE) and all(_is_const(v) for _, v in _operands(node)):
        return _fold_value(node, path)
    return node


def _operands(node: Any) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for name in node.__struct_fields__:
        field = getattr(node, name)
        if isinstance(field, list):
            out.extend((name, x) for x in field)
        else:
            out.append((name, field))
    return out


_INT_FIELDS = {"n", "fast", "slow", "signal"}


def _int_windows(node: Any) -> Any:
    updates = {}
    for name in _INT_FIELDS & set(node.__struct_fields__):
        v = getattr(node, name)
        if isinstance(v, float):
            updates[name] = int(v)
    return msgspec.structs.replace(node, **updates) if updates else node


def _canon_nary(node: Any, path: str) -> Any:
    kind = type(node)
    flat: list[Any] = []
    for a in node.args:
        if type(a) is kind:
            flat.extend(a.args)
        else:
            flat.append(a)
    if kind in (N.And, N.Or):
        absorbing = kind is N.Or  # True absorbs in or, False absorbs in and
        if any(isinstance(a, bool) and a is absorbing for a in flat):
            return absorbing
        flat = [a for a in flat if not isinstance(a, bool)]
        if not flat:
            return not absorbing
    else:
        consts = [a for a in flat if _is_const(a)]
        rest = [a for a in flat if not _is_const(a)]
        if consts:
            folded = _fold_value(kind(args=consts), path)
            neutral = (kind is N.Add and folded == 0.0) or (kind is N.Mul and folded == 1.0)
            consts = [] if neutral else [folded]
        if not rest:
            return consts[0] if consts else _identity(kind)
        flat = rest + consts
    if kind in _IDEMPOTENT:
        unique: dict[bytes, Any] = {}
        for a in flat:
            unique.setdefault(node_key(a), a)
        flat = list(unique.values())
    flat.sort(key=node_key)
    if len(flat) == 1:
        return flat[0]
    return kind(args=flat)


def _identity(kind: type) -> float:
    return 0.0 if kind is N.Add else 1.0


def bind_params(strategy: Strategy, values: Mapping[str, float] | None = None) -> Strategy:
    """The strategy with every parameter replaced by its value (``values`` overrides the
    declared defaults); the result has no ``params``."""
    merged = dict(strategy.params)
    if values:
        merged.update(values)
    return _canonical_strategy(strategy, merged, simplify=False)


def _canonical_strategy(strategy: Strategy, params: Mapping[str, float] | None, *, simplify: bool) -> Strategy:
    updates: dict[str, Any] = {}
    for rule in RULES:
        root = getattr(strategy, rule)
        if root is not None:
            updates[rule] = _canon(root, f"$.{rule}", params) if simplify else _bind(root, params)
    for slot in ("stop_loss", "take_profit", "sizing"):
        obj = getattr(strategy, slot)
        if obj is not None:
            updates[slot] = _bind_scalars(obj, params)
    ts = strategy.time_stop
    if isinstance(ts, N.Param) and params is not None:
        updates["time_stop"] = int(params[ts.name])
    if params is not None:
        updates["params"] = {}
    if simplify:
        updates["instruments"] = sorted(strategy.instruments)
        updates["name"] = ""
        updates["description"] = ""
        for rule in RULES:  # a rule that can never be true is the same as no rule
            if updates.get(rule) is False:
                updates[rule] = None
    return msgspec.structs.replace(strategy, **updates)


def _bind(value: Any, params: Mapping[str, float] | None) -> Any:
    if params is None:
        return value
    if isinstance(value, N.Param):
        return float(params[value.name])
    if not isinstance(value, N.Node):
        return value
    updates: dict[str, Any] = {}
    for name in value.__struct_fields__:
        field = getattr(value, name)
        if isinstance(field, list):
            updates[name] = [_bind(x, params) for x in field]
        elif isinstance(field, dict):
            updates[name] = {k: _bind(x, params) for k, x in field.items()}
        elif isinstance(field, (N.Node)):
            updates[name] = _bind(field, params)
    node = msgspec.structs.replace(value, **updates) if updates else value
    return _int_windows(node)


def _bind_scalars(obj: Any, params: Mapping[str, float] | None) -> Any:
    if params is None:
        return obj
    updates = {}
    for name in obj.__struct_fields__:
        v = getattr(obj, name)
        if isinstance(v, N.Param):
            val = float(params[v.name])
            updates[name] = int(val) if name == "n" else val
    return msgspec.structs.replace(obj, **updates) if updates else obj


def canonicalize(strategy: Strategy, *, bind: bool = True) -> Strategy:
    """The canonical form (see the module doc). With ``bind=False`` parameters stay
    placeholders: the canonical form of a *template*."""
    return _canonical_strategy(strategy, dict(strategy.params) if bind else None, simplify=True)


def canonical_json(strategy: Strategy, *, bind: bool = True) -> bytes:
    """The canonical form as compact JSON with sorted keys (what :func:`strategy_hash` hashes)."""
    return _ENCODER.encode(canonicalize(strategy, bind=bind))


def strategy_hash(strategy: Strategy, *, bind: bool = True) -> str:
    """The strategy's identity: the hex SHA-256 of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(strategy, bind=bind)).hexdigest()
