"""``quant-engine gatekeeper``: what the Gatekeeper has learned.

* ``gatekeeper stats [--mission ID]``: failures per type and mission (the store's
  ``failure_type_stats`` view: count, share, recent and prior counts, trend).
* ``gatekeeper constraints [--mission ID]``: the machine constraints the active memories compile to,
  with their ids, and the prompt text an LLM generator is shown.
"""

from __future__ import annotations

import argparse
from typing import Any

from quant_engine.cli.store import add_store_options, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``gatekeeper`` command group."""
    p = subparsers.add_parser(
        "gatekeeper",
        help="failure statistics and the constraints learned from failures",
        description="The Gatekeeper: causal memories of failed strategies and the constraints they compile to.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    s = sub.add_parser("stats", help="failures per type and mission", description="failures per type and mission "
                       "(count, share, recent and prior counts, trend)")  # fmt: skip
    s.add_argument("--mission", type=int, default=None, help="only this mission's rows")
    add_store_options(s)
    s.set_defaults(func=_cmd_stats)
    c = sub.add_parser("constraints", help="the machine constraints of the active memories",
                       description="the machine constraints of the active memories, with their ids, and the prompt")  # fmt: skip
    c.add_argument("--mission", type=int, default=None, help="the mission (its memories and the global ones)")
    add_store_options(c)
    c.set_defaults(func=_cmd_constraints)


def _cmd_stats(args: argparse.Namespace) -> int:
    from quant_engine.store import failure_type_stats, open_store

    with open_store(args.store) as store:
        rows = failure_type_stats(store, mission_id=args.mission)
    if args.json or not rows:
        emit(args, rows, "no failures recorded")
        return 0
    from rich.table import Table

    from quant_engine.cli.console import console

    table = Table(title=f"failures per type ({len(rows)})")
    columns = ["mission_id", "failure_type", "count", "share", "recent_count", "prior_count", "trend"]
    for col in columns:
        table.add_column(col, justify="left" if col == "failure_type" else "right")
    for r in rows:
        table.add_row(*[f"{r.get(c):.3g}" if isinstance(r.get(c), float) else str(r.get(c)) for c in columns])
    console().print(table)
    return 0


def _cmd_constraints(args: argparse.Namespace) -> int:
    from quant_engine.research.gatekeeper import get_swarm_constraints
    from quant_engine.store import open_store

    with open_store(args.store) as store:
        constraints = get_swarm_constraints(store, args.mission)
    emit(args, constraints.to_dict(), constraints.prompt or "no active constraints")
    return 0
