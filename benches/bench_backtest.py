"""Backtest benchmark: quant-engine against a fused Numba loop and vectorbt, same data, same run.

An SMA-crossover strategy (long when the fast SMA crosses above the slow one, flat when it crosses
below; all-in sizing, no costs), two cases from the backtester issue:

* 1 M bars x 1 column: ``backtest()`` through the public API (signal evaluation, Rust fills,
  result tables and metrics); target within 1.5x of the fused loop and >= 10x faster than vectorbt;
* 100 k bars x 990 parameter sets (fast < slow, windows 2..46) on 2 threads: ``sweep()``; target
  within 1.5x of the fused loop and >= 50x faster than vectorbt.

The fused loop is a plain Numba kernel computing both SMAs, the crossover, the position, the
equity and its Sharpe and drawdown in one pass per column (``prange`` over columns): the floor a
hand-written kernel reaches. Compile time is reported separately: a cold process (empty Numba
cache) and a second process start (reusing the cache written by the first).

Run: ``make bench`` or ``.venv/bin/python benches/bench_backtest.py [--bars N] [--sweep-bars N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numba as nb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))
from _harness import Bench, Timing  # noqa: E402

from quant_engine.research.backtester import BacktestConfig, backtest, sweep  # noqa: E402
from quant_engine.strategy import compile_strategy, prepare_bars  # noqa: E402

T0 = 1_704_205_800 * 1_000_000_000
MINUTE = 60_000_000_000
CASH = 1_000_000.0

SMA_CROSS = {
    "instruments": ["SYN"],
    "timeframe": "1m",
    "entry_long": {"op": "cross_above", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                   "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "exit_long": {"op": "cross_below", "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                  "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}},
    "sizing": {"kind": "equity_fraction", "fraction": 1.0},
    "params": {"fast": 10, "slow": 30},
}


def make_bars(n: int, seed: int = 3) -> pa.Table:
    """``n`` one-minute bars of a geometric random walk (OHLC consistent)."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0003, n)))
    low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0003, n)))
    return pa.table(
        {
            "symbol": pa.array(["SYN"] * n, pa.string()),
            "start": pa.array(T0 + MINUTE * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(np.float64),
        }
    )


@nb.njit(cache=True, nogil=True)
def fused_column(open_, close, fast, slow, cash0):  # type: ignore[no-untyped-def]
    """One column: SMAs, crossover, next-open fills (all-in, whole shares), equity, Sharpe, max
    drawdown, all in one pass."""
    n = close.shape[0]
    sf = 0.0
    ss = 0.0
    pf = np.nan
    ps = np.nan
    pos = 0.0
    cash = cash0
    pending = 0
    prev = cash0
    mean = 0.0
    m2 = 0.0
    peak = cash0
    mdd = 0.0
    trades = 0
    for i in range(n):
        if pending == 1 and pos == 0.0:
            q = np.floor(cash / open_[i])
            pos = q
            cash -= q * open_[i]
        elif pending == -1 and pos > 0.0:
            cash += pos * open_[i]
            pos = 0.0
            trades += 1
        pending = 0
        c = close[i]
        sf += c
        ss += c
        if i >= fast:
            sf -= close[i - fast]
        if i >= slow:
            ss -= close[i - slow]
        if i >= slow - 1:
            f = sf / fast
            s = ss / slow
            if pf == pf:
                if f > s and pf <= ps:
                    pending = 1
                elif f < s and pf >= ps:
                    pending = -1
            pf = f
            ps = s
        eq = cash + pos * c
        r = eq / prev - 1.0
        prev = eq
        d = r - mean
        mean += d / (i + 1)
        m2 += d * (r - mean)
        if eq > peak:
            peak = eq
        dd = eq / peak - 1.0
        if dd < mdd:
            mdd = dd
    return prev, mean / np.sqrt(m2 / (n - 1)), mdd, trades


@nb.njit(cache=True, nogil=True, parallel=True)
def fused_sweep(open_, close, fasts, slows, cash0):  # type: ignore[no-untyped-def]
    """Every (fast, slow) column in parallel."""
    m = fasts.shape[0]
    out = np.empty((m, 4))
    for j in nb.prange(m):
        a, b, c, d = fused_column(open_, close, fasts[j], slows[j], cash0)
        out[j, 0] = a
        out[j, 1] = b
        out[j, 2] = c
        out[j, 3] = d
    return out


def vectorbt_one(close: np.ndarray, open_: np.ndarray, fast: int, slow: int) -> float:
    import pandas as pd
    import vectorbt as vbt

    c = pd.Series(close)
    f = vbt.MA.run(c, fast)
    s = vbt.MA.run(c, slow)
    entries = f.ma_crossed_above(s)
    exits = f.ma_crossed_below(s)
    pf = vbt.Portfolio.from_signals(c, entries.shift(1, fill_value=False), exits.shift(1, fill_value=False), price=pd.Series(open_), init_cash=CASH)
    return float(pf.total_return())


def vectorbt_sweep(close: np.ndarray, open_: np.ndarray, windows: np.ndarray) -> object:
    import pandas as pd
    import vectorbt as vbt

    c = pd.Series(close)
    fast, slow = vbt.MA.run_combs(c, window=windows, r=2, short_names=["fast", "slow"])
    entries = fast.ma_crossed_above(slow)
    exits = fast.ma_crossed_below(slow)
    pf = vbt.Portfolio.from_signals(c, entries.shift(1, fill_value=False), exits.shift(1, fill_value=False),
                                    price=pd.Series(open_), init_cash=CASH, freq="1min")
    return pf.sharpe_ratio()


_COLD = """
import time, sys
t0 = time.perf_counter()
import quant_engine.research.backtester as bt
from quant_engine.strategy import compile_strategy
t1 = time.perf_counter()
import numpy as np, pyarrow as pa
n = 5000
close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.001, n)))
bars = pa.table({"symbol": ["SYN"] * n, "start": pa.array(np.arange(n, dtype=np.int64) * 60_000_000_000, pa.timestamp("ns", tz="UTC")),
                 "open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": np.ones(n)})
doc = %r
t2 = time.perf_counter()
bt.backtest(doc, bars)
t3 = time.perf_counter()
bt.sweep(doc, {"fast": [5, 10], "slow": [20, 30]}, bars)
t4 = time.perf_counter()
print(f"{t1 - t0:.3f} {t3 - t2:.3f} {t4 - t3:.3f}")
"""


def compile_times(cache_dir: str) -> tuple[list[float], list[float]]:
    """(import, first backtest, first sweep) seconds in a cold process, then in a second one."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _COLD % (SMA_CROSS,)], env=env, capture_output=True, text=True, timeout=1200)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        runs.append([float(x) for x in out.stdout.split()])
    return runs[0], runs[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--sweep-bars", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-vectorbt", action="store_true")
    parser.add_argument("--skip-compile", action="store_true")
    args = parser.parse_args()
    nb.set_num_threads(min(args.threads, nb.config.NUMBA_NUM_THREADS))

    try:
        import vectorbt  # noqa: F401

        have_vbt = not args.skip_vectorbt
    except ImportError:
        have_vbt = False
        print("vectorbt is not installed (pip install '.[bench]'): its rows are skipped", file=sys.stderr)

    bench = Bench("backtest", items_label="bar-columns")
    config = BacktestConfig(initial_cash=CASH, threads=args.threads)

    # case 1: one column ------------------------------------------------------------------------
    table = make_bars(args.bars)
    close = table.column("close").to_numpy()
    open_ = table.column("open").to_numpy()
    cs = compile_strategy(SMA_CROSS)
    prepared = prepare_bars(table, timezone=cs.strategy.timezone)
    res = backtest(cs, table, config)
    ref = fused_column(open_, close, 10, 30, CASH)
    print(f"check: quant-engine {res.metrics['trades']:.0f} trades, total return {res.metrics['total_return']:.4f}; "
          f"fused {ref[3]} trades, {ref[0] / CASH - 1:.4f}", file=sys.stderr)
    bench.case(f"SMA cross, {args.bars:,} bars x 1", n_items=args.bars, baseline="fused Numba loop",
               target="quant-engine within 1.5x of the fused loop; >= 10x vectorbt")
    bench.time("fused Numba loop", lambda: fused_column(open_, close, 10, 30, CASH))
    bench.time("quant-engine backtest()", lambda: backtest(cs, table, config))
    bench.time("quant-engine backtest(BarArrays)", lambda: backtest(cs, prepared, config), note="bars prepared once")
    if have_vbt:
        bench.time("vectorbt 1.2", lambda: vectorbt_one(close, open_, 10, 30), repeat=3)

    # case 2: the sweep -------------------------------------------------------------------------
    table2 = make_bars(args.sweep_bars, seed=5)
    close2 = table2.column("close").to_numpy()
    open2 = table2.column("open").to_numpy()
    windows = np.arange(2, 47)
    f, s = np.meshgrid(windows, windows, indexing="ij")
    keep = f < s
    fasts, slows = f[keep].astype(np.int64), s[keep].astype(np.int64)
    grid = {"fast": windows, "slow": windows}
    where = [("fast", "<", "slow")]
    n_items = args.sweep_bars * len(fasts)
    result = sweep(cs, grid, table2, config, where=where)
    assert len(result) == len(fasts) == 990
    bench.case(f"SMA cross sweep, {args.sweep_bars:,} bars x {len(fasts)}, {args.threads} threads", n_items=n_items,
               baseline="fused Numba loop", target="quant-engine within 1.5x of the fused loop; >= 50x vectorbt")
    bench.time("fused Numba loop", lambda: fused_sweep(open2, close2, fasts, slows, CASH), repeat=5)
    bench.time("quant-engine sweep()", lambda: sweep(cs, grid, table2, config, where=where), repeat=5)
    if have_vbt:
        bench.time("vectorbt 1.2", lambda: vectorbt_sweep(close2, open2, windows), repeat=1, warmup=0)

    # compile time ------------------------------------------------------------------------------
    if not args.skip_compile:
        with tempfile.TemporaryDirectory() as cache:
            cold, warm = compile_times(cache)
        bench.case("process start: import + first backtest + first sweep", n_items=1, baseline="cold cache")
        bench.record("cold cache", Timing(sum(cold), sum(cold), sum(cold), 1), note=f"import {cold[0]:.2f} s, backtest {cold[1]:.2f} s, sweep {cold[2]:.2f} s")
        bench.record("second process (cache reused)", Timing(sum(warm), sum(warm), sum(warm), 1), note=f"import {warm[0]:.2f} s, backtest {warm[1]:.2f} s, sweep {warm[2]:.2f} s")
    bench.report()


if __name__ == "__main__":
    main()
