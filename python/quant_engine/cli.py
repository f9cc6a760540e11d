"""The ``quant-engine`` command.

Subcommands (each has ``--help``):

* ``run``: the main job on the embedded default: a seeded synthetic market streamed live into
  bars (per-symbol summary printed, bars written to Parquet).
* ``bars``: aggregate a Parquet or CSV file of ticks into bars.
* ``backtest``: backtest a strategy document on a Parquet file of bars or the synthetic market,
  or sweep its parameters.
* ``instrument``: resolve symbols to their specs (multiplier, tick, terms).
* ``risk-check``: validate a Parquet or CSV file of orders against risk limits.
* ``greeks``: Greeks (and implied volatilities) for an option chain file.
* ``regimes``: regime labels for a bar file.
* ``discover``: a ranked market scan of a daily bar file.
* ``sandbox``: start a local vendor server (a fake Theta Terminal or a fake Massive).
* ``ingest``: import a CSV or Parquet file (or the synthetic market) into the catalog.
* ``feeds``: the market-data engines' status.
* ``warmup``: compile the Numba kernels once (their on-disk cache), as installing does.

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


def _parse_grid(items: Sequence[str]) -> dict[str, list[float]]:
    """``name=v1,v2,...`` or ``name=start:stop[:step]`` (stop excluded) into value lists."""
    import numpy as np

    from quant_engine.errors import InvalidArgumentError

    grid: dict[str, list[float]] = {}
    for item in items:
        name, sep, spec = item.partition("=")
        if not sep or not name or not spec:
            raise InvalidArgumentError(f"invalid --grid '{item}': use name=v1,v2 or name=start:stop[:step]")
        try:
            if ":" in spec:
                parts = [float(x) for x in spec.split(":")]
                step = parts[2] if len(parts) > 2 else 1.0
                grid[name] = np.arange(parts[0], parts[1], step).tolist()
            else:
                grid[name] = [float(x) for x in spec.split(",")]
        except ValueError:
            raise InvalidArgumentError(f"invalid --grid '{item}': values must be numbers") from None
    return grid


def _backtest_bars(args: argparse.Namespace, instruments: list[str], timeframe: str) -> Any:
    import pyarrow.parquet as pq

    from quant_engine.bars import aggregate_ticks
    from quant_engine.feeds.synthetic import SyntheticMarket

    if args.data:
        path = Path(args.data)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        return pq.read_table(path)
    market = SyntheticMarket(seed=args.seed, symbols=instruments, start=args.start, days=args.days, ticks_per_day=args.ticks_per_day)
    return aggregate_ticks(market.ticks(), timeframe)


_SWEEP_COLUMNS = ("sharpe", "total_return", "max_drawdown", "sortino", "trades", "win_rate", "profit_factor", "costs")


def _cmd_backtest(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.table import Table

    from quant_engine.research.backtester import BacktestConfig, backtest, sweep
    from quant_engine.research.tearsheet import format_metric
    from quant_engine.strategy import compile_strategy

    spec_path = Path(args.spec)
    if not spec_path.exists():
        raise FileNotFoundError(f"{spec_path}: no such file")
    cs = compile_strategy(spec_path.read_bytes())
    execution: dict[str, Any] = {}
    if args.execution:
        execution = json.loads(Path(args.execution).read_text())
    if args.slippage_bps is not None:
        execution.setdefault("slippage", {})["fixed_bps"] = args.slippage_bps
    if args.fee_bps is not None:
        for kind in ("equity_fees", "option_fees", "future_fees"):
            execution.setdefault(kind, {})["bps"] = args.fee_bps
    config = BacktestConfig(initial_cash=args.cash, execution=execution, allow_short=not args.long_only)
    console = Console(width=None if sys.stdout.isatty() else 120)
    with _progress(None, "loading bars") as progress:
        task = progress.add_task("loading bars" if args.data else "generating synthetic bars", total=None)
        bars = _backtest_bars(args, list(cs.strategy.instruments), cs.strategy.timeframe)
        progress.update(task, completed=1, total=1)
    if args.grid:
        result = sweep(cs, _parse_grid(args.grid), bars, config)
        elapsed = result.timings["run_s"]
        if result.timings["compile_s"] > 0:
            console.print(f"[dim]{result.timings['compile_s']:.1f} s compiling kernels (first run only)[/dim]")
        top = result.best(args.rank_by, top=args.top)
        shown = list(cs.params) + [m for m in _SWEEP_COLUMNS if m != args.rank_by]
        shown.insert(len(cs.params), args.rank_by)
        table = Table(title=f"sweep of {len(result):,} combinations in {elapsed:.2f} s, top {args.top} by {args.rank_by}")
        for name in shown:
            table.add_column(name, justify="right")
        for row in top.select(shown).to_pylist():
            table.add_row(*[format_metric(k, v) if k not in cs.params else f"{v:g}" for k, v in row.items()])
        console.print(table)
        if args.out:
            import pyarrow.parquet as pq

            pq.write_table(result.table, args.out)
            console.print(f"all combinations written to {args.out}")
        return 0
    res = backtest(cs, bars, config)
    console.print(res.summary())
    compiling = f" (+ {res.timings['compile_s']:.1f} s compiling kernels, first run only)" if res.timings["compile_s"] > 0 else ""
    console.print(f"[dim]backtest of {len(res.bars):,} bars in {res.timings['run_s']:.3f} s{compiling}[/dim]")
    if args.report:
        res.plot(args.report)
        console.print(f"tear sheet written to {args.report}")
    if args.out:
        import pyarrow.parquet as pq

        pq.write_table(res.trades, args.out)
        console.print(f"trades written to {args.out}")
    return 0


def _read_table(path_arg: str) -> Any:
    """A whole Parquet or CSV file as a pyarrow.Table."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from quant_engine.errors import InvalidArgumentError

    path = Path(path_arg)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pq.read_table(path)
    if suffix in (".csv", ".txt") or path.name.endswith(".csv.gz"):
        convert = pacsv.ConvertOptions(column_types={"symbol": pa.string(), "expiration": pa.string(), "right": pa.string()})
        return pacsv.read_csv(path, convert_options=convert)
    raise InvalidArgumentError(f"{path}: unsupported file type '{suffix}' (use .parquet or .csv)")


