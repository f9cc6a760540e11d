"""The local market-data catalog: a Parquet dataset on disk, partitioned Hive-style by data
kind, symbol and New York session date::

    <root>/kind=trades/symbol=AAPL/date=2024-01-02/part-0.parquet
    <root>/kind=quotes/symbol=AAPL/date=2024-01-02/part-0.parquet
    <root>/kind=bars-1m/symbol=AAPL/date=2024-01-02/part-0.parquet

Files hold every column except the partition keys (``kind``, ``symbol``, ``date``), sorted by
time, with ``ts`` (or ``start`` for bars) as ``timestamp[ns, UTC]``. The layout is read as is by
DuckDB (``read_parquet('<root>/kind=trades/**/*.parquet', hive_partitioning=true)``), Polars
(``pl.scan_parquet(..., hive_partitioning=True)``) and ``pyarrow.dataset``.

* :meth:`Catalog.append` merges new rows into their partitions without duplicates (a row equal
  in every column to a stored row is dropped) and rewrites each touched partition atomically
  (write to a temporary file, then rename).
* :meth:`Catalog.read` pushes the symbol and date filters down to the partition directories and
  the time filter down to the Parquet row groups.
* :meth:`Catalog.ingest` imports a user's CSV or Parquet file (``quant-engine ingest``). Trades and
  bars the bar engine would reject (null fields, times outside 1980..2200, non-finite or
  non-positive prices, non-finite or negative sizes/volumes) are not stored: they are counted by
  reason (the bar engine's reason codes) in the report, and a file with no valid row is an error.

Symbols may use letters, digits and ``. _ - ^ :`` (anything else would need escaping in paths).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from quant_engine import _core
from quant_engine.errors import BadDataError, InvalidArgumentError, NoDataError, SchemaError
from quant_engine.feeds.health import EngineStatus
from quant_engine.memory import check_memory
from quant_engine.schema import BAR_SCHEMA, TIMESTAMP, TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA
from quant_engine.times import duration_ns, instant_ns

__all__ = ["Catalog", "PARTITIONING"]

_SYMBOL = re.compile(r"^[A-Za-z0-9._\-^:]{1,64}$")
_KIND = re.compile(r"^(trades|quotes|bars-[0-9]+(s|m|h|d))$")
PARTITIONING = ds.partitioning(pa.schema([("symbol", pa.string()), ("date", pa.string())]), flavor="hive")
"""The partitioning below each ``kind=`` directory."""


def _schema(kind: str) -> pa.Schema:
    if kind == "trades":
        base = TRADE_SCHEMA
    elif kind == "quotes":
        base = VENDOR_QUOTE_SCHEMA
    else:
        base = BAR_SCHEMA
    fields = [f.with_type(pa.string()) if f.name == "symbol" else f for f in base]
    return pa.schema(fields)


def _time_column(kind: str) -> str:
    return "start" if kind.startswith("bars-") else "ts"


def _check_kind(kind: str) -> str:
    if not _KIND.match(kind):
        raise InvalidArgumentError(
            f"invalid kind: {kind!r} (expected 'trades', 'quotes' or 'bars-<interval>', e.g. 'bars-1m')"
        )
    return kind


def _ny_dates(ts: pa.ChunkedArray | pa.Array) -> pa.Array:
    local = pc.local_timestamp(pc.cast(ts, pa.timestamp("ns", tz="America/New_York")))
    return pc.strftime(local, "%Y-%m-%d")


def _row_bytes(schema: pa.Schema, columns: Sequence[str] | None) -> int:
    """Bytes per row in memory of the named columns (variable-width ones counted as 24)."""
    total = 0
    for f in schema:
        if columns is None or f.name in columns:
            try:
                total += max(1, f.type.bit_width // 8)
            except ValueError:
                total += 24
    return total


def _check_read_memory(dset: ds.Dataset, expr: Any, columns: Sequence[str] | None, kind: str) -> None:
    """Refuses a read whose pruned partitions hold more rows than the memory cap allows (row
    counts from the Parquet footers; the table, its sorted copy and the symbol encoding)."""
    rows = 0
    for frag in dset.get_fragments(filter=expr):
        meta = getattr(frag, "metadata", None)
        rows += meta.num_rows if meta is not None else 0
    check_memory(rows * _row_bytes(dset.schema, columns) * 3, f"reading {rows:,} catalog rows of {kind}")


def _dedupe_sort(t: pa.Table, time_col: str) -> pa.Table:
    """Drops rows equal in every column to an earlier row; sorts by time (then sequence)."""
    if t.num_rows < 2:
        return t
    keys = [time_col] + [c for c in t.column_names if c != time_col]
    order = pc.sort_indices(t, [(k, "ascending") for k in keys])
    t = t.take(order)
    same = np.ones(t.num_rows - 1, dtype=bool)
    for name in t.column_names:
        col = t.column(name).combine_chunks()
        a, b = col.slice(0, t.num_rows - 1), col.slice(1)
        eq = pc.fill_null(pc.equal(a, b), False)
        both_null = pc.and_(pc.is_null(a), pc.is_null(b))
        same &= pc.or_(eq, both_null).to_numpy(zero_copy_only=False)
    keep = np.concatenate([[True], ~same])
    return t.filter(pa.array(keep))


def _valid_rows(t: pa.Table, kind: str, tcol: str) -> tuple[pa.Table, dict[str, int]]:
    """The rows of ``t`` that the bar engine would accept, and the others counted by the first
    failing check in the engine's order (null field, time range, price, size). Quotes pass as is."""
    if kind == "quotes" or not t.num_rows:
        return t, {}
    prices, sizes = (["price"], "size") if kind == "trades" else (["open", "high", "low", "close"], "volume")
    present = [c for c in [tcol, "symbol", *prices, sizes] if c in t.column_names]
    if len(present) < 2 + len(prices) + 1:
        return t, {}  # a missing column is the schema check's to report
    n = t.num_rows
    bad = np.zeros(n, bool)
    counts: dict[str, int] = {}

    def mark(reason: str, cond: Any) -> None:
        new = cond & ~bad
        if new.any():
            counts[reason] = counts.get(reason, 0) + int(new.sum())
            bad[new] = True

    def floats(name: str) -> np.ndarray:
        return np.asarray(pc.cast(t.column(name), pa.float64()).fill_null(np.nan).to_numpy(), np.float64)

    mark(
        "null_field",
        np.asarray(np.any([t.column(c).is_null().to_numpy(zero_copy_only=False) for c in present], axis=0), bool),
    )
    ts = np.asarray(pc.cast(t.column(tcol), pa.int64()).fill_null(0).to_numpy(), np.int64)
    mark("ts_out_of_range", (ts < _core.MIN_TS) | (ts >= _core.MAX_TS))
    p = np.stack([floats(c) for c in prices])
    mark("non_finite_price", ~np.isfinite(p).all(axis=0))
    mark("non_positive_price", (p <= 0.0).any(axis=0))
    size = floats(sizes)
    mark("non_finite_size", ~np.isfinite(size))
    mark("negative_size", size < 0.0)
    return (t.filter(pa.array(~bad)) if counts else t), counts


