"""The one execution model, and the portfolio ledger.

Research (the backtester, in Rust) and paper trading use the same model, implemented once in
Rust. The reference (fill rules, slippage terms, fees, units, the batch form, accounting) is
``docs/execution.md``.

* Market orders cross the spread (buy at the ask, sell at the bid) plus slippage per unit:
  ``base * fixed_bps/1e4 + spread_fraction * spread + base * impact_bps/1e4 * sqrt(qty/volume)``.
* With bars only, an order fills at the *next* bar's open (plus half of ``assumed_spread_bps``)
  with the same slippage terms.
* Limit orders fill only when the price trades through the limit (``low < limit`` for a buy; a
  touch with ``limit_fill_on_touch=True``), at the limit, or better when the bar opens through it.
* Fees per share (equities) or per contract (options, futures) plus bps of notional, with a
  minimum and an optional cap as a fraction of notional.
* Every :class:`Fill` carries price, quantity, fees, slippage cost and the multiplier used.

Quick use::

    from quant_engine.execution import ExecutionModel, ExecutionConfig, FeeSchedule, Slippage, Portfolio

    model = ExecutionModel(ExecutionConfig(slippage=Slippage(fixed_bps=1, spread_fraction=0.5),
                                           future_fees=FeeSchedule(per_unit=2.25)))
    fill = model.fill_quote("ESZ4", "buy", 2, bid=4499.75, ask=4500.0)
    book = Portfolio(cash=100_000)
    book.apply(fill)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import msgspec
import pyarrow as pa

from quant_engine import _core
from quant_engine.configs import checked
from quant_engine.instruments import InstrumentRegistry
from quant_engine.tables import as_arrow

__all__ = [
    "ExecutionModel",
    "ExecutionConfig",
    "FeeSchedule",
    "Slippage",
    "Fill",
    "Portfolio",
    "FILL_STATUSES",
]

Fill = _core.Fill

FILL_STATUSES: tuple[str, ...] = tuple(_core.FILL_STATUSES)
"""Fill status codes (index = integer code): ``filled`` then the rejection reasons."""


class FeeSchedule(msgspec.Struct, forbid_unknown_fields=True):
    """Commissions of one instrument kind: ``max(minimum, per_unit * qty + bps/1e4 * notional)``,
    capped at ``maximum_fraction * notional`` (``None`` = no cap)."""

    per_unit: float = 0.0
    """Per share (equities) or per contract (options, futures)."""
    bps: float = 0.0
    minimum: float = 0.0
    maximum_fraction: float | None = None


class Slippage(msgspec.Struct, forbid_unknown_fields=True):
    """Slippage terms, per unit, added to buys and subtracted from sells."""

    fixed_bps: float = 0.0
    """Basis points of the base price."""
    spread_fraction: float = 0.0
    """Fraction of the quoted (or, with bars, assumed) spread."""
    impact_bps: float = 0.0
    """Square-root impact: bps of the base price when quantity equals volume."""
    assumed_spread_bps: float = 0.0
    """The spread assumed when only bars exist (fills start half of it from the open)."""


class ExecutionConfig(msgspec.Struct, forbid_unknown_fields=True):
    """Configuration of :class:`ExecutionModel`."""

    slippage: Slippage = msgspec.field(default_factory=Slippage)
    equity_fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)
    option_fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)
    future_fees: FeeSchedule = msgspec.field(default_factory=FeeSchedule)
    max_participation: float | None = None
    """Largest fraction of the volume one fill may take (``None`` = no cap); capped fills are
    partial."""
    limit_fill_on_touch: bool = False
    round_to_tick: bool = False
    """Round fill prices to the tick grid, adversely."""

    def to_json(self) -> str:
        """The configuration as JSON (the form the Rust model reads)."""
        return msgspec.json.encode(self).decode()


class ExecutionModel(_core.ExecutionModel):
    """The execution model (see the module documentation and ``docs/execution.md``).

    ``ExecutionModel(config=None, *, registry=None)``: ``config`` is an
    :class:`ExecutionConfig` or a mapping of its fields (unknown keys at any depth are errors,
    see :func:`quant_engine.configs.checked`); ``registry`` resolves symbols.

    Rust methods: ``fill_quote(instrument, side, quantity, bid, ask, *, limit_price=None,
    volume=None, bid_size=None, ask_size=None, ts=None) -> Fill`` and ``fill_bar(instrument,
    side, quantity, open, high, low, close, volume=None, *, limit_price=None, ts=None) -> Fill``
    (``instrument`` is an :class:`~quant_engine.instruments.Instrument` or a symbol). A rejected
    order is a ``Fill`` with ``filled == False`` and ``status`` the reason.
    """

    def __new__(
        cls,
        config: ExecutionConfig | Mapping[str, Any] | None = None,
        *,
        registry: InstrumentRegistry | None = None,
    ) -> ExecutionModel:
        config = ExecutionConfig() if config is None else checked(config, ExecutionConfig, "execution")
        return super().__new__(cls, config.to_json(), registry)

    @property
    def config(self) -> ExecutionConfig:
        """The configuration."""
        return msgspec.json.decode(self.config_json(), type=ExecutionConfig)

    def fill_batch(self, orders: Any, bars: Any) -> pa.Table:
        """Fills a table of orders against a table of bars (the backtester's form).

        ``orders``: ``symbol, side, quantity, bar`` (row of ``bars`` each order executes
        against, i.e. the bar after its decision bar), optional ``order_type`` and
        ``limit_price`` (a limit order where the price is not null). ``bars``: ``open, high,
        low, close``, optional ``volume`` and ``ts``/``start``. Returns ``status, ts, quantity,
        price, base_price, fees, slippage_cost, multiplier``, one row per order, null where the
        order did not fill.
        """
        o = as_arrow(orders, what="orders")
        b = as_arrow(bars, what="bars")
        if isinstance(o, pa.Table):
            o = o.combine_chunks()
        if isinstance(b, pa.Table):
            b = b.combine_chunks()
        return super().fill_batch(o, b)


class Portfolio(_core.Portfolio):
    """The ledger: positions, cost basis (``average_cost`` or ``fifo``), realized and
    unrealized P&L with multipliers, cash, fees, slippage and the equity curve.

    ``Portfolio(cash=0.0, cost_basis="average_cost", registry=None)``. Rust methods:
    ``apply(fill)`` (or ``apply(symbol, side, quantity, price, fees=0, slippage_cost=0)``) returns
    the realized P&L the fill booked; ``mark(symbol, price)``; ``record(ts=None)`` adds an
    equity-curve point; ``positions()`` and ``equity_curve()`` are ``pyarrow.Table``s.
    """

    def __new__(
        cls,
        cash: float = 0.0,
        cost_basis: Literal["average_cost", "fifo"] = "average_cost",
        registry: InstrumentRegistry | None = None,
    ) -> Portfolio:
        return super().__new__(cls, float(cash), cost_basis, registry)
