"""The seeded synthetic market: deterministic, well-formed, realistic in shape."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds import SyntheticMarket
from quant_engine.schema import TIMESTAMP


def test_same_seed_same_ticks_other_seed_other_ticks() -> None:
    a = SyntheticMarket(seed=11, ticks_per_day=2_000, days=2).ticks()
    b = SyntheticMarket(seed=11, ticks_per_day=2_000, days=2).ticks()
    c = SyntheticMarket(seed=12, ticks_per_day=2_000, days=2).ticks()
    assert a.equals(b)
    assert not a.equals(c)


def test_schema_order_and_session_bounds() -> None:
    m = SyntheticMarket(seed=1, ticks_per_day=3_000, days=3, start="2024-01-05")  # Fri, Mon, Tue
    t = m.ticks()
    assert t.schema.field("ts").type == TIMESTAMP and t.schema.field("symbol").type == pa.string()
    ts = t.column("ts").cast(pa.int64()).to_numpy()
    assert np.all(np.diff(ts) >= 0)
    days = sorted({str(d) for d in pa.compute.strftime(t.column("ts"), "%Y-%m-%d").to_pylist()})
    assert days == ["2024-01-05", "2024-01-08", "2024-01-09"]
    local = t.column("ts").cast(pa.timestamp("ns", tz="America/New_York"))
    hours = pa.compute.hour(local).to_numpy()
    assert hours.min() >= 9 and hours.max() <= 15
    assert (t.column("price").to_numpy() > 0).all() and (t.column("size").to_numpy() >= 1).all()
    prices = t.column("price").to_numpy()
    assert np.allclose(prices, np.round(prices, 2))


def test_intraday_volume_smile() -> None:
    t = SyntheticMarket(seed=5, ticks_per_day=50_000, symbols=["SPY"]).ticks()
    ts = t.column("ts").cast(pa.int64()).to_numpy()
    u = (ts - ts.min()) / (ts.max() - ts.min())
    counts, _ = np.histogram(u, bins=13)
    assert counts[0] > 1.5 * counts[6] and counts[-1] > 1.5 * counts[6]


def test_tick_batches_cover_the_same_ticks() -> None:
    m = SyntheticMarket(seed=2, ticks_per_day=1_000)
    batches = list(m.tick_batches(777))
    assert max(b.num_rows for b in batches) == 777
    assert pa.Table.from_batches(batches).equals(m.ticks())


@pytest.mark.parametrize("kwargs", [{"symbols": []}, {"symbols": ["A", "A"]}, {"days": 0}, {"annual_vol": -1.0}])
def test_invalid_parameters(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError):
        SyntheticMarket(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError):
        list(SyntheticMarket().tick_batches(0))
