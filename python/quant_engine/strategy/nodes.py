"""The expression nodes of the strategy language: msgspec Structs in two tagged unions.

A strategy's rules are trees of these nodes. Every node is a frozen ``msgspec.Struct`` tagged by
its ``"op"`` field, so a JSON document decodes straight into typed objects (and unknown fields,
unknown operators and wrong types are rejected with the offending path). There are two unions:

* :data:`Num`, a numeric series: a JSON number (a constant), a bar field name (``"close"``), a
  parameter placeholder (``{"op": "param", "name": "fast"}``) or an indicator / arithmetic node;
* :data:`Cond`, a condition series: ``true``/``false`` or a comparison, cross or boolean node.

Every operator is causal: its value at bar ``t`` depends only on bars ``<= t``. Windows count
bars and include the current bar. Indicators are ``NaN`` during their warm-up; a ``NaN`` input
restarts the warm-up of every stateful operator. Conditions are three-valued (true, false,
unknown); a comparison with a ``NaN`` operand is unknown, and only *true* triggers an action.
``docs/strategy.md`` is the full reference.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec

__all__ = [
    "MAX_WINDOW",
    "MAX_CONSTANT",
    "MAX_CALL_OPERANDS",
    "FIELDS",
    "Field",
    "Node",
    "Param",
    "Window",
    "Scale",
    "Num",
    "Cond",
    "Sma",
    "Ema",
    "Wma",
    "Rsi",
    "Macd",
    "Atr",
    "Bollinger",
    "ZScore",
    "RollingMin",
    "RollingMax",
    "Returns",
    "RealizedVol",
    "VwapDistance",
    "VolumeRatio",
    "BarRange",
    "TimeOfDay",
    "Lag",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Neg",
    "Abs",
    "Min",
    "Max",
    "Log",
    "Call",
    "Gt",
    "Ge",
    "Lt",
    "Le",
    "CrossAbove",
    "CrossBelow",
    "And",
    "Or",
    "Not",
    "NUM_NODES",
    "COND_NODES",
]

MAX_WINDOW = 20_000
"""The largest window (in bars) the schema admits; :class:`~quant_engine.strategy.Limits` can
lower it."""

MAX_CONSTANT = 1e9
"""The largest absolute value of a numeric constant the default limits admit."""

MAX_CALL_OPERANDS = 8
"""A user operator takes at most this many operands (input series plus parameters)."""

Field = Literal["open", "high", "low", "close", "volume", "vwap"]
"""A bar column used as a series."""

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume", "vwap")
"""The bar fields in their plan order."""


class Node(msgspec.Struct, tag_field="op", frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base class of every expression node (tagged by ``op``)."""


class Param(Node, tag="param", frozen=True):
    """A named parameter of a strategy template, bound from ``Strategy.params`` or a sweep grid.

    Usable wherever a window or a numeric constant is expected."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]


Window = Union[Annotated[int, msgspec.Meta(ge=1, le=MAX_WINDOW)], Param]
"""A window length in bars (an integer ``>= 1``) or a parameter."""

Scale = Union[Annotated[float, msgspec.Meta(gt=0.0, le=1000.0)], Param]
"""A positive multiplier (Bollinger ``k``, ATR stop ``mult``) or a parameter."""


class Sma(Node, tag="sma", frozen=True):
    """Simple moving average of ``x`` over ``n`` bars."""

    x: Num
    n: Window


class Ema(Node, tag="ema", frozen=True):
    """Exponential moving average, ``alpha = 2 / (n + 1)``, seeded with the SMA of the first
    ``n`` values."""

    x: Num
    n: Window


class Wma(Node, tag="wma", frozen=True):
    """Linearly weighted moving average (weights ``1..n``, the newest bar weighs ``n``)."""

    x: Num
    n: Window


class Rsi(Node, tag="rsi", frozen=True):
    """Wilder's relative strength index (0..100) of ``x`` over ``n`` bars."""

    x: Num = "close"
    n: Window = 14


class Macd(Node, tag="macd", frozen=True):
    """MACD: ``ema(x, fast) - ema(x, slow)`` (``macd``), its EMA over ``signal`` bars
    (``signal``), or their difference (``hist``)."""

    x: Num = "close"
    fast: Window = 12
    slow: Window = 26
    signal: Window = 9
    output: Literal["macd", "signal", "hist"] = "macd"


class Atr(Node, tag="atr", frozen=True):
    """Wilder's average true range over ``n`` bars (price units)."""

    n: Window = 14


class Bollinger(Node, tag="bollinger", frozen=True):
    """Bollinger bands: ``middle = sma(x, n)``, ``upper/lower = middle +- k * std`` (population
    standard deviation), ``percent_b = (x - lower) / (upper - lower)``,
    ``width = (upper - lower) / middle``."""

    x: Num = "close"
    n: Window = 20
    k: Scale = 2.0
    band: Literal["upper", "middle", "lower", "percent_b", "width"] = "middle"


class ZScore(Node, tag="zscore", frozen=True):
    """Rolling z-score ``(x - sma(x, n)) / std(x, n)`` (population std; NaN when it is 0)."""

    x: Num
    n: Window


class RollingMin(Node, tag="rolling_min", frozen=True):
    """Lowest value of ``x`` over the last ``n`` bars."""

    x: Num
    n: Window


class RollingMax(Node, tag="rolling_max", frozen=True):
    """Highest value of ``x`` over the last ``n`` bars."""

    x: Num
    n: Window


class Returns(Node, tag="returns", frozen=True):
    """Return of ``x`` over ``n`` bars: ``x[t] / x[t-n] - 1`` (``log(x[t] / x[t-n])`` with
    ``log``)."""

    x: Num = "close"
    n: Window = 1
    log: bool = False


