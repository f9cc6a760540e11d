"""The synthetic market: deterministic, realistic quotes and trades, a documented planted signal,
consistent option chains, and the original API."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds.synthetic import SyntheticMarket, bsm_price_greeks


def test_deterministic_and_the_original_api() -> None:
    a = SyntheticMarket(seed=3, symbols=["AAPL", "MSFT"], ticks_per_day=2_000, days=2)
    b = SyntheticMarket(seed=3, symbols=["AAPL", "MSFT"], ticks_per_day=2_000, days=2)
    assert a.ticks().equals(b.ticks()) and a.quotes().equals(b.quotes())
    assert not a.ticks().equals(SyntheticMarket(seed=4, symbols=["AAPL", "MSFT"], ticks_per_day=2_000, days=2).ticks())
    t = a.ticks()
    assert t.column_names == ["ts", "symbol", "price", "size"]
    assert sum(x.num_rows for x in a.day_batches()) == t.num_rows == sum(x.num_rows for x in a.tick_batches(999))
    assert a.trades().select(["ts", "symbol", "price", "size"]).cast(t.schema).equals(t)


def test_quotes_trades_and_sequences_are_consistent() -> None:
    m = SyntheticMarket(seed=1, symbols=["AAPL"], ticks_per_day=5_000)
    q = m.quotes()
    bid, ask = q.column("bid").to_numpy(), q.column("ask").to_numpy()
    assert (ask > bid).all() and np.allclose(np.round(bid / 0.01), bid / 0.01)
    tr = m.trades()
    seq = tr.column("sequence").to_numpy()
    assert (np.diff(seq) > 0).all() and not (np.diff(seq) == 1).all()  # increasing, unique, not consecutive
    price = tr.column("price").to_numpy()
    assert np.isin(price, np.concatenate([bid, ask])).all()  # trades print at the bid or the ask


def test_planted_signal_is_there_and_only_there() -> None:
    m = SyntheticMarket(seed=11, symbols=["SIG", "NOISE"], ticks_per_day=10_000, days=15, signal_symbols=["SIG"], signal_strength=0.3)
    bars = aggregate_ticks(m.ticks(), "1m")
    names = pc.cast(bars.column("symbol"), pa.string())
    rho = {}
    for s in ("SIG", "NOISE"):
        c = np.log(bars.filter(pc.equal(names, s)).column("close").to_numpy())
        r = np.diff(c)
        rho[s] = np.corrcoef(r[:-1], r[1:])[0, 1]
    expected = m.planted()["lag1_autocorrelation"]["SIG"]
    assert expected == pytest.approx(0.3 / 1.09)
    assert rho["SIG"] > 0.15 and abs(rho["NOISE"]) < 0.08
    with pytest.raises(InvalidArgumentError):
        SyntheticMarket(symbols=["A"], signal_symbols=["B"])


def test_option_chain_is_priced_consistently() -> None:
    m = SyntheticMarket(seed=5, symbols=["AAPL"], ticks_per_day=2_000)
    chain = m.option_chain("AAPL")
    assert chain.num_rows == 4 * 11 * 2
    s = chain.column("underlying_price")[0].as_py()
    calls = chain.filter(pc.equal(chain.column("right"), "CALL")).to_pandas()
    puts = chain.filter(pc.equal(chain.column("right"), "PUT")).to_pandas()
    merged = calls.merge(puts, on=["expiration", "strike"], suffixes=("_c", "_p"))
    # put-call parity of the model prices (same vol at the same strike)
    years = merged["expiration"].map(lambda d: (max((d - m.session_days()[0]).days, 0) + 0.25) / 365.0)
    g_c = bsm_price_greeks(s, merged["strike"].to_numpy(), years.to_numpy(), merged["implied_vol_c"].to_numpy(), np.ones(len(merged), bool))
    g_p = bsm_price_greeks(s, merged["strike"].to_numpy(), years.to_numpy(), merged["implied_vol_p"].to_numpy(), np.zeros(len(merged), bool))
    parity = g_c["price"] - g_p["price"] - (s - merged["strike"].to_numpy() * np.exp(-0.04 * years.to_numpy()))
    assert np.abs(parity).max() < 1e-9
    assert (merged["delta_c"] - merged["delta_p"]).round(9).eq(1.0).all()
    assert (chain.column("ask").to_numpy() >= chain.column("bid").to_numpy()).all()
