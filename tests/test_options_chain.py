"""Chain helpers: Greeks per contract from a chain table (ThetaData snapshot layout), portfolio
Greeks with multipliers, strike picking by delta, expiry conversion."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from quant_engine.errors import InvalidArgumentError, SchemaError
from quant_engine.options import (
    chain_greeks,
    expiry_years,
    greeks,
    implied_vol,
    portfolio_greeks,
    price,
    strikes_by_delta,
)

# ThetaData v3 first_order snapshot (protocols.md A.3), CSV with CRLF line endings.
SNAPSHOT = (
    "symbol,expiration,strike,right,timestamp,bid,ask,delta,theta,vega,rho,epsilon,lambda,implied_vol,iv_error,underlying_timestamp,underlying_price\r\n"
    "AAPL,2026-01-16,275.000,CALL,2025-08-20T15:59:59.805,1.47,1.50,0.1060,-0.0217,26.3226,9.1050,-9.7049,16.1782,0.2142,-0.0003,2025-08-20T16:37:06.988,225.74\r\n"
)
VALUATION = "2025-08-20T19:59:59.805+00:00"  # 15:59:59.805 New York (EDT)


def _synthetic_chain() -> pa.Table:
    strikes = np.arange(80.0, 121.0, 2.5)
    exps = ["2024-02-16", "2024-03-15"]
    rows = [(e, k, r) for e in exps for k in strikes for r in ("C", "P")]
    return pa.table(
        {
            "symbol": ["XYZ"] * len(rows),
            "expiration": [e for e, _, _ in rows],
            "strike": [k for _, k, _ in rows],
            "right": [r for _, _, r in rows],
            "underlying_price": [100.0] * len(rows),
        }
    )


def test_expiry_years_from_dates_strings_and_timestamps() -> None:
    val = "2024-01-02T14:30:00Z"
    close = dt.datetime(2024, 2, 16, 21, 0, tzinfo=dt.UTC)  # 16:00 New York (EST)
    want = (close - dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC)).total_seconds() / (365 * 86400)
    assert expiry_years(pa.array(["2024-02-16"]), val)[0] == pytest.approx(want, rel=1e-15)
    assert expiry_years(pa.array([dt.date(2024, 2, 16)]), val)[0] == pytest.approx(want, rel=1e-15)
    assert expiry_years(pa.array([close]), val)[0] == pytest.approx(want, rel=1e-15)
    with pytest.raises(SchemaError):
        expiry_years(pa.array(["16/02/2024"]), val)


def test_chain_greeks_on_a_thetadata_snapshot() -> None:
    snap = pacsv.read_csv(
        io.BytesIO(SNAPSHOT.encode()), convert_options=pacsv.ConvertOptions(column_types={"expiration": pa.string()})
    )
    out = chain_greeks(snap, valuation=VALUATION, rate=0.043, units="thetadata").to_pylist()[0]
    # The snapshot has implied_vol, so it is used as is; the vendor columns are replaced by ours.
    assert out["implied_vol"] == 0.2142
    assert out["expiry_years"] == pytest.approx(149.0 / 365, abs=1e-3)
    assert out["delta"] == pytest.approx(0.1060, abs=6e-4)
    assert out["theta"] == pytest.approx(-0.0217, abs=3e-4)
    assert out["vega"] == pytest.approx(26.3226, rel=1e-2)
    assert out["status"] == "ok"
    # Solving the volatility from the quote mid instead.
    solved = chain_greeks(snap.drop_columns(["implied_vol"]), valuation=VALUATION, rate=0.043).to_pylist()[0]
    assert solved["iv_status"] == "ok"
    assert solved["implied_vol"] == pytest.approx(0.2142, abs=2e-3)
    forced = chain_greeks(snap, valuation=VALUATION, rate=0.043, solve_iv=True).to_pylist()[0]
    assert forced["implied_vol"] == solved["implied_vol"]
    with pytest.raises(InvalidArgumentError):
        chain_greeks(snap, valuation=VALUATION, vol=0.2, solve_iv=True)


def test_chain_greeks_solves_vols_from_mid_and_round_trips() -> None:
    chain = _synthetic_chain()
    years = expiry_years(chain.column("expiration"), "2024-01-02T14:30:00Z")
    vol = 0.2 + 0.1 * (chain.column("strike").to_numpy() / 100 - 1) ** 2
    fair = (
        price(100.0, chain.column("strike"), years, 0.05, 0.01, vol, chain.column("right")).column("price").to_numpy()
    )
    quoted = chain.append_column("bid", pa.array(fair - 0.01)).append_column("ask", pa.array(fair + 0.01))
    out = chain_greeks(pl.from_arrow(quoted), valuation="2024-01-02T14:30:00Z", rate=0.05, dividend_yield=0.01, order=3)
    iv = out.column("implied_vol").to_numpy()
    ok = np.array(out.column("iv_status").to_pylist()) == "ok"
    assert ok.mean() > 0.9
    np.testing.assert_allclose(iv[ok], vol[ok], atol=5e-3)
    assert {"speed", "zomma", "color", "ultima", "expiry_years", "iv_status", "status"} <= set(out.column_names)
    direct = greeks(100.0, chain.column("strike"), years, 0.05, 0.01, iv, chain.column("right"), order=3)
    np.testing.assert_array_equal(out.column("gamma").to_numpy()[ok], direct.column("gamma").to_numpy()[ok])
    with pytest.raises(InvalidArgumentError, match="valuation"):
        chain_greeks(quoted)
    with pytest.raises(SchemaError, match="bid"):
        chain_greeks(chain, valuation="2024-01-02T14:30:00Z")


def test_portfolio_greeks_sum_with_multipliers() -> None:
    chain = chain_greeks(_synthetic_chain(), valuation="2024-01-02T14:30:00Z", rate=0.05, vol=0.25)
    n = chain.num_rows
    rng = np.random.default_rng(1)
    qty = rng.integers(-5, 6, n).astype(float)
    mult = np.where(np.arange(n) % 3 == 0, 50.0, 100.0)
    book = chain.append_column("quantity", pa.array(qty)).append_column("multiplier", pa.array(mult))
    total = portfolio_greeks(book, multiplier="multiplier").to_pylist()[0]
    w = qty * mult
    for name in ("delta", "gamma", "vega", "theta", "rho", "vanna", "charm", "vomma", "veta"):
        assert total[name] == pytest.approx(float(np.sum(w * chain.column(name).to_numpy())), rel=1e-12), name
    assert total["model_value"] == pytest.approx(float(np.sum(w * chain.column("model_price").to_numpy())), rel=1e-12)
    marked = book.append_column("price", pa.array(np.full(n, 2.0)))
    assert portfolio_greeks(marked, multiplier="multiplier").column("market_value")[0].as_py() == pytest.approx(
        2.0 * float(np.sum(w))
    )
    assert total["delta_dollars"] == pytest.approx(
        float(np.sum(w * chain.column("delta").to_numpy() * 100.0)), rel=1e-12
    )
    assert total["positions"] == n
    assert "lambda" not in total and "strike" not in total
    by_exp = portfolio_greeks(book, multiplier="multiplier", by=["expiration"])
    assert by_exp.column("expiration").to_pylist() == ["2024-02-16", "2024-03-15"]
    assert sum(by_exp.column("delta").to_pylist()) == pytest.approx(total["delta"], rel=1e-12)
    flat = portfolio_greeks(book.drop_columns(["multiplier"]), by=["expiration", "right"])
    assert flat.num_rows == 4


def test_strikes_by_delta() -> None:
    chain = chain_greeks(_synthetic_chain(), valuation="2024-01-02T14:30:00Z", rate=0.05, vol=0.25)
    picked = strikes_by_delta(chain, [0.25, -0.25, 0.5])
    assert picked.num_rows == 6
    rows = picked.to_pylist()
    for row in rows:
        same = chain.filter(pa.compute.equal(chain.column("expiration"), row["expiration"])).to_pylist()
        side = [r for r in same if (r["delta"] > 0) == (row["target_delta"] > 0)]
        best = min(side, key=lambda r: abs(r["delta"] - row["target_delta"]))
        assert row["strike"] == best["strike"] and row["right"] == best["right"]
        assert row["delta_error"] == pytest.approx(row["delta"] - row["target_delta"])
    assert [r["right"] for r in rows[:3]] == ["C", "P", "C"]
    with pytest.raises(InvalidArgumentError):
        strikes_by_delta(chain, 1.5)
    with pytest.raises(InvalidArgumentError):
        strikes_by_delta(chain, [0.0])


def test_implied_vol_of_chain_prices_is_vectorized_over_mixed_rights() -> None:
    chain = _synthetic_chain()
    years = expiry_years(chain.column("expiration"), "2024-01-02T14:30:00Z")
    p = price(100.0, chain.column("strike"), years, 0.05, 0.0, 0.3, chain.column("right")).column("price")
    iv = implied_vol(p, 100.0, chain.column("strike"), years, 0.05, 0.0, chain.column("right"))
    ok = np.array(iv.column("status").to_pylist()) == "ok"
    assert ok.all()
    np.testing.assert_allclose(iv.column("implied_vol").to_numpy(), 0.3, rtol=1e-12)