class Catalog:
    """A Parquet market-data catalog rooted at ``root`` (created on first write)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"Catalog({str(self.root)!r})"

    # ------------------------------------------------------------------------------ writing
    def _normalize(self, kind: str, table: Any) -> pa.Table:
        t = table if isinstance(table, pa.Table) else pa.table(table)
        schema = _schema(kind)
        tcol = _time_column(kind)
        missing = [f.name for f in schema if not f.nullable and f.name not in t.column_names]
        if missing:
            raise SchemaError(f"{kind} rows need columns {missing}; got {t.column_names}")
        cols = []
        for f in schema:
            if f.name in t.column_names:
                col = t.column(f.name)
                if f.name == tcol and pa.types.is_integer(col.type):
                    col = pc.cast(pc.cast(col, pa.int64()), TIMESTAMP)
                cols.append(pc.cast(col, f.type))
            else:
                cols.append(pa.chunked_array([pa.nulls(t.num_rows, f.type)]))
        out = pa.Table.from_arrays(cols, schema=schema)
        bad = [s for s in pc.unique(out.column("symbol")).to_pylist() if s is None or not _SYMBOL.match(s)]
        if bad:
            raise InvalidArgumentError(f"invalid symbol(s) {bad[:5]}: use letters, digits and . _ - ^ :")
        if out.column(tcol).null_count:
            raise SchemaError(f"column '{tcol}' has nulls")
        return out

    def _partition_dir(self, kind: str, symbol: str, date: str) -> Path:
        return self.root / f"kind={kind}" / f"symbol={symbol}" / f"date={date}"

    def append(self, kind: str, table: Any) -> dict[str, int]:
        """Merges ``table`` into the catalog. Returns ``{"rows_in", "rows_added",
        "partitions"}``."""
        _check_kind(kind)
        t = self._normalize(kind, table)
        tcol = _time_column(kind)
        if not t.num_rows:
            return {"rows_in": 0, "rows_added": 0, "partitions": 0}
        dates = _ny_dates(t.column(tcol))
        t = t.append_column("__date", dates)
        t = t.take(pc.sort_indices(t, [("symbol", "ascending"), ("__date", "ascending")]))
        sym = t.column("symbol").to_numpy(zero_copy_only=False)
        day = t.column("__date").to_numpy(zero_copy_only=False)
        cut = np.nonzero((sym[1:] != sym[:-1]) | (day[1:] != day[:-1]))[0] + 1
        bounds = np.concatenate([[0], cut, [t.num_rows]])
        added = 0
        for a, b in zip(bounds[:-1], bounds[1:]):
            part = t.slice(int(a), int(b - a))
            added += self._merge_partition(kind, str(sym[a]), str(day[a]), part.drop(["symbol", "__date"]), tcol)
        return {"rows_in": t.num_rows, "rows_added": added, "partitions": len(bounds) - 1}

    def _merge_partition(self, kind: str, symbol: str, date: str, rows: pa.Table, tcol: str) -> int:
        d = self._partition_dir(kind, symbol, date)
        d.mkdir(parents=True, exist_ok=True)
        target = d / "part-0.parquet"
        before = 0
        if target.exists():
            old = pq.read_table(target)
            before = old.num_rows
            rows = pa.concat_tables([old.cast(rows.schema), rows])
        merged = _dedupe_sort(rows, tcol)
        tmp = d / f".tmp-{uuid.uuid4().hex}.parquet"
        pq.write_table(merged, tmp, compression="zstd", row_group_size=256_000)
        os.replace(tmp, target)
        return merged.num_rows - before

    # ------------------------------------------------------------------------------ reading
    def kinds(self) -> list[str]:
        """The data kinds stored."""
        if not self.root.exists():
            return []
        return sorted(p.name.split("=", 1)[1] for p in self.root.glob("kind=*") if p.is_dir())

    def symbols(self, kind: str = "trades") -> list[str]:
        """The symbols stored for ``kind``."""
        base = self.root / f"kind={_check_kind(kind)}"
        return sorted(p.name.split("=", 1)[1] for p in base.glob("symbol=*") if p.is_dir()) if base.exists() else []

    def dates(self, kind: str, symbol: str) -> list[str]:
        """The session dates stored for one symbol."""
        base = self.root / f"kind={_check_kind(kind)}" / f"symbol={symbol}"
        return sorted(p.name.split("=", 1)[1] for p in base.glob("date=*") if p.is_dir()) if base.exists() else []

    def dataset(self, kind: str) -> ds.Dataset:
        """The ``pyarrow.dataset`` of one kind (partition columns ``symbol``, ``date``)."""
        base = self.root / f"kind={_check_kind(kind)}"
        if not base.exists():
            raise NoDataError(f"the catalog at {self.root} has no {kind}", vendor="catalog")
        return ds.dataset(
            base,
            format="parquet",
            partitioning=PARTITIONING,
            exclude_invalid_files=True,
            ignore_prefixes=[".tmp-", "."],
        )

    def read(
        self,
        kind: str,
        symbols: Iterable[str] | str | None = None,
        start: Any = None,
        end: Any = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of ``kind`` for ``symbols`` (all by default) with time in ``[start, end)``,
        sorted by symbol then time; the symbol column is a plain ``string``.

        Raises:
            ResourceLimitError: the partitions to read hold more rows than the memory cap allows
                (``QE_MEMORY_CAP``; counted from the Parquet footers before reading)."""
        dset = self.dataset(kind)
        tcol = _time_column(kind)
        expr = None

        def both(a: Any, b: Any) -> Any:
            return b if a is None else a & b

        if symbols is not None:
            syms = [symbols] if isinstance(symbols, str) else list(symbols)
            expr = both(expr, ds.field("symbol").isin(syms))
        if start is not None:
            s = instant_ns(start, "start")
            expr = both(expr, ds.field("date") >= _ny_dates(pa.array([s], TIMESTAMP))[0].as_py())
            expr = both(expr, ds.field(tcol) >= pa.scalar(s, TIMESTAMP))
        if end is not None:
            e = instant_ns(end, "end")
            expr = both(expr, ds.field("date") <= _ny_dates(pa.array([e], TIMESTAMP))[0].as_py())
            expr = both(expr, ds.field(tcol) < pa.scalar(e, TIMESTAMP))
        cols = None
        if columns is not None:
            cols = list(dict.fromkeys([*columns, "symbol", tcol]))
        _check_read_memory(dset, expr, cols, kind)
        t = dset.to_table(filter=expr, columns=cols)
        t = t.drop([c for c in ("date",) if c in t.column_names and (columns is None or c not in columns)])
        t = t.take(pc.sort_indices(t, [("symbol", "ascending"), (tcol, "ascending")])) if t.num_rows else t
        if "symbol" in t.column_names:
            idx = t.column_names.index("symbol")
            t = t.set_column(idx, "symbol", pc.cast(t.column("symbol"), pa.string()))
            order = [tcol, "symbol"] + [c for c in t.column_names if c not in (tcol, "symbol")]
            t = t.select(order)
        return t

    def bars(self, symbols: Iterable[str] | str | None, start: Any, end: Any, interval: str = "1m") -> pa.Table:
        """Bars of ``interval``: stored ``bars-<interval>`` if any, else aggregated from the
        stored trades (daily bars aligned to New York midnight)."""
        from quant_engine.bars import aggregate_ticks

        kind = f"bars-{interval}"
        if kind in self.kinds():
            t = self.read(kind, symbols, start, end)
            if t.num_rows:
                return t.set_column(
                    t.column_names.index("symbol"), "symbol", pc.cast(t.column("symbol"), pa.string())
                ).select(list(BAR_SCHEMA.names))
        trades = self.read("trades", symbols, start, end)
        if not trades.num_rows:
            raise NoDataError(f"the catalog has no trades for {symbols} in the range", vendor="catalog")
        origin = "00:00 America/New_York" if duration_ns(interval) >= 86_400_000_000_000 else None
        return aggregate_ticks(trades, interval, origin)

    # ------------------------------------------------------------------------------ import
    def ingest(
        self,
        path: str | os.PathLike[str] | pa.Table | Iterable[pa.RecordBatch],
        kind: str = "trades",
        *,
        symbol: str | None = None,
        ts_column: str = "ts",
        ts_unit: str = "ns",
        tz: str | None = None,
        columns: dict[str, str] | None = None,
        batch_size: int = 1_000_000,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Imports a CSV or Parquet file (or a table, or record batches already read: then ``name``
        labels them in errors). ``columns`` renames input columns; ``ts_column`` names
        the timestamp (ISO strings, timestamps, or integers in ``ts_unit``; naive times are in
        ``tz``, UTC by default); ``symbol`` fills a missing symbol column. Trades without a
        ``sequence`` get their row number in the file, so importing the same file twice adds
        nothing. Rows the bar engine would reject are not stored but counted by reason
        (``rows_rejected``, ``rejected``); :class:`~quant_engine.errors.BadDataError` if no row of
        the file is valid. Returns the append report summed over batches (``rows_in`` counts every
        row read)."""
        import pyarrow.csv as pacsv

        _check_kind(kind)
        batches: Iterable[pa.RecordBatch]
        p: str | Path
        if isinstance(path, pa.Table):
            p, batches = name or "input", path.to_batches(max_chunksize=batch_size)
        elif not isinstance(path, (str, os.PathLike)):
            p, batches = name or "input", path
        else:
            p = file = Path(path)
            if not p.exists():
                raise FileNotFoundError(f"{p}: no such file")
            if file.suffix.lower() in (".parquet", ".pq"):
                batches = pq.ParquetFile(p).iter_batches(batch_size=batch_size)
            elif file.suffix.lower() in (".csv", ".txt") or file.name.endswith(".csv.gz"):
                convert = pacsv.ConvertOptions(column_types={"symbol": pa.string()})
                batches = pacsv.open_csv(p, convert_options=convert, read_options=pacsv.ReadOptions(block_size=1 << 24))
            else:
                raise InvalidArgumentError(f"{p}: unsupported file type (use .parquet or .csv)")
        total = {"rows_in": 0, "rows_added": 0, "partitions": 0}
        rejected: dict[str, int] = {}
        offset = 0
        tcol = _time_column(kind)
        for batch in batches:
            t = pa.Table.from_batches([batch])
            if columns:
                t = t.rename_columns([columns.get(c, c) for c in t.column_names])
            if ts_column != tcol and ts_column in t.column_names:
                t = t.rename_columns([tcol if c == ts_column else c for c in t.column_names])
            if tcol not in t.column_names:
                raise SchemaError(f"{p}: no timestamp column '{ts_column}' (columns: {t.column_names})")
            ts = t.column(tcol)
            if pa.types.is_integer(ts.type):
                ts = pc.cast(pc.cast(ts, pa.int64()), pa.timestamp(ts_unit))
            elif pa.types.is_string(ts.type) or pa.types.is_large_string(ts.type):
                try:
                    ts = pc.cast(ts, pa.timestamp("ns"))
                except pa.ArrowInvalid:
                    ts = pc.cast(ts, TIMESTAMP)
            if pa.types.is_timestamp(ts.type) and ts.type.tz is None:
                ts = pc.assume_timezone(ts, tz or "UTC", ambiguous="earliest", nonexistent="earliest")
            t = t.set_column(t.column_names.index(tcol), tcol, pc.cast(ts, TIMESTAMP))
            if "symbol" not in t.column_names:
                if not symbol:
                    raise SchemaError(f"{p}: no 'symbol' column; pass symbol=")
                t = t.append_column("symbol", pa.array([symbol] * t.num_rows, pa.string()))
            if kind == "trades" and "sequence" not in t.column_names:
                t = t.append_column("sequence", pa.array(np.arange(offset, offset + t.num_rows, dtype=np.int64)))
            offset += t.num_rows
            valid, counts = _valid_rows(t, kind, tcol)
            for reason, c in counts.items():
                rejected[reason] = rejected.get(reason, 0) + c
            rep = self.append(kind, valid)
            total["rows_in"] += t.num_rows
            total["rows_added"] += rep["rows_added"]
            total["partitions"] += rep["partitions"]
        n_rejected = sum(rejected.values())
        if total["rows_in"] and n_rejected == total["rows_in"]:
            reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(rejected.items(), key=lambda kv: -kv[1]))
            raise BadDataError(f"{p}: all {n_rejected:,} rows were rejected ({reasons}); nothing stored")
        return {**total, "rows_rejected": n_rejected, "rejected": rejected}

    def status(self) -> EngineStatus:
        """``online`` when the catalog holds data, ``degraded`` when it exists but is empty,
        ``offline`` when the directory is missing or unreadable."""
        details: dict[str, Any] = {"root": str(self.root)}
        if not self.root.exists():
            return EngineStatus("catalog", "offline", f"no catalog at {self.root}", details=details)
        if not os.access(self.root, os.R_OK):
            return EngineStatus("catalog", "offline", f"{self.root} is not readable", details=details)
        kinds = self.kinds()
        details["kinds"] = {k: len(self.symbols(k)) for k in kinds}
        if not kinds:
            return EngineStatus("catalog", "degraded", "the catalog is empty", details=details)
        return EngineStatus("catalog", "online", "", details=details)

    def first_date(self) -> dt.date | None:
        """The earliest stored trade date, if any."""
        dates = [d for s in self.symbols("trades") for d in self.dates("trades", s)] if "trades" in self.kinds() else []
        return dt.date.fromisoformat(min(dates)) if dates else None
