"""Bars as the flat arrays strategy plans and the backtester read.

:class:`BarArrays` holds one or more symbols' bars back to back (``offsets[s]:offsets[s+1]`` is
symbol ``s``, symbols sorted by name, bars by start). Columns come from Arrow without copying
when the input is already laid out that way (a single-chunk, sorted table: what
``aggregate_ticks`` returns); otherwise they are gathered once. The derived inputs
``time_of_day`` and ``session_start`` are computed only when a plan reads them.

Input checks at the edge (a :class:`~quant_engine.errors.BadDataError` naming the symbol and the
count): starts strictly increasing per symbol, no nulls, prices finite and positive,
``low <= min(open, close)`` and ``high >= max(open, close)``, volume finite and not negative.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import BadDataError, SchemaError, UnknownSymbolError
from quant_engine.kernels.bar_checks import BAR_PROBLEMS, all_equal_strings, check_bars
from quant_engine.kernels.plan_ops import FIELD_ROWS
from quant_engine.tables import as_table

__all__ = ["BarArrays", "prepare_bars", "local_ns", "DAY_NS"]

DAY_NS = 86_400_000_000_000

_PRICE = ("open", "high", "low", "close")
_NUMERIC = ("open", "high", "low", "close", "volume", "vwap")


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a, dtype=np.float64)
    if a.flags.writeable:
        a = a.view()
        a.setflags(write=False)
    return a


@dataclass
class BarArrays:
    """Bars of one or more symbols as flat NumPy arrays (see the module doc).

    Attributes:
        symbols: symbol of each segment, sorted.
        offsets: ``int64[len(symbols) + 1]`` segment boundaries.
        start: bar start times, UTC ns (``int64``).
        open, high, low, close, volume, vwap: ``float64`` columns (read-only views).
        timezone: zone of ``time_of_day`` and sessions.
    """

    symbols: list[str]
    offsets: np.ndarray
    start: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    vwap: np.ndarray
    timezone: str = "America/New_York"
    _derived: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.start.shape[0])

    def segment(self, symbol: str) -> slice:
        """The rows of ``symbol``."""
        try:
            s = self.symbols.index(symbol)
        except ValueError:
            raise UnknownSymbolError(f"no bars for symbol '{symbol}'") from None
        return slice(int(self.offsets[s]), int(self.offsets[s + 1]))

    def _local_ns(self) -> np.ndarray:
        if "local" not in self._derived:
            self._derived["local"] = local_ns(self.start, self.timezone)
        return self._derived["local"]

    def time_of_day(self) -> np.ndarray:
        """Minutes since local midnight of each bar's start."""
        if "time_of_day" not in self._derived:
            local = self._local_ns()
            self._derived["time_of_day"] = _readonly((local % DAY_NS) / 60e9)
        return self._derived["time_of_day"]

    def session_start(self) -> np.ndarray:
        """1.0 on the first bar of each local calendar day of each symbol, else 0.0."""
        if "session_start" not in self._derived:
            day = self._local_ns() // DAY_NS
            flag = np.zeros(len(self), np.float64)
            if len(self):
                flag[1:] = day[1:] != day[:-1]
                flag[self.offsets[:-1][self.offsets[:-1] < len(self)]] = 1.0
            self._derived["session_start"] = _readonly(flag)
        return self._derived["session_start"]

    def fields(self, needed: Iterable[str] = ()) -> tuple[np.ndarray, ...]:
        """The evaluator's field tuple (see ``FIELD_ROWS``); derived fields are computed only
        when ``needed`` names them."""
        needed = set(needed)
        tod = self.time_of_day() if "time_of_day" in needed else self.close
        sess = self.session_start() if "session_start" in needed else self.close
        out = (self.open, self.high, self.low, self.close, self.volume, self.vwap, tod, sess)
        assert len(out) == len(FIELD_ROWS)
        return out

    def select(self, symbols: Iterable[str]) -> BarArrays:
        """A view restricted to ``symbols`` (copies unless they are already the whole set)."""
        wanted = sorted(set(symbols))
        if wanted == self.symbols:
            return self
        missing = [s for s in wanted if s not in self.symbols]
        if missing:
            raise UnknownSymbolError(f"no bars for symbol(s) {missing}; the data has {self.symbols[:20]}")
        idx = np.concatenate([np.arange(self.segment(s).start, self.segment(s).stop) for s in wanted])
        lengths = [self.segment(s).stop - self.segment(s).start for s in wanted]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        c = {name: _readonly(getattr(self, name)[idx]) for name in _NUMERIC}
        return BarArrays(
            wanted,
            offsets,
            np.ascontiguousarray(self.start[idx]),
            c["open"],
            c["high"],
            c["low"],
            c["close"],
            c["volume"],
            c["vwap"],
            self.timezone,
        )


def local_ns(start: np.ndarray, timezone: str) -> np.ndarray:
    """Local wall-clock times (ns, ``int64``) in ``timezone`` of UTC ns ``start``: the one rule
    behind ``time_of_day`` (``(local % DAY_NS) / 60e9`` minutes) and sessions (``local // DAY_NS``),
    in backtests and live runners alike."""
    ts = pa.array(np.asarray(start, np.int64), pa.timestamp("ns", tz=timezone))
    return np.asarray(pc.local_timestamp(ts).cast(pa.int64()).to_numpy(), np.int64)


def _column(table: pa.Table, name: str) -> np.ndarray:
    col = table.column(name)
    if col.null_count:
        raise BadDataError(f"column '{name}' has {col.null_count} null values")
    if col.num_chunks != 1:
        col = col.combine_chunks()
    else:
        col = col.chunk(0)
    if pa.types.is_timestamp(col.type):
        col = (
            col.cast(pa.timestamp("ns", tz=col.type.tz)).view(pa.int64())
            if col.type.unit != "ns"
            else col.view(pa.int64())
        )
        return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)
    if col.type != pa.float64():
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise SchemaError(f"column '{name}' must be numeric, got {col.type}")
        col = col.cast(pa.float64())
    return _readonly(col.to_numpy(zero_copy_only=False))