def _write_or_print(table: Any, out: str | None, title: str, columns: Sequence[str] | None = None, rows: int = 20) -> None:
    """Writes ``table`` to Parquet (or CSV by suffix) when ``out`` is given; prints a preview."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path)
    shown = table.select(list(columns)) if columns else table
    preview = Table(title=f"{title} ({table.num_rows:,} rows{'; written to ' + out if out else ''})")
    for name in shown.column_names:
        preview.add_column(name, justify="left" if name in ("symbol", "signals", "regime", "character", "right", "status") else "right")
    for row in shown.slice(0, rows).to_pylist():
        preview.add_row(*[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()])
    console.print(preview)


def _cmd_greeks(args: argparse.Namespace) -> int:
    from quant_engine.options import chain_greeks

    chain = _read_table(args.input)
    out = chain_greeks(
        chain, spot=args.spot, valuation=args.valuation, rate=args.rate, dividend_yield=args.dividend_yield,
        vol=args.vol, price=args.price, solve_iv=args.solve_iv, order=args.order if args.order == "all" else int(args.order),
        model=args.model, units=args.units,
    )
    cols = [c for c in ("symbol", "expiration", "strike", "right", "implied_vol", "model_price", "delta", "gamma", "vega", "theta", "status") if c in out.column_names]
    _write_or_print(out, args.out, "option Greeks", cols)
    return 0


def _cmd_regimes(args: argparse.Namespace) -> int:
    from quant_engine.regimes import classify

    out = classify(_read_table(args.input), trend_window=args.trend_window, vol_window=args.vol_window, history=args.history)
    last = out.group_by("symbol", use_threads=False).aggregate([("start", "max")])
    latest = out.join(last, keys=["symbol", "start"], right_keys=["symbol", "start_max"], join_type="inner").sort_by("symbol")
    cols = ["symbol", "start", "close", "realized_vol", "vol_percentile", "trend_z", "variance_ratio", "regime", "character"]
    if args.out:
        _write_or_print(out, args.out, "regimes (all bars)", cols, rows=0)
    _write_or_print(latest, None, "latest regime per symbol", cols, rows=len(latest))
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    from quant_engine.discovery import scan

    out = scan(
        _read_table(args.input), asof=args.asof, lookback=args.lookback, z_threshold=args.z, rank_by=args.rank_by,
        top=args.top, signals_only=args.signals_only,
    )
    cols = ["rank", "symbol", "close", "change_pct", "gap_pct", "rel_volume", "move_z", "volume_z", "score", "signals"]
    _write_or_print(out, args.out, f"discovery scan ({args.rank_by})", cols, rows=args.top or 50)
    return 0


def _cmd_instrument(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from quant_engine.instruments import InstrumentRegistry

    reg = InstrumentRegistry(allow_unlisted_equities=args.allow_unlisted_equities, overrides=args.overrides)
    table = Table(title="instruments")
    for col in ("input", "symbol", "kind", "multiplier", "tick", "details"):
        table.add_column(col)
    for sym in args.symbols:
        i = reg.resolve(sym)
        if i.kind == "option":
            details = f"{i.underlying} {i.expiry} {i.strike:g} {i.right}"
        elif i.kind == "future":
            details = f"root {i.root}" + (f", month {i.contract_month}" if i.contract_month else "")
        else:
            details = ""
        table.add_row(sym, i.symbol, i.kind, f"{i.multiplier:g}", f"{i.tick_size:g}", details)
    Console(width=None if sys.stdout.isatty() else 160).print(table)
    return 0


def _cmd_risk_check(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from rich.console import Console

    from quant_engine.instruments import InstrumentRegistry
    from quant_engine.risk import RiskEngine

    orders = _read_table(args.orders)
    registry = InstrumentRegistry(overrides=args.instruments) if args.instruments else None
    engine = RiskEngine(args.limits, cash=args.cash, registry=registry)
    with _progress(None, "validating") as progress:
        task = progress.add_task(f"validating {orders.num_rows:,} orders", total=None)
        decisions = engine.validate_batch(orders)
        progress.update(task, completed=orders.num_rows)
    counts = pc.value_counts(decisions.column("reason").combine_chunks().dictionary_decode()).to_pylist()
    summary = ", ".join(f"{c['values']} {c['counts']:,}" for c in sorted(counts, key=lambda c: -c["counts"]))
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result = pa.Table.from_arrays(
            list(orders.columns) + list(decisions.columns), names=orders.column_names + decisions.column_names
        )
        pq.write_table(result, out)
    Console().print(f"{orders.num_rows:,} orders: {summary or 'none'}" + (f"; written to {args.out}" if args.out else ""))
    rejected = decisions.num_rows - int(pc.sum(decisions.column("accepted").cast(pa.int64())).as_py() or 0)
    return 3 if (args.fail_on_reject and rejected) else 0


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

    bt = sub.add_parser(
        "backtest",
        help="backtest a strategy document (or sweep its parameters)",
        description=(
            "Backtests a strategy JSON document (see docs/strategy.md) on a Parquet file of bars "
            "(--data; columns symbol, start, open, high, low, close, volume[, vwap]) or, by default, "
            "on the seeded synthetic market aggregated to the strategy's timeframe. Prints a text "
            "summary; --report writes an HTML tear sheet. With --grid, sweeps the strategy's "
            "parameters and prints the best combinations."
        ),
    )
    bt.add_argument("spec", help="strategy document (JSON)")
    bt.add_argument("--data", default=None, help="Parquet file of bars (default: the synthetic market)")
    bt.add_argument("--report", default=None, help="write an HTML tear sheet to this file")
    bt.add_argument("--out", default=None, help="write trades (or, with --grid, all combinations) to this Parquet file")
    bt.add_argument("--cash", type=float, default=1_000_000.0, help="initial cash (default 1000000)")
    bt.add_argument("--fee-bps", type=float, default=None, help="fees in bps of notional for every instrument kind")
    bt.add_argument("--slippage-bps", type=float, default=None, help="fixed slippage in bps")
    bt.add_argument("--execution", default=None, help="JSON file with the execution model configuration")
    bt.add_argument("--long-only", action="store_true", help="ignore short entries")
    bt.add_argument("--grid", nargs="+", default=None, metavar="NAME=VALUES",
                    help="sweep parameters: name=v1,v2,... or name=start:stop[:step] (stop excluded)")
    from quant_engine import _core

    bt.add_argument("--rank-by", default="sharpe", choices=list(_core.METRIC_NAMES), metavar="METRIC",
                    help="metric ranking the sweep (default sharpe; any of the metrics in docs/backtest.md)")
    bt.add_argument("--top", type=int, default=10, help="combinations shown (default 10)")
    bt.add_argument("--seed", type=int, default=7, help="synthetic market seed (default 7)")
    bt.add_argument("--start", default="2024-01-02", help="synthetic market first session (default 2024-01-02)")
    bt.add_argument("--days", type=int, default=5, help="synthetic market sessions (default 5)")
    bt.add_argument("--ticks-per-day", type=int, default=50_000, help="synthetic ticks per symbol per day (default 50000)")
    bt.set_defaults(func=_cmd_backtest)

    greeks = sub.add_parser(
        "greeks",
        help="Greeks and implied volatilities for an option chain file",
        description=(
            "Computes prices and Greeks for every contract of a chain (Parquet or CSV; ThetaData snapshot "
            "columns work as is: expiration, strike, right, bid, ask, underlying_price, implied_vol). The "
            "volatility comes from --vol, else the implied_vol column, else it is solved from the quote mid."
        ),
    )
    greeks.add_argument("input", help="chain file (.parquet or .csv)")
    greeks.add_argument("--valuation", default=None, help="valuation instant, e.g. 2025-08-20T15:59:59-04:00 (needed unless the chain has expiry_years)")
    greeks.add_argument("--spot", type=float, default=None, help="underlying price (default: the underlying_price column)")
    greeks.add_argument("--rate", type=float, default=0.0, help="risk-free rate as a fraction, 0.043 = 4.3%% (default 0)")
    greeks.add_argument("--dividend-yield", type=float, default=0.0, help="continuous dividend yield as a fraction (default 0)")
    greeks.add_argument("--vol", type=float, default=None, help="one volatility for every contract (default: from the chain)")
    greeks.add_argument("--price", default="mid", help="option price used to solve volatilities: 'mid' of bid/ask or a column name (default mid)")
    greeks.add_argument("--solve-iv", action="store_true", help="solve volatilities from --price even if the chain has implied_vol")
    greeks.add_argument("--order", default="2", choices=["1", "2", "3", "all"], help="Greek order (default 2)")
    greeks.add_argument("--model", default="bsm", choices=["bsm", "black76"], help="pricing model (default bsm)")
    greeks.add_argument("--units", default="raw", choices=["raw", "thetadata", "trader"], help="Greek units (default raw; see docs/options.md)")
    greeks.add_argument("--out", default=None, help="output file (.parquet or .csv); a preview is printed either way")
    greeks.set_defaults(func=_cmd_greeks)

    regimes = sub.add_parser(
        "regimes",
        help="regime labels for a bar file",
        description=(
            "Classifies every bar (bar schema: symbol, start, ..., close; many symbols) into trend_up/trend_down/"
            "range x calm/volatile from causal features, prints the latest regime per symbol and optionally "
            "writes every bar's labels and features."
        ),
    )
    regimes.add_argument("input", help="bar file (.parquet or .csv)")
    regimes.add_argument("--trend-window", type=int, default=50, help="bars for trend strength (default 50)")
    regimes.add_argument("--vol-window", type=int, default=20, help="returns per realized volatility (default 20)")
    regimes.add_argument("--history", type=int, default=252, help="volatility values for the percentile (default 252)")
    regimes.add_argument("--out", default=None, help="output file (.parquet or .csv) with every bar")
    regimes.set_defaults(func=_cmd_regimes)

    discover = sub.add_parser(
        "discover",
        help="ranked market scan of a daily bar file",
        description=(
            "Ranks every symbol with a bar at --asof (default: the latest date) by how unusual it is against its "
            "own history: gainers, losers, gaps, unusual volume, new highs and lows, volatility expansion."
        ),
    )
    discover.add_argument("input", help="daily bar file (.parquet or .csv), many symbols")
    discover.add_argument("--asof", default=None, help="scan date (bar start), e.g. 2024-03-25 (default: latest)")
    discover.add_argument("--lookback", type=int, default=20, help="bars of history per symbol (default 20)")
    discover.add_argument("--z", type=float, default=2.0, help="standard deviations that make a signal (default 2)")
    discover.add_argument("--rank-by", default="score", choices=["score", "gainers", "losers", "volume", "gaps", "volatility"], help="ranking (default score)")
    discover.add_argument("--top", type=int, default=25, help="rows to keep (default 25)")
    discover.add_argument("--signals-only", action="store_true", help="keep only symbols with a signal")
    discover.add_argument("--out", default=None, help="output file (.parquet or .csv)")
    discover.set_defaults(func=_cmd_discover)

    inst = sub.add_parser(
        "instrument",
        help="resolve symbols to their instrument specs",
        description=(
            "Resolves symbols (AAPL, ESZ4, 'AAPL  240119C00190000', O:AAPL230616C00150000, I:SPX) "
            "with the built-in registry plus optional overrides and prints kind, multiplier, tick "
            "size and contract terms. An unknown symbol is an error, never a multiplier of 1."
        ),
    )
    inst.add_argument("symbols", nargs="+", help="symbols to resolve")
    inst.add_argument("--overrides", default=None, help="TOML or JSON file of instrument overrides")
    inst.add_argument("--allow-unlisted-equities", action="store_true", help="accept unknown tickers as equities x1")
    inst.set_defaults(func=_cmd_instrument)

    risk = sub.add_parser(
        "risk-check",
        help="validate a Parquet or CSV file of orders against risk limits",
        description=(
            "Validates orders (columns symbol, side, quantity, price; optional ts, order_type, "
            "reduce_only) in sequence with the Rust risk engine, prints the decisions by reason "
            "and optionally writes the orders with their decisions (accepted, reason, value, "
            "limit) to Parquet. Exit status 3 with --fail-on-reject if any order was rejected."
        ),
    )
    risk.add_argument("orders", help="Parquet (.parquet) or CSV (.csv) file of orders")
    risk.add_argument("--limits", default=None, help="TOML or JSON file of risk limits (default: built-in defaults)")
    risk.add_argument("--instruments", default=None, help="TOML or JSON file of instrument overrides")
    risk.add_argument("--cash", type=float, default=1_000_000.0, help="starting equity (default 1000000)")
    risk.add_argument("--out", default=None, help="output Parquet file of orders with decisions")
    risk.add_argument("--fail-on-reject", action="store_true", help="exit with status 3 if any order is rejected")
    risk.set_defaults(func=_cmd_risk_check)
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

    from quant_engine.kernels import warmup as _warmup  # no Numba import until the command runs

    warm = sub.add_parser("warmup", help="compile the Numba kernels once (make run/test do it at install)",
                          description=(_warmup.__doc__ or "").split("\n\n")[0])  # fmt: skip
    _warmup.add_arguments(warm)
    warm.set_defaults(func=_warmup.run)
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
