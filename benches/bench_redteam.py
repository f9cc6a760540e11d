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
* ``WNT-B re-run``: an SMA cross (10/30) on 100,000 one-minute bars re-run (signals + fills) on
  B = 1,000 permuted markets, vs a straightforward NumPy loop (rebuild the permuted bars with NumPy,
  call ``backtest()``) on 20 replicates (items = bars x replicates, so rates compare). Before any
  time is printed: the real statistic equals ``backtest()``'s Sharpe and, on the same index rows,
  the NumPy loop's null Sharpes and p-value agree with ours (B = 20).
* ``WNT-A``: the same candidate on K = 200 null markets (i.i.d. + GARCH), and a 3 x 2 family fitted
  per market on K = 50; ``perturbation`` (+-10/20% and 16 joint draws); ``lag collapse``.
* ``PBO CSCV``: 2,000 x 100 matrix, S = 16 (12,870 splits).
* ``effective trials``: 2,500 x 1,000 matrix.

* ``examine``: the whole battery (``RedTeam().examine``) on one SMA-cross candidate, 100,000
  bars, B = 1,000, without a ledger and with a 9-combination family in a store; the verdict is
  asserted computed before anything is printed, and the time per test is printed (target < 5 s).

Run: ``python benches/bench_redteam.py [--big] [--arch-repeat N] [--cases spa,wnt_b,nulls,examine,pbo,neff]``.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

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


SYN = {"SYN": {"kind": "equity", "multiplier": 1.0}}
SMA_CROSS = {
    "instruments": ["SYN"], "timeframe": "1m",
    "entry_long": {"op": "cross_above", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                   "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "exit_long": {"op": "cross_below", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                  "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "sizing": {"kind": "equity_fraction", "fraction": 1.0}, "params": {"fast": 10, "slow": 30},
}  # fmt: skip


def _minute_bars(n: int, seed: int = 3) -> Any:
    """``n`` one-minute bars of a geometric random walk (OHLC consistent)."""
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0.0, 0.0002, n))
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0003, n)))
    start = 1_704_205_800 * 10**9 + 60 * 10**9 * np.arange(n, dtype=np.int64)
    return pa.table(
        {
            "symbol": ["SYN"] * n,
            "start": pa.array(start, pa.timestamp("ns", tz="UTC")),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(np.float64),
        }
    )


def _numpy_null_sharpes(bars: Any, idx: np.ndarray, cfg: dict[str, Any]) -> np.ndarray:
    """The straightforward way: rebuild each permuted market with NumPy and call ``backtest()``."""
    import pyarrow as pa

    from quant_engine.research.backtester import backtest

    o, h, lo, c, v = (bars.column(k).to_numpy() for k in ("open", "high", "low", "close", "volume"))
    prev = np.concatenate([[o[0]], c[:-1]])
    eg, eb = o / prev, c / o
    eu, ed = h / np.maximum(o, c), lo / np.minimum(o, c)
    out = np.empty(idx.shape[0])
    for b, ix in enumerate(idx):  # one replicate per iteration: the peer's loop
        cc = o[0] * np.cumprod(eg[ix] * eb[ix])
        oo = np.concatenate([[o[0]], cc[:-1]]) * eg[ix]
        t = pa.table({"symbol": bars.column("symbol"), "start": bars.column("start"), "open": oo,
                      "high": np.maximum(oo, cc) * eu[ix], "low": np.minimum(oo, cc) * ed[ix], "close": cc,
                      "volume": v[ix]})  # fmt: skip
        out[b] = backtest(SMA_CROSS, t, cfg).metrics["sharpe"]
    return out


def bench_nulls(bench: Bench, n: int, reps: int) -> None:
    from quant_engine.kernels.bootstrap import permutation_indices
    from quant_engine.research.backtester import backtest
    from quant_engine.research.redteam.nulls import lag_collapse, perturbation, white_noise_a, white_noise_b

    bars = _minute_bars(n)
    cfg = {"initial_cash": 1_000_000.0, "instruments": SYN}
    small = 20
    ours = white_noise_b(SMA_CROSS, bars, config=cfg, reps=small, seed=7)
    assert ours.statistic == backtest(SMA_CROSS, bars, cfg).metrics["sharpe"]
    peer = _numpy_null_sharpes(bars, permutation_indices(n, small, seed=7), cfg)
    assert np.allclose(peer, ours.null, rtol=1e-6, atol=1e-9), (peer, ours.null)
    peer_p = (1 + np.count_nonzero(peer >= ours.statistic)) / (1 + small)
    assert peer_p == ours.p_value, (peer_p, ours.p_value)
    print(f"WNT-B re-run: real Sharpe = backtest()'s ({ours.statistic:.4f}); B={small} p-values equal ({peer_p})",
          file=sys.stderr)  # fmt: skip
    bench.case(f"WNT-B re-run SMA cross, {n} bars, B={reps}", n_items=n * reps, baseline="numpy + backtest() loop",
               target="< 1 s")  # fmt: skip
    bench.time("numpy + backtest() loop", lambda: _numpy_null_sharpes(bars, permutation_indices(n, small, seed=7), cfg),
               repeat=1, warmup=0, n_items=n * small, note=f"B={small}")  # fmt: skip
    bench.time("quant-engine permutation", lambda: white_noise_b(SMA_CROSS, bars, config=cfg, reps=reps), repeat=2)
    bench.time("quant-engine block", lambda: white_noise_b(SMA_CROSS, bars, config=cfg, reps=reps, method="block"),
               repeat=2)  # fmt: skip
    bench.case(f"WNT-A SMA cross, {n} bars, K=200", n_items=n * 200, baseline="quant-engine")
    bench.time("quant-engine", lambda: white_noise_a(SMA_CROSS, bars, config=cfg, markets=200), repeat=2)
    fam = {"fast": [5, 10, 20], "slow": [30, 60]}
    bench.case(f"WNT-A family 3x2 fitted, {n} bars, K=50", n_items=n * 50 * 6, baseline="quant-engine")
    bench.time("quant-engine", lambda: white_noise_a(SMA_CROSS, bars, config=cfg, markets=50, grid=fam), repeat=1)
    bench.case(f"perturbation SMA cross, {n} bars", n_items=n, baseline="quant-engine")
    bench.time("quant-engine", lambda: perturbation(SMA_CROSS, bars, config=cfg), repeat=3)
    bench.case(f"lag collapse SMA cross, {n} bars", n_items=n, baseline="quant-engine")
    bench.time("quant-engine", lambda: lag_collapse(SMA_CROSS, bars, config=cfg), repeat=3)


