"""Packing signals of shared rows block by block, with the (block, combination) pairs shared out
among threads, gives the same bytes as packing each symbol's whole segment at once."""

from __future__ import annotations

import numpy as np
import pytest

from bar_factory import random_bars
from quant_engine.strategy import compile_strategy
from quant_engine.strategy import plan as P
from quant_engine.strategy.bar_arrays import BarArrays
from quant_engine.strategy.compiled import CompiledStrategy

CROSS = {
    "instruments": ["AAA", "BBB", "CCC"],
    "entry_long": {
        "op": "cross_above",
        "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
    },
    "exit_long": {
        "op": "cross_below",
        "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
    },
    "entry_short": {
        "op": "gt",
        "left": {"op": "ema", "x": "close", "n": {"op": "param", "name": "fast"}},
        "right": "close",
    },
    "params": {"fast": 3, "slow": 9},
}


def _all_signals(cs: CompiledStrategy, data: BarArrays, grid: np.ndarray, chunk: int, threads: int) -> np.ndarray:
    out = []
    for ch in cs.signal_chunks(data, grid, chunk=chunk, threads=threads):
        out.append(ch.signals.copy())
    return np.concatenate(out)


@pytest.mark.parametrize("block", [1, 7, 64])
def test_blocks_and_threads_do_not_change_signals(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    bars = random_bars(257, symbols=("AAA", "BBB", "CCC"), seed=8)
    cs = compile_strategy(CROSS)
    data = cs.prepare(bars)
    grid = cs.grid({"fast": [2, 3, 5], "slow": [4, 9, 20]}, where=[("fast", "<", "slow")])
    sched = cs.schedule(data, grid)
    assert sched.b_code.shape[0] == 0  # the roots read shared rows only: the blocked path
    monkeypatch.setattr(P, "BLOCK", 1 << 30)  # one block per segment
    whole = _all_signals(cs, data, grid, chunk=len(grid), threads=1)
    assert whole.any()
    monkeypatch.setattr(P, "BLOCK", block)
    for chunk, threads in ((len(grid), 2), (3, 2), (1, 1), (2, 2)):
        assert np.array_equal(_all_signals(cs, data, grid, chunk=chunk, threads=threads), whole), (chunk, threads)
