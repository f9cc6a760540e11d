"""Kernel warm-up and compile-time reporting: the warm-up compiles exactly what the entry points
use, a compilation prints the notice once and is timed apart from the run, a cached kernel is not."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numba as nb
import numpy as np
import pytest

from bar_factory import random_bars
from quant_engine.discovery import scan
from quant_engine.kernels import compile_watch
from quant_engine.kernels.warmup import GROUPS, warmup
from quant_engine.options import greeks, implied_vol, price
from quant_engine.regimes import classify
from quant_engine.research import BacktestConfig, backtest, sweep
from quant_engine.research.backtester import _Clock
from quant_engine.trading import LiveBook, LiveStrategy

DAY = 86_400_000_000_000


def _specializations() -> dict[str, set[object]]:
    """Every kernel of the package and the signatures it holds in this process (compiled or loaded
    from the disk cache)."""
    import importlib
    import pkgutil

    from numba.core.dispatcher import Dispatcher

    import quant_engine.kernels as kernels

    out: dict[str, set[object]] = {}
    for m in pkgutil.iter_modules(kernels.__path__):
        mod = importlib.import_module(f"quant_engine.kernels.{m.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, Dispatcher):
                out[f"{m.name}.{name}"] = set(obj.signatures)
    return out


def test_after_warmup_the_entry_points_compile_nothing() -> None:
    """Other sizes, symbols, strategies and options than the warm-up's: no new specialization of
    any kernel, compiled or loaded from the cache (a group missing from the warm-up, or an entry
    point that passes another array type, fails)."""
    warmup()
    before = compile_watch.compilations()
    held = _specializations()
    bars = random_bars(500, ("XA", "XB", "XC"), seed=3)
    doc = {
        "instruments": ["XA", "XB", "XC"],
        "entry_long": {"op": "gt", "left": {"op": "rsi", "n": 14}, "right": 60},
        "exit_long": {
            "op": "lt",
            "left": {"op": "ema", "x": "close", "n": {"op": "param", "name": "k"}},
            "right": "close",
        },
        "entry_short": {"op": "cross_below", "left": "close", "right": {"op": "wma", "x": "close", "n": 9}},
        "stop_loss": {"kind": "percent", "value": 0.01},
        "sizing": {"kind": "fixed", "quantity": 5},
        "params": {"k": 10},
    }
    res = backtest(doc, bars, BacktestConfig(initial_cash=50_000.0, allow_unlisted_equities=True))
    sweep(doc, {"k": [5, 10, 20]}, bars, BacktestConfig(allow_unlisted_equities=True))
    spot = np.linspace(80.0, 120.0, 50)
    greeks(spot, 100.0, 0.3, 0.02, 0.0, 0.25, "put", order=1)
    greeks(spot, 100.0, 0.3, 0.02, 0.0, 0.25, "call", model="black76", order=3)
    implied_vol(price(spot, 100.0, 0.3, 0.02, 0.0, 0.25, "put").column("price"), spot, 100.0, 0.3, 0.02, 0.0, "put")
    classify(random_bars(400, ("XA", "XB"), seed=4))
    live = LiveStrategy(doc, BacktestConfig(allow_unlisted_equities=True), symbol="XB")
    live.on_bars(bars.slice(0, 30).drop_columns(["symbol"]))
    live.on_bar(bars.slice(30, 1).to_pylist()[0] | {"start": bars.column("start").cast("int64")[30].as_py()})
    LiveBook.grid([doc], ["XA", "XB"], BacktestConfig(allow_unlisted_equities=True)).on_close(bars.take([0, 500]))
    scan(random_bars(300, ("XA", "XB", "XC", "XD"), seed=5, step=DAY))
    assert compile_watch.compilations() == before
    after = _specializations()
    assert {k: v - held.get(k, set()) for k, v in after.items() if v - held.get(k, set())} == {}
    assert res.timings["compile_s"] == 0.0 and res.timings["run_s"] > 0.0


def test_clock_splits_compile_time_from_run_time() -> None:
    clock = _Clock()

    @nb.njit
    def fresh(x):  # type: ignore[no-untyped-def]  # a new function: compiled on its first call
        return x * 2.0 + 1.0

    assert fresh(1.0) == 3.0
    t = clock.timings()
    assert set(t) == {"compile_s", "run_s"}
    assert t["compile_s"] > 0.0 and t["run_s"] >= 0.0


def test_warmup_rejects_an_unknown_group() -> None:
    with pytest.raises(ValueError, match="unknown kernel group 'nope'"):
        warmup(["nope"])
    assert set(GROUPS) == {"strategy", "trading", "options", "regimes", "discovery"}


_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np, pyarrow as pa
    from quant_engine.kernels import compile_watch
    from quant_engine.regimes import classify
    n = 300
    close = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.002, n)))
    bars = pa.table({"symbol": ["A"] * n, "start": pa.array(np.arange(n) * 60_000_000_000, pa.timestamp("ns", tz="UTC")),
                     "open": close, "high": close, "low": close, "close": close, "volume": np.ones(n)})
    classify(bars)
    classify(bars)
    print(f"{compile_watch.compile_seconds():.6f}")
    """
)


def test_first_run_notice_once_then_cached(tmp_path: Path) -> None:
    """In a new environment (an empty cache) the first call says it compiles, once, and counts
    the time; the next process loads the cache: no notice, no compile time."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("QE_COMPILE_NOTICE", None)
    runs = [
        subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300)
        for _ in range(2)
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
    first, second = runs
    assert first.stderr.count(compile_watch.NOTICE) == 1
    assert float(first.stdout) > 0.0
    assert compile_watch.NOTICE not in second.stderr
    assert float(second.stdout) == 0.0
