"""``quant-engine redteam``: the Red Team's verdict on a strategy document (``examine``: the whole
battery; ``white-noise``: the operator's White Noise Test, WNT-A + WNT-B + WNT-C)."""

from __future__ import annotations

import argparse
from typing import Any

from quant_engine.cli.options import iso_date, positive_int

__all__ = ["register", "print_verdict"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("spec", help="strategy document (JSON), e.g. examples/strategies/sma_cross.json")
    p.add_argument(
        "--data", default=None, help="file of bars (.parquet, .csv, .csv.gz, .arrow; default: the synthetic market)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of every resampling (default 0; same seed, same verdict)")
    p.add_argument("--json", action="store_true", help="print the verdict document (JSON) instead of the table")
    p.add_argument(
        "--html", default=None, metavar="OUT.html", help="write an HTML report (verdict table, null distributions)"
    )
    p.add_argument("--store", default=None, metavar="URL",
                   help="research store whose ledger holds the strategy's family (default: none, N = 1)")  # fmt: skip
    p.add_argument("--fee-bps", type=float, default=None, help="fees in bps of notional for every instrument kind")
    p.add_argument("--slippage-bps", type=float, default=None, help="fixed slippage in bps")
    p.add_argument("--cash", type=float, default=1_000_000.0, help="initial cash (default 1000000)")
    p.add_argument("--market-seed", type=int, default=7, help="synthetic market seed (default 7)")
    p.add_argument(
        "--start", type=iso_date, default="2024-01-02", help="synthetic market first session (default 2024-01-02)"
    )
    p.add_argument("--days", type=positive_int, default=20, help="synthetic market sessions (default 20)")
    p.add_argument("--ticks-per-day", type=positive_int, default=20_000,
                   help="synthetic market ticks per symbol per day (default 20000)")  # fmt: skip


def register(subparsers: Any) -> None:
    """Adds the ``redteam`` command group (``examine``, ``white-noise``)."""
    rt = subparsers.add_parser(
        "redteam",
        help="the Red Team's verdict on a strategy (examine, white-noise)",
        description="Runs the Red Team's statistical battery on a strategy document (docs/redteam.md).",
    )
    sub = rt.add_subparsers(dest="redteam_command", metavar="SUBCOMMAND")
    sub.required = True
    ex = sub.add_parser(
        "examine",
        help="the whole battery: every test, the failure types raised, the verdict",
        description=(
            "Backtests the strategy on --data (or the seeded synthetic market aggregated to its timeframe) and "
            "runs every test of the Red Team (VALIDATION.md): PSR, DSR with the ledger's N (--store), PBO, SPA, "
            "Reality Check, WNT-A/B/C, CPCV, costs, regimes, capacity, correlation with graduates, prefix "
            "invariance, drawdown. Prints the verdict table; exit status 0 when a verdict was reached (passed "
            "or not), 2 for bad input."
        ),
    )
    _common(ex)
    ex.set_defaults(func=_cmd_examine, only=())
    wn = sub.add_parser(
        "white-noise",
        help="the White Noise Test: WNT-A, WNT-B and WNT-C only",
        description="The operator's White Noise Test (VALIDATION.md §4): WNT-A, WNT-B and WNT-C on the strategy.",
    )
    _common(wn)
    wn.set_defaults(func=_cmd_white_noise)


def _bars(args: argparse.Namespace, cs: Any) -> Any:
    from quant_engine.cli.tables import read_table
    from quant_engine.feeds.synthetic import synthetic_bars

    if args.data:
        return read_table(args.data)
    return synthetic_bars(cs.strategy.instruments, cs.strategy.timeframe, seed=args.market_seed, start=args.start,
                          days=args.days, ticks_per_day=args.ticks_per_day)  # fmt: skip


def _backtest_config(args: argparse.Namespace) -> dict[str, Any]:
    execution: dict[str, Any] = {}
    if args.slippage_bps is not None:
        execution["slippage"] = {"fixed_bps": args.slippage_bps}
    if args.fee_bps is not None:
        for kind in ("equity_fees", "option_fees", "future_fees"):
            execution[kind] = {"bps": args.fee_bps}
    return {"initial_cash": args.cash, "execution": execution}


def print_verdict(v: Any) -> None:
    """The verdict table, the failure types with their detectors' values and the verdict line."""
    from rich.table import Table

    from quant_engine.cli.console import console, echo
    from quant_engine.research.redteam.report import verdict_rows

    table = Table(title=f"Red Team verdict: {v.strategy_hash[:12]} (family {v.family[:16]}, seed {v.seed})")
    for name in ("test", "statistic", "threshold", "p-value", "result", "feeds", "reason / note"):
        table.add_column(name, justify="right" if name in ("statistic", "threshold", "p-value") else "left")
    for row in verdict_rows(v):
        table.add_row(*row)
    console().print(table)
    for ft in v.failure_types:
        ev = v.evidence.get(ft, {})
        shown = ", ".join(
            f"{k}={val:.4g}" for k, val in ev.items() if k.endswith((".statistic", ".p_value")) and val is not None
        )
        echo(f"{ft.value}: {shown}")
    for ft, why in v.not_applicable.items():
        echo(f"{ft.value}: not applicable ({why})")
    if v.not_computable:
        echo(f"not computed (counted as not passed): {', '.join(v.not_computable)}")
    types = ", ".join(f.value for f in v.failure_types) or "none"
    echo(f"verdict: {'PASSED' if v.passed else 'FAILED'}; failure types: {types}; "
         f"{v.n_periods:,} periods, {v.n_trials} ledger trial(s), {v.timings.get('total', 0.0):.2f} s")  # fmt: skip


def _run(args: argparse.Namespace, only: tuple[str, ...]) -> int:
    import sys

    from quant_engine.cli.backtest import _compile
    from quant_engine.cli.console import echo
    from quant_engine.cli.tables import check_input, prepare_file
    from quant_engine.research.redteam import RedTeam, RedTeamConfig
    from quant_engine.research.redteam.report import write_html

    if args.data:
        check_input(args.data)
    if args.html:
        prepare_file(args.html)
    cs = _compile(args.spec)
    store = None
    if args.store:
        from quant_engine.store import open_store

        store = open_store(args.store)
    bars = _bars(args, cs)
    verdict = RedTeam(RedTeamConfig(backtest=_backtest_config(args), only=only)).examine(
        cs, bars, store, seed=args.seed
    )
    if args.json:
        sys.stdout.write(verdict.to_json().decode() + "\n")
    else:
        print_verdict(verdict)
    if args.html:
        write_html(verdict, args.html)
        if not args.json:
            echo(f"report written to {args.html}")
    return 0


def _cmd_examine(args: argparse.Namespace) -> int:
    return _run(args, ())


def _cmd_white_noise(args: argparse.Namespace) -> int:
    from quant_engine.research.redteam.examine import WHITE_NOISE_TESTS

    return _run(args, WHITE_NOISE_TESTS)
