"""The ``quant-engine`` command.

Subcommands (each has ``--help``):

* ``run``: the main job on the embedded default: a seeded synthetic market streamed live into
  bars (per-symbol summary printed, bars written to Parquet).
* ``bars``: aggregate a Parquet or CSV file of ticks into bars.
* ``sandbox``: start a local vendor server (a fake Theta Terminal or a fake Massive).
* ``ingest``: import a CSV or Parquet file (or the synthetic market) into the catalog.
* ``feeds``: the market-data engines' status.

Errors print one clear line on stderr and exit with status 2 (bad input) or 1 (anything else).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]


def _progress(total: int | None, description: str) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    progress = Progress(*columns, transient=False, disable=not sys.stderr.isatty())
    return progress


def _cmd_run(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.table import Table

    from quant_engine.bars import MultiSymbolBuffer
    from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket

    console = Console(width=None if sys.stdout.isatty() else 120)
    symbols = args.symbols.split(",") if args.symbols else list(DEFAULT_SYMBOLS)
    market = SyntheticMarket(
        seed=args.seed, symbols=symbols, start=args.start, days=args.days, ticks_per_day=args.ticks_per_day
    )
    buffer = MultiSymbolBuffer(symbols, interval=args.interval, capacity=args.capacity, min_bars=args.min_bars)
    closed: list[pa.Table] = []
    n_ticks = 0
    started = time.perf_counter()
    push_seconds = 0.0
    expected = args.ticks_per_day * len(symbols) * args.days
    with _progress(expected, "streaming ticks") as progress:
        task = progress.add_task("streaming ticks", total=expected)
        for batch in market.tick_batches(args.batch_size):
            t0 = time.perf_counter()
            bars = buffer.push(batch)
            push_seconds += time.perf_counter() - t0
            if bars.num_rows:
                closed.append(bars)
            n_ticks += batch.num_rows
            progress.update(task, completed=min(n_ticks, expected))
        progress.update(task, completed=expected)
    tail = buffer.flush()
    if tail.num_rows:
        closed.append(tail)
    elapsed = time.perf_counter() - started
    all_bars = pa.concat_tables(closed) if closed else buffer.snapshot()
    all_bars = all_bars.sort_by([("symbol", "ascending"), ("start", "ascending")])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(all_bars, out)

    stats = buffer.stats()
    table = Table(title=f"{len(symbols)} symbols, {args.days} day(s), {args.interval} bars (seed {args.seed})")
    for col in ("symbol", "ticks", "bars", "open", "close", "return", "low", "high", "vwap", "ready"):
        table.add_column(col, justify="left" if col == "symbol" else "right")
    by_symbol = all_bars.to_pandas().groupby("symbol", sort=True)
    for sym, g in by_symbol:
        vol = float(g["volume"].sum())
        vwap = float((g["vwap"] * g["volume"]).sum() / vol) if vol else float("nan")
        first_open, last_close = float(g["open"].iloc[0]), float(g["close"].iloc[-1])
        table.add_row(
            str(sym),
            f"{int(g['trades'].sum()):,}",
            f"{len(g):,}",
            f"{first_open:.2f}",
            f"{last_close:.2f}",
            f"{(last_close / first_open - 1) * 100:+.2f}%",
            f"{float(g['low'].min()):.2f}",
            f"{float(g['high'].max()):.2f}",
            f"{vwap:.2f}",
            "yes" if buffer.is_ready(str(sym)) else f"no ({buffer.warmup_requirement(str(sym))} bars short)",
        )
    console.print(table)
    rejected = {k: v for k, v in stats["rejected"].items() if v}
    console.print(
        f"{n_ticks:,} ticks -> {all_bars.num_rows:,} bars in {elapsed:.2f} s "
        f"(bar engine: {n_ticks / max(push_seconds, 1e-9) / 1e6:,.1f} M ticks/s); "
        f"rejected: {rejected or 'none'}; bars written to {out}"
    )
    return 0


def _read_ticks(path: Path, args: argparse.Namespace) -> tuple[Iterator[Any], int | None]:
    """Streams record batches from a Parquet or CSV file; returns (batches, total rows or None)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from quant_engine.errors import InvalidArgumentError

    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        pf = pq.ParquetFile(path)
        return pf.iter_batches(batch_size=args.batch_size), pf.metadata.num_rows
    if suffix in (".csv", ".txt") or path.name.endswith(".csv.gz"):
        convert = pacsv.ConvertOptions(column_types={"symbol": pa.string()})
        reader = pacsv.open_csv(path, convert_options=convert, read_options=pacsv.ReadOptions(block_size=1 << 22))
        return iter(reader), None
    raise InvalidArgumentError(f"{path}: unsupported file type '{suffix}' (use .parquet or .csv)")


