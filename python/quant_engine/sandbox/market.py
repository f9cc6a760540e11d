"""The ground truth the local vendor servers serve: trades (and quotes) of a set of symbols,
from the synthetic market or from the catalog, indexed for time-range lookups."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket
from quant_engine.schema import TIMESTAMP, TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA

__all__ = ["SandboxMarket", "Columns"]


@dataclass
class Columns:
    """Time-sorted columns of one kind (trades or quotes) of every symbol."""

    ts: np.ndarray
    code: np.ndarray
    values: dict[str, np.ndarray]
    by_code: list[np.ndarray]

    @classmethod
    def from_table(cls, table: pa.Table, symbols: list[str]) -> Columns:
        order = pc.sort_indices(table, [("ts", "ascending")])
        t = table.take(order)
        ts = pc.cast(t.column("ts"), pa.int64()).to_numpy()
        names = pc.cast(t.column("symbol"), pa.string())
        index = {s: i for i, s in enumerate(symbols)}
        code = pc.index_in(names, pa.array(symbols)).to_numpy(zero_copy_only=False).astype(np.int32)
        values = {}
        for name in t.column_names:
            if name in ("ts", "symbol"):
                continue
            col = t.column(name)
            values[name] = pc.fill_null(col, -1).to_numpy() if pa.types.is_integer(col.type) else col.to_numpy()
        by_code = [np.nonzero(code == index[s])[0] for s in symbols]
        return cls(ts, code, values, by_code)

    def between(self, code: int, lo: int, hi: int) -> np.ndarray:
        """Row indices of one symbol with ``lo <= ts <= hi``."""
        rows = self.by_code[code]
        t = self.ts[rows]
        return rows[np.searchsorted(t, lo, "left") : np.searchsorted(t, hi, "right")]


class SandboxMarket:
    """Trades and quotes served by the fake terminal and the fake Massive.

    ``entitled`` limits the symbols an account may see (others get a permission error);
    ``None`` means all.
    """

    def __init__(
        self,
        trades: pa.Table,
        quotes: pa.Table | None = None,
        *,
        synthetic: SyntheticMarket | None = None,
        entitled: Sequence[str] | None = None,
    ) -> None:
        names = pc.unique(pc.cast(trades.column("symbol"), pa.string())).to_pylist()
        self.symbols: list[str] = sorted(names)
        self.synthetic = synthetic
        self.entitled = set(entitled) if entitled is not None else None
        self.code = {s: i for i, s in enumerate(self.symbols)}
        self.trades = Columns.from_table(trades, self.symbols)
        self.quotes = Columns.from_table(quotes, self.symbols) if quotes is not None and quotes.num_rows else None
        ts = self.trades.ts
        self.start_ns = int(ts[0]) if len(ts) else 0
        self.end_ns = int(ts[-1]) if len(ts) else 0
        local = pc.local_timestamp(pc.cast(pa.array(ts, TIMESTAMP), pa.timestamp("ns", tz="America/New_York")))
        self.dates: set[dt.date] = set(pc.unique(pc.cast(local, pa.date32())).to_pylist()) if len(ts) else set()

    @classmethod
    def synthetic_market(
        cls,
        seed: int = 7,
        symbols: Sequence[str] = DEFAULT_SYMBOLS[:4],
        start: str = "2024-01-02",
        days: int = 1,
        ticks_per_day: int = 20_000,
        quotes: bool = True,
        **kwargs: Any,
    ) -> SandboxMarket:
        """A market simulated by :class:`~quant_engine.feeds.synthetic.SyntheticMarket`."""
        m = SyntheticMarket(
            seed=seed, symbols=list(symbols), start=start, days=days, ticks_per_day=ticks_per_day, **kwargs
        )
        return cls(m.trades(), m.quotes() if quotes else None, synthetic=m)

    @classmethod
    def from_catalog(
        cls, catalog: Any, symbols: Sequence[str] | None = None, start: Any = None, end: Any = None
    ) -> SandboxMarket:
        """The trades (and quotes, if stored) of a :class:`~quant_engine.feeds.catalog.Catalog`."""
        trades = catalog.read("trades", symbols=symbols, start=start, end=end)
        try:
            quotes = catalog.read("quotes", symbols=symbols, start=start, end=end)
        except Exception:  # noqa: BLE001 - quotes are optional
            quotes = None
        if "sequence" not in trades.column_names:
            trades = trades.append_column("sequence", pa.array(np.arange(trades.num_rows, dtype=np.int64)))
        return cls(trades, quotes)

    def trades_table(self, rows: np.ndarray) -> pa.Table:
        """Trade rows as a table of the trade schema."""
        t = self.trades
        seq = t.values.get("sequence")
        return pa.Table.from_arrays(
            [
                pa.array(t.ts[rows], TIMESTAMP),
                pa.array(self.symbols, pa.string()).take(pa.array(t.code[rows])),
                pa.array(t.values["price"][rows]),
                pa.array(t.values["size"][rows]),
                pa.array(seq[rows] if seq is not None else np.full(len(rows), -1, np.int64)),
                pa.array(t.values.get("exchange", np.zeros(len(t.ts), np.int32))[rows].astype(np.int32)),
                pa.array(t.values.get("condition", np.zeros(len(t.ts), np.int32))[rows].astype(np.int32)),
            ],
            schema=TRADE_SCHEMA,
        )

    def quotes_table(self, rows: np.ndarray) -> pa.Table:
        """Quote rows as a table of the vendor quote schema."""
        q = self.quotes
        if q is None:
            return VENDOR_QUOTE_SCHEMA.empty_table()
        v = q.values
        zeros = np.zeros(len(q.ts), np.int32)
        return pa.Table.from_arrays(
            [
                pa.array(q.ts[rows], TIMESTAMP),
                pa.array(self.symbols, pa.string()).take(pa.array(q.code[rows])),
                pa.array(v["bid"][rows]),
                pa.array(v["ask"][rows]),
                pa.array(v["bid_size"][rows]),
                pa.array(v["ask_size"][rows]),
                pa.array(v.get("bid_exchange", zeros)[rows].astype(np.int32)),
                pa.array(v.get("ask_exchange", zeros)[rows].astype(np.int32)),
            ],
            schema=VENDOR_QUOTE_SCHEMA,
        )

    def all_trades(self, symbols: Sequence[str] | None = None) -> pa.Table:
        """Every trade of ``symbols`` (all by default), time-sorted: the ground truth."""
        if symbols is None:
            rows = np.arange(len(self.trades.ts))
        else:
            rows = np.sort(np.concatenate([self.trades.by_code[self.code[s]] for s in symbols if s in self.code]))
        return self.trades_table(rows)
