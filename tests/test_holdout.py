"""The sealed holdout: a generator view holds no holdout row, a reach for it is refused (typed error,
log record, store event), and a strategy's holdout is evaluated once."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import HoldoutAccessError, InvalidArgumentError
from quant_engine.feeds.synthetic_daily import synthetic_daily_bars
from quant_engine.research.calibration import SMA_CROSS_FAMILY
from quant_engine.research.holdout import ResearchData, holdout_evaluations
from quant_engine.schema import TIMESTAMP
from quant_engine.store import add_strategy, list_trials, open_store, read_events

DAY = 86_400_000_000_000


def _bars(times_by_symbol: dict[str, np.ndarray]) -> pa.Table:
    syms, times = [], []
    for s, t in times_by_symbol.items():
        syms += [s] * t.size
        times.append(t)
    ts = np.concatenate(times)
    n = ts.size
    return pa.table({"symbol": pa.array(syms, pa.string()), "start": pa.array(ts, TIMESTAMP),
                     "close": np.arange(n, dtype=np.float64)})  # fmt: skip


@st.composite
def _markets(draw: st.DrawFn) -> tuple[dict[str, np.ndarray], tuple[float, float, float]]:
    n_symbols = draw(st.integers(1, 4))
    out = {}
    for i in range(n_symbols):
        days = draw(st.lists(st.integers(0, 400), min_size=1, max_size=80, unique=True))
        out[f"S{i}"] = np.asarray(sorted(days), np.int64) * DAY + 1_600_000_000 * 10**9
    a = draw(st.floats(0.05, 0.9))
    b = draw(st.floats(0.05, 0.9))
    c = draw(st.floats(0.05, 0.9))
    total = a + b + c
    return out, (a / total, b / total, 1.0 - a / total - b / total)


@settings(max_examples=200, deadline=None)
@given(_markets())
def test_no_generator_row_is_in_the_holdout(market: tuple[dict[str, np.ndarray], tuple[float, float, float]]) -> None:
    """For random symbols, bar times and fractions: the view's rows are exactly the input rows
    before the holdout's first time, every symbol is cut at the same instants, and the three
    segments partition the input."""
    times_by_symbol, fractions = market
    table = _bars(times_by_symbol)
    all_times = np.concatenate(list(times_by_symbol.values()))
    distinct = np.unique(all_times)
    try:
        data = ResearchData.split(table, fractions=fractions)
    except InvalidArgumentError:
        i_val = round(distinct.size * fractions[0])
        i_hold = round(distinct.size * (fractions[0] + fractions[1]))
        assert not 0 < i_val < i_hold < distinct.size  # refused only when a segment would be empty
        return
    cut = data.holdout_start_ns
    view = data.generator_view()
    got = view.bars.column("start").cast(pa.int64()).to_numpy()
    assert got.size == int(np.count_nonzero(all_times < cut))
    assert np.all(got < cut)
    assert cut in distinct and np.count_nonzero(all_times >= cut) > 0
    # every symbol's holdout starts at the same instant: no symbol keeps a row at or after it
    for sym in times_by_symbol:
        rows = view.bars.filter(pa.compute.equal(view.bars.column("symbol"), sym))
        assert np.all(rows.column("start").cast(pa.int64()).to_numpy() < cut)
    assert sum(s.n_bars for s in data.segments) == table.num_rows
    assert view.train().num_rows + view.validation().num_rows == view.n_rows


def test_fractions_and_short_data_are_refused() -> None:
    table = _bars({"A": np.arange(10, dtype=np.int64) * DAY})
    with pytest.raises(InvalidArgumentError, match="sum to 1"):
        ResearchData.split(table, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(InvalidArgumentError, match="positive"):
        ResearchData.split(table, fractions=(1.2, -0.1, -0.1))
    with pytest.raises(InvalidArgumentError, match="non-empty"):
        ResearchData.split(_bars({"A": np.arange(2, dtype=np.int64) * DAY}))
    with pytest.raises(InvalidArgumentError, match="symbol"):
        ResearchData.split(pa.table({"x": [1, 2, 3]}))


def test_split_registers_three_snapshots(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        data = ResearchData.split(synthetic_daily_bars(years=1, seed=1), store=store)
        ids = [s.snapshot_id for s in data.segments]
        assert None not in ids and len(set(ids)) == 3
        assert [s.n_bars for s in data.segments] == [151, 51, 50]  # 252 days cut at round(0.6 * 252), round(0.8 * 252)
        again = ResearchData.split(synthetic_daily_bars(years=1, seed=1), store=store)
        assert [s.snapshot_id for s in again.segments] == ids  # same content, same snapshot rows


def test_reaching_for_the_holdout_is_refused_logged_and_recorded(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        data = ResearchData.split(synthetic_daily_bars(years=1, seed=2), store=store)
        view = data.generator_view()
        cut = data.holdout_start_ns
        assert view.between(0, cut).num_rows == view.n_rows  # up to the cut: allowed
        caplog.set_level(logging.WARNING, logger="quant_engine.research.holdout")
        with pytest.raises(HoldoutAccessError, match="overlaps the sealed holdout"):
            view.between(0, cut + 1)
        with pytest.raises(HoldoutAccessError):
            view.holdout()
        with pytest.raises(HoldoutAccessError):
            view.segment("holdout")
        assert len([r for r in caplog.records if "holdout access refused" in r.getMessage()]) == 3
        events = read_events(store, kind="holdout.refused")
        assert len(events) == 3 and events[0].payload["end_ns"] == cut + 1
        assert not hasattr(view, "_bars") and not hasattr(view, "__dict__")  # no back door to the full data


def test_the_holdout_is_evaluated_once_per_strategy(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        data = ResearchData.split(synthetic_daily_bars(years=2, seed=3, planted_sharpe=2.0), store=store)
        add_strategy(store, SMA_CROSS_FAMILY)
        cfg = {"allow_unlisted_equities": True}
        first = data.evaluate_holdout(store, SMA_CROSS_FAMILY, cfg)
        assert first.n_periods == data.segments[2].n_bars
        with pytest.raises(HoldoutAccessError, match="once per strategy"):
            data.evaluate_holdout(store, SMA_CROSS_FAMILY, cfg)
        snap = data.segments[2].snapshot_id
        assert snap is not None and holdout_evaluations(store, first.strategy_hash, snap) == 1
        trials = list_trials(store, strategy_hash=first.strategy_hash)
        assert [t.snapshot_id for t in trials] == [snap]
        assert len(read_events(store, kind="holdout.refused")) == 1


def test_evaluate_holdout_needs_registered_snapshots(tmp_path: Path) -> None:
    data = ResearchData.split(synthetic_daily_bars(years=1, seed=4))
    with open_store(f"sqlite:///{tmp_path}/s.sqlite") as store, pytest.raises(InvalidArgumentError, match="store"):
        data.evaluate_holdout(store, SMA_CROSS_FAMILY)


def test_the_swarm_sees_the_generator_view() -> None:
    """The Swarm's data seam takes the split data (or its view) and keeps no holdout row."""
    from quant_engine.swarm import generator_view

    data = ResearchData.split(synthetic_daily_bars(("A", "B"), years=1, seed=5))
    for given_data in (data, data.generator_view()):
        bars = generator_view(given_data)
        assert len(bars.start) == data.generator_view().n_rows
        assert int(np.max(bars.start)) < data.holdout_start_ns