def _normalize_batch(batch: Any, args: argparse.Namespace) -> Any:
    """Applies --ts-unit / --tz / --symbol to one batch of ticks."""
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
        ts = ts.cast(pa.int64()).cast(pa.timestamp(args.ts_unit))
    elif pa.types.is_string(ts.type) or pa.types.is_large_string(ts.type):
        try:  # ISO-8601 without an offset (then --tz applies) ...
            ts = pc.cast(ts, pa.timestamp("ns"))
        except pa.ArrowInvalid:  # ... or with one ("Z", "+01:00")
            ts = pc.cast(ts, pa.timestamp("ns", tz="UTC"))
    if pa.types.is_timestamp(ts.type) and ts.type.tz is None and args.tz:
        ts = pc.assume_timezone(ts, args.tz, ambiguous="earliest", nonexistent="earliest")
    table = table.set_column(table.column_names.index("ts"), "ts", ts)
    if "symbol" not in table.column_names:
        if not args.symbol:
            raise SchemaError("the input has no 'symbol' column; pass --symbol SYMBOL")
        table = table.append_column("symbol", pa.array([args.symbol] * table.num_rows, pa.string()))
    return table


def _cmd_bars(args: argparse.Namespace) -> int:
    import pyarrow.parquet as pq
    from rich.console import Console

    from quant_engine import _core
    from quant_engine.bars import _origin_arg
    from quant_engine.errors import BadDataError
    from quant_engine.times import duration_ns

    path = Path(args.input)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    agg = _core.TickAggregator(duration_ns(args.interval, "interval"), _origin_arg(args.origin), args.fill_gaps, None)
    batches, total = _read_ticks(path, args)
    n = 0
    with _progress(total, "aggregating") as progress:
        task = progress.add_task(f"aggregating {path.name}", total=total)
        for batch in batches:
            agg.push(_normalize_batch(batch, args))
            n += batch.num_rows
            progress.update(task, completed=n)
    bars = agg.finish()
    stats = agg.stats()
    if args.strict and stats["ticks_rejected"]:
        bad = {k: v for k, v in stats["rejected"].items() if v}
        raise BadDataError(f"{stats['ticks_rejected']} of {stats['ticks_seen']} ticks rejected: {bad}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(bars, out)
    rejected = {k: v for k, v in stats["rejected"].items() if v}
    Console().print(
        f"{stats['ticks_seen']:,} ticks -> {bars.num_rows:,} bars "
        f"({len(set(bars.column('symbol').to_pylist()))} symbols) written to {out}; rejected: {rejected or 'none'}"
    )
    return 0


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from quant_engine.sandbox.runner import run

    return run(args)


def _cmd_ingest(args: argparse.Namespace) -> int:
    from rich.console import Console

    from quant_engine.feeds.catalog import Catalog
    from quant_engine.feeds.config import FeedSettings

    catalog = Catalog(args.catalog or FeedSettings.from_env().catalog_dir)
    console = Console(stderr=False)
    if args.synthetic:
        from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket

        symbols = args.symbols.split(",") if args.symbols else list(DEFAULT_SYMBOLS)
        market = SyntheticMarket(seed=args.seed, symbols=symbols, start=args.start, days=args.days, ticks_per_day=args.ticks_per_day)
        report = catalog.append("trades", market.trades())
        q = catalog.append("quotes", market.quotes()) if args.quotes else {"rows_added": 0}
        console.print(f"synthetic market: {report['rows_added']:,} trades and {q['rows_added']:,} quotes added "
                      f"({report['partitions']} partitions) to {catalog.root}")
        return 0
    if not args.input:
        raise ValueError("give a file to import, or --synthetic")
    columns = dict(kv.split("=", 1) for kv in args.rename.split(",")) if args.rename else None
    report = catalog.ingest(args.input, args.kind, symbol=args.symbol, ts_column=args.ts_column, ts_unit=args.ts_unit,
                            tz=args.tz, columns=columns)
    console.print(f"{report['rows_in']:,} rows read, {report['rows_added']:,} new, {report['partitions']} partition(s) "
                  f"written to {catalog.root} (kind={args.kind})")
    return 0


def _cmd_feeds(args: argparse.Namespace) -> int:
    import json

    from quant_engine.feeds.router import check_data_engines_status

    status = check_data_engines_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="market-data engines")
    for col in ("engine", "state", "reason"):
        table.add_column(col)
    colors = {"online": "green", "degraded": "yellow", "offline": "red"}
    for name, st in status.items():
        table.add_row(name, f"[{colors[st['state']]}]{st['state']}[/]", st["reason"])
    Console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``quant-engine`` command."""
    parser = argparse.ArgumentParser(
        prog="quant-engine",
        description="Performance-first quant research and paper-trading engine.",
    )
    from quant_engine import __version__

    parser.add_argument("--version", action="version", version=f"quant-engine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser(
        "run",
        help="the main job: stream a seeded synthetic market live into bars",
        description=(
            "Streams a seeded synthetic market (the embedded default data source) tick batch by "
            "tick batch through a MultiSymbolBuffer, prints a per-symbol summary and writes every "
            "closed bar to Parquet."
        ),
    )
    run.add_argument("--seed", type=int, default=7, help="random seed of the synthetic market (default 7)")
    run.add_argument("--symbols", default="", help="comma-separated symbols (default: 10 large caps)")
    run.add_argument("--start", default="2024-01-02", help="first session date YYYY-MM-DD (default 2024-01-02)")
    run.add_argument("--days", type=int, default=1, help="number of sessions (default 1)")
    run.add_argument("--ticks-per-day", type=int, default=200_000, help="average ticks per symbol per day (default 200000)")
    run.add_argument("--interval", default="1m", help="bar interval, 1s..1d (default 1m)")
    run.add_argument("--capacity", type=int, default=500, help="rolling window length in bars (default 500)")
    run.add_argument("--min-bars", type=int, default=50, help="cold-start gate in bars (default 50)")
    run.add_argument("--batch-size", type=int, default=5_000, help="ticks per pushed batch (default 5000)")
    run.add_argument("--out", default="out/bars.parquet", help="output Parquet file (default out/bars.parquet)")
    run.set_defaults(func=_cmd_run)

    bars = sub.add_parser(
        "bars",
        help="aggregate a Parquet or CSV file of ticks into bars",
        description=(
            "Aggregates ticks (columns ts, symbol, price, size) from a Parquet or CSV file into time "
            "bars and writes them to Parquet. ts may be a timestamp, an ISO string or an integer "
            "(see --ts-unit); naive timestamps are UTC unless --tz is given."
        ),
    )
    bars.add_argument("input", help="Parquet (.parquet) or CSV (.csv) file of ticks")
    bars.add_argument("--interval", default="1m", help="bar interval, 1s..1d (default 1m)")
    bars.add_argument("--out", required=True, help="output Parquet file")
    bars.add_argument("--origin", default=None, help="grid origin: 'epoch' (default), an ISO instant, or 'HH:MM Area/City'")
    bars.add_argument("--ts-column", default="ts", help="name of the timestamp column (default ts)")
    bars.add_argument("--ts-unit", default="ns", choices=["s", "ms", "us", "ns"], help="unit of integer timestamps (default ns)")
    bars.add_argument("--tz", default=None, help="time zone of naive timestamps, e.g. America/New_York (default UTC)")
    bars.add_argument("--symbol", default=None, help="symbol for inputs without a symbol column")
    bars.add_argument("--fill-gaps", action="store_true", help="insert flat zero-volume bars for empty intervals")
    bars.add_argument("--strict", action="store_true", help="fail if any tick is rejected")
    bars.add_argument("--batch-size", type=int, default=1_000_000, help="rows read per batch (default 1000000)")
    bars.set_defaults(func=_cmd_bars)

    from quant_engine.sandbox.runner import add_arguments

    sandbox = sub.add_parser(
        "sandbox",
        help="start a local vendor server (fake Theta Terminal or fake Massive)",
        description=(
            "Starts a faithful local imitation of a vendor: 'theta' serves the Theta Terminal's v3 REST API "
            "and its /v1/events stream; 'massive' serves Massive's REST API and its /stocks and /options "
            "streams. Data comes from the seeded synthetic market or a catalog (--catalog). Faults can be "
            "set at start (--faults) and changed while running with POST /_sandbox/faults (see docs/feeds.md). "
            "Prints one READY line with the URLs, then serves until interrupted."
        ),
    )
    add_arguments(sandbox)
    sandbox.set_defaults(func=_cmd_sandbox)

    ingest = sub.add_parser(
        "ingest",
        help="import a CSV/Parquet file (or the synthetic market) into the catalog",
        description=(
            "Imports trades, quotes or bars into the Parquet catalog (QE_CATALOG_DIR, or --catalog), "
            "partitioned by kind/symbol/date, without duplicating rows already stored. Naive timestamps "
            "are in --tz (UTC by default); integer timestamps are in --ts-unit."
        ),
    )
    ingest.add_argument("input", nargs="?", help="CSV (.csv) or Parquet (.parquet) file")
    ingest.add_argument("--kind", default="trades", help="trades, quotes or bars-<interval> such as bars-1m (default trades)")
    ingest.add_argument("--catalog", default=None, help="catalog directory (default QE_CATALOG_DIR)")
    ingest.add_argument("--symbol", default=None, help="symbol for files without a symbol column")
    ingest.add_argument("--ts-column", default="ts", help="name of the timestamp column (default ts)")
    ingest.add_argument("--ts-unit", default="ns", choices=["s", "ms", "us", "ns"], help="unit of integer timestamps (default ns)")
    ingest.add_argument("--tz", default=None, help="time zone of naive timestamps (default UTC)")
    ingest.add_argument("--rename", default="", help="column renames, e.g. 'qty=size,px=price'")
    ingest.add_argument("--synthetic", action="store_true", help="import the seeded synthetic market instead of a file")
    ingest.add_argument("--symbols", default="", help="--synthetic: comma-separated symbols")
    ingest.add_argument("--seed", type=int, default=7, help="--synthetic: seed (default 7)")
    ingest.add_argument("--start", default="2024-01-02", help="--synthetic: first session date")
    ingest.add_argument("--days", type=int, default=5, help="--synthetic: sessions (default 5)")
    ingest.add_argument("--ticks-per-day", type=int, default=50_000, help="--synthetic: trades per symbol per day")
    ingest.add_argument("--quotes", action="store_true", help="--synthetic: import quotes too")
    ingest.set_defaults(func=_cmd_ingest)

    feeds = sub.add_parser(
        "feeds",
        help="show the market-data engines' status (ThetaData, Massive, catalog)",
        description="Checks every market-data engine and prints online / degraded / offline with the reason.",
    )
    feeds.add_argument("--json", action="store_true", help="print JSON")
    feeds.set_defaults(func=_cmd_feeds)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quant-engine`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except KeyboardInterrupt:
        print("quant-engine: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line, never a traceback, for any failure
        from quant_engine.errors import InternalError, QuantEngineError

        bad_input = isinstance(exc, (QuantEngineError, ValueError, FileNotFoundError, OSError)) and not isinstance(
            exc, InternalError
        )
        name = type(exc).__name__
        print(f"quant-engine {args.command}: error: {name}: {exc}", file=sys.stderr)
        return 2 if bad_input else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
