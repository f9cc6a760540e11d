"""``quant-engine bars``: aggregate a file of ticks into time bars."""

from __future__ import annotations

import argparse
import re
from typing import Any

from quant_engine.cli.options import positive_int

__all__ = ["register", "normalize_ticks", "unit_hint", "rejection_summary"]

#: Nanoseconds per unit of integer timestamps (``--ts-unit``).
_UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


def register(subparsers: Any) -> None:
    """Adds the ``bars`` command."""
    bars = subparsers.add_parser(
        "bars",
        help="aggregate a Parquet or CSV file of ticks into bars",
        description=(
            "Aggregates ticks (columns ts, symbol, price, size) from a Parquet, CSV or Arrow file into time "
            "bars and writes them to --out (format by suffix: .parquet, .csv, .csv.gz, .arrow). ts may be a "
            "timestamp, an ISO string or an integer (see --ts-unit); naive timestamps are UTC unless --tz is "
            "given. Fails (exit 2) when no tick is valid, with the count of rejections by reason."
        ),
    )
    bars.add_argument("input", help="file of ticks (.parquet, .csv, .csv.gz, .arrow)")
    bars.add_argument("--interval", default="1m", help="bar interval, 1s..1d (default 1m)")
    bars.add_argument("--out", required=True, help="output file, format by suffix (.parquet, .csv, .csv.gz, .arrow)")
    bars.add_argument(
        "--origin", default=None, help="grid origin: 'epoch' (default), an ISO instant, or 'HH:MM Area/City'"
    )
    bars.add_argument("--ts-column", default="ts", help="name of the timestamp column (default ts)")
    bars.add_argument(
        "--ts-unit", default="ns", choices=["s", "ms", "us", "ns"], help="unit of integer timestamps (default ns)"
    )
    bars.add_argument("--tz", default=None, help="time zone of naive timestamps, e.g. America/New_York (default UTC)")
    bars.add_argument("--symbol", default=None, help="symbol for inputs without a symbol column")
    bars.add_argument("--fill-gaps", action="store_true", help="insert flat zero-volume bars for empty intervals")
    bars.add_argument("--strict", action="store_true", help="fail if any tick is rejected")
    bars.add_argument(
        "--batch-size", type=positive_int, default=1_000_000, help="rows read per batch (default 1000000)"
    )
    bars.set_defaults(func=_cmd_bars)


def unit_hint(raw_ts: int | None, unit: str) -> str:
    """A hint naming the ``--ts-unit`` that puts the integer timestamp ``raw_ts`` inside the engine's
    time range (1980..2200) when ``unit`` does not, else ``""``."""
    from quant_engine import _core

    if raw_ts is None or _core.MIN_TS <= raw_ts * _UNIT_NS[unit] < _core.MAX_TS:
        return ""
    for u, ns in _UNIT_NS.items():
        if _core.MIN_TS <= raw_ts * ns < _core.MAX_TS:
            return f"; the integer timestamps look like {_UNIT_NAMES[u]} (e.g. {raw_ts}): try --ts-unit {u}"
    return ""


def rejection_summary(rejected: dict[str, int]) -> str:
    """``"non_finite_price 3, ts_out_of_range 1"``: the non-zero rejection counts, largest first."""
    return ", ".join(f"{k} {v:,}" for k, v in sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])) if v)


