"""``quant-engine greeks``, ``regimes`` and ``discover``: analytics over option chains and bar files."""

from __future__ import annotations

import argparse
from typing import Any

from quant_engine.cli.options import positive_int

__all__ = ["register"]

_FILES = ".parquet, .csv, .csv.gz or .arrow"


def register(subparsers: Any) -> None:
    """Adds the ``greeks``, ``regimes`` and ``discover`` commands."""
    _register_greeks(subparsers)
    _register_regimes(subparsers)
    _register_discover(subparsers)


def _register_greeks(subparsers: Any) -> None:
    greeks = subparsers.add_parser(
        "greeks",
        help="Greeks and implied volatilities for an option chain file",
        description=(
            "Computes prices and Greeks for every contract of a chain (Parquet or CSV; ThetaData snapshot "
            "columns work as is: expiration, strike, right, bid, ask, underlying_price, implied_vol). The "
            "volatility comes from --vol, else the implied_vol column, else it is solved from the quote mid."
        ),
    )
    greeks.add_argument("input", help=f"chain file ({_FILES})")
    greeks.add_argument(
        "--valuation",
        default=None,
        help="valuation instant, e.g. 2025-08-20T15:59:59-04:00 (needed unless the chain has expiry_years)",
    )
    greeks.add_argument(
        "--spot", type=float, default=None, help="underlying price (default: the underlying_price column)"
    )
    greeks.add_argument(
        "--rate", type=float, default=0.0, help="risk-free rate as a fraction, 0.043 = 4.3%% (default 0)"
    )
    greeks.add_argument(
        "--dividend-yield", type=float, default=0.0, help="continuous dividend yield as a fraction (default 0)"
    )
    greeks.add_argument(
        "--vol", type=float, default=None, help="one volatility for every contract (default: from the chain)"
    )
    greeks.add_argument(
        "--price",
        default="mid",
        help="option price used to solve volatilities: 'mid' of bid/ask or a column name (default mid)",
    )
    greeks.add_argument(
        "--solve-iv", action="store_true", help="solve volatilities from --price even if the chain has implied_vol"
    )
    greeks.add_argument("--order", default="2", choices=["1", "2", "3", "all"], help="Greek order (default 2)")
    greeks.add_argument("--model", default="bsm", choices=["bsm", "black76"], help="pricing model (default bsm)")
    greeks.add_argument(
        "--units",
        default="raw",
        choices=["raw", "thetadata", "trader"],
        help="Greek units (default raw; see docs/options.md)",
    )
    greeks.add_argument("--out", default=None, help=f"output file ({_FILES}); a preview is printed either way")
    greeks.set_defaults(func=_cmd_greeks)


def _register_regimes(subparsers: Any) -> None:
    regimes = subparsers.add_parser(
        "regimes",
        help="regime labels for a bar file",
        description=(
            "Classifies every bar (bar schema: symbol, start, ..., close; many symbols) into trend_up/trend_down/"
            "range x calm/volatile from causal features, prints the latest regime per symbol and optionally "
            "writes every bar's labels and features."
        ),
    )
    regimes.add_argument("input", help=f"bar file ({_FILES})")
    regimes.add_argument("--trend-window", type=positive_int, default=50, help="bars for trend strength (default 50)")
    regimes.add_argument(
        "--vol-window", type=positive_int, default=20, help="returns per realized volatility (default 20)"
    )
    regimes.add_argument(
        "--history", type=positive_int, default=252, help="volatility values for the percentile (default 252)"
    )
    regimes.add_argument("--out", default=None, help=f"output file ({_FILES}) with every bar")
    regimes.set_defaults(func=_cmd_regimes)


def _register_discover(subparsers: Any) -> None:
    discover = subparsers.add_parser(
        "discover",
        help="ranked market scan of a daily bar file",
        description=(
            "Ranks every symbol with a bar at --asof (default: the latest date) by how unusual it is against its "
            "own history: gainers, losers, gaps, unusual volume, new highs and lows, volatility expansion."
        ),
    )
    discover.add_argument("input", help=f"daily bar file ({_FILES}), many symbols")
    discover.add_argument("--asof", default=None, help="scan date (bar start), e.g. 2024-03-25 (default: latest)")
    discover.add_argument("--lookback", type=positive_int, default=20, help="bars of history per symbol (default 20)")
    discover.add_argument("--z", type=float, default=2.0, help="standard deviations that make a signal (default 2)")
    discover.add_argument(
        "--rank-by",
        default="score",
        choices=["score", "gainers", "losers", "volume", "gaps", "volatility"],
        help="ranking (default score)",
    )
    discover.add_argument("--top", type=positive_int, default=25, help="rows to keep (default 25)")
    discover.add_argument("--signals-only", action="store_true", help="keep only symbols with a signal")
    discover.add_argument("--out", default=None, help=f"output file ({_FILES})")
    discover.set_defaults(func=_cmd_discover)


