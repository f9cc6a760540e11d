"""``quant-engine strategies|trials|missions|memories``: read the research store.

* ``strategies list`` (``--status``, ``--family``, ``--limit``) and ``strategies show HASH``
  (a unique prefix of at least 4 hex digits): the canonical spec, lineage and every transition.
* ``trials list`` (``--family``, ``--strategy``, ``--batch``, ``--limit``): newest first.
* ``missions list`` and ``missions show ID|NAME``.
* ``memories list`` (``--type``, ``--mission``, ``--active``, ``--limit``) and ``--stats`` for the
  ``failure_type_stats`` view.

Every command takes ``--store URL`` and ``--json`` (see :mod:`.store`).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from quant_engine.cli.store import add_store_options, emit

__all__ = ["register"]


def _group(subparsers: Any, name: str, text: str) -> Any:
    p = subparsers.add_parser(name, help=text, description=text)
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    return sub


def _action(sub: Any, name: str, text: str, func: Any) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    add_store_options(p)
    p.set_defaults(func=func)
    return p


def register(subparsers: Any) -> None:
    """Adds the ``strategies``, ``trials``, ``missions`` and ``memories`` commands."""
    s = _group(subparsers, "strategies", "strategies in the research store")
    p = _action(s, "list", "list strategies, newest first", _strategies_list)
    p.add_argument("--status", default=None, help="candidate, testing, failed, graduated, promoted or retired")
    p.add_argument("--family", default=None)
    p.add_argument("--limit", type=int, default=50)
    p = _action(s, "show", "a strategy's spec, lineage and transitions", _strategies_show)
    p.add_argument("hash", help="the strategy hash or a unique prefix (>= 4 hex digits)")

    t = _group(subparsers, "trials", "the trial ledger")
    p = _action(t, "list", "list trials, newest first", _trials_list)
    p.add_argument("--family", default=None)
    p.add_argument("--strategy", default=None, help="a strategy hash or unique prefix")
    p.add_argument("--batch", type=int, default=None, help="a trial batch (sweep) id")
    p.add_argument("--limit", type=int, default=50)

    m = _group(subparsers, "missions", "research missions")
    _action(m, "list", "list missions, newest first", _missions_list)
    p = _action(m, "show", "one mission", _missions_show)
    p.add_argument("mission", help="mission id or name")

    c = _group(subparsers, "memories", "causal memories (confirmed failures)")
    p = _action(c, "list", "list causal memories, newest first", _memories_list)
    p.add_argument("--type", default=None, help="a failure type (OVERFITTING, LOOKAHEAD_BIAS, ...)")
    p.add_argument("--mission", type=int, default=None)
    p.add_argument("--active", action="store_true", help="only memories that have not expired")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--stats", action="store_true", help="print the failure_type_stats view instead")


def _open(args: argparse.Namespace) -> Any:
    from quant_engine.store import open_store

    return open_store(args.store)


def _table(args: argparse.Namespace, rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    if args.json:
        emit(args, rows, "")
        return
    from rich.table import Table

    from quant_engine.cli.console import console

    table = Table(title=f"{title} ({len(rows)})")
    for col in columns:
        table.add_column(col)
    for r in rows:
        table.add_row(*[f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in columns])
    console().print(table)


def _short(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{**r, **{f"{k}_short": (r[k] or "")[:12] for k in keys}} for r in rows]


def _strategies_list(args: argparse.Namespace) -> int:
    from quant_engine.store import list_strategies

    with _open(args) as s:
        rows = [
            dataclasses.asdict(r) for r in list_strategies(s, status=args.status, family=args.family, limit=args.limit)
        ]
    if args.json:
        emit(args, rows, "")
    else:
        _table(
            args, _short(rows, "hash"), ["hash_short", "status", "family", "origin", "name", "mission_id"], "strategies"
        )
    return 0


def _strategies_show(args: argparse.Namespace) -> int:
    from quant_engine.store import find_strategy, parents, transitions

    with _open(args) as s:
        rec = find_strategy(s, args.hash)
        data = {
            **dataclasses.asdict(rec),
            "spec": rec.document(),
            "parents": parents(s, rec.hash),
            "transitions": [dataclasses.asdict(t) for t in transitions(s, rec.hash)],
        }
    import json

    text = "\n".join(
        [
            f"strategy  {rec.hash}",
            f"status    {rec.status}",
            f"family    {rec.family}",
            f"origin    {rec.origin}",
            f"parents   {', '.join(data['parents']) or '-'}",
            "transitions:",
        ]
        + [
            f"  {t['from_status'] or '-':>9} -> {t['to_status']:<9} by {t['actor'] or '-'}: {t['reason']}"
            for t in data["transitions"]
        ]
        + ["spec:", json.dumps(data["spec"], indent=2)]
    )
    emit(args, data, text)
    return 0


def _trials_list(args: argparse.Namespace) -> int:
    from quant_engine.store import find_strategy, list_trials

    with _open(args) as s:
        strategy = find_strategy(s, args.strategy).hash if args.strategy else None
        rows = [
            dataclasses.asdict(t)
            for t in list_trials(s, family=args.family, strategy_hash=strategy, batch_id=args.batch, limit=args.limit)
        ]
    if args.json:
        emit(args, rows, "")
        return 0
    for r in rows:
        r["sharpe"] = r["metrics"].get("sharpe")
    _table(
        args,
        _short(rows, "strategy_hash"),
        ["id", "batch_id", "strategy_hash_short", "family", "params", "sharpe", "has_returns"],
        "trials",
    )
    return 0


def _missions_list(args: argparse.Namespace) -> int:
    from quant_engine.store import list_missions

    with _open(args) as s:
        rows = [dataclasses.asdict(m) for m in list_missions(s)]
    _table(args, rows, ["id", "name", "status", "directive", "progress"], "missions")
    return 0


def _missions_show(args: argparse.Namespace) -> int:
    import json

    from quant_engine.store import find_mission

    with _open(args) as s:
        data = dataclasses.asdict(find_mission(s, args.mission))
    emit(args, data, "\n".join(f"{k:<12}{json.dumps(v) if isinstance(v, dict) else v}" for k, v in data.items()))
    return 0


def _memories_list(args: argparse.Namespace) -> int:
    from quant_engine.store import failure_type_stats, list_memories

    with _open(args) as s:
        if args.stats:
            rows = failure_type_stats(s, mission_id=args.mission)
            _table(
                args,
                rows,
                ["mission_id", "failure_type", "count", "share", "recent_count", "prior_count", "trend"],
                "failure_type_stats",
            )
            return 0
        rows = [
            dataclasses.asdict(m)
            for m in list_memories(
                s, failure_type=args.type, mission_id=args.mission, active_only=args.active, limit=args.limit
            )
        ]
    _table(
        args,
        _short(rows, "strategy_hash"),
        ["id", "failure_type", "detector", "statistic", "threshold", "strategy_hash_short", "mission_id", "lesson"],
        "causal memories",
    )
    return 0
