"""Implied volatility: 1e-10 accuracy, price -> IV -> price round trips, the normalized solver
down to tiny prices, status codes for prices outside the no-arbitrage bounds, Black-76, py_vollib."""

from __future__ import annotations

import math
import warnings

import mpmath as mp
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import BadDataError
from quant_engine.kernels.implied_vol import STATUS_NAMES, _solve, normalized_black
from quant_engine.options import black76_implied_vol, greeks, implied_vol, price

EPS = 2.220446049250313e-16


def _sample(n: int, seed: int, log_moneyness: float = 0.5, tmin: float = 1.0 / 365) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    s = rng.uniform(20.0, 500.0, n)
    return {
        "s": s,
        "k": s * np.exp(rng.uniform(-log_moneyness, log_moneyness, n)),
        "t": np.exp(rng.uniform(np.log(tmin), np.log(3.0), n)),
        "r": rng.uniform(-0.01, 0.08, n),
        "q": rng.uniform(0.0, 0.05, n),
        "v": rng.uniform(0.03, 1.5, n),
        "call": rng.random(n) < 0.5,
    }


def _round_trip(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    p = price(c["s"], c["k"], c["t"], c["r"], c["q"], c["v"], c["call"]).column("price").to_numpy()
    out = implied_vol(p, c["s"], c["k"], c["t"], c["r"], c["q"], c["call"])
    vega = greeks(c["s"], c["k"], c["t"], c["r"], c["q"], c["v"], c["call"], order=1).column("vega").to_numpy()
    return p, out.column("implied_vol").to_numpy(), out.column("status").to_numpy(zero_copy_only=False), vega


def test_accuracy_1e_10_on_well_conditioned_inputs() -> None:
    """Where the price determines the volatility to better than 1e-11 (vega large against the
    rounding of the price), the implied volatility is within 1e-10 of the true one."""
    c = _sample(200_000, 1)
    p, iv, status, vega = _round_trip(c)
    rounding = 64 * EPS * (p + c["s"] + c["k"]) / np.maximum(vega, 1e-300)  # vol error from float64 rounding
    good = rounding < 1e-11
    assert good.mean() > 0.5
    assert np.all(status[good] == "ok")
    assert np.max(np.abs(iv[good] - c["v"][good])) <= 1e-10


def test_every_solvable_price_round_trips_to_rounding() -> None:
    """On a wide domain (1 day to 3 years, log-moneyness +-0.5, vol 3 % to 150 %) every price
    with time value gets an ok status and a volatility as accurate as the price allows."""
    c = _sample(200_000, 2)
    p, iv, status, vega = _round_trip(c)
    ok = status == "ok"
    assert set(np.unique(status)) <= {"ok", "no_time_value", "below_intrinsic"}
    assert ok.mean() > 0.9
    # The others have no time value left in float64 (deep in the money, short expiry, low vol).
    fwd_pv, k_pv = c["s"] * np.exp(-c["q"] * c["t"]), c["k"] * np.exp(-c["r"] * c["t"])
    intrinsic = np.where(c["call"], np.maximum(fwd_pv - k_pv, 0), np.maximum(k_pv - fwd_pv, 0))
    assert np.all(np.abs(p - intrinsic)[~ok] <= 1e-14 * (c["s"] + c["k"])[~ok])
    bound = 1e-10 + 64 * EPS * (p + c["s"] + c["k"]) / np.maximum(vega, 1e-300)
    assert np.all(np.abs(iv[ok] - c["v"][ok]) <= bound[ok])
    repriced = price(c["s"], c["k"], c["t"], c["r"], c["q"], iv, c["call"]).column("price").to_numpy()
    assert np.all(np.abs(repriced - p)[ok] <= (1e-12 * p + 1e-15 * (c["s"] + c["k"]))[ok])


@pytest.mark.parametrize("x", [0.0, -1e-6, -0.01, -0.3, -1.0, -3.0, -8.0])
def test_normalized_solver_reaches_machine_precision(x: float) -> None:
    """From b(x, s) back to s to 1e-13 relative (or the rounding of b), for normalized prices
    down to 1e-290 and total vols ``sigma sqrt(T)`` from 0.001 to 20."""
    for s in np.geomspace(1e-3, 20.0, 120):
        b, u, _ = normalized_black(x, float(s))
        if not (1e-290 < b < math.exp(x / 2) * (1 - 1e-13)):
            continue
        got, status = _solve(x, b, math.exp(x / 2))
        assert status == 0, (x, s)
        # Conditioning: ds = db / (b' s) relative; allow a few ulps of b on top of 1e-14.
        _, _, db = normalized_black(x, float(s))
        tol = 1e-13 * s + 16 * EPS * b / db  # b itself is rounded to a few ulps
        assert abs(got - s) <= tol, (x, s, got)


def test_normalized_black_matches_mpmath() -> None:
    mp.mp.dps = 40
    for x in (-0.0, -0.05, -0.7, -2.5):
        for s in (0.01, 0.1, 0.5, 1.0, 3.0, 10.0):
            xm, sm = mp.mpf(x), mp.mpf(s)
            ref = mp.exp(xm / 2) * mp.ncdf(xm / sm + sm / 2) - mp.exp(-xm / 2) * mp.ncdf(xm / sm - sm / 2)
            b, u, db = normalized_black(x, s)
            if float(ref) > 1e-300:
                assert b == pytest.approx(float(ref), rel=1e-12)
            assert u == pytest.approx(float(mp.exp(xm / 2) - ref), rel=1e-12)
            assert db == pytest.approx(float(mp.exp(-(xm**2 / sm**2 + sm**2 / 4) / 2) / mp.sqrt(2 * mp.pi)), rel=1e-13)


def test_near_expiry_and_extreme_moneyness() -> None:
    # One hour to expiry, 5 % out of the money at 20 % vol: price ~1e-30 of spot, still exact.
    t = 1.0 / (365 * 24)
    p = price(100.0, 105.0, t, 0.05, 0.0, 0.2, "call").column("price")[0].as_py()
    assert 0 < p < 1e-25
    iv = implied_vol(p, 100.0, 105.0, t, 0.05, 0.0, "call").column("implied_vol")[0].as_py()
    assert iv == pytest.approx(0.2, rel=1e-12)
    # Very high vol (price close to the upper bound).
    p = price(100.0, 100.0, 2.0, 0.0, 0.0, 4.0, "call").column("price")[0].as_py()
    assert implied_vol(p, 100.0, 100.0, 2.0, 0.0, 0.0, "call").column("implied_vol")[0].as_py() == pytest.approx(
        4.0, rel=1e-9
    )


def test_status_codes_for_prices_outside_no_arbitrage_bounds() -> None:
    s, k, t, r = 100.0, 90.0, 0.5, 0.05
    disc_intrinsic = s - k * math.exp(-r * t)
    cases = [
        (disc_intrinsic - 0.01, s, "call", "below_intrinsic"),
        (disc_intrinsic, s, "call", "no_time_value"),
        (s, s, "call", "above_upper_bound"),
        (s + 1, s, "call", "above_upper_bound"),
        (k * math.exp(-r * t), s, "put", "above_upper_bound"),
        (-1.0, s, "call", "below_intrinsic"),
        (float("nan"), s, "call", "invalid_input"),
        (5.0, 0.0, "call", "invalid_input"),
        (0.0, s, "put", "no_time_value"),
        (13.0, s, "call", "ok"),
    ]
    out = implied_vol([c[0] for c in cases], [c[1] for c in cases], k, t, r, 0.0, [c[2] for c in cases]).to_pydict()
    assert out["status"] == [c[3] for c in cases]
    for value, code in zip(out["implied_vol"], out["status"]):
        assert (code == "ok") == (not math.isnan(value))
    assert STATUS_NAMES == (
        "ok",
        "below_intrinsic",
        "above_upper_bound",
        "no_time_value",
        "invalid_input",
        "no_convergence",
        "implausible_vol",
        "implausible_rate",
    )
    with pytest.raises(BadDataError, match="below_intrinsic"):
        implied_vol(disc_intrinsic - 0.01, s, k, t, r, 0.0, "call", strict=True)
    expired = implied_vol(1.0, 100.0, 100.0, 0.0, 0.0, 0.0, "call").column("status").to_pylist()
    assert expired == ["invalid_input"]


def test_black76_round_trip() -> None:
    rng = np.random.default_rng(3)
    f = rng.uniform(1000, 6000, 5000)
    k = f * np.exp(rng.uniform(-0.3, 0.3, 5000))
    t = rng.uniform(0.02, 1.5, 5000)
    v = rng.uniform(0.08, 0.9, 5000)
    call = rng.random(5000) < 0.5
    p = price(f, k, t, 0.04, 0.0, v, call, model="black76").column("price").to_numpy()
    out = black76_implied_vol(p, f, k, t, 0.04, call)
    ok = out.column("status").to_numpy(zero_copy_only=False) == "ok"
    assert ok.mean() > 0.99
    iv = out.column("implied_vol").to_numpy()
    vega = greeks(f, k, t, 0.04, 0.0, v, call, model="black76", order=1).column("vega").to_numpy()
    assert np.all(np.abs(iv[ok] - v[ok]) <= 1e-10 + 64 * EPS * (p + f + k)[ok] / vega[ok])


def test_matches_py_vollib_lets_be_rational() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from py_vollib.black_scholes_merton.implied_volatility import implied_volatility
    c = _sample(300, 4, log_moneyness=0.3, tmin=0.02)
    p = price(c["s"], c["k"], c["t"], c["r"], c["q"], c["v"], c["call"]).column("price").to_numpy()
    ours = implied_vol(p, c["s"], c["k"], c["t"], c["r"], c["q"], c["call"]).column("implied_vol").to_numpy()
    theirs = np.full(300, np.nan)
    for i in range(300):
        try:
            theirs[i] = implied_volatility(
                p[i], c["s"][i], c["k"][i], c["t"][i], c["r"][i], c["q"][i], "c" if c["call"][i] else "p"
            )
        except Exception:  # py_vollib raises for prices it deems at or below intrinsic value
            pass
    vega = greeks(c["s"], c["k"], c["t"], c["r"], c["q"], c["v"], c["call"], order=1).column("vega").to_numpy()
    bound = 1e-10 + 64 * EPS * (p + c["s"] + c["k"]) / np.maximum(vega, 1e-300)
    # Where the price has no time value left in float64, we return NaN (no_time_value) while
    # py_vollib either raises or returns an arbitrary volatility; compare the rest.
    both = np.isfinite(theirs) & np.isfinite(ours)
    assert both.mean() > 0.95
    assert np.all(np.abs(ours[both] - theirs[both]) <= 2 * bound[both])


def test_arrow_inputs_and_output_schema() -> None:
    out = implied_vol(pa.array([10.450583572185565]), pa.array([100.0]), 100.0, 1.0, 0.05, 0.0, pa.array(["C"]))
    assert out.schema.names == ["implied_vol", "status"]
    assert out.schema.field("status").type == pa.dictionary(pa.int8(), pa.string())
    assert out.column("implied_vol")[0].as_py() == pytest.approx(0.2, rel=1e-14)


@settings(max_examples=300, deadline=None)
@given(
    m=st.floats(-1.0, 1.0),
    t=st.floats(1e-3, 5.0),
    r=st.floats(-0.02, 0.1),
    q=st.floats(0.0, 0.08),
    v=st.floats(0.01, 3.0),
    call=st.booleans(),
)
def test_round_trip_property(m: float, t: float, r: float, q: float, v: float, call: bool) -> None:
    s = 100.0
    k = s * math.exp(m)
    p = price(s, k, t, r, q, v, call).column("price")[0].as_py()
    out = implied_vol(p, s, k, t, r, q, call).to_pylist()[0]
    vega = max(greeks(s, k, t, r, q, v, call, order=1).column("vega")[0].as_py(), 1e-300)
    if out["status"] == "ok":
        assert abs(out["implied_vol"] - v) <= 1e-10 + 64 * EPS * (p + s + k) / vega
    else:
        # Only prices whose time value is lost in rounding may fail.
        assert out["status"] in ("no_time_value", "below_intrinsic")
        assert vega * v < 1e-9 * (s + k) or 64 * EPS * (p + s + k) / vega > 1e-3
