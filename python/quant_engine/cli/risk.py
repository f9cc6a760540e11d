"""``quant-engine risk-check``: validate a file of orders against risk limits."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``risk-check`` command."""
    risk = subparsers.add_parser(
        "risk-check",
        help="validate a Parquet or CSV file of orders against risk limits",
        description=(
            "Validates orders (columns symbol, side, quantity, price; optional ts, order_type, "
            "reduce_only) in sequence with the Rust risk engine, prints the decisions by reason "
            "and optionally writes the orders with their decisions (accepted, reason, value, "
            "limit) to a file (format by suffix). Exit status 3 with --fail-on-reject if any order was rejected."
        ),
    )
    risk.add_argument("orders", help="file of orders (.parquet, .csv, .csv.gz, .arrow)")
    risk.add_argument("--limits", default=None, help="TOML or JSON file of risk limits (default: built-in defaults)")
    risk.add_argument("--instruments", default=None, help="TOML or JSON file of instrument overrides")
    risk.add_argument("--cash", type=float, default=1_000_000.0, help="starting equity (default 1000000)")
    risk.add_argument(
        "--out", default=None, help="output file of orders with decisions (.parquet, .csv, .csv.gz, .arrow)"
    )
    risk.add_argument("--fail-on-reject", action="store_true", help="exit with status 3 if any order is rejected")
    risk.set_defaults(func=_cmd_risk_check)


def _cmd_risk_check(args: argparse.Namespace) -> int:
    import pyarrow as pa
    import pyarrow.compute as pc

    from quant_engine.cli.console import echo, progress
    from quant_engine.cli.options import config_file
    from quant_engine.cli.tables import check_input, prepare_output, read_table, write_table
    from quant_engine.instruments import InstrumentRegistry
    from quant_engine.risk import RiskEngine

    check_input(args.orders)
    out = prepare_output(args.out) if args.out else None
    orders = read_table(args.orders)
    with config_file(args.instruments, "--instruments"):
        registry = InstrumentRegistry(overrides=args.instruments) if args.instruments else None
    with config_file(args.limits, "--limits"):
        engine = RiskEngine(args.limits, cash=args.cash, registry=registry)
    with progress() as bar:
        task = bar.add_task(f"validating {orders.num_rows:,} orders", total=None)
        decisions = engine.validate_batch(orders)
        bar.update(task, completed=orders.num_rows)
    counts = pc.value_counts(decisions.column("reason").combine_chunks().dictionary_decode()).to_pylist()
    summary = ", ".join(f"{c['values']} {c['counts']:,}" for c in sorted(counts, key=lambda c: -c["counts"]))
    if out:
        result = pa.Table.from_arrays(
            list(orders.columns) + list(decisions.columns), names=orders.column_names + decisions.column_names
        )
        write_table(result, out)
    echo(f"{orders.num_rows:,} orders: {summary or 'none'}" + (f"; written to {out}" if out else ""))
    rejected = decisions.num_rows - int(pc.sum(decisions.column("accepted").cast(pa.int64())).as_py() or 0)
    return 3 if (args.fail_on_reject and rejected) else 0