def normalize_ticks(batch: Any, args: argparse.Namespace, int_ts: list[int] | None = None) -> Any:
    """One batch of ticks as a table with a timestamp ``ts`` and a ``symbol`` (--ts-column/--ts-unit/--tz/--symbol).

    If ``int_ts`` is given and the timestamps are integers, the batch's largest one is appended to it
    (for :func:`unit_hint`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from quant_engine.errors import SchemaError

    table = pa.Table.from_batches([batch])
    if args.ts_column != "ts":
        if args.ts_column not in table.column_names:
            raise SchemaError(f"no column '{args.ts_column}' in the input (columns: {table.column_names})")
        table = table.rename_columns(["ts" if c == args.ts_column else c for c in table.column_names])
    if "ts" not in table.column_names:
        raise SchemaError(f"the input needs a 'ts' column (or --ts-column); columns: {table.column_names}")
    ts = table.column("ts")
    if pa.types.is_integer(ts.type):
        if int_ts is not None and ts.null_count < len(ts):
            int_ts.append(int(pc.max(ts).as_py()))
        ts = ts.cast(pa.int64()).cast(pa.timestamp(args.ts_unit))
    elif pa.types.is_string(ts.type) or pa.types.is_large_string(ts.type):
        try:  # ISO-8601 without an offset (then --tz applies) ...
            ts = pc.cast(ts, pa.timestamp("ns"))
        except pa.ArrowInvalid:  # ... or with one ("Z", "+01:00")
            try:
                ts = pc.cast(ts, pa.timestamp("ns", tz="UTC"))
            except pa.ArrowInvalid as exc:
                found = re.search(r"Failed to parse string: '([^']*)'", str(exc))
                value = f" such as '{found.group(1)}'" if found else ""
                if found and _is_naive_time(found.group(1)):
                    raise SchemaError(
                        f"column '{args.ts_column}' mixes times with and without a UTC offset{value}: "
                        "use one form (naive times take --tz)"
                    ) from None
                raise SchemaError(
                    f"column '{args.ts_column}' has values{value} that are not times: use ISO-8601 "
                    "(2024-01-02T09:30:00, 2024-01-02T14:30:00Z, 2024-01-02T09:30:00-05:00) or integers with --ts-unit"
                ) from None
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None and args.tz:
        ts = pc.assume_timezone(ts, args.tz, ambiguous="earliest", nonexistent="earliest")
    table = table.set_column(table.column_names.index("ts"), "ts", ts)
    if "symbol" not in table.column_names:
        if not args.symbol:
            raise SchemaError("the input has no 'symbol' column; pass --symbol SYMBOL")
        table = table.append_column("symbol", pa.array([args.symbol] * table.num_rows, pa.string()))
    return table


def _is_naive_time(text: str) -> bool:
    """True if ``text`` is an ISO-8601 time without a UTC offset."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        pc.cast(pa.array([text]), pa.timestamp("ns"))
    except pa.ArrowInvalid:
        return False
    return True


def _cmd_bars(args: argparse.Namespace) -> int:
    from quant_engine import _core
    from quant_engine.bars import _origin_arg
    from quant_engine.cli.console import echo, progress
    from quant_engine.cli.tables import check_input, iter_batches, prepare_output, write_table
    from quant_engine.errors import BadDataError
    from quant_engine.times import duration_ns

    path = check_input(args.input)
    out = prepare_output(args.out)
    agg = _core.TickAggregator(duration_ns(args.interval, "interval"), _origin_arg(args.origin), args.fill_gaps, None)
    batches, total = iter_batches(path, args.batch_size)
    n = 0
    int_ts: list[int] = []
    with progress() as bar:
        task = bar.add_task(f"aggregating {path.name}", total=total)
        for batch in batches:
            agg.push(normalize_ticks(batch, args, int_ts))
            n += batch.num_rows
            bar.update(task, completed=n)
    bars = agg.finish()
    stats = agg.stats()
    rejected = {k: v for k, v in stats["rejected"].items() if v}
    hint = unit_hint(max(int_ts), args.ts_unit) if int_ts and rejected.get("ts_out_of_range") else ""
    if not stats["ticks_seen"]:
        raise BadDataError(f"{path}: no ticks in the file; nothing written")
    if not bars.num_rows:
        raise BadDataError(
            f"{path}: all {stats['ticks_seen']:,} ticks were rejected ({rejection_summary(rejected)}){hint}; nothing written"
        )
    if args.strict and stats["ticks_rejected"]:
        raise BadDataError(
            f"{path}: {stats['ticks_rejected']:,} of {stats['ticks_seen']:,} ticks rejected "
            f"({rejection_summary(rejected)}){hint}; nothing written (--strict)"
        )
    write_table(bars, out)
    echo(
        f"{stats['ticks_seen']:,} ticks -> {bars.num_rows:,} bars "
        f"({len(set(bars.column('symbol').to_pylist()))} symbols) written to {out}; "
        f"rejected: {rejection_summary(rejected) or 'none'}{hint}"
    )
    return 0
