"""``quant-engine swarm``: replenish the pool of candidates, audit and repair it.

* ``swarm run --generations G --pool N [--mission ID] [--seed S]``: evolutionary search on a file of
  bars (``--data``, train/validation only) or the seeded synthetic market, bound by the Gatekeeper's
  constraints, with a progress bar; prints the counts.
* ``swarm audit``: the pool's health (duplicates, specs that no longer validate, stale candidates,
  trials without a strategy); exit status 1 when something needs repair.
* ``swarm repair``: the audit, then the fixes (``docs/research-loop.md``).
"""

from __future__ import annotations

import argparse
from typing import Any

from quant_engine.cli.options import add_synthetic_market, positive_int
from quant_engine.cli.store import add_store_options, emit

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``swarm`` command group."""
    p = subparsers.add_parser(
        "swarm",
        help="replenish the candidate pool (evolutionary search), audit and repair it",
        description="The Swarm: candidate generation bound by the Gatekeeper's constraints, and the pool's health.",
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    run = sub.add_parser("run", help="run generations until the pool has N new candidates",
                         description="Runs generations of the evolutionary search until --pool new candidates "
                         "entered the pool or --generations ran; every evaluation is a trial in the ledger.")  # fmt: skip
    run.add_argument("--generations", type=positive_int, default=5, help="most generations (default 5)")
    run.add_argument("--pool", type=positive_int, default=20, help="new pool members wanted (default 20)")
    run.add_argument("--population", type=positive_int, default=200, help="children per generation (default 200)")
    run.add_argument("--mission", type=int, default=None, help="the mission id the candidates serve")
    run.add_argument("--workers", type=int, default=None, help="worker processes (default: CPU count; 1: serial)")
    run.add_argument("--data", default=None, help="file of train/validation bars (default: the synthetic market)")
    run.add_argument("--timeframe", default="1m", help="the strategies' bar interval (default 1m)")
    run.add_argument("--swarm-seed", type=int, default=0, help="seed of the search (default 0)")
    run.add_argument("--llm-share", type=float, default=0.0,
                     help="share of each generation asked of the LLM (QE_LLM_* settings; default 0: none)")  # fmt: skip
    run.add_argument("--allow-unlisted-equities", action="store_true", help="screen tickers the registry does not list")
    add_synthetic_market(run, days=5, ticks_per_day=20_000)
    add_store_options(run)
    run.set_defaults(func=_cmd_run)
    for name, text, func in (
        ("audit", "report the pool's health (changes nothing)", _cmd_audit),
        ("repair", "audit the pool, then fix what the audit found", _cmd_repair),
    ):
        a = sub.add_parser(name, help=text, description=text)
        a.add_argument("--stale-days", type=float, default=30.0, help="candidates untouched this long are stale")
        add_store_options(a)
        a.set_defaults(func=func)


def _bars(args: argparse.Namespace) -> Any:
    from quant_engine.cli.tables import read_table
    from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, synthetic_bars

    if args.data:
        return read_table(args.data)
    return synthetic_bars(DEFAULT_SYMBOLS, args.timeframe, seed=args.seed, start=args.start, days=args.days,
                          ticks_per_day=args.ticks_per_day)  # fmt: skip


def _proposer(args: argparse.Namespace, store: Any, bars: Any) -> Any:
    """The LLM generator when ``--llm-share`` asks for one (LLMNotConfiguredError without QE_LLM_BASE_URL)."""
    if args.llm_share <= 0:
        return None
    from quant_engine.research.gatekeeper import get_swarm_constraints
    from quant_engine.research.llm import LLMClient
    from quant_engine.swarm.llm_proposer import LLMProposer

    symbols = sorted(set(bars.column("symbol").to_pylist())) if hasattr(bars, "column") else ["SPY"]
    check = get_swarm_constraints(store, args.mission).check
    return LLMProposer(LLMClient.from_env(store=store), instruments=symbols, timeframe=args.timeframe, check=check)


def _cmd_run(args: argparse.Namespace) -> int:
    from quant_engine.cli.console import progress
    from quant_engine.errors import InvalidArgumentError
    from quant_engine.store import open_store
    from quant_engine.swarm import ProcessExecutor, SerialExecutor, Swarm, SwarmConfig

    if not 0.0 <= args.llm_share <= 1.0:
        raise InvalidArgumentError(f"--llm-share must be in [0, 1], got {args.llm_share}")
    bars = _bars(args)
    config = SwarmConfig(population=args.population, timeframe=args.timeframe, llm_share=args.llm_share,
                         backtest={"allow_unlisted_equities": bool(args.allow_unlisted_equities)})  # fmt: skip
    executor = SerialExecutor() if args.workers == 1 else ProcessExecutor(args.workers)
    with open_store(args.store) as store, Swarm(store, bars, config=config, seed=args.swarm_seed, executor=executor,
                                                llm=_proposer(args, store, bars)) as swarm, progress() as bar:  # fmt: skip
        task = bar.add_task("generations", total=args.generations)

        def tick(gen: int, counts: Any) -> None:
            bar.update(task, completed=gen, description=f"generations (pool +{counts.admitted})")

        report = swarm.replenish_pool(args.pool, args.mission, generations=args.generations, progress=tick)
    c = report.counts
    refused = sum(c.constraint_refused.values())
    text = (f"{report.generations} generations: {sum(c.generated.values())} generated, {c.invalid} invalid, "
            f"{refused} refused by constraints, {c.duplicates} duplicates, {c.evaluated} evaluated "
            f"({c.trials_recorded} trials recorded), {c.correlated} correlated, {c.admitted} admitted to the pool")  # fmt: skip
    emit(args, {"admitted": report.admitted, "counts": c.to_dict(), "timings": report.timings,
                "generations": report.generations}, text)  # fmt: skip
    return 0


def _audit_text(report: Any, verb: str) -> str:
    s = report.summary()
    lines = [f"pool of {s['pool']}: {s['duplicate']} duplicate, {s['invalid']} invalid, {s['stale']} stale; "
             f"{s['orphan_trials']} trials without a strategy{verb}"]  # fmt: skip
    lines += [f"  {f.kind:9} {f.strategy_hash[:12]}  {f.detail}" for f in report.findings[:50]]
    return "\n".join(lines)


def _cmd_audit(args: argparse.Namespace) -> int:
    from quant_engine.store import open_store
    from quant_engine.swarm.audit import audit_pool

    with open_store(args.store) as store:
        report = audit_pool(store, stale_days=args.stale_days)
    emit(args, report.to_dict(), _audit_text(report, "" if report.healthy else " (run `quant-engine swarm repair`)"))
    return 0 if report.healthy else 1


def _cmd_repair(args: argparse.Namespace) -> int:
    from quant_engine.store import open_store
    from quant_engine.swarm.audit import audit_pool, repair_pool

    with open_store(args.store) as store:
        report = repair_pool(store, stale_days=args.stale_days)
        after = audit_pool(store, stale_days=args.stale_days)
    emit(args, {"repaired": report.to_dict(), "after": after.summary()}, _audit_text(report, ": repaired"))
    return 0 if after.healthy else 1