def _written(title: str, rows: int, out: Any) -> str:
    return f"{title} ({rows:,} rows{'; written to ' + str(out) if out else ''})"


def _cmd_greeks(args: argparse.Namespace) -> int:
    from quant_engine.cli.console import echo, print_preview
    from quant_engine.cli.tables import check_input, prepare_output, read_table, write_table
    from quant_engine.errors import BadDataError
    from quant_engine.options import chain_greeks

    check_input(args.input)
    out = prepare_output(args.out) if args.out else None
    result = chain_greeks(
        read_table(args.input),
        spot=args.spot,
        valuation=args.valuation,
        rate=args.rate,
        dividend_yield=args.dividend_yield,
        vol=args.vol,
        price=args.price,
        solve_iv=args.solve_iv,
        order=args.order if args.order == "all" else int(args.order),
        model=args.model,
        units=args.units,
    )
    statuses = _status_counts(result)
    if result.num_rows and not statuses.get("ok"):
        raise BadDataError(
            f"{args.input}: no contract could be priced ({_counts(statuses)}); check --vol (a fraction: 0.2 = 20%), "
            "--spot, --rate and --valuation, or the chain's prices"
        )
    if out:
        write_table(result, out)
    cols = [
        "symbol",
        "expiration",
        "strike",
        "right",
        "implied_vol",
        "model_price",
        "delta",
        "gamma",
        "vega",
        "theta",
        "status",
    ]
    print_preview(result, _written("option Greeks", result.num_rows, out), cols)
    if len(statuses) > 1:
        echo(f"status: {_counts(statuses)}")
    return 0


def _status_counts(table: Any) -> dict[str, int]:
    """Rows per value of the ``status`` column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if "status" not in table.column_names:
        return {}
    col = table.column("status")
    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    return {str(c["values"]): int(c["counts"]) for c in pc.value_counts(col).to_pylist()}


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _cmd_regimes(args: argparse.Namespace) -> int:
    from quant_engine.cli.console import echo, print_preview
    from quant_engine.cli.tables import check_input, prepare_output, read_table, write_table
    from quant_engine.regimes import classify

    check_input(args.input)
    out = prepare_output(args.out) if args.out else None
    labels = classify(
        read_table(args.input), trend_window=args.trend_window, vol_window=args.vol_window, history=args.history
    )
    last = labels.group_by("symbol", use_threads=False).aggregate([("start", "max")])
    latest = labels.join(last, keys=["symbol", "start"], right_keys=["symbol", "start_max"], join_type="inner").sort_by(
        "symbol"
    )
    cols = [
        "symbol",
        "start",
        "close",
        "realized_vol",
        "vol_percentile",
        "trend_z",
        "variance_ratio",
        "regime",
        "character",
    ]
    if out:
        write_table(labels, out)
        echo(f"regimes of {labels.num_rows:,} bars written to {out}")
    print_preview(latest, _written("latest regime per symbol", latest.num_rows, None), cols, rows=latest.num_rows)
    return 0


def _cmd_discover(args: argparse.Namespace) -> int:
    from quant_engine.cli.console import print_preview
    from quant_engine.cli.tables import check_input, prepare_output, read_table, write_table
    from quant_engine.discovery import scan

    check_input(args.input)
    out = prepare_output(args.out) if args.out else None
    ranked = scan(
        read_table(args.input),
        asof=args.asof,
        lookback=args.lookback,
        z_threshold=args.z,
        rank_by=args.rank_by,
        top=args.top,
        signals_only=args.signals_only,
    )
    if out:
        write_table(ranked, out)
    cols = ["rank", "symbol", "close", "change_pct", "gap_pct", "rel_volume", "move_z", "volume_z", "score", "signals"]
    print_preview(ranked, _written(f"discovery scan ({args.rank_by})", ranked.num_rows, out), cols, rows=args.top)
    return 0
