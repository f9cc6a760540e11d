"""``quant-engine store``: create, upgrade and inspect the research store (``docs/store.md``).

* ``store init``: create the store (or open it, upgrading an older schema) and print where it is.
* ``store upgrade``: bring an older store's schema to this version's (logged; a no-op when current).
* ``store status``: the store's URL, schema revision (and this version's), row counts per table;
  changes nothing.

Every command takes ``--store URL`` (default ``$QE_STORE_URL`` or the SQLite file under the user's
data directory) and ``--json``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register", "add_store_options"]


def add_store_options(parser: argparse.ArgumentParser) -> None:
    """``--store`` and ``--json``, shared by every command that reads the store."""
    parser.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="store URL or SQLite path (default: $QE_STORE_URL or the user data dir)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (for scripts)")


def register(subparsers: Any) -> None:
    """Adds the ``store`` command group."""
    store = subparsers.add_parser(
        "store",
        help="create, upgrade and inspect the research store",
        description="The research store: strategies, trials, missions, causal memories, the journal and events.",
    )
    sub = store.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    for name, text, func in (
        ("init", "create the store (or open and upgrade it)", _cmd_init),
        ("upgrade", "upgrade an older store's schema to this version", _cmd_upgrade),
        ("status", "schema revision and row counts (changes nothing)", _cmd_status),
    ):
        p = sub.add_parser(name, help=text, description=text)
        add_store_options(p)
        p.set_defaults(func=func)


def emit(args: argparse.Namespace, data: Any, text: str) -> None:
    """Prints ``data`` as JSON with ``--json``, else ``text``."""
    from quant_engine.cli.console import echo

    echo(json.dumps(data, indent=2, default=str) if args.json else text)


def _cmd_init(args: argparse.Namespace) -> int:
    from quant_engine.store import open_store

    with open_store(args.store) as s:
        data = {
            "url": s.url,
            "revision": s.schema.after,
            "created": s.schema.before is None,
            "upgraded_from": s.schema.before if s.schema.upgraded else None,
        }
    verb = "created" if data["created"] else ("upgraded" if data["upgraded_from"] else "already current")
    emit(args, data, f"store {data['url']}: {verb} (schema revision {data['revision']})")
    return 0


def _cmd_upgrade(args: argparse.Namespace) -> int:
    from quant_engine.store.engine import create_store_engine
    from quant_engine.store.migrate import ensure_schema

    engine = create_store_engine(args.store)
    _require_existing(engine)
    try:
        state = ensure_schema(engine)
    finally:
        engine.dispose()
    data = {"url": engine.url.render_as_string(), "from": state.before, "to": state.after}
    emit(
        args,
        data,
        f"store {data['url']}: "
        + (f"upgraded {state.before} -> {state.after}" if state.upgraded else f"already at {state.after}"),
    )
    return 0


def _require_existing(engine: Any) -> None:
    from pathlib import Path

    from quant_engine.store.errors import StoreConfigError

    if (
        engine.dialect.name == "sqlite"
        and engine.url.database not in (None, "", ":memory:")
        and not Path(engine.url.database).exists()
    ):
        raise StoreConfigError(f"no store at {engine.url.database}: run `quant-engine store init` first")


def _cmd_status(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from quant_engine.store.engine import create_store_engine
    from quant_engine.store.migrate import current_revision, head_revision, known_revisions
    from quant_engine.store.schema import TABLES

    engine = create_store_engine(args.store)
    _require_existing(engine)
    try:
        with engine.connect() as conn:
            revision = current_revision(conn)
            counts: dict[str, int] = {}
            if revision is not None:
                existing = set(sa.inspect(conn).get_table_names())
                counts = {
                    name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                    for name, t in TABLES.items()
                    if name in existing
                }
    finally:
        engine.dispose()
    head = head_revision()
    state = (
        "empty"
        if revision is None
        else "current"
        if revision == head
        else "older: run `quant-engine store upgrade`"
        if revision in known_revisions()
        else "newer than this quant-engine"
    )
    data = {"url": engine.url.render_as_string(), "revision": revision, "head": head, "state": state, "rows": counts}
    lines = [f"store    {data['url']}", f"schema   {revision or '-'} (this version: {head}; {state})"]
    lines += [f"  {name:<22}{n:>12,}" for name, n in counts.items()]
    emit(args, data, "\n".join(lines))
    return 0
