"""``quant-engine run``: the main job. Streams the seeded synthetic market batch by batch through a
``MultiSymbolBuffer``, prints a per-symbol summary and writes every closed bar to a table file.

It needs only the runtime dependencies (pyarrow, rich): the summary is computed with
``pyarrow.compute``, never pandas.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from quant_engine.cli.options import add_synthetic_market, positive_int

__all__ = ["register", "summarize"]


def register(subparsers: Any) -> None:
    """Adds the ``run`` command."""
    run = subparsers.add_parser(
        "run",
        help="the main job: stream a seeded synthetic market live into bars",
        description=(
            "Streams a seeded synthetic market (the embedded default data source) tick batch by "
            "tick batch through a MultiSymbolBuffer, prints a per-symbol summary and writes every "
            "closed bar to a table file (.parquet, .csv, .csv.gz or .arrow by suffix)."
        ),
    )
    run.add_argument("--symbols", default="", help="comma-separated symbols (default: 10 large caps)")
    add_synthetic_market(run, days=1, ticks_per_day=200_000, prefix="")
    run.add_argument("--interval", default="1m", help="bar interval, 1s..1d (default 1m)")
    run.add_argument("--capacity", type=positive_int, default=500, help="rolling window length in bars (default 500)")
    run.add_argument("--min-bars", type=int, default=50, help="cold-start gate in bars (default 50)")
    run.add_argument("--batch-size", type=positive_int, default=5_000, help="ticks per pushed batch (default 5000)")
    run.add_argument(
        "--out", default="out/bars.parquet", help="output file, format by suffix (default out/bars.parquet)"
    )
    run.set_defaults(func=_cmd_run)


def summarize(bars: Any) -> list[dict[str, Any]]:
    """Per-symbol rows of a bar table sorted by (symbol, start): ticks, bars, first open, last close,
    low, high and the volume-weighted average price (NaN without volume), sorted by symbol."""
    import pyarrow as pa
    import pyarrow.compute as pc

    pv = pc.multiply(bars.column("vwap"), bars.column("volume"))
    pv = pc.if_else(pc.is_nan(pv), pa.scalar(None, pa.float64()), pv)  # a bar without trades adds nothing
    table = bars.select(["symbol", "trades", "open", "close", "low", "high", "volume"]).append_column("pv", pv)
    if pa.types.is_dictionary(table.column("symbol").type):
        table = table.set_column(0, "symbol", table.column("symbol").cast(pa.string()))
    aggs = [
        ("trades", "sum"),
        ([], "count_all"),
        ("open", "first"),
        ("close", "last"),
        ("low", "min"),
        ("high", "max"),
        ("volume", "sum"),
        ("pv", "sum"),
    ]
    grouped = table.group_by("symbol", use_threads=False).aggregate(aggs).sort_by("symbol")
    rows = []
    for g in grouped.to_pylist():
        vol = g["volume_sum"] or 0.0
        rows.append(
            {
                "symbol": g["symbol"],
                "ticks": int(g["trades_sum"] or 0),
                "bars": int(g["count_all"]),
                "open": g["open_first"],
                "close": g["close_last"],
                "low": g["low_min"],
                "high": g["high_max"],
                "vwap": (g["pv_sum"] or 0.0) / vol if vol else float("nan"),
            }
        )
    return rows


def _cmd_run(args: argparse.Namespace) -> int:
    import pyarrow as pa
    from rich.table import Table

    from quant_engine.bars import MultiSymbolBuffer
    from quant_engine.cli.console import console, echo, progress
    from quant_engine.cli.tables import prepare_output, write_table
    from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket

    out = prepare_output(args.out)
    symbols = [s for s in args.symbols.split(",") if s] or list(DEFAULT_SYMBOLS)
    market = SyntheticMarket(
        seed=args.seed, symbols=symbols, start=args.start, days=args.days, ticks_per_day=args.ticks_per_day
    )
    buffer = MultiSymbolBuffer(symbols, interval=args.interval, capacity=args.capacity, min_bars=args.min_bars)
    closed: list[pa.Table] = []
    n_ticks = 0
    started = time.perf_counter()
    push_seconds = 0.0
    expected = args.ticks_per_day * len(symbols) * args.days
    with progress() as bar:
        task = bar.add_task("streaming ticks", total=expected)
        for batch in market.tick_batches(args.batch_size):
            t0 = time.perf_counter()
            closed_now = buffer.push(batch)
            push_seconds += time.perf_counter() - t0
            if closed_now.num_rows:
                closed.append(closed_now)
            n_ticks += batch.num_rows
            bar.update(task, completed=min(n_ticks, expected))
        bar.update(task, completed=expected)
    tail = buffer.flush()
    if tail.num_rows:
        closed.append(tail)
    elapsed = time.perf_counter() - started
    all_bars = pa.concat_tables(closed) if closed else buffer.snapshot()
    all_bars = all_bars.sort_by([("symbol", "ascending"), ("start", "ascending")])
    write_table(all_bars, out)

    table = Table(title=f"{len(symbols)} symbols, {args.days} day(s), {args.interval} bars (seed {args.seed})")
    for col in ("symbol", "ticks", "bars", "open", "close", "return", "low", "high", "vwap", "ready"):
        table.add_column(col, justify="left" if col == "symbol" else "right")
    for r in summarize(all_bars):
        sym = str(r["symbol"])
        table.add_row(
            sym,
            f"{r['ticks']:,}",
            f"{r['bars']:,}",
            f"{r['open']:.2f}",
            f"{r['close']:.2f}",
            f"{(r['close'] / r['open'] - 1) * 100:+.2f}%",
            f"{r['low']:.2f}",
            f"{r['high']:.2f}",
            f"{r['vwap']:.2f}",
            "yes" if buffer.is_ready(sym) else f"no ({buffer.warmup_requirement(sym)} bars short)",
        )
    console().print(table)
    rejected = {k: v for k, v in buffer.stats()["rejected"].items() if v}
    echo(
        f"{n_ticks:,} ticks -> {all_bars.num_rows:,} bars in {elapsed:.2f} s "
        f"(bar engine: {n_ticks / max(push_seconds, 1e-9) / 1e6:,.1f} M ticks/s); "
        f"rejected: {rejected or 'none'}; bars written to {out}"
    )
    return 0
