"""Discovery scan on synthetic market-wide daily bars: planted anomalies rank first, features
are causal, exclusions are counted."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.discovery import RANKINGS, SIGNALS, scan
from quant_engine.errors import InvalidArgumentError, SchemaError
from quant_engine.feeds.synthetic import SyntheticMarket

SYMBOLS = [f"S{i:02d}" for i in range(30)]


@pytest.fixture(scope="module")
def daily() -> pa.Table:
    """60 sessions of daily bars for 30 symbols from a calm synthetic tick market (10% annual
    volatility, no volatile regime), so the planted anomalies stand far above natural moves."""
    ticks = SyntheticMarket(
        seed=21, symbols=SYMBOLS, days=60, ticks_per_day=400, annual_vol=0.10, volatile_mult=1.0
    ).ticks()
    return aggregate_ticks(ticks, interval="1d")


def _last_start(bars: pa.Table) -> int:
    return int(pc.max(bars.column("start").cast(pa.int64())).as_py())


def _plant(
    bars: pa.Table, symbol: str, *, close_factor: float = 1.0, open_factor: float = 1.0, volume_factor: float = 1.0
) -> pa.Table:
    """Rewrites the last bar of ``symbol`` (relative to its previous close)."""
    d = bars.to_pydict()
    last = _last_start(bars)
    rows = [
        i for i, (s, t) in enumerate(zip(d["symbol"], bars.column("start").cast(pa.int64()).to_pylist())) if s == symbol
    ]
    i = max(rows)
    assert bars.column("start").cast(pa.int64())[i].as_py() == last
    prev_close = d["close"][rows[-2]]
    d["open"][i] = prev_close * open_factor
    d["close"][i] = prev_close * close_factor
    d["high"][i] = max(d["open"][i], d["close"][i]) * 1.001
    d["low"][i] = min(d["open"][i], d["close"][i]) * 0.999
    d["volume"][i] *= volume_factor
    return pa.Table.from_pydict(d, schema=bars.schema)


def test_planted_anomalies_rank_first(daily: pa.Table) -> None:
    bars = _plant(daily, "S03", close_factor=1.25, volume_factor=12.0)
    bars = _plant(bars, "S07", close_factor=0.80)
    bars = _plant(bars, "S11", open_factor=1.10, close_factor=1.10)
    out = scan(bars, top=None)
    assert out.num_rows == len(SYMBOLS)
    assert out.column("rank").to_pylist() == list(range(1, len(SYMBOLS) + 1))
    top3 = set(out.column("symbol").to_pylist()[:3])
    assert top3 == {"S03", "S07", "S11"}
    row = {r["symbol"]: r for r in out.to_pylist()}
    assert set(row["S03"]["signals"].split(",")) >= {"gainer", "unusual_volume", "new_high"}
    assert row["S03"]["change_pct"] == pytest.approx(0.25)
    assert row["S03"]["rel_volume"] > 5
    assert set(row["S07"]["signals"].split(",")) >= {"loser", "new_low"}
    assert set(row["S11"]["signals"].split(",")) >= {"gap_up", "gainer"}
    assert row["S11"]["gap_pct"] == pytest.approx(0.10)
    assert scan(bars, rank_by="gainers", top=1).column("symbol").to_pylist() == ["S03"]
    assert scan(bars, rank_by="losers", top=1).column("symbol").to_pylist() == ["S07"]
    assert scan(bars, rank_by="gaps", top=1).column("symbol").to_pylist() == ["S11"]
    assert scan(bars, rank_by="volume", top=1).column("symbol").to_pylist() == ["S03"]
    flagged = scan(bars, signals_only=True, top=None)
    assert {"S03", "S07", "S11"} <= set(flagged.column("symbol").to_pylist())
    assert all(s for s in flagged.column("signals").to_pylist())
    assert set(",".join(out.column("signals").to_pylist()).replace(",,", ",").strip(",").split(",")) - {""} <= set(
        SIGNALS
    )


def test_scan_is_causal_and_asof_selects_the_day(daily: pa.Table) -> None:
    starts = np.unique(daily.column("start").cast(pa.int64()).to_numpy())
    asof = int(starts[40])
    past = daily.filter(pc.less_equal(daily.column("start").cast(pa.int64()), asof))
    a = scan(daily, asof=asof, top=None)
    b = scan(past, top=None)
    assert a.column("symbol").to_pylist() == b.column("symbol").to_pylist()
    for name in ("change_pct", "move_z", "volume_z", "range_expansion", "vol_expansion", "score"):
        np.testing.assert_array_equal(a.column(name).to_numpy(), b.column(name).to_numpy(), err_msg=name)
    assert set(a.column("start").cast(pa.int64()).to_pylist()) == {asof}


def test_features_match_direct_formulas(daily: pa.Table) -> None:
    out = {r["symbol"]: r for r in scan(daily, top=None, lookback=20).to_pylist()}
    sym = daily.filter(pc.equal(daily.column("symbol"), "S05")).sort_by("start").to_pydict()
    c = np.array(sym["close"])
    v = np.array(sym["volume"])
    r = np.diff(np.log(c))
    got = out["S05"]
    assert got["change_pct"] == pytest.approx(c[-1] / c[-2] - 1, rel=1e-12)
    assert got["move_z"] == pytest.approx(r[-1] / np.std(r[-21:-1], ddof=1), rel=1e-12)
    assert got["rel_volume"] == pytest.approx(v[-1] / np.mean(v[-21:-1]), rel=1e-12)
    lv = np.log(np.maximum(v[-21:-1], 1))
    assert got["volume_z"] == pytest.approx((np.log(v[-1]) - lv.mean()) / np.std(lv, ddof=1), rel=1e-12)
    assert got["new_high"] == bool(sym["high"][-1] > max(sym["high"][:-1]))


def test_exclusions_are_counted_and_arguments_checked(daily: pa.Table) -> None:
    last = _last_start(daily)
    missing = daily.filter(
        pc.invert(
            pc.and_(pc.equal(daily.column("symbol"), "S00"), pc.equal(daily.column("start").cast(pa.int64()), last))
        )
    )
    young = pa.table(
        {
            "symbol": ["NEW"] * 3,
            "start": pa.array([last - 2 * 86_400_000_000_000, last - 86_400_000_000_000, last], pa.int64()).cast(
                daily.schema.field("start").type
            ),
            "open": [10.0] * 3,
            "high": [11.0] * 3,
            "low": [9.0] * 3,
            "close": [10.0] * 3,
            "volume": [100.0] * 3,
            "vwap": [10.0] * 3,
            "trades": pa.array([5] * 3, pa.int64()),
        }
    ).cast(daily.schema)
    out = scan(pa.concat_tables([missing, young]), top=5)
    meta = out.schema.metadata
    assert meta[b"excluded_no_bar_at_asof"] == b"1"
    assert meta[b"excluded_short_history"] == b"1"
    assert out.num_rows == 5
    with pytest.raises(InvalidArgumentError):
        scan(daily, lookback=2)
    with pytest.raises(InvalidArgumentError):
        scan(daily, rank_by="hype")
    with pytest.raises(SchemaError, match="volume"):
        scan(daily.drop_columns(["volume"]))
    assert scan(daily.slice(0, 0)).num_rows == 0
    assert sorted(RANKINGS) == ["gainers", "gaps", "losers", "score", "volatility", "volume"]
