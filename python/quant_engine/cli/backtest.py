"""``quant-engine backtest``: backtest a strategy document, or sweep its parameters."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quant_engine.cli.options import add_synthetic_market, positive_int

__all__ = ["register", "parse_grid"]

#: Metric columns shown after the parameters in a sweep's table.
_SWEEP_COLUMNS = ("sharpe", "total_return", "max_drawdown", "sortino", "trades", "win_rate", "profit_factor", "costs")


def register(subparsers: Any) -> None:
    """Adds the ``backtest`` command."""
    from quant_engine import _core

    bt = subparsers.add_parser(
        "backtest",
        help="backtest a strategy document (or sweep its parameters)",
        description=(
            "Backtests a strategy JSON document (see docs/strategy.md and examples/strategies/) on a file of "
            "bars (--data: .parquet, .csv, .csv.gz or .arrow with columns symbol, start, open, high, low, "
            "close, volume[, vwap]) or, by default, on the seeded synthetic market aggregated to the "
            "strategy's timeframe. Prints a text summary; --report writes an HTML tear sheet. With --grid, "
            "sweeps the strategy's parameters and prints the best combinations."
        ),
    )
    bt.add_argument("spec", help="strategy document (JSON), e.g. examples/strategies/sma_cross.json")
    bt.add_argument(
        "--data", default=None, help="file of bars (.parquet, .csv, .csv.gz, .arrow; default: the synthetic market)"
    )
    bt.add_argument("--report", default=None, help="write an HTML tear sheet to this file")
    bt.add_argument(
        "--out",
        default=None,
        help="write trades (or, with --grid, all combinations) to this file (.parquet, .csv, .csv.gz, .arrow)",
    )
    bt.add_argument("--cash", type=float, default=1_000_000.0, help="initial cash (default 1000000)")
    bt.add_argument("--fee-bps", type=float, default=None, help="fees in bps of notional for every instrument kind")
    bt.add_argument("--slippage-bps", type=float, default=None, help="fixed slippage in bps")
    bt.add_argument("--execution", default=None, help="JSON file with the execution model configuration")
    bt.add_argument("--long-only", action="store_true", help="ignore short entries")
    bt.add_argument(
        "--allow-unlisted-equities",
        action="store_true",
        help="trade tickers the instrument registry does not list as equities x1 (off by default, as in the risk engine)",
    )
    bt.add_argument(
        "--grid",
        nargs="+",
        default=None,
        metavar="NAME=VALUES",
        help="sweep parameters: name=v1,v2,... or name=start:stop[:step] (stop excluded)",
    )
    bt.add_argument(
        "--where",
        action="append",
        default=None,
        metavar="CONSTRAINT",
        help="with --grid: keep only combinations where CONSTRAINT holds, e.g. 'fast<slow' or 'slow>=20' "
        "(operators < <= > >= == !=; repeatable, all must hold)",
    )
    bt.add_argument(
        "--rank-by",
        default="sharpe",
        choices=list(_core.METRIC_NAMES),
        metavar="METRIC",
        help="metric ranking the sweep (default sharpe; any of the metrics in docs/backtest.md)",
    )
    bt.add_argument("--top", type=positive_int, default=10, help="combinations shown (default 10)")
    add_synthetic_market(bt, days=5, ticks_per_day=50_000)
    bt.set_defaults(func=_cmd_backtest)


def parse_grid(items: Sequence[str]) -> dict[str, list[float]]:
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


def _load_bars(args: argparse.Namespace, instruments: list[str], timeframe: str) -> Any:
    from quant_engine.cli.tables import read_table
    from quant_engine.feeds.synthetic import synthetic_bars

    if args.data:
        return read_table(args.data)
    return synthetic_bars(instruments, timeframe, seed=args.seed, start=args.start, days=args.days,
                          ticks_per_day=args.ticks_per_day)  # fmt: skip


def _compile(spec: str) -> Any:
    """The compiled strategy of the document at ``spec``; validation errors name the file."""
    from quant_engine.cli.tables import require_file
    from quant_engine.errors import StrategyValidationError
    from quant_engine.strategy import compile_strategy

    path = require_file(spec)
    try:
        return compile_strategy(path.read_bytes())
    except StrategyValidationError as exc:
        raise StrategyValidationError(f"{path}: {exc.reason}", exc.path) from None


def _execution(args: argparse.Namespace) -> dict[str, Any]:
    from quant_engine.cli.options import load_json
    from quant_engine.errors import InvalidArgumentError

    execution: dict[str, Any] = {}
    if args.execution:
        execution = load_json(args.execution, "--execution")
        if not isinstance(execution, dict):
            raise InvalidArgumentError(f"--execution {args.execution}: expected a JSON object")
    if args.slippage_bps is not None:
        execution.setdefault("slippage", {})["fixed_bps"] = args.slippage_bps
    if args.fee_bps is not None:
        for kind in ("equity_fees", "option_fees", "future_fees"):
            execution.setdefault(kind, {})["bps"] = args.fee_bps
    return execution


def _cmd_backtest(args: argparse.Namespace) -> int:
    from quant_engine.cli.console import echo, progress
    from quant_engine.cli.tables import check_input, prepare_file, prepare_output, write_table
    from quant_engine.errors import InvalidArgumentError
    from quant_engine.research.backtester import BacktestConfig, backtest

    if args.where and not args.grid:
        raise InvalidArgumentError("--where filters a sweep: give --grid too")
    if args.data:
        check_input(args.data)
    out = prepare_output(args.out) if args.out else None
    if args.report:
        prepare_file(args.report)
    cs = _compile(args.spec)
    config = BacktestConfig(
        initial_cash=args.cash,
        execution=_execution(args),
        allow_short=not args.long_only,
        allow_unlisted_equities=args.allow_unlisted_equities,
    )
    if args.grid:  # bad sweep arguments fail before any bar is loaded
        from quant_engine.research.constraints import parse_where

        cs.grid(parse_grid(args.grid), where=parse_where(args.where, cs.params))
    with progress() as bar:
        task = bar.add_task("loading bars" if args.data else "generating synthetic bars", total=None)
        bars = _load_bars(args, list(cs.strategy.instruments), cs.strategy.timeframe)
        bar.update(task, completed=1, total=1)
    if args.grid:
        return _sweep(args, cs, bars, config, out)
    res = backtest(cs, bars, config)
    echo(res.summary())
    echo(f"backtest of {len(res.bars):,} bars in {res.timings['run_s']:.3f} s{_compiling(res.timings)}")
    if args.report:
        res.plot(args.report)
        echo(f"tear sheet written to {args.report}")
    if out:
        write_table(res.trades, out)
        echo(f"trades written to {out}")
    return 0


def _compiling(timings: dict[str, float]) -> str:
    """`` (+ N s compiling kernels, first run only)`` when the call compiled Numba kernels."""
    return f" (+ {timings['compile_s']:.1f} s compiling kernels, first run only)" if timings["compile_s"] > 0 else ""


def _sweep(args: argparse.Namespace, cs: Any, bars: Any, config: Any, out: Path | None) -> int:
    from rich.table import Table

    from quant_engine.cli.console import console, echo
    from quant_engine.cli.tables import write_table
    from quant_engine.research.backtester import sweep
    from quant_engine.research.tearsheet import format_metric

    result = sweep(cs, parse_grid(args.grid), bars, config, where=args.where)
    elapsed = result.timings["run_s"]
    if result.timings["compile_s"] > 0:
        echo(f"kernels:{_compiling(result.timings)}")
    top = result.best(args.rank_by, top=args.top)
    shown = list(cs.params) + [m for m in _SWEEP_COLUMNS if m != args.rank_by]
    shown.insert(len(cs.params), args.rank_by)
    where = f" where {' and '.join(args.where)}" if args.where else ""
    table = Table(
        title=f"sweep of {len(result):,} combinations{where} in {elapsed:.2f} s, top {args.top} by {args.rank_by}"
    )
    for name in shown:
        table.add_column(name, justify="right")
    for row in top.select(shown).to_pylist():
        table.add_row(*[format_metric(k, v) if k not in cs.params else f"{v:g}" for k, v in row.items()])
    console().print(table)
    if out:
        write_table(result.table, out)
        echo(f"all combinations written to {out}")
    return 0
