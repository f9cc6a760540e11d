"""Bars for ``/regimes`` and ``/discovery``: from the data router (catalog, Massive, ThetaData) or
from the seeded synthetic market (the default: works without any vendor or catalog)."""

from __future__ import annotations

import functools
from typing import Any, Literal

import pyarrow as pa

from quant_engine.errors import InvalidArgumentError

__all__ = ["Source", "parse_symbols", "load_bars", "synthetic_bars", "SYNTHETIC_TICKS_PER_DAY", "MAX_SYMBOLS"]

Source = Literal["synthetic", "router"]
SYNTHETIC_TICKS_PER_DAY = 1000
MAX_SYMBOLS = 20
_BAR_COLUMNS = ("symbol", "start", "open", "high", "low", "close", "volume", "vwap", "trades")


def parse_symbols(text: str) -> tuple[str, ...]:
    """Comma-separated symbols, trimmed, unique, at most :data:`MAX_SYMBOLS`."""
    symbols = tuple(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    if not symbols:
        raise InvalidArgumentError("invalid symbols: give at least one (comma-separated)")
    if len(symbols) > MAX_SYMBOLS:
        raise InvalidArgumentError(f"invalid symbols: {len(symbols)} given, at most {MAX_SYMBOLS}")
    return symbols


@functools.lru_cache(maxsize=16)
def synthetic_bars(symbols: tuple[str, ...], days: int, seed: int, timeframe: str) -> pa.Table:
    """Bars of the synthetic market (deterministic, so cached per arguments)."""
    from quant_engine.bars import aggregate_ticks
    from quant_engine.feeds.synthetic import SyntheticMarket

    market = SyntheticMarket(seed=seed, symbols=list(symbols), days=days, ticks_per_day=SYNTHETIC_TICKS_PER_DAY)
    return aggregate_ticks(market.trades(), timeframe)


def load_bars(router: Any, source: Source, symbols: tuple[str, ...], timeframe: str, *, start: Any = None, end: Any = None,
              days: int = 30, seed: int = 7) -> pa.Table:  # fmt: skip
    """Bars of ``symbols`` from ``source``; the router needs ``start`` and ``end`` and skips
    symbols no engine has data for (an error when none has any)."""
    if source == "synthetic":
        return synthetic_bars(symbols, days, seed, timeframe)
    from quant_engine.errors import NoDataError

    tables = []
    missing = []
    for symbol in symbols:
        try:
            table = router.get_market_data(symbol, "stock", "discovery", start, end, timeframe).table
        except NoDataError:
            missing.append(symbol)
            continue
        tables.append(table.select([c for c in _BAR_COLUMNS if c in table.column_names]).replace_schema_metadata(None))
    if not tables:
        raise NoDataError(f"no engine has {timeframe} bars for {', '.join(missing)} in that range", vendor="router")
    return pa.concat_tables(tables, promote_options="permissive")
