"""Parsing and validation of strategy documents; every error names the offending path.

:func:`parse_strategy` accepts JSON text/bytes, an already-parsed mapping or a
:class:`~quant_engine.strategy.spec.Strategy` and returns a validated ``Strategy``. Type errors
(a wrong type, an unknown operator or field, a window of 0) come from msgspec with their JSON
path; the semantic checks here add limits (depth, node count, windows, constants, warm-up),
parameter binding, user-operator arity and cross-field rules, each raising
:class:`~quant_engine.errors.StrategyValidationError` with ``path`` and ``reason``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from quant_engine.errors import InvalidArgumentError, StrategyValidationError
from quant_engine.strategy import nodes as N
from quant_engine.strategy.explain import explain
from quant_engine.strategy.operators import get_operator, registered_operators
from quant_engine.strategy.spec import (
    AtrStop,
    EquityFraction,
    Fixed,
    Notional,
    PercentStop,
    PointsStop,
    RiskFraction,
    Strategy,
)
from quant_engine.strategy.walk import children, iter_rules, iter_tree
from quant_engine.suggest import allowed, did_you_mean
from quant_engine.times import duration_ns

__all__ = [
    "StrategyCheck",
    "Limits",
    "DEFAULT_LIMITS",
    "ParamUse",
    "parse_strategy",
    "validate_strategy",
    "param_uses",
    "lookback",
    "strategy_lookback",
]


@dataclass(frozen=True)
class Limits:
    """Size limits of a strategy document (defaults suit LLM-written strategies).

    Attributes:
        max_depth: deepest nesting of expression nodes in one rule.
        max_nodes: expression nodes over all rules.
        max_window: longest window in bars.
        max_constant: largest absolute numeric constant.
        max_lookback: longest warm-up in bars (nested windows add up).
        max_document_bytes: largest JSON document.
        max_params: most template parameters.
    """

    max_depth: int = 24
    max_nodes: int = 256
    max_window: int = N.MAX_WINDOW
    max_constant: float = N.MAX_CONSTANT
    max_lookback: int = 50_000
    max_document_bytes: int = 256 * 1024
    max_params: int = 16


DEFAULT_LIMITS = Limits()
"""The limits used when none are given."""

StrategyCheck = Callable[[Strategy], None]
"""An extra check run after the language's own (the constraints hook): it raises
:class:`~quant_engine.errors.StrategyValidationError` (usually its subclass
:class:`~quant_engine.errors.ConstraintViolationError`, naming the constraint) to refuse a
strategy. The research layer's machine constraints plug in here; the language never imports
them."""


@dataclass(frozen=True)
class ParamUse:
    """One place a template parameter is used, with the values allowed there."""

    name: str
    path: str
    lo: float
    hi: float
    lo_open: bool = False
    hi_open: bool = False
    integer: bool = False

    def violation(self, value: float) -> str | None:
        """Why ``value`` is not allowed here, or None."""
        if not math.isfinite(value):
            return f"parameter '{self.name}' = {value} is not finite"
        if self.integer and value != int(value):
            return f"parameter '{self.name}' = {value} must be an integer here"
        low_bad = value <= self.lo if self.lo_open else value < self.lo
        high_bad = value >= self.hi if self.hi_open else value > self.hi
        if low_bad or high_bad:
            lo_b = "(" if self.lo_open else "["
            hi_b = ")" if self.hi_open else "]"
            return f"parameter '{self.name}' = {value:g} is outside {lo_b}{self.lo:g}, {self.hi:g}{hi_b}"
        return None


# (node class, attribute) -> (lo, hi, lo_open, hi_open, integer); hi None = limits.max_window
_WINDOW = (1.0, None, False, False, True)
_SCALARS: dict[tuple[type, str], tuple[float, float | None, bool, bool, bool]] = {
    (N.Sma, "n"): _WINDOW,
    (N.Ema, "n"): _WINDOW,
    (N.Wma, "n"): _WINDOW,
    (N.Rsi, "n"): _WINDOW,
    (N.Macd, "fast"): _WINDOW,
    (N.Macd, "slow"): _WINDOW,
    (N.Macd, "signal"): _WINDOW,
    (N.Atr, "n"): _WINDOW,
    (N.Bollinger, "n"): _WINDOW,
    (N.Bollinger, "k"): (0.0, 1000.0, True, False, False),
    (N.ZScore, "n"): _WINDOW,
    (N.RollingMin, "n"): _WINDOW,
    (N.RollingMax, "n"): _WINDOW,
    (N.Returns, "n"): _WINDOW,
    (N.RealizedVol, "n"): (2.0, None, False, False, True),
    (N.VwapDistance, "n"): (0.0, None, False, False, True),
    (N.VolumeRatio, "n"): _WINDOW,
    (N.Lag, "n"): _WINDOW,
    (AtrStop, "n"): _WINDOW,
    (AtrStop, "mult"): (0.0, 1000.0, True, False, False),
    (PercentStop, "value"): (0.0, 1.0, True, True, False),
    (PointsStop, "value"): (0.0, math.inf, True, True, False),
    (Fixed, "quantity"): (0.0, math.inf, True, True, False),
    (Notional, "amount"): (0.0, math.inf, True, True, False),
    (EquityFraction, "fraction"): (0.0, 10.0, True, False, False),
    (RiskFraction, "fraction"): (0.0, 1.0, True, False, False),
}


def parse_strategy(doc: Any, *, limits: Limits | None = None, checks: Iterable[StrategyCheck] = ()) -> Strategy:
    """Decodes and validates a strategy document.

    Args:
        doc: JSON ``str``/``bytes``, a mapping (parsed JSON) or a :class:`Strategy`.
        limits: size limits (default :data:`DEFAULT_LIMITS`).
        checks: extra checks run after the language's own (see :data:`StrategyCheck`).

    Raises:
        StrategyValidationError: with the offending ``path`` and the ``reason``.
    """
    limits = limits or DEFAULT_LIMITS
    if isinstance(doc, (str, bytes, bytearray, memoryview)):
        raw = doc.encode() if isinstance(doc, str) else bytes(doc)
        if len(raw) > limits.max_document_bytes:
            raise StrategyValidationError(
                f"document of {len(raw)} bytes exceeds the limit of {limits.max_document_bytes}", "$"
            )
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise StrategyValidationError(f"malformed JSON: {exc}", "$") from None
        except RecursionError:
            raise StrategyValidationError("nesting is too deep", "$") from None
    elif isinstance(doc, Strategy):
        # the same decoder as JSON: a Strategy built in Python gets every check a document gets
        data = msgspec.to_builtins(doc)
    elif isinstance(doc, Mapping):
        data = doc
    else:
        raise StrategyValidationError(
            f"expected a JSON document, a mapping or a Strategy, got {type(doc).__name__}", "$"
        )
    try:
        strategy = msgspec.convert(data, type=Strategy)
    except msgspec.ValidationError as exc:
        raise explain(exc, data) from None
    except RecursionError:
        raise StrategyValidationError("nesting is too deep", "$") from None
    validate_strategy(strategy, limits=limits, checks=checks)
    return strategy


def _scalar_spec(owner: Any, attr: str, limits: Limits) -> tuple[float, float, bool, bool, bool] | None:
    spec = _SCALARS.get((type(owner), attr))
    if spec is None:
        return None
    lo, hi, lo_open, hi_open, integer = spec
    return lo, (float(limits.max_window) if hi is None else hi), lo_open, hi_open, integer


def _scalar_sites(strategy: Strategy) -> list[tuple[str, Any, Any, str]]:
    """(path, owner, value, attribute) for every scalar attribute that has a declared range:
    windows and multipliers of nodes, stops, the time stop and the sizing value."""
    sites: list[tuple[str, Any, Any, str]] = []
    for rule_path, root in iter_rules(strategy):
        for path, value, _ in iter_tree(root, rule_path):
            if isinstance(value, N.Node):
                for attr in value.__struct_fields__:
                    if (type(value), attr) in _SCALARS:
                        sites.append((f"{path}.{attr}", value, getattr(value, attr), attr))
    for slot in ("stop_loss", "take_profit"):
        stop = getattr(strategy, slot)
        if stop is not None:
            for attr in stop.__struct_fields__:
                sites.append((f"$.{slot}.{attr}", stop, getattr(stop, attr), attr))
    for attr in strategy.sizing.__struct_fields__:
        sites.append((f"$.sizing.{attr}", strategy.sizing, getattr(strategy.sizing, attr), attr))
    return sites


def param_uses(strategy: Strategy, limits: Limits | None = None) -> list[ParamUse]:
    """Every use of a template parameter with the values allowed there (for binding and for
    checking sweep grids)."""
    limits = limits or DEFAULT_LIMITS
    uses: list[ParamUse] = []
    for path, owner, value, attr in _scalar_sites(strategy):
        if isinstance(value, N.Param):
            spec = _scalar_spec(owner, attr, limits)
            if spec is not None:
                uses.append(ParamUse(value.name, path, *spec))
    if isinstance(strategy.time_stop, N.Param):
        uses.append(ParamUse(strategy.time_stop.name, "$.time_stop", 1.0, float(limits.max_window), integer=True))
    for rule_path, root in iter_rules(strategy):
        for path, value, _ in iter_tree(root, rule_path):
            if isinstance(value, N.Call):
                op = get_operator(value.fn)
                for key, v in value.params.items():
                    if isinstance(v, N.Param) and op is not None:
                        if key in op.int_params:
                            lo, hi = op.int_params[key]
                            uses.append(ParamUse(v.name, f"{path}.params.{key}", lo, hi, integer=True))
                        elif key in op.float_params:
                            flo, fhi = op.float_params[key]
                            uses.append(ParamUse(v.name, f"{path}.params.{key}", flo, fhi))
            elif isinstance(value, N.Node):
                for suffix, child in children(value):
                    attr = suffix[1:].split("[")[0]
                    if isinstance(child, N.Param) and (type(value), attr) not in _SCALARS:
                        uses.append(ParamUse(child.name, path + suffix, -limits.max_constant, limits.max_constant))
    return uses


def validate_strategy(
    strategy: Strategy, *, limits: Limits | None = None, checks: Iterable[StrategyCheck] = ()
) -> None:
    """Semantic checks of a decoded strategy (see the module doc), then every extra check of
    ``checks`` in order (the constraints hook, :data:`StrategyCheck`); raises
    :class:`StrategyValidationError` naming the first offending path."""
    limits = limits or DEFAULT_LIMITS
    if len(set(strategy.instruments)) != len(strategy.instruments):
        raise StrategyValidationError("instruments must be unique", "$.instruments")
    try:
        if duration_ns(strategy.timeframe, "timeframe") <= 0:
            raise InvalidArgumentError("timeframe must be positive")
    except InvalidArgumentError as exc:
        raise StrategyValidationError(str(exc), "$.timeframe") from None
    try:
        ZoneInfo(strategy.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise StrategyValidationError(f"unknown time zone '{strategy.timezone}'", "$.timezone") from None
    if len(strategy.params) > limits.max_params:
        raise StrategyValidationError(
            f"{len(strategy.params)} parameters exceed the limit of {limits.max_params}", "$.params"
        )
    for name, v in strategy.params.items():
        if not math.isfinite(v) or abs(v) > limits.max_constant:
            raise StrategyValidationError(
                f"value {v} is not finite or exceeds {limits.max_constant:g}", f"$.params.{name}"
            )
    if strategy.entry_long is None and strategy.entry_short is None:
        raise StrategyValidationError("a strategy needs entry_long or entry_short", "$")
    if isinstance(strategy.sizing, RiskFraction) and strategy.stop_loss is None:
        raise StrategyValidationError("risk_fraction sizing needs a stop_loss (the risk per unit)", "$.sizing")

    total_nodes = 0
    for rule_path, root in iter_rules(strategy):
        for path, value, depth in iter_tree(root, rule_path):
            if isinstance(value, N.Node):
                total_nodes += 1
                if depth > limits.max_depth:
                    raise StrategyValidationError(f"nesting deeper than {limits.max_depth} levels", path)
                if total_nodes > limits.max_nodes:
                    raise StrategyValidationError(f"more than {limits.max_nodes} expression nodes", path)
                if isinstance(value, N.Param) and value.name not in strategy.params:
                    raise StrategyValidationError(
                        f"parameter '{value.name}' is not declared in params (give it a default value)", path
                    )
                if isinstance(value, N.Call):
                    _check_call(value, path, strategy)
                if (
                    isinstance(value, N.Macd)
                    and isinstance(value.fast, int)
                    and isinstance(value.slow, int)
                    and value.fast >= value.slow
                ):
                    raise StrategyValidationError("macd needs fast < slow", path)
            elif isinstance(value, float) and (not math.isfinite(value) or abs(value) > limits.max_constant):
                raise StrategyValidationError(
                    f"constant {value} is not finite or exceeds {limits.max_constant:g} in magnitude", path
                )

    for path, owner, value, attr in _scalar_sites(strategy):
        if isinstance(value, N.Param):
            if value.name not in strategy.params:
                raise StrategyValidationError(
                    f"parameter '{value.name}' is not declared in params (give it a default value)", path
                )
            continue
        spec = _scalar_spec(owner, attr, limits)
        if spec is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            reason = ParamUse("", path, *spec).violation(float(value))
            if reason is not None:
                raise StrategyValidationError(reason.replace("parameter '' = ", "value "), path)
    if isinstance(strategy.time_stop, N.Param) and strategy.time_stop.name not in strategy.params:
        raise StrategyValidationError(f"parameter '{strategy.time_stop.name}' is not declared in params", "$.time_stop")
    if isinstance(strategy.time_stop, int) and strategy.time_stop > limits.max_window:
        raise StrategyValidationError(f"value {strategy.time_stop} is outside [1, {limits.max_window}]", "$.time_stop")

    for use in param_uses(strategy, limits):
        reason = use.violation(strategy.params[use.name])
        if reason is not None:
            raise StrategyValidationError(reason, use.path)

    bars = strategy_lookback(strategy, strategy.params)
    if bars > limits.max_lookback:
        raise StrategyValidationError(f"warm-up of {bars} bars exceeds the limit of {limits.max_lookback}", "$")

    from quant_engine.strategy.canonical import canonicalize

    canonicalize(strategy)  # raises on undefined constant sub-expressions (1 / 0, log(-1))
    for check in checks:
        check(strategy)


def _check_call(node: N.Call, path: str, strategy: Strategy) -> None:
    op = get_operator(node.fn)
    if op is None:
        names = sorted(registered_operators())
        raise StrategyValidationError(
            f"unknown operator `{node.fn}`{did_you_mean(node.fn, names)} (not registered); registered: {allowed(names) or 'none'}",
            path + ".fn",
        )
    if len(node.args) != op.inputs:
        raise StrategyValidationError(
            f"operator '{node.fn}' takes {op.inputs} input series, got {len(node.args)}", path + ".args"
        )
    declared = set(op.int_params) | set(op.float_params)
    for key in node.params:
        if key not in declared:
            raise StrategyValidationError(
                f"operator '{node.fn}' has no parameter `{key}`{did_you_mean(key, declared)}; parameters: {allowed(sorted(declared)) or 'none'}",
                f"{path}.params.{key}",
            )
    for key in sorted(declared):
        if key not in node.params:
            raise StrategyValidationError(f"operator '{node.fn}' needs parameter '{key}'", f"{path}.params")
        v = node.params[key]
        if isinstance(v, N.Param):
            if v.name not in strategy.params:
                raise StrategyValidationError(f"parameter '{v.name}' is not declared in params", f"{path}.params.{key}")
            continue
        lo, hi = op.int_params[key] if key in op.int_params else op.float_params[key]
        use = ParamUse(key, f"{path}.params.{key}", float(lo), float(hi), integer=key in op.int_params)
        reason = use.violation(float(v))
        if reason is not None:
            raise StrategyValidationError(reason, use.path)


def _value(v: Any, params: Mapping[str, float]) -> float:
    return float(params[v.name]) if isinstance(v, N.Param) else float(v)


def lookback(node: Any, params: Mapping[str, float]) -> int:
    """Warm-up of a series in bars: the index of its first defined value on gap-free bars
    (0 for bar fields and constants), with parameters taken from ``params``."""
    if not isinstance(node, N.Node):
        return 0

    def w(x: Any) -> int:
        return lookback(x, params)

    def v(x: Any) -> int:
        return int(_value(x, params))

    if isinstance(node, (N.Sma, N.Ema, N.Wma, N.ZScore, N.RollingMin, N.RollingMax)):
        return w(node.x) + v(node.n) - 1
    if isinstance(node, N.Rsi):
        return w(node.x) + v(node.n)
    if isinstance(node, N.Macd):
        base = w(node.x) + max(v(node.fast), v(node.slow)) - 1
        return base if node.output == "macd" else base + v(node.signal) - 1
    if isinstance(node, N.Atr):
        return v(node.n) - 1
    if isinstance(node, N.Bollinger):
        return w(node.x) + v(node.n) - 1
    if isinstance(node, (N.Returns, N.RealizedVol, N.Lag)):
        return w(node.x) + v(node.n)
    if isinstance(node, N.VwapDistance):
        return max(v(node.n) - 1, 0)
    if isinstance(node, N.VolumeRatio):
        return v(node.n)
    if isinstance(node, N.Call):
        op = get_operator(node.fn)
        extra = op.warmup_bars({k: _value(x, params) for k, x in node.params.items()}) if op else 0
        return max((w(a) for a in node.args), default=0) + extra
    if isinstance(node, (N.CrossAbove, N.CrossBelow)):
        return max(w(node.left), w(node.right)) + 1
    return max((w(child) for _, child in children(node)), default=0)


def strategy_lookback(strategy: Strategy, params: Mapping[str, float] | None = None) -> int:
    """The warm-up of the whole strategy: the longest over its rules and its ATR stops."""
    values = dict(strategy.params if params is None else params)
    bars = max((lookback(root, values) for _, root in iter_rules(strategy)), default=0)
    for stop in (strategy.stop_loss, strategy.take_profit):
        if isinstance(stop, AtrStop):
            bars = max(bars, int(_value(stop.n, values)) - 1)
    return bars