def bench_examine(bench: Bench, n: int, reps: int, family: bool) -> None:
    """The whole battery (``RedTeam().examine``) on one SMA-cross candidate, with a breakdown of
    where the time goes; with ``family``, a 9-combination sweep of its template is in the ledger
    (DSR's N, PBO, SPA over the family, WNT-A refitting the grid on every null market)."""
    import tempfile

    from quant_engine.research import sweep
    from quant_engine.research.redteam import RedTeam, RedTeamConfig

    bars = _minute_bars(n)
    backtest = {"instruments": SYN, "execution": {"slippage": {"fixed_bps": 0.5}}}
    red = RedTeam(RedTeamConfig(thresholds=RedTeamThresholds(wnt_b_reps=reps, bootstrap_reps=reps), backtest=backtest))
    store = None
    if family:
        from quant_engine.store import add_strategy, open_store

        store = open_store(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite")
        add_strategy(store, SMA_CROSS, family="sma", origin="search")
        sweep(SMA_CROSS, {"fast": [5, 10, 20], "slow": [30, 50, 100]}, bars, backtest, ledger=store)
    v = red.examine(SMA_CROSS, bars, store, seed=1)
    computed = [t.name for t in v.tests if t.computable]
    # on a random walk lag collapse and perturbation have no edge to test, one calendar year has no best year
    assert len(computed) >= len(v.tests) // 2, f"verdict mostly not computable: {v.not_computable}"
    for must in ("psr", "dsr", "spa", "wnt_b", "wnt_c", "cpcv", "prefix_invariance", "costs_x2", "capacity"):
        assert v.test(must).computable, (must, v.test(must).reason)
    if family:
        assert v.test("pbo").computable and v.n_trials == 9, v.test("pbo").reason
    label = "family of 9 in the ledger" if family else "no ledger"
    print(
        f"examine ({label}): passed={v.passed}, failure types {[f.value for f in v.failure_types]}, "
        f"not computed {list(v.not_computable)}",
        file=sys.stderr,
    )
    parts = sorted(((k, s) for k, s in v.timings.items() if k != "total"), key=lambda kv: -kv[1])
    print("  where the time goes: " + ", ".join(f"{k} {s:.3f} s" for k, s in parts if s >= 0.005), file=sys.stderr)
    bench.case(f"examine, SMA cross, {n} bars, B={reps} ({label})", n_items=n, baseline="quant-engine",
               target="< 5 s")  # fmt: skip
    bench.time("quant-engine", lambda: red.examine(SMA_CROSS, bars, store, seed=1), repeat=2, warmup=0)


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
    ap.add_argument("--bars", type=int, default=100_000, help="bars of the WNT-B and null-test cases")
    ap.add_argument("--cases", default="spa,wnt_b,nulls,examine,pbo,neff", help="comma-separated cases to run")
    args = ap.parse_args()
    cases = set(args.cases.split(","))
    bench = Bench("redteam", items_label="cells")
    if "spa" in cases:
        bench_spa(bench, 2500, 1000, 1000, args.arch_repeat)
        if args.big:
            bench_spa(bench, 2500, 5000, 1000, args.arch_repeat)
    if "wnt_b" in cases:
        bench_wnt_b(bench, args.bars, 1000)
    if "nulls" in cases:
        bench_nulls(bench, args.bars, 1000)
    if "examine" in cases:
        bench_examine(bench, args.bars, 1000, family=False)
        bench_examine(bench, args.bars, 1000, family=True)
    if "pbo" in cases:
        bench_pbo(bench, 2000, 100)
    if "neff" in cases:
        bench_neff(bench, 2500, 1000)
    bench.report()


if __name__ == "__main__":
    main()
