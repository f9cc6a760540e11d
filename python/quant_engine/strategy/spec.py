"""The strategy document: rules, exits, sizing, instruments and timeframe.

A :class:`Strategy` is data. Its entry and exit rules are :data:`~quant_engine.strategy.nodes.Cond`
trees; stops, take-profits and time stops close positions intrabar or after a number of bars;
the sizing rule says how large an entry is, always passed through the Rust sizing and risk limits.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

import msgspec

from quant_engine.strategy.nodes import Cond, Param, Scale, Window

__all__ = [
    "SCHEMA_VERSION",
    "PercentStop",
    "AtrStop",
    "PointsStop",
    "Stop",
    "Fixed",
    "Notional",
    "EquityFraction",
    "RiskFraction",
    "Sizing",
    "Strategy",
    "RULES",
]

SCHEMA_VERSION = 1
"""The version of the strategy document format."""

RULES: tuple[str, ...] = ("entry_long", "exit_long", "entry_short", "exit_short")
"""The four rule slots of a strategy, in signal-bit order."""


class _Tagged(msgspec.Struct, tag_field="kind", frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """Base of the stop and sizing variants (tagged by ``kind``)."""


Positive = Union[Annotated[float, msgspec.Meta(gt=0.0)], Param]


class PercentStop(_Tagged, tag="percent", frozen=True):
    """A distance from the entry price as a fraction of it (``0.02`` = 2 %)."""

    value: Annotated[float, msgspec.Meta(gt=0.0, lt=1.0)] | Param


class AtrStop(_Tagged, tag="atr", frozen=True):
    """A distance of ``mult`` times ATR(``n``) as of the signal bar."""

    n: Window = 14
    mult: Scale = 2.0


class PointsStop(_Tagged, tag="points", frozen=True):
    """A fixed distance in price units."""

    value: Positive


Stop = Union[PercentStop, AtrStop, PointsStop]
"""A stop-loss or take-profit distance from the entry price."""


class Fixed(_Tagged, tag="fixed", frozen=True):
    """A fixed quantity (shares or contracts) per entry."""

    quantity: Positive


class Notional(_Tagged, tag="notional", frozen=True):
    """A target notional per entry, in account currency (quantity x price x multiplier)."""

    amount: Positive


class EquityFraction(_Tagged, tag="equity_fraction", frozen=True):
    """A target notional equal to a fraction of current equity (``1.0`` = fully invested)."""

    fraction: Annotated[float, msgspec.Meta(gt=0.0, le=10.0)] | Param = 1.0


class RiskFraction(_Tagged, tag="risk_fraction", frozen=True):
    """Risk a fraction of equity per trade: quantity = equity x fraction / (stop distance x
    multiplier). Needs a ``stop_loss``."""

    fraction: Annotated[float, msgspec.Meta(gt=0.0, le=1.0)] | Param = 0.01


Sizing = Union[Fixed, Notional, EquityFraction, RiskFraction]
"""How large an entry is; the result is always clamped by the Rust risk limits."""


class Strategy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """A complete strategy: what to trade, when to enter and exit, and how much.

    Attributes:
        instruments: the symbols traded (one portfolio with shared cash).
        timeframe: bar interval (``"1m"``, ``"5m"``, ``"1h"``, ``"1d"`` ...).
        entry_long, exit_long, entry_short, exit_short: the rules; a missing rule never fires.
        stop_loss, take_profit: exits checked intrabar against the bar's low/high.
        time_stop: exit after this many bars in the position.
        sizing: the entry size rule.
        params: default values of the template parameters used in the rules.
        timezone: the exchange time zone (for ``time_of_day`` and session VWAP).
        name, description: free text, not part of the strategy's identity.
        version: the document format version.
    """

    instruments: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=64)]], msgspec.Meta(min_length=1, max_length=500)
    ]
    timeframe: str = "1m"
    entry_long: Cond | None = None
    exit_long: Cond | None = None
    entry_short: Cond | None = None
    exit_short: Cond | None = None
    stop_loss: Stop | None = None
    take_profit: Stop | None = None
    time_stop: Window | None = None
    sizing: Sizing = EquityFraction()
    params: dict[Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")], float] = {}
    timezone: str = "America/New_York"
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""
    description: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    version: Literal[1] = 1
