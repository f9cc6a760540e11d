"""Research report: does the Gatekeeper make the Swarm stop repeating learned failures?

On a fixed synthetic market (a seeded random walk: no edge to find), the Swarm runs G generations;
after each one the Red Team examines (a cheap subset of the battery: trades, costs, drawdown,
volatility terciles) up to K of the candidates admitted to the pool. With the Gatekeeper, every
failure gets a post-mortem and the next generation is bound by the constraints; without it (the
ablation) nothing is learned. A failure type is *learned* once a post-mortem recorded it (in the
ablation: once it was seen). Printed per generation and per learned type: the share of the examined
candidates that fail for a type already learned before that generation.

Run: ``python benches/learning_curve.py [--generations 10] [--population 40] [--examine 15] [--bars 4000]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_swarm import SYN, make_bars  # noqa: E402

BACKTEST = {"instruments": SYN, "execution": {"slippage": {"fixed_bps": 1.0}}}
TESTS = ("trades", "costs", "drawdown", "vol_terciles")


def arm(gatekeeper: bool, args: argparse.Namespace) -> list[tuple[int, dict[str, int]]]:
    """Per generation: the candidates examined and, per type learned before it, how many failed
    for that type."""
    from quant_engine.research.gatekeeper import conduct_post_mortem
    from quant_engine.research.redteam.examine import RedTeam, RedTeamConfig
    from quant_engine.store import get_strategy, open_store
    from quant_engine.swarm import SerialExecutor, Swarm, SwarmConfig

    bars = make_bars(args.bars, seed=11)
    red = RedTeam(RedTeamConfig(backtest=BACKTEST, only=TESTS))
    learned: set[str] = set()
    curve: list[tuple[int, dict[str, int]]] = []
    config = SwarmConfig(population=args.population, backtest=BACKTEST)
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_store(Path(tmp) / "lc.sqlite") as store,
        Swarm(store, bars, config=config, seed=args.seed, executor=SerialExecutor()) as swarm,
    ):
        for _ in range(args.generations):
            admitted = swarm.generation()[: args.examine]
            known = set(learned)
            failing = dict.fromkeys(sorted(known), 0)
            for h in admitted:
                spec = get_strategy(store, h).spec
                verdict = red.examine(spec, bars, None, seed=1)
                for ft in verdict.failure_types:
                    if ft.value in known:
                        failing[ft.value] += 1
                    learned.add(ft.value)
                if gatekeeper and not verdict.passed and verdict.failure_types:
                    conduct_post_mortem(store, spec, verdict)
            curve.append((len(admitted), failing))
    return curve


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generations", type=int, default=10)
    ap.add_argument("--population", type=int, default=40)
    ap.add_argument("--examine", type=int, default=15)
    ap.add_argument("--bars", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=3)
    args = ap.parse_args()
    for name, on in (("with the Gatekeeper", True), ("without (ablation)", False)):
        curve = arm(on, args)
        types = sorted({t for _, row in curve for t in row})
        assert len(curve) == args.generations
        print(f"\n{name}: share of examined pool entrants failing for an already-learned type")
        print("gen  examined  " + "  ".join(f"{t[:22]:>22}" for t in types))
        for g, (examined, row) in enumerate(curve, 1):
            cells = [f"{row[t] / examined:22.2f}" if t in row and examined else f"{'-':>22}" for t in types]
            print(f"{g:3d}  {examined:8d}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
