"""``quant-engine calibrate``: the factory calibration (``docs/redteam.md``, "Calibration").

Runs the whole research loop (split with a sealed holdout, a grid search of the SMA-cross family
on the generator view with every trial in a ledger, the Red Team, graduation) on K null markets
and on markets with planted edges, prints the false-graduation rate with its Clopper-Pearson
interval and the power per planted strength, and records the calibration in the store (every
later graduation verdict carries its id). ``--json`` prints the whole result.
"""

from __future__ import annotations

import argparse
from typing import Any

from quant_engine.errors import InvalidArgumentError

__all__ = ["register"]


def _strengths(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--planted takes comma-separated annualized Sharpe ratios, got {text!r}"
        ) from None
    if not values:
        raise argparse.ArgumentTypeError("--planted needs at least one strength")
    return values


def _threshold(text: str) -> tuple[str, float | int]:
    name, sep, value = text.partition("=")
    try:
        if not sep:
            raise ValueError
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threshold takes NAME=VALUE, got {text!r}") from None
    return name.strip(), int(number) if value.strip().lstrip("+-").isdigit() else number


def register(subparsers: Any) -> None:
    """Adds the ``calibrate`` command."""
    from quant_engine.cli.store import add_store_options

    p = subparsers.add_parser(
        "calibrate",
        help="measure the research loop's false-graduation rate and power on synthetic markets",
        description="Factory calibration: the whole research loop on K null markets (no edge) and on markets "
        "with a planted edge (annualized Sharpe of the SMA-cross member's returns); prints the false-graduation "
        "rate with its Clopper-Pearson interval and the power by planted strength, and records it in the store.",
    )
    p.add_argument("--null-markets", type=int, default=20, metavar="K", help="null markets (default 20)")
    p.add_argument("--planted", type=_strengths, default=(0.5, 1.0, 2.0, 3.0), metavar="S,S,...",
                   help="planted annualized Sharpe ratios (default 0.5,1,2,3)")  # fmt: skip
    p.add_argument("--planted-markets", type=int, default=None, metavar="M",
                   help="markets per planted strength (default: K)")  # fmt: skip
    p.add_argument("--years", type=float, default=2.0, help="years of daily bars per market (default 2)")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--skip", action="append", default=[], metavar="TEST",
                   help="leave a Red Team test out (repeatable; listed in the stored config)")  # fmt: skip
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        type=_threshold,
        metavar="NAME=VALUE",
        help="override a RedTeamThresholds default (repeatable), e.g. best_year_max_share=0.75",
    )
    p.add_argument("--generator", choices=("grid", "swarm"), default="grid",
                   help="grid: the SMA-cross family's grid (default); swarm: the Swarm's evolutionary search")  # fmt: skip
    p.add_argument("--no-record", action="store_true", help="do not record the calibration in the store")
    add_store_options(p)
    p.set_defaults(func=_cmd_calibrate)


def _cmd_calibrate(args: argparse.Namespace) -> int:
    import msgspec

    from quant_engine.cli.console import console, progress
    from quant_engine.cli.store import emit
    from quant_engine.research.calibration import CalibrationConfig, calibrate

    try:
        cfg = CalibrationConfig(
            null_markets=args.null_markets, planted=tuple(args.planted), planted_markets=args.planted_markets,
            years=args.years, seed=args.seed, skip=tuple(args.skip),
            thresholds=dict(args.threshold), generator=args.generator,
        )  # fmt: skip
    except msgspec.ValidationError as exc:
        raise InvalidArgumentError(str(exc)) from None
    from quant_engine.research.calibration import calibration_red_team

    calibration_red_team(cfg.skip, cfg.thresholds)  # unknown tests / thresholds: one-line error before any work
    total = cfg.null_markets + len(cfg.planted) * (cfg.planted_markets or cfg.null_markets)
    store = None
    if not args.no_record:
        from quant_engine.store import open_store

        store = open_store(args.store)
    try:
        with progress() as bar:
            task = bar.add_task("markets", total=total)
            result = calibrate(cfg, store=store, progress=lambda _o: bar.advance(task))
    finally:
        if store is not None:
            store.close()
    if args.json:
        emit(args, result.to_dict(), "")
        return 0
    _print(console(), result)
    return 0


def _print(con: Any, result: Any) -> None:
    from rich.table import Table

    t = Table(title=f"Factory calibration ({result.config.years:g} years of daily bars, seed {result.config.seed})")
    for name in ("planted Sharpe", "markets", "graduated", "rate", "95% interval", "failure types (count)"):
        t.add_column(name, justify="left" if name.startswith("failure") else "right")
    fails = result.failure_counts
    t.add_row("0 (null)", str(result.null_markets), str(result.false_graduations), f"{result.false_graduation_rate:.3f}",
              f"[{result.fgr_lower:.3f}, {result.fgr_upper:.3f}]", _fails(fails.get("0", {})))  # fmt: skip
    for key, p in result.power.items():
        t.add_row(key, f"{p['markets']:.0f}", f"{p['graduated']:.0f}", f"{p['power']:.3f}",
                  f"[{p['lower']:.3f}, {p['upper']:.3f}]", _fails(fails.get(key, {})))  # fmt: skip
    con.print(t)
    skipped = ", ".join(result.config.skip) or "none"
    ident = "not recorded" if result.calibration_id is None else f"calibration {result.calibration_id}"
    con.print(f"false-graduation rate {result.false_graduation_rate:.3f} (upper bound {result.fgr_upper:.3f}); "
              f"skipped tests: {skipped}; {result.seconds:.1f} s; {ident}", markup=False)  # fmt: skip


def _fails(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) or "-"