class RealizedVol(Node, tag="realized_vol", frozen=True):
    """Sample standard deviation of the one-bar log returns of ``x`` over ``n`` bars (per bar,
    not annualized)."""

    x: Num = "close"
    n: Window = 20


class VwapDistance(Node, tag="vwap_distance", frozen=True):
    """``close / vwap - 1`` where vwap is the volume-weighted average price of the last ``n``
    bars, or of the current session so far when ``n`` is 0."""

    n: Annotated[int, msgspec.Meta(ge=0, le=MAX_WINDOW)] | Param = 0


class VolumeRatio(Node, tag="volume_ratio", frozen=True):
    """Volume of the bar divided by the average volume of the ``n`` bars before it."""

    n: Window = 20


class BarRange(Node, tag="bar_range", frozen=True):
    """``high - low`` of the bar."""


class TimeOfDay(Node, tag="time_of_day", frozen=True):
    """Minutes since local midnight of the bar's start in the strategy's time zone (e.g. 570
    for a bar starting 09:30)."""


class Lag(Node, tag="lag", frozen=True):
    """``x`` as it was ``n`` bars ago (only backwards)."""

    x: Num
    n: Window = 1


class Add(Node, tag="add", frozen=True):
    """Sum of two or more series."""

    args: Annotated[list[Num], msgspec.Meta(min_length=2, max_length=16)]


class Sub(Node, tag="sub", frozen=True):
    """``left - right``."""

    left: Num
    right: Num


class Mul(Node, tag="mul", frozen=True):
    """Product of two or more series."""

    args: Annotated[list[Num], msgspec.Meta(min_length=2, max_length=16)]


class Div(Node, tag="div", frozen=True):
    """``left / right`` (NaN where ``right`` is 0)."""

    left: Num
    right: Num


class Neg(Node, tag="neg", frozen=True):
    """``-x``."""

    x: Num


class Abs(Node, tag="abs", frozen=True):
    """``|x|``."""

    x: Num


class Min(Node, tag="min", frozen=True):
    """Element-wise minimum of two or more series."""

    args: Annotated[list[Num], msgspec.Meta(min_length=2, max_length=16)]


class Max(Node, tag="max", frozen=True):
    """Element-wise maximum of two or more series."""

    args: Annotated[list[Num], msgspec.Meta(min_length=2, max_length=16)]


class Log(Node, tag="log", frozen=True):
    """Natural logarithm (NaN where ``x <= 0``)."""

    x: Num


class Call(Node, tag="call", frozen=True):
    """A user-registered operator (see :func:`quant_engine.strategy.register_operator`): its
    input series in ``args`` and its declared parameters by name in ``params``."""

    fn: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,47}$")]
    args: Annotated[list[Num], msgspec.Meta(max_length=MAX_CALL_OPERANDS)] = []
    params: dict[str, float | Param] = {}


Num = Union[
    float,
    Field,
    Param,
    Sma,
    Ema,
    Wma,
    Rsi,
    Macd,
    Atr,
    Bollinger,
    ZScore,
    RollingMin,
    RollingMax,
    Returns,
    RealizedVol,
    VwapDistance,
    VolumeRatio,
    BarRange,
    TimeOfDay,
    Lag,
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    Abs,
    Min,
    Max,
    Log,
    Call,
]
"""A numeric series: a constant, a bar field, a parameter or a numeric node."""


class Gt(Node, tag="gt", frozen=True):
    """``left > right``."""

    left: Num
    right: Num


class Ge(Node, tag="ge", frozen=True):
    """``left >= right``."""

    left: Num
    right: Num


class Lt(Node, tag="lt", frozen=True):
    """``left < right``."""

    left: Num
    right: Num


class Le(Node, tag="le", frozen=True):
    """``left <= right``."""

    left: Num
    right: Num


class CrossAbove(Node, tag="cross_above", frozen=True):
    """``left`` crosses above ``right`` at this bar: ``left > right`` now and ``left <= right``
    on the previous bar."""

    left: Num
    right: Num


class CrossBelow(Node, tag="cross_below", frozen=True):
    """``left`` crosses below ``right`` at this bar: ``left < right`` now and ``left >= right``
    on the previous bar."""

    left: Num
    right: Num


class And(Node, tag="and", frozen=True):
    """True when every argument is true (false if any is false, else unknown)."""

    args: Annotated[list[Cond], msgspec.Meta(min_length=2, max_length=16)]


class Or(Node, tag="or", frozen=True):
    """True when any argument is true (else unknown if any is unknown, else false)."""

    args: Annotated[list[Cond], msgspec.Meta(min_length=2, max_length=16)]


class Not(Node, tag="not", frozen=True):
    """Negation (unknown stays unknown)."""

    x: Cond


Cond = Union[bool, Gt, Ge, Lt, Le, CrossAbove, CrossBelow, And, Or, Not]
"""A condition series: ``true``, ``false`` or a condition node."""

NUM_NODES: tuple[type[Node], ...] = (
    Param, Sma, Ema, Wma, Rsi, Macd, Atr, Bollinger, ZScore, RollingMin, RollingMax, Returns,
    RealizedVol, VwapDistance, VolumeRatio, BarRange, TimeOfDay, Lag, Add, Sub, Mul, Div, Neg,
    Abs, Min, Max, Log, Call,
)  # fmt: skip
"""Every node class that is a numeric series."""

COND_NODES: tuple[type[Node], ...] = (Gt, Ge, Lt, Le, CrossAbove, CrossBelow, And, Or, Not)
"""Every node class that is a condition."""
