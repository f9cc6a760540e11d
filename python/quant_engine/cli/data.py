"""``quant-engine ingest`` and ``feeds``: fill the Parquet catalog; the market-data engines' status."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

from quant_engine.cli.options import add_synthetic_market

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``ingest`` and ``feeds`` commands."""
    ingest = subparsers.add_parser(
        "ingest",
        help="import a CSV/Parquet file (or the synthetic market) into the catalog",
        description=(
            "Imports trades, quotes or bars into the Parquet catalog (QE_CATALOG_DIR, or --catalog), "
            "partitioned by kind/symbol/date, without duplicating rows already stored. Naive timestamps "
            "are in --tz (UTC by default); integer timestamps are in --ts-unit."
        ),
    )
    ingest.add_argument("input", nargs="?", help="file to import (.parquet, .csv, .csv.gz, .arrow)")
    ingest.add_argument(
        "--kind", default="trades", help="trades, quotes or bars-<interval> such as bars-1m (default trades)"
    )
    ingest.add_argument("--catalog", default=None, help="catalog directory (default QE_CATALOG_DIR)")
    ingest.add_argument("--symbol", default=None, help="symbol for files without a symbol column")
    ingest.add_argument("--ts-column", default="ts", help="name of the timestamp column (default ts)")
    ingest.add_argument(
        "--ts-unit", default="ns", choices=["s", "ms", "us", "ns"], help="unit of integer timestamps (default ns)"
    )
    ingest.add_argument("--tz", default=None, help="time zone of naive timestamps (default UTC)")
    ingest.add_argument("--rename", default="", help="column renames, e.g. 'qty=size,px=price'")
    ingest.add_argument("--synthetic", action="store_true", help="import the seeded synthetic market instead of a file")
    ingest.add_argument("--symbols", default="", help="--synthetic: comma-separated symbols")
    add_synthetic_market(ingest, days=5, ticks_per_day=50_000, prefix="--synthetic: ")
    ingest.add_argument("--quotes", action="store_true", help="--synthetic: import quotes too")
    ingest.set_defaults(func=_cmd_ingest)

    feeds = subparsers.add_parser(
        "feeds",
        help="show the market-data engines' status (ThetaData, Massive, catalog)",
        description="Checks every market-data engine and prints online / degraded / offline with the reason.",
    )
    feeds.add_argument("--json", action="store_true", help="print JSON")
    feeds.set_defaults(func=_cmd_feeds)


def _renames(text: str) -> dict[str, str] | None:
    from quant_engine.errors import InvalidArgumentError

    if not text:
        return None
    pairs = [kv.split("=", 1) for kv in text.split(",")]
    bad = [kv for kv in pairs if len(kv) != 2 or not kv[0] or not kv[1]]
    if bad:
        raise InvalidArgumentError(f"invalid --rename '{text}': use old=new[,old=new...]")
    return {k: v for k, v in pairs}


def _cmd_ingest(args: argparse.Namespace) -> int:
    from quant_engine.cli.console import echo
    from quant_engine.feeds.catalog import Catalog
    from quant_engine.feeds.config import FeedSettings

    catalog = Catalog(args.catalog or FeedSettings.from_env().catalog_dir)
    if args.synthetic:
        from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket

        symbols = [s for s in args.symbols.split(",") if s] or list(DEFAULT_SYMBOLS)
        market = SyntheticMarket(
            seed=args.seed, symbols=symbols, start=args.start, days=args.days, ticks_per_day=args.ticks_per_day
        )
        report = catalog.append("trades", market.trades())
        q = catalog.append("quotes", market.quotes()) if args.quotes else {"rows_added": 0}
        echo(
            f"synthetic market: {report['rows_added']:,} trades and {q['rows_added']:,} quotes added "
            f"({report['partitions']} partitions) to {catalog.root}"
        )
        return 0
    if not args.input:
        raise ValueError("give a file to import, or --synthetic")
    from quant_engine.cli.bars import rejection_summary, unit_hint
    from quant_engine.cli.tables import iter_batches
    from quant_engine.errors import BadDataError

    batches, _ = iter_batches(args.input, 1_000_000)
    renames = _renames(args.rename)
    int_ts: list[int] = []
    try:
        imported = catalog.ingest(
            _recording_int_ts(batches, args.ts_column, renames, int_ts),
            args.kind,
            symbol=args.symbol,
            ts_column=args.ts_column,
            ts_unit=args.ts_unit,
            tz=args.tz,
            columns=renames,
            name=args.input,
        )
    except BadDataError as exc:
        hint = unit_hint(max(int_ts), args.ts_unit) if int_ts and "ts_out_of_range" in str(exc) else ""
        if not hint:
            raise
        raise BadDataError(f"{exc}{hint}") from None
    hint = unit_hint(max(int_ts), args.ts_unit) if int_ts and imported["rejected"].get("ts_out_of_range") else ""
    rejected = rejection_summary(imported["rejected"])
    echo(
        f"{imported['rows_in']:,} rows read, {imported['rows_added']:,} new, {imported['partitions']} partition(s) "
        f"written to {catalog.root} (kind={args.kind}); rejected: {rejected or 'none'}{hint}"
    )
    return 0


def _recording_int_ts(
    batches: Iterator[Any], ts_column: str, renames: dict[str, str] | None, seen: list[int]
) -> Iterator[Any]:
    """Passes ``batches`` through, appending the largest integer timestamp of each to ``seen``."""
    import pyarrow as pa
    import pyarrow.compute as pc

    source = next((old for old, new in (renames or {}).items() if new == ts_column), ts_column)
    for batch in batches:
        if source in batch.schema.names:
            col = batch.column(source)
            if pa.types.is_integer(col.type) and col.null_count < len(col):
                seen.append(int(pc.max(col).as_py()))
        yield batch


def _cmd_feeds(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from quant_engine.cli.console import console
    from quant_engine.feeds.router import check_data_engines_status

    status = check_data_engines_status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    table = Table(title="market-data engines")
    for col in ("engine", "state", "reason"):
        table.add_column(col)
    colors = {"online": "green", "degraded": "yellow", "offline": "red"}
    for name, st in status.items():
        table.add_row(name, f"[{colors[st['state']]}]{st['state']}[/]", st["reason"])
    console().print(table)
    return 0
