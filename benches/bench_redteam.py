"""Benchmark: the Red Team's statistical battery, quant-engine vs peers in the same run.

Cases:

* ``SPA``: Hansen's SPA on ``T = 2,500`` periods x ``K = 1,000`` strategies with 1,000 stationary
  bootstrap replications (mean block ``int(sqrt(T))``), vs ``arch.bootstrap.SPA``. Before any
  time is printed, our p-values computed on arch's own bootstrap indices are asserted *equal* to
  arch's (unstudentized, arch's statistic). Timed: ours with its own seeded indices (index
  generation included), arch as shipped (default ``studentize=True``; it only affects arch's
  reported configuration, see docs/redteam.md). ``--big`` adds ``K = 5,000``.
* ``WNT-B permutation``: the null of a fixed position series on 100,000 bars, B = 1,000
  permutations (index generation + P&L + Sharpe per permutation), vs a straightforward NumPy loop
  (``rng.permutation`` per replicate).
* ``PBO CSCV``: 2,000 x 100 matrix, S = 16 (12,870 splits).
* ``effective trials``: 2,500 x 1,000 matrix.

Run: ``python benches/bench_redteam.py [--big] [--arch-repeat N]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from _harness import Bench, Timing  # noqa: E402
from quant_engine.research.redteam import (  # noqa: E402
    RedTeamThresholds,
    effective_trials,
    fixed_position_null_test,
    pbo,
    spa,
)


def _population(t: int, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    r = rng.standard_normal((t, 1)) * 0.004 + rng.standard_normal((t, k)) * 0.01 + rng.normal(0.0, 0.00015, k)
    return r, rng.standard_normal(t) * 0.002


def _arch_indices(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    from arch.bootstrap import StationaryBootstrap

    bs = StationaryBootstrap(block, np.arange(n), seed=seed)
    return np.array([d[0][0] for d in bs.bootstrap(reps)], dtype=np.int64)


def bench_spa(bench: Bench, t: int, k: int, reps: int, arch_repeat: int) -> None:
    from arch.bootstrap import SPA

    r, b = _population(t, k)
    block = int(math.sqrt(t))
    th = RedTeamThresholds(bootstrap_reps=reps, bootstrap_mean_block=block)

    def run_arch() -> np.ndarray:
        ref = SPA(-b, -r, block_size=block, reps=reps, seed=1)
        ref.compute()
        return np.asarray(ref.pvalues.values)

    warm = SPA(-b[:50], -r[:50, :3], block_size=5, reps=5, seed=0)  # compile arch's numba sampler first
    warm.compute()
    t0 = time.perf_counter()
    arch_p = run_arch()  # this run is both the reference and arch's first timing
    arch_times = [time.perf_counter() - t0]
    for _ in range(arch_repeat - 1):
        t0 = time.perf_counter()
        run_arch()
        arch_times.append(time.perf_counter() - t0)
    ours = spa(r, b, th, studentize=False, indices=_arch_indices(t, block, reps, 1))
    mine = np.array([ours.p_lower, ours.p_consistent, ours.p_upper])
    assert np.array_equal(mine, arch_p), (mine, arch_p)
    print(f"SPA {t}x{k}: p-values equal on arch's indices: {mine.tolist()}", file=sys.stderr)
    bench.case(f"SPA {t} x {k}, B={reps}", n_items=t * k * reps, baseline="arch SPA", target=">= 10x arch")
    arch_times.sort()
    bench.record("arch SPA", Timing(arch_times[len(arch_times) // 2], arch_times[0], arch_times[-1], len(arch_times)))
    bench.time("quant-engine spa (arch stat)", lambda: spa(r, b, th, studentize=False, seed=1), repeat=5)
    bench.time("quant-engine spa (studentized)", lambda: spa(r, b, th, seed=1), repeat=5)


def bench_wnt_b(bench: Bench, n: int, reps: int) -> None:
    rng = np.random.default_rng(2)
    ret = rng.standard_normal(n) * 0.01
    pos = np.sign(np.convolve(ret, np.ones(20), mode="same"))  # a fixed, SMA-like position series
    th = RedTeamThresholds(wnt_b_reps=reps)

    def numpy_peer() -> float:
        g = np.random.default_rng(3)
        pnl = pos * ret
        real = pnl.mean() / pnl.std(ddof=1)
        null = np.empty(reps)
        for i in range(reps):
            p = pos * ret[g.permutation(n)]
            null[i] = p.mean() / p.std(ddof=1)
        return (1.0 + np.count_nonzero(null >= real)) / (1.0 + reps)

    ours = fixed_position_null_test(pos, ret, th, seed=3).p_value
    print(f"WNT-B p-values: ours {ours}, numpy {numpy_peer()} (different random streams)", file=sys.stderr)
    bench.case(f"WNT-B permutation, {n} bars, B={reps}", n_items=n * reps, baseline="numpy loop", target="< 1 s")
    bench.time("numpy loop", numpy_peer, repeat=3)
    bench.time("quant-engine", lambda: fixed_position_null_test(pos, ret, th, seed=3), repeat=5)


def bench_pbo(bench: Bench, t: int, n: int) -> None:
    x = np.random.default_rng(4).standard_normal((t, n)) * 0.01
    bench.case(f"PBO CSCV {t} x {n}, S=16", n_items=12870 * n, baseline="quant-engine")
    bench.time("quant-engine", lambda: pbo(x), repeat=7)


def bench_neff(bench: Bench, t: int, n: int) -> None:
    x = np.random.default_rng(5).standard_normal((t, n))
    bench.case(f"effective trials {t} x {n}", n_items=t * n, baseline="quant-engine")
    bench.time("quant-engine", lambda: effective_trials(x), repeat=5)


def main() -> None:
    """Runs the cases and prints the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--big", action="store_true", help="also SPA on 2,500 x 5,000 (arch needs about 74 s)")
    ap.add_argument("--arch-repeat", type=int, default=1, help="timed runs of arch's SPA (slow)")
    ap.add_argument("--bars", type=int, default=100_000, help="bars of the WNT-B case")
    args = ap.parse_args()
    bench = Bench("redteam", items_label="cells")
    bench_spa(bench, 2500, 1000, 1000, args.arch_repeat)
    if args.big:
        bench_spa(bench, 2500, 5000, 1000, args.arch_repeat)
    bench_wnt_b(bench, args.bars, 1000)
    bench_pbo(bench, 2000, 100)
    bench_neff(bench, 2500, 1000)
    bench.report()


if __name__ == "__main__":
    main()
