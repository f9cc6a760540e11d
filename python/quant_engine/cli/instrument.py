"""``quant-engine instrument``: resolve symbols to their instrument specs."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``instrument`` command."""
    inst = subparsers.add_parser(
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


def _cmd_instrument(args: argparse.Namespace) -> int:
    from rich.table import Table

    from quant_engine.cli.console import console
    from quant_engine.cli.options import config_file
    from quant_engine.instruments import InstrumentRegistry

    with config_file(args.overrides, "--overrides"):
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
    console().print(table)
    return 0
