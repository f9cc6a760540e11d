"""The pre-registered expectation's sequential test.

* The running test (``Cusum.update``) against the textbook recursion written here.
* Its simulated run lengths (Numba, many seeds) against Siegmund's approximation of the CUSUM's
  average run length (an independent formula), in control (ARL0: the false-alarm rate) and after
  the edge is gone (the detection delay), and the documented per-session false-alarm bound.
* Through the trader: a strategy whose paper returns leave its band is retired (store transition
  with the reason, an EXECUTION_DIVERGENCE causal memory with the CUSUM evidence, an event), its
  position is closed, and a restart does not record any of it twice; one inside its band stays.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.research import backtest
from quant_engine.research.redteam.expectation import expectation_from_returns
from quant_engine.store import get_strategy, list_memories, read_events, read_journal, transitions
from quant_engine.trading.cusum import Cusum, CusumParams, run_lengths
from shadow_support import CASH, demo, drive, make_store, session, trader

DEFAULT = CusumParams()
SESSION_BARS = 390
DOCUMENTED_ARL0 = 9_000  # docs/shadow.md: ARL0 about 9,500 bars (simulated), at least 9,000
DOCUMENTED_SESSION_FALSE_ALARM = 0.05  # P(false alarm within one 390-bar session), docs/shadow.md
DOCUMENTED_DELAY_1SD = 20  # mean bars to detect a one-sd drop of the mean, docs/shadow.md


def _siegmund(delta: float, k: float, h: float) -> float:
    """Siegmund's approximation of a two-sided CUSUM's ARL for a standardized mean ``delta``."""

    def one(d: float) -> float:
        b = h + 1.166
        if abs(d) < 1e-12:
            return b * b
        return (math.exp(-2 * d * b) + 2 * d * b - 1) / (2 * d * d)

    return 1.0 / (1.0 / one(delta - k) + 1.0 / one(-delta - k))


def test_update_follows_the_page_recursion() -> None:
    rng = np.random.default_rng(3)
    r = 0.001 + 0.01 * rng.standard_normal(2_000)
    r[1500:] -= 0.012
    c = Cusum(0.001, 0.01, CusumParams(k=0.5, h=6.0))
    hi = lo = 0.0
    expected = None
    for t, x in enumerate(r):
        z = (x - 0.001) / 0.01
        hi, lo = max(0.0, hi + z - 0.5), max(0.0, lo - z - 0.5)
        if expected is None and (hi > 6.0 or lo > 6.0):
            expected = t + 1
        fired = c.update(float(x))
        assert fired == (expected == t + 1)
    assert expected is not None and c.alarm_bar == expected and c.side == "below"


def test_in_control_run_length_matches_siegmund_and_the_documented_rate() -> None:
    runs = run_lengths(DEFAULT, paths=4_000, max_bars=5_000_000, seed=11)
    arl0 = runs.mean()
    assert arl0 == pytest.approx(_siegmund(0.0, DEFAULT.k, DEFAULT.h), rel=0.08)
    assert arl0 >= DOCUMENTED_ARL0
    per_session = run_lengths(DEFAULT, paths=50_000, max_bars=SESSION_BARS, seed=12)
    assert (per_session < SESSION_BARS).mean() <= DOCUMENTED_SESSION_FALSE_ALARM


@pytest.mark.parametrize("shift", [-0.5, -1.0, -2.0])
def test_detection_delay_matches_siegmund(shift: float) -> None:
    runs = run_lengths(DEFAULT, shift=shift, paths=20_000, max_bars=1_000_000, seed=13)
    assert runs.mean() == pytest.approx(_siegmund(shift, DEFAULT.k, DEFAULT.h), rel=0.1)
    if shift == -1.0:
        assert runs.mean() <= DOCUMENTED_DELAY_1SD


def test_params_are_checked() -> None:
    from quant_engine.errors import InvalidArgumentError

    for bad in ({"k": -1.0}, {"h": 0.0}, {"h": float("nan")}, {"min_bars": 0}):
        with pytest.raises(InvalidArgumentError):
            CusumParams(**bad)
    with pytest.raises(InvalidArgumentError):
        Cusum(0.0, 0.0)


def test_trader_retires_a_strategy_that_leaves_its_band(tmp_path: Path) -> None:
    history, live, _ = session()
    docs = demo(2)
    # strategy 0 pre-registered its own returns on this session (inside its band); strategy 1 a
    # mean of +2% a bar, which paper trading cannot match
    bars = aggregate_ticks(live, "1m")
    own = backtest(docs[0], bars.filter(pa.compute.equal(bars.column("symbol"), "AAA")), CASH)
    r = own.equity.column("equity").to_numpy()
    good = expectation_from_returns(np.diff(r) / r[:-1], periods_per_year=98_280, source="holdout").to_dict()
    bad = {**good, "mean": 0.02, "sd": 0.001}
    store = make_store(tmp_path / "s.db", docs, [good, bad])
    t = trader(store, history)
    drive(t, live)
    h_good, h_bad = (next(s.strategy for s in t.slots.values() if s.symbol == sym) for sym in ("AAA", "BBB"))
    assert get_strategy(store, h_good).status == "promoted"
    assert get_strategy(store, h_bad).status == "retired"
    reason = transitions(store, h_bad)[-1].reason
    assert "CUSUM" in reason and "below" in reason
    mem = list_memories(store, strategy_hash=h_bad)
    assert len(mem) == 1 and mem[0].failure_type == "EXECUTION_DIVERGENCE" and mem[0].detector == "shadow-cusum"
    assert mem[0].evidence["side"] == "below" and mem[0].statistic > DEFAULT.h
    assert len(read_events(store, kind="shadow.retired", limit=10)) == 1
    slot = next(s for s in t.slots.values() if s.strategy == h_bad)
    assert slot.state == "retired" and slot.flat
    retired_at = next(e.ts_ns for e in read_journal(store, kind="position") if e.payload.get("retired"))
    later = [e for e in read_journal(store, kind="order") if e.payload["strategy"] == h_bad and e.ts_ns > retired_at]
    assert all(e.payload["order"] == "exit" for e in later)
    # a restart replays the alarm without recording it again
    again = trader(store, history)
    again.open()
    assert len(list_memories(store, strategy_hash=h_bad)) == 1
    assert len(read_events(store, kind="shadow.retired", limit=10)) == 1
    assert next(s for s in again.slots.values() if s.strategy == h_bad).state == "retired"


def test_an_alarm_the_journal_missed_is_recorded_on_restart(tmp_path: Path) -> None:
    """As if the process died between the alarm and its journal record: the first run's test
    never alarms (h huge); the restart's replay does, and retires the strategy then."""
    history, live, _ = session()
    bad = {"mean": 0.02, "sd": 0.001, "g3": 0.0, "g4": 3.0, "sharpe": 1.0, "sharpe_low": 0.5, "sharpe_high": 1.5,
           "confidence": 0.95, "periods_per_year": 98_280.0, "n_obs": 1000, "source": "holdout"}  # fmt: skip
    store = make_store(tmp_path / "s.db", demo(1), [bad])
    first = trader(store, history, cusum=CusumParams(h=1e9))
    drive(first, live, stop_after=10, flush=False)
    (h,) = {s.strategy for s in first.slots.values()}
    assert get_strategy(store, h).status == "promoted"
    assert not [e for e in read_journal(store, kind="position") if e.payload.get("retired")]
    again = trader(store, history)
    again.open()
    assert get_strategy(store, h).status == "retired"
    assert len(list_memories(store, strategy_hash=h)) == 1
    assert len([e for e in read_journal(store, kind="position") if e.payload.get("retired")]) == 1
    drive(again, live)
    assert all(s.state == "retired" and s.flat for s in again.slots.values())