def _check(bars: BarArrays) -> None:
    counts, first = check_bars(
        bars.start, bars.offsets, bars.open, bars.high, bars.low, bars.close, bars.volume, bars.vwap
    )
    for k, what in enumerate(BAR_PROBLEMS):
        if counts[k]:
            row = int(first[k])
            sym = bars.symbols[int(np.searchsorted(bars.offsets, row, side="right")) - 1]
            raise BadDataError(f"{int(counts[k])} bar(s) with {what} (first: symbol '{sym}', row {row})")


def prepare_bars(
    bars: Any,
    *,
    symbols: Iterable[str] | None = None,
    timezone: str = "America/New_York",
    symbol: str | None = None,
    check: bool = True,
) -> BarArrays:
    """Converts a bar table into :class:`BarArrays` (zero-copy when already laid out).

    Args:
        bars: a ``BarArrays``, any Arrow table/producer or pandas DataFrame with the bar columns
            (``symbol, start, open, high, low, close, volume``; ``vwap`` optional), or a mapping
            symbol -> such table.
        symbols: keep only these symbols (error if one is missing).
        timezone: zone for ``time_of_day`` and sessions.
        symbol: the symbol of a table without a ``symbol`` column.
        check: validate prices, ranges and ordering.
    """
    if isinstance(bars, BarArrays):
        out = bars if symbols is None else bars.select(symbols)
        if out.timezone != timezone:
            out = BarArrays(
                out.symbols,
                out.offsets,
                out.start,
                out.open,
                out.high,
                out.low,
                out.close,
                out.volume,
                out.vwap,
                timezone,
            )
        return out
    if isinstance(bars, Mapping) and bars and all(isinstance(k, str) for k in bars) and not _is_column_dict(bars):
        parts = []
        for key, part in bars.items():
            t = as_table(part, what="bars")
            if "symbol" in t.column_names:
                t = t.drop_columns(["symbol"])
            parts.append(t.append_column("symbol", pa.array([key] * t.num_rows, pa.string())))
        table = pa.concat_tables(parts, promote_options="permissive")
    else:
        table = as_table(bars, what="bars")
    for col in ("start", "open", "high", "low", "close", "volume"):
        if col not in table.column_names:
            raise SchemaError(f"bars need a '{col}' column; got {table.column_names}")
    if "symbol" not in table.column_names:
        if symbol is None:
            raise SchemaError("bars have no 'symbol' column; pass symbol=...")
        names = [symbol]
        offsets = np.array([0, table.num_rows], np.int64)
        order = None
    else:
        names, offsets, order = _layout(table)
    if symbols is not None:
        wanted = sorted(set(symbols))
        missing = [s for s in wanted if s not in names]
        if missing:
            raise UnknownSymbolError(f"no bars for symbol(s) {missing}; the data has {names[:20]}")
    if order is not None:
        table = table.take(pa.array(order))
    cols = {c: _column(table, c) for c in _PRICE + ("volume",)}
    cols["vwap"] = _column(table, "vwap") if "vwap" in table.column_names else cols["close"]
    out = BarArrays(
        list(names),
        offsets,
        _column(table, "start"),
        cols["open"],
        cols["high"],
        cols["low"],
        cols["close"],
        cols["volume"],
        cols["vwap"],
        timezone,
    )
    if symbols is not None:
        out = out.select(symbols)
    if check:
        _check(out)
    return out


def _is_column_dict(obj: Mapping[str, Any]) -> bool:
    return "start" in obj and "close" in obj


def _layout(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray | None]:
    """Symbols, segment offsets and the row order that sorts by (symbol, start) (None when the
    table already is sorted that way)."""
    sym = table.column("symbol")
    if pa.types.is_dictionary(sym.type):
        sym = sym.cast(sym.type.value_type)
    sym = sym.combine_chunks() if sym.num_chunks != 1 else sym.chunk(0)
    if len(sym) and sym.null_count == 0 and _single_value(sym):
        return [str(sym[0].as_py())], np.array([0, len(sym)], np.int64), None
    enc = sym.dictionary_encode()
    names = [str(x) for x in enc.dictionary.to_pylist()]
    rank = np.argsort(np.argsort(np.array(names, dtype=object)))
    codes = rank[enc.indices.to_numpy(zero_copy_only=False)]
    start = (
        table.column("start").cast(pa.int64()).to_numpy()
        if not pa.types.is_timestamp(table.column("start").type)
        else _column(table, "start")
    )
    sorted_names = sorted(names)
    counts = np.bincount(codes, minlength=len(names))
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    in_order = bool((np.diff(codes) >= 0).all())
    if in_order:
        return sorted_names, offsets, None
    order = np.lexsort((start, codes))
    return sorted_names, offsets, order


def _single_value(sym: pa.Array) -> bool:
    """Whether every value of a string array equals the first, reading its buffers in one
    compiled pass (no per-value comparison, no copy)."""
    if not (pa.types.is_string(sym.type) or pa.types.is_large_string(sym.type)):
        return bool(pc.all(pc.equal(sym, sym[0])).as_py())
    width = np.int64 if pa.types.is_large_string(sym.type) else np.int32
    bufs = sym.buffers()
    offsets = np.frombuffer(bufs[1], dtype=width)[sym.offset : sym.offset + len(sym) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.zeros(0, np.uint8)
    return bool(all_equal_strings(offsets, data))
