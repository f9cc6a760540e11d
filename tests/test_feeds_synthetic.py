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
from quant_engine.feeds.synthetic_options import NS_PER_YEAR, expiry_close_ns


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
    m = SyntheticMarket(
        seed=11, symbols=["SIG", "NOISE"], ticks_per_day=10_000, days=15, signal_symbols=["SIG"], signal_strength=0.3
    )
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
    quote_ns = int(pc.cast(chain.column("ts"), pa.int64())[0].as_py())
    years = merged["expiration"].map(lambda d: (expiry_close_ns(d) - quote_ns) / NS_PER_YEAR)
    g_c = bsm_price_greeks(
        s, merged["strike"].to_numpy(), years.to_numpy(), merged["implied_vol_c"].to_numpy(), np.ones(len(merged), bool)
    )
    g_p = bsm_price_greeks(
        s,
        merged["strike"].to_numpy(),
        years.to_numpy(),
        merged["implied_vol_p"].to_numpy(),
        np.zeros(len(merged), bool),
    )
    parity = g_c["price"] - g_p["price"] - (s - merged["strike"].to_numpy() * np.exp(-0.04 * years.to_numpy()))
    assert np.abs(parity).max() < 1e-9
    assert (merged["delta_c"] - merged["delta_p"]).round(9).eq(1.0).all()
    assert (chain.column("ask").to_numpy() >= chain.column("bid").to_numpy()).all()


def test_option_histories_are_deterministic_lazy_and_consistent() -> None:
    import datetime as dt

    a = SyntheticMarket(seed=3, symbols=["AAPL", "MSFT"], ticks_per_day=2_000, days=2)
    b = SyntheticMarket(seed=3, symbols=["AAPL", "MSFT"], ticks_per_day=2_000, days=2)
    chain = a.option_chain("AAPL")
    exp, k = (
        chain.column("expiration")[0].as_py(),
        float(np.unique(chain.column("strike").to_numpy())[5]),
    )  # at the money
    day = a.session_days()[1]
    qa, qb = a.option_quotes("AAPL", exp, k, "PUT", day), b.option_quotes("AAPL", exp, k, "PUT", day)
    assert qa.equals(qb) and qa.num_rows > 10  # same seed, same tape
    assert a.option_trades("AAPL", exp, k, "P", day).equals(b.option_trades("AAPL", exp, k, "PUT", day))
    assert len(a._option_cache) == 1 and a.option_day("AAPL", exp, k, "PUT", day) is a.option_day(
        "AAPL", exp, k, "P", day
    )
    bid, ask = qa.column("bid").to_numpy(), qa.column("ask").to_numpy()
    assert ((bid[1:] != bid[:-1]) | (ask[1:] != ask[:-1])).all()  # published only when the quote changes
    assert (ask > bid).all()
    o = a.option_day("AAPL", exp, k, "PUT", day)
    j = o.quote_at(o.trade_ts)
    assert (j >= 0).all() and (o.price >= o.bid[j]).all() and (o.price <= o.ask[j]).all()
    other = SyntheticMarket(seed=4, symbols=["AAPL", "MSFT"], ticks_per_day=2_000, days=2)
    assert not other.option_quotes("AAPL", exp, k, "PUT", other.session_days()[1]).equals(qa)
    after = SyntheticMarket(seed=3, symbols=["AAPL"], ticks_per_day=500, days=5, start="2024-01-02")
    assert after.option_quotes("AAPL", dt.date(2024, 1, 3), k, "CALL", dt.date(2024, 1, 4)).num_rows == 0  # expired
    with pytest.raises(InvalidArgumentError):
        a.option_day("AAPL", exp, k, "PUT", dt.date(2024, 1, 6))  # not a session


def test_each_day_is_simulated_once_whatever_the_access_order() -> None:
    """Linear in days: a day's opening price is the previous day's close, kept for every day, so
    no day is re-simulated for it (the old code re-ran the whole history once its cache filled)."""
    symbols = ["AAPL", "MSFT", "SPY"]
    days = 30
    m = SyntheticMarket(seed=5, symbols=symbols, ticks_per_day=50, days=days)
    assert sum(b.num_rows for b in m.day_batches()) > 0
    assert m._simulations == len(symbols) * days  # sequential walk: each (symbol, day) exactly once
    m.trades()  # a second walk after the cache evicted every early day: only the evicted days again
    assert m._simulations <= 2 * len(symbols) * days

    back = SyntheticMarket(seed=5, symbols=symbols, ticks_per_day=50, days=days)
    back._day("AAPL", days - 1)  # the last day first: the days before it once, for their closes
    assert back._simulations == days
    for k in reversed(range(days)):  # then backwards: each evicted day once more, never its history again
        back._day("AAPL", k)
    assert back._simulations <= 2 * days
    fresh = SyntheticMarket(seed=5, symbols=symbols, ticks_per_day=50, days=days)
    assert np.array_equal(back._day("AAPL", 17).trade_price, fresh._day("AAPL", 17).trade_price)
