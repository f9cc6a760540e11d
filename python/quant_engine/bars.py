"""Ticks into time bars: batch aggregation, live per-symbol buffers, rolling windows.

Semantics (identical in every path, implemented once in Rust):

* A bar covers ``[start, start + interval)`` and is labelled by ``start``. Intervals run from 1 s
  to 1 day. The grid is aligned to an *origin*: the Unix epoch by default, any instant (``int``
  ns, ``datetime``, ISO string), or a daily wall-clock anchor in a time zone such as
  ``"09:30 America/New_York"``, which restarts the grid at 09:30 local time every day (so daily
  bars are one session day long, 23 or 25 hours across DST changes).
* Columns: ``symbol, start, open, high, low, close, volume, vwap, trades``. ``open``/``close`` are
  the prices of the earliest/latest tick by timestamp (ties: first/last to arrive); ``vwap`` is
  ``sum(price * size) / sum(size)`` (``close`` when every size is 0); ``trades`` counts ticks.
  No empty bars are invented unless ``fill_gaps=True`` (then they are flat at the previous
  close with zero volume and trades).
* Streaming closes a bar once the watermark (the latest timestamp seen, or passed to
  ``advance``) reaches ``end + lateness``. A tick whose bar is already closed is *late*: counted
  in ``stats()["rejected"]["late"]`` and dropped, never merged into another bar.
* Bad ticks (null fields, NaN/inf or non-positive price, NaN/inf or negative size, timestamps
  outside 1980..2200, unknown symbols when the symbol set is fixed) are counted by reason and
  skipped; the good ticks of the same batch are still processed.
* Batch aggregation uses every valid tick, in any order. For the same ticks it gives the same
  bars, bit for bit, as the streaming buffers when no tick is late.

Input tables: any Arrow producer (pyarrow, polars, arro3, pandas) with ``ts`` (timestamp of any
unit, or int64 ns; naive timestamps are UTC), ``price`` and ``size`` (numeric), and ``symbol``
(string or dictionary) where several symbols are involved. Outputs are ``pyarrow.Table``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import pyarrow as pa

from quant_engine import _core
from quant_engine.errors import BadDataError, UsageError
from quant_engine.tables import as_arrow, as_table
from quant_engine.times import duration_ns, instant_ns

__all__ = [
    "aggregate_ticks",
    "aggregate_ticks_with_stats",
    "StreamBuffer",
    "MultiSymbolBuffer",
    "ReadyCheck",
    "REJECT_REASONS",
]

REJECT_REASONS: tuple[str, ...] = tuple(_core.REJECT_REASONS)
"""The reason codes of rejected ticks, as they appear in ``stats()["rejected"]``."""

BarCallback = Callable[[pa.Table], Any]


def _origin_arg(origin: Any) -> int | str | None:
    """Normalizes an origin: None, ``"epoch"``, ``"HH:MM[:SS] Zone"``, or an instant (to ns)."""
    if origin is None:
        return None
    if isinstance(origin, str):
        text = origin.strip()
        if text.lower() == "epoch" or (":" in text.split(" ")[0] and "-" not in text.split(" ")[0]):
            return text
    return instant_ns(origin, "origin")


def _arrow_input(ticks: Any, columns: Mapping[str, str] | None = None) -> Any:
    """``ticks`` as Arrow (:func:`quant_engine.tables.as_arrow`: producers as they are, so a
    stream is not read whole), with the ``columns`` renames applied."""
    obj = as_arrow(ticks, what="ticks")
    if columns:
        table = as_table(obj, what="ticks")
        obj = table.rename_columns([columns.get(n, n) for n in table.column_names])
    return obj


def aggregate_ticks_with_stats(
    ticks: Any,
    interval: str | int = "1m",
    origin: Any = None,
    *,
    fill_gaps: bool = False,
    symbols: Iterable[str] | None = None,
    columns: Mapping[str, str] | None = None,
) -> tuple[pa.Table, dict[str, Any]]:
    """Like :func:`aggregate_ticks`, and also returns the counters (ticks seen, rejected by
    reason)."""
    agg = _core.TickAggregator(
        duration_ns(interval, "interval"),
        _origin_arg(origin),
        fill_gaps,
        list(symbols) if symbols is not None else None,
    )
    agg.push(_arrow_input(ticks, columns))
    table = agg.finish()
    return table, agg.stats()


def aggregate_ticks(
    ticks: Any,
    interval: str | int = "1m",
    origin: Any = None,
    *,
    fill_gaps: bool = False,
    symbols: Iterable[str] | None = None,
    columns: Mapping[str, str] | None = None,
    strict: bool = False,
) -> pa.Table:
    """Aggregates a whole table of ticks (many symbols at once) into time bars.

    Args:
        ticks: any Arrow table, record batch or stream (pyarrow, polars, arro3), a pandas
            DataFrame or a dict of arrays, with ``ts``, ``symbol``, ``price``, ``size``.
        interval: bar length, ``"1s"`` .. ``"1d"`` (or int ns).
        origin: grid origin: None/``"epoch"``, an instant, or ``"09:30 America/New_York"``.
        fill_gaps: insert flat zero-volume bars between a symbol's bars.
        symbols: a fixed symbol set; ticks of other symbols are rejected as ``unknown_symbol``.
        columns: renames input columns first, e.g. ``{"timestamp": "ts", "qty": "size"}``.
        strict: raise :class:`~quant_engine.errors.BadDataError` if any tick was rejected.

    Returns:
        A ``pyarrow.Table`` with the bar schema, sorted by symbol, then start.
    """
    table, stats = aggregate_ticks_with_stats(
        ticks, interval, origin, fill_gaps=fill_gaps, symbols=symbols, columns=columns
    )
    if strict and stats["ticks_rejected"]:
        bad = {k: v for k, v in stats["rejected"].items() if v}
        raise BadDataError(f"{stats['ticks_rejected']} of {stats['ticks_seen']} ticks rejected: {bad}")
    return table


class StreamBuffer(_core.StreamBuffer):
    """One symbol's live bar path: ticks in, closed bars out, a rolling window kept.

    ``StreamBuffer(symbol, interval="1m", capacity=500, min_bars=50, lateness="0s")``

    * ``push(ticks)`` takes an Arrow batch/table (``ts, price, size``; a ``symbol`` column is
      optional and other symbols are rejected) or one tick ``push(ts_ns, price, size)``, and
      returns the bars it closed as a ``pyarrow.Table`` (empty when none closed).
      ``push_arrays(ts, price, size)`` takes NumPy arrays.
    * ``advance(ts)`` closes bars by clock time without waiting for the next tick;
      ``flush()`` closes the open bars (end of data).
    * ``bars()`` is the rolling window: the last ``capacity`` closed bars, oldest first.
    * ``warmup(historical_bars)`` injects history at once so a strategy can trade at the open;
      ``is_ready`` is false until ``min_bars`` bars exist; ``warmup_requirement()`` says how many
      are still missing; ``stats()`` returns the counters.
    * ``on_bar`` (optional) is called with the table of closed bars whenever a call closes some.
    """

    def __new__(
        cls,
        symbol: str,
        interval: Any = "1m",
        capacity: int = 500,
        min_bars: int = 50,
        lateness: Any = "0s",
        origin: Any = None,
        fill_gaps: bool = False,
        on_bar: BarCallback | None = None,
    ) -> StreamBuffer:
        return super().__new__(
            cls,
            symbol,
            duration_ns(interval, "interval"),
            capacity,
            min_bars,
            duration_ns(lateness, "lateness"),
            _origin_arg(origin),
            fill_gaps,
            on_bar,
        )

    def get_warmup_requirement(self) -> int:
        """Alias of :meth:`warmup_requirement` (the original quant-engine's name)."""
        return self.warmup_requirement()

    def to_pandas(self) -> Any:
        """The window as a pandas DataFrame."""
        return self.bars().to_pandas()


class ReadyCheck:
    """``MultiSymbolBuffer.is_ready``: call it with a symbol; it has no truth value."""

    __slots__ = ("_buffer",)

    def __init__(self, buffer: MultiSymbolBuffer) -> None:
        self._buffer = buffer

    def __call__(self, symbol: str) -> bool:
        """Whether ``symbol`` has ``min_bars`` bars."""
        return bool(self._buffer.ready(symbol))

    def __bool__(self) -> bool:
        raise UsageError(
            "MultiSymbolBuffer.is_ready needs a symbol: buffer.is_ready('AAPL') (or buffer.ready('AAPL')); "
            "buffer.all_ready for every symbol, buffer.ready_symbols() for the list"
        )

    def __repr__(self) -> str:
        return f"<is_ready of a MultiSymbolBuffer: ready {self._buffer.ready_symbols()}>"


class MultiSymbolBuffer(_core.MultiSymbolBuffer):
    """Many symbols' live bar paths in one Rust object, fed with mixed-symbol batches.

    ``MultiSymbolBuffer(symbols=None, interval="1m", capacity=500, min_bars=50, lateness="0s")``

    With ``symbols=None`` new symbols are registered on first sight; with a list, the set is
    fixed and other symbols are rejected (``unknown_symbol``). Each symbol has its own watermark
    (a symbol's bars close on its own ticks); ``advance(ts)`` moves every symbol's clock.

    Bar-close events: ``push`` returns the closed bars of every symbol as one table; an
    ``on_bar`` callback receives the same table; :meth:`stream` turns an iterable of tick
    batches into an iterator of closed-bar tables.
    """

    def __new__(
        cls,
        symbols: Iterable[str] | None = None,
        interval: Any = "1m",
        capacity: int = 500,
        min_bars: int = 50,
        lateness: Any = "0s",
        origin: Any = None,
        fill_gaps: bool = False,
        on_bar: BarCallback | None = None,
    ) -> MultiSymbolBuffer:
        return super().__new__(
            cls,
            list(symbols) if symbols is not None else None,
            duration_ns(interval, "interval"),
            capacity,
            min_bars,
            duration_ns(lateness, "lateness"),
            _origin_arg(origin),
            fill_gaps,
            on_bar,
        )

    def stream(self, batches: Iterable[Any], *, flush: bool = False) -> Iterator[pa.Table]:
        """Pushes each batch and yields the non-empty tables of bars it closed; with
        ``flush=True`` the open bars are closed and yielded at the end."""
        for batch in batches:
            closed = self.push(batch)
            if closed.num_rows:
                yield closed
        if flush:
            closed = self.flush()
            if closed.num_rows:
                yield closed

    def get_warmup_requirement(self, symbol: str | None = None) -> Any:
        """Alias of :meth:`warmup_requirement` (the original quant-engine's name)."""
        return self.warmup_requirement(symbol)

    @property
    def is_ready(self) -> ReadyCheck:
        """``buffer.is_ready(symbol)``: whether ``symbol`` has ``min_bars`` bars (same as
        :meth:`ready`). Readiness needs a symbol here, so the bare ``if buffer.is_ready:`` (which
        a :class:`StreamBuffer` allows) raises :class:`~quant_engine.errors.UsageError` instead
        of being always true; use :attr:`all_ready` for every symbol."""
        return ReadyCheck(self)

    @property
    def all_ready(self) -> bool:
        """Whether every registered symbol has ``min_bars`` bars (false with no symbol)."""
        return len(self.ready_symbols()) == len(self.symbols()) > 0
