"""Market regimes: prefix invariance, documented labels, features, validation."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.errors import InvalidArgumentError, SchemaError
from quant_engine.feeds.synthetic import SyntheticMarket
from quant_engine.regimes import CHARACTERS, REGIMES, RegimeConfig, classify
from quant_engine.schema import BAR_SCHEMA, TIMESTAMP

DAY = 86_400 * 1_000_000_000


def _bars(closes: dict[str, np.ndarray], t0: int = 1_704_153_600 * 1_000_000_000) -> pa.Table:
    """Daily bars in the bar schema from close series (open = previous close)."""
    rows: dict[str, list] = {name: [] for name in BAR_SCHEMA.names}
    for sym, close in closes.items():
        prev = np.concatenate([[close[0]], close[:-1]])
        rows["symbol"] += [sym] * len(close)
        rows["start"] += [int(v) for v in t0 + DAY * np.arange(len(close))]
        rows["open"] += list(prev)
        rows["high"] += list(np.maximum(prev, close) * 1.001)
        rows["low"] += list(np.minimum(prev, close) * 0.999)
        rows["close"] += list(close)
        rows["volume"] += [1000.0] * len(close)
        rows["vwap"] += list((prev + close) / 2)
        rows["trades"] += [10] * len(close)
    return pa.Table.from_pydict(
        {
            k: pa.array(v, pa.int64()).cast(TIMESTAMP) if k == "start" else pa.array(v, BAR_SCHEMA.field(k).type)
            for k, v in rows.items()
        },
        schema=BAR_SCHEMA,
    )


@pytest.fixture(scope="module")
def market_bars() -> pa.Table:
    ticks = SyntheticMarket(seed=11, symbols=["AAA", "BBB", "CCC"], days=4, ticks_per_day=15_000).ticks()
    return aggregate_ticks(ticks, interval="1m")


def test_prefix_invariance_labels_never_change_when_later_bars_arrive(market_bars: pa.Table) -> None:
    full = classify(market_bars)
    starts = np.sort(np.unique(market_bars.column("start").cast("int64").to_numpy()))
    for cut in (starts[60], starts[len(starts) // 3], starts[len(starts) // 2], starts[-2]):
        mask = market_bars.column("start").cast("int64").to_numpy() <= cut
        prefix = classify(market_bars.filter(pa.array(mask)))
        keep = full.column("start").cast("int64").to_numpy() <= cut
        head = full.filter(pa.array(keep))
        assert head.num_rows == prefix.num_rows
        for name in ("symbol", "start", "regime", "character"):
            assert head.column(name).to_pylist() == prefix.column(name).to_pylist(), name
        for name in ("realized_vol", "vol_percentile", "trend_z", "efficiency", "variance_ratio", "hurst"):
            np.testing.assert_array_equal(head.column(name).to_numpy(), prefix.column(name).to_numpy(), err_msg=name)


def test_output_schema_labels_and_warmup(market_bars: pa.Table) -> None:
    out = classify(market_bars)
    assert out.column_names == [
        "symbol",
        "start",
        "close",
        "log_return",
        "realized_vol",
        "vol_percentile",
        "trend_z",
        "efficiency",
        "variance_ratio",
        "hurst",
        "regime",
        "character",
    ]
    assert out.num_rows == market_bars.num_rows
    assert set(out.column("regime").to_pylist()) <= set(REGIMES)
    assert set(out.column("character").to_pylist()) <= set(CHARACTERS)
    cfg = RegimeConfig()
    for sym in ("AAA", "BBB", "CCC"):
        labels = out.filter(pa.compute.equal(out.column("symbol"), sym)).column("regime").to_pylist()
        assert labels[: cfg.warmup_bars] == ["warmup"] * cfg.warmup_bars
        assert "warmup" not in labels[cfg.warmup_bars :]
    pct = out.column("vol_percentile").to_numpy()
    assert np.nanmin(pct) > 0 and np.nanmax(pct) <= 1


def test_input_order_and_symbol_types_do_not_matter(market_bars: pa.Table) -> None:
    shuffled = market_bars.take(pa.array(np.random.default_rng(0).permutation(market_bars.num_rows)))
    shuffled = shuffled.set_column(0, "symbol", shuffled.column("symbol").dictionary_encode())
    a, b = classify(market_bars), classify(shuffled)
    assert a.column("regime").to_pylist() == b.column("regime").to_pylist()
    assert a.column("symbol").to_pylist() == b.column("symbol").to_pylist()


def test_labels_follow_the_features() -> None:
    rng = np.random.default_rng(5)
    n = 400
    up = 100 * np.exp(np.cumsum(0.004 + 0.005 * rng.standard_normal(n)))
    down = 100 * np.exp(np.cumsum(-0.004 + 0.005 * rng.standard_normal(n)))
    # A mean-reverting series: AR(1) in log price around a constant level.
    level = np.zeros(n)
    for i in range(1, n):
        level[i] = -0.5 * level[i - 1] + 0.01 * rng.standard_normal()
    reverting = 100 * np.exp(level)
    # Calm for 300 bars, then ten times the volatility.
    vol = np.where(np.arange(n) < 300, 0.002, 0.02)
    burst = 100 * np.exp(np.cumsum(vol * rng.standard_normal(n)))
    out = classify(_bars({"UP": up, "DOWN": down, "REV": reverting, "BURST": burst})).to_pydict()
    sym = np.array(out["symbol"])
    regime = np.array(out["regime"])
    tail = np.arange(len(sym)) % n >= 200

    def share(symbol: str, label_prefix: str) -> float:
        labels = regime[(sym == symbol) & tail]
        return float(np.mean([lab.startswith(label_prefix) for lab in labels]))

    assert share("UP", "trend_up") > 0.9
    assert share("DOWN", "trend_down") > 0.9
    assert share("REV", "range") > 0.9
    character = np.array(out["character"])
    assert np.mean(character[(sym == "REV") & tail] == "mean_reverting") > 0.9
    burst_labels = regime[(sym == "BURST") & (np.arange(len(sym)) % n >= 310)]
    assert np.mean([lab.endswith("volatile") for lab in burst_labels]) > 0.9
    trend_z = np.array(out["trend_z"])[(sym == "UP") & tail]
    assert np.all(trend_z > 2.0)


def test_features_match_direct_formulas() -> None:
    rng = np.random.default_rng(8)
    close = 50 * np.exp(np.cumsum(0.01 * rng.standard_normal(300)))
    cfg = RegimeConfig(vol_window=10, trend_window=30, history=50, min_history=5, vr_window=40, vr_lag=4)
    out = classify(_bars({"X": close}), cfg).to_pydict()
    r = np.diff(np.log(close))
    t = 200
    assert out["realized_vol"][t] == pytest.approx(np.std(r[t - 10 : t], ddof=1), rel=1e-12)
    sd = np.std(r[t - 30 : t], ddof=1)
    assert out["trend_z"][t] == pytest.approx(np.log(close[t] / close[t - 30]) / (sd * np.sqrt(30)), rel=1e-12)
    eff = abs(close[t] - close[t - 30]) / np.sum(np.abs(np.diff(close[t - 30 : t + 1])))
    assert out["efficiency"][t] == pytest.approx(eff, rel=1e-12)
    window = r[t - 40 : t]
    q_sums = np.array([window[j : j + 4].sum() for j in range(40 - 4 + 1)])
    vr = np.var(q_sums, ddof=1) / (4 * np.var(window, ddof=1))
    assert out["variance_ratio"][t] == pytest.approx(vr, rel=1e-12)
    assert out["hurst"][t] == pytest.approx(0.5 * (1 + np.log(vr) / np.log(4)), rel=1e-12)
    vols = np.array(out["realized_vol"][t - 49 : t + 1])
    assert out["vol_percentile"][t] == pytest.approx(np.mean(vols <= vols[-1]), rel=1e-12)


def test_validation() -> None:
    good = _bars({"X": np.linspace(10, 20, 50)})
    with pytest.raises(InvalidArgumentError):
        RegimeConfig(vr_lag=200)
    with pytest.raises(InvalidArgumentError):
        classify(good, trend_window=1)
    with pytest.raises(InvalidArgumentError, match="unknown"):
        classify(good, window=3)
    with pytest.raises(SchemaError, match="close"):
        classify(good.drop_columns(["close"]))
    dup = pa.concat_tables([good, good.slice(10, 1)])
    with pytest.raises(SchemaError, match="duplicate"):
        classify(dup)
    bad = good.set_column(good.column_names.index("close"), "close", pa.array([0.0] + [1.0] * 49))
    with pytest.raises(SchemaError, match="non-positive"):
        classify(bad)
    empty = classify(good.slice(0, 0))
    assert empty.num_rows == 0
    short = classify(good.slice(0, 5))
    assert short.column("regime").to_pylist() == ["warmup"] * 5
