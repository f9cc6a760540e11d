"""Feeds and warm-up history for the shadow trader (``docs/shadow.md``).

* ``synthetic`` (the default): the seeded synthetic market; its sessions before the last are the
  warm-up history, the last one is replayed as the live session.
* ``replay``: a catalog's trades replayed at any ``speed`` (None: as fast as the trader takes
  them); warm-up bars come from the catalog's days before the session.
* ``theta`` / ``massive``: the vendor streams (:class:`~quant_engine.feeds.stream.LiveStream`);
  warm-up from the catalog when one is given.

A :class:`History` answers "the ``n`` bars of ``symbol`` before ``ts``" for the warm-up, from what
each buffer's ``warmup_requirement()`` asks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.bars import aggregate_ticks
from quant_engine.errors import InvalidArgumentError

__all__ = ["History", "synthetic_feed", "replay_feed", "vendor_feed", "FEEDS"]

FEEDS = ("synthetic", "replay", "theta", "massive")
"""The feeds ``quant-engine shadow run --feed`` accepts."""


@dataclass
class History:
    """Closed bars before the session (``start, symbol, open .. volume``), for warm-up."""

    bars: pa.Table

    @classmethod
    def empty(cls) -> History:
        """No history (strategies start cold)."""
        return cls(pa.table({"symbol": pa.array([], pa.string()), "start": pa.array([], pa.int64())}))

    @classmethod
    def from_trades(cls, trades: pa.Table, interval: str) -> History:
        """History aggregated from trades."""
        if trades.num_rows == 0:
            return cls.empty()
        return cls(aggregate_ticks(trades, interval))

    def before(self, symbol: str, ts: int, n: int) -> pa.Table:
        """The last ``n`` bars of ``symbol`` starting before ``ts`` (oldest first)."""
        t = self.bars
        if n <= 0 or t.num_rows == 0:
            return t.slice(0, 0)
        start = pc.cast(t.column("start"), pa.int64())
        mask = pc.and_(pc.equal(t.column("symbol"), symbol), pc.less(start, pa.scalar(ts, pa.int64())))
        sel = t.filter(mask)
        return sel.slice(max(sel.num_rows - n, 0))


def synthetic_feed(
    symbols: Sequence[str],
    *,
    seed: int = 7,
    history_days: int = 1,
    ticks_per_day: int = 20_000,
    speed: float | None = None,
    start: str = "2024-01-02",
    interval: str = "1m",
    batch_size: int = 10_000,
) -> tuple[Any, History, tuple[int, int]]:
    """The synthetic market: a replay of its last session, the sessions before it as history.
    Returns ``(feed, history, (open_ns, close_ns))``."""  # fmt: skip
    from quant_engine.feeds.replay import ReplayFeed
    from quant_engine.feeds.synthetic import SyntheticMarket

    if history_days < 0:
        raise InvalidArgumentError(f"history_days must be >= 0, got {history_days}")
    m = SyntheticMarket(seed=seed, symbols=list(symbols), start=start, days=history_days + 1,
                        ticks_per_day=ticks_per_day)  # fmt: skip
    trades = m.trades()
    day = m.session_days()[-1]
    lo, hi = m.session_bounds(day)
    ts = pc.cast(trades.column("ts"), pa.int64())
    live = trades.filter(pc.greater_equal(ts, pa.scalar(lo, pa.int64())))
    past = trades.filter(pc.less(ts, pa.scalar(lo, pa.int64())))
    return (
        ReplayFeed(live, symbols=symbols, speed=speed, batch_size=batch_size),
        History.from_trades(past, interval),
        (lo, hi),
    )


def replay_feed(
    catalog: Any,
    symbols: Sequence[str],
    day: dt.date,
    *,
    speed: float | None = None,
    history_days: int = 1,
    interval: str = "1m",
    batch_size: int = 10_000,
) -> tuple[Any, History]:
    """A catalog's trades of ``day`` replayed, with the ``history_days`` calendar days before as
    history (a catalog path or :class:`~quant_engine.feeds.catalog.Catalog`)."""  # fmt: skip
    from quant_engine.feeds.catalog import Catalog
    from quant_engine.feeds.replay import ReplayFeed

    cat = catalog if isinstance(catalog, Catalog) else Catalog(catalog)
    feed = ReplayFeed(
        cat,
        symbols=symbols,
        start=_midnight(day),
        end=_midnight(day + dt.timedelta(days=1)),
        speed=speed,
        batch_size=batch_size,
    )
    past = None
    if history_days > 0:
        past = cat.read("trades", list(symbols), _midnight(day - dt.timedelta(days=history_days + 3)), _midnight(day))
    return feed, History.from_trades(past, interval) if past is not None else History.empty()


def _midnight(day: dt.date, tz: str = "America/New_York") -> dt.datetime:
    """Local midnight starting ``day`` (the catalog partitions by New York date)."""
    from zoneinfo import ZoneInfo

    return dt.datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))


def vendor_feed(engine: str, url: str | None = None) -> Any:
    """A ThetaData or Massive trade stream (``url``: None for the configured one, or a fake
    server of ``quant-engine sandbox``); the trader subscribes its symbols' trades."""
    if engine == "theta":
        from quant_engine.feeds.thetadata import ThetaDataStream as Stream
    elif engine == "massive":
        from quant_engine.feeds.massive import MassiveStream as Stream  # type: ignore[assignment]
    else:
        raise InvalidArgumentError(f"unknown vendor feed {engine!r}; expected theta or massive")
    return Stream(url)


def bar_rows(closed: pa.Table) -> list[tuple[str, int, float, float, float, float, float]]:
    """The rows of a closed-bar table as ``(symbol, start_ns, open, high, low, close, volume)``
    in time order."""
    if closed.num_rows == 0:
        return []
    start = pc.cast(closed.column("start"), pa.int64()).to_numpy()
    order = np.argsort(start, kind="stable")
    cols = [closed.column(n).to_numpy() for n in ("open", "high", "low", "close", "volume")]
    syms = closed.column("symbol").to_pylist()
    return [
        (syms[i], int(start[i]), float(cols[0][i]), float(cols[1][i]), float(cols[2][i]), float(cols[3][i]),
         float(cols[4][i]))
        for i in order
    ]  # fmt: skip
