"""The step evaluator (``kernels/plan_step.py``) against the series evaluator, operator by operator.

Every operator of the language (``OPERATORS`` of the causality tests), stepped one bar at a time
over 2,600 bars, equals bit for bit (NaN warm-up and restarts included) the series the plan
evaluator computes on the whole history: long enough for the exact refresh of running window sums
(every 1,024 bars) and for session restarts, with NaN inputs in the middle (``log`` of a negative
number) restarting warm-ups.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pyarrow as pa
import pytest

from bar_factory import random_bars
from quant_engine.kernels import plan_step as K
from quant_engine.strategy import evaluate_series
from quant_engine.strategy import nodes as N
from quant_engine.strategy.bar_arrays import DAY_NS, local_ns, prepare_bars
from quant_engine.strategy.compiler import Template, _Lowerer
from quant_engine.trading.program import StepState, step_program
from test_strategy_causality import OPERATORS

BARS = random_bars(2_600, seed=21, vol=0.003)
# a NaN stretch for the recursive indicators: log(close - 50) is NaN while close < 50
DIPPY = N.Log(x=N.Sub(left="close", right=N.Sma(x="close", n=40)))


def _stepped(expr: object, bars: pa.Table) -> np.ndarray:
    """``expr`` evaluated by the step evaluator, one bar per call."""
    data = prepare_bars(bars)
    t = Template()
    lw = _Lowerer(t)
    is_cond = isinstance(expr, (bool, *N.COND_NODES))
    t.roots[4] = lw.cond(expr) if is_cond else lw.series(expr)
    prog = step_program(SimpleNamespace(template=t), np.zeros((1, 0)))  # type: ignore[arg-type]
    assert prog is not None
    state = StepState(prog)
    n = len(data)
    rows = np.zeros((n, 8))
    rows[:, :6] = np.stack([data.open, data.high, data.low, data.close, data.volume, data.vwap], axis=1)
    local = local_ns(data.start, data.timezone)
    rows[:, 6], rows[:, 7] = (local % DAY_NS) / 60e9, local // DAY_NS
    sig, dist = np.zeros(1, np.uint8), np.zeros((1, 2))
    out = np.empty(n)
    prog1 = np.array([[0, prog.n_instr, 0]], np.int64)
    for i in range(n):
        K.step_series(
            0, rows[i : i + 1], prog.code, prog.val, prog.rows, prog1, prog.roots_i[None], prog.roots_v[None],
            state.acc, state.clock, state.ring, state.fst, state.ist, state.aux, sig, dist,
        )  # fmt: skip
        out[i] = dist[0, 0]
    return out


_EXTRA = [
    N.Sma(x="close", n=3),  # refreshed every 1,024 bars
    N.VwapDistance(n=30),
    N.Ema(x=DIPPY, n=5),
    N.Rsi(x=DIPPY, n=4),
    N.Wma(x=DIPPY, n=6),
    N.ZScore(x=DIPPY, n=7),
    N.RollingMax(x=DIPPY, n=5),
    N.Bollinger(x=DIPPY, n=8, k=2.0, band="percent_b"),
    N.CrossAbove(left=N.Ema(x=DIPPY, n=3), right=0.0),
]


@pytest.mark.parametrize(
    "expr", OPERATORS + _EXTRA, ids=lambda e: type(e).__name__ if not isinstance(e, (str, float)) else str(e)
)
def test_every_operator_steps_to_the_series_value(expr: object) -> None:
    want = evaluate_series(expr, BARS)
    got = _stepped(expr, BARS)
    assert np.isfinite(want).any()
    assert np.array_equal(got, want, equal_nan=True), int(
        np.argmax(~((got == want) | (np.isnan(got) & np.isnan(want))))
    )
