"""Greeks: every Greek against finite differences of the price (and higher orders against finite
differences of lower orders), put-call parity, golden textbook values, py_vollib, properties."""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import BadDataError, InvalidArgumentError, SchemaError
from quant_engine.options import (
    CONVENTIONS,
    THETADATA_COLUMNS,
    Units,
    black76_greeks,
    greek_columns,
    greeks,
    price,
)

RNG = np.random.default_rng(20240102)
N = 400
S = RNG.uniform(60.0, 140.0, N)
K = S * np.exp(RNG.uniform(-0.35, 0.35, N))
T = RNG.uniform(0.05, 2.0, N)
R = RNG.uniform(-0.01, 0.08, N)
Q = RNG.uniform(0.0, 0.05, N)
V = RNG.uniform(0.1, 0.7, N)
CALL = RNG.random(N) < 0.5


def _g(s=S, k=K, t=T, r=R, q=Q, v=V, right=CALL, model="bsm"):  # type: ignore[no-untyped-def]
    tab = greeks(s, k, t, r, q, v, right, order="all", model=model)
    return {name: tab.column(name).to_numpy() for name in tab.column_names if name != "status"}


BASE = _g()


def _central(f, x, h):  # type: ignore[no-untyped-def]
    """Central difference with one Richardson step: error O(h^4)."""
    d_h = (f(x + h) - f(x - h)) / (2.0 * h)
    d_h2 = (f(x + h / 2) - f(x - h / 2)) / h
    return (4.0 * d_h2 - d_h) / 3.0


def _close(actual, expected, scale, rtol=2e-6):  # type: ignore[no-untyped-def]
    err = np.abs(actual - expected)
    bound = rtol * (np.abs(expected) + scale)
    worst = int(np.argmax(err / bound))
    assert np.all(err <= bound), f"worst index {worst}: {actual[worst]} vs {expected[worst]}"


# (greek, lower-order quantity, bumped input, sign: +1 for d/dx, -1 for d/dt = -d/dT)
FIRST_ORDER = [
    ("delta", "price", "s", 1.0),
    ("vega", "price", "v", 1.0),
    ("theta", "price", "t", -1.0),
    ("rho", "price", "r", 1.0),
    ("epsilon", "price", "q", 1.0),
    ("dual_delta", "price", "k", 1.0),
]
HIGHER_ORDER = [
    ("gamma", "delta", "s", 1.0),
    ("vanna", "delta", "v", 1.0),
    ("charm", "delta", "t", -1.0),
    ("vomma", "vega", "v", 1.0),
    ("veta", "vega", "t", -1.0),
    ("vera", "rho", "v", 1.0),
    ("speed", "gamma", "s", 1.0),
    ("zomma", "gamma", "v", 1.0),
    ("color", "gamma", "t", -1.0),
    ("ultima", "vomma", "v", 1.0),
    ("dual_gamma", "dual_delta", "k", 1.0),
]
_INPUTS = {"s": S, "k": K, "t": T, "r": R, "q": Q, "v": V}


def _bumped(var: str, h: np.ndarray, of: str, model: str = "bsm") -> np.ndarray:
    def f(x: np.ndarray) -> np.ndarray:
        args = dict(_INPUTS)
        args[var] = x
        return _g(**args, model=model)[of]

    return _central(f, _INPUTS[var], h)


@pytest.mark.parametrize(("greek", "of", "var", "sign"), FIRST_ORDER + HIGHER_ORDER)
def test_greek_matches_finite_difference(greek: str, of: str, var: str, sign: float) -> None:
    x = _INPUTS[var]
    h = 1e-3 * np.minimum(np.abs(x), T) if var in ("s", "k", "t", "v") else np.full(N, 1e-4)
    h = np.where(var in ("s", "k"), 1e-3 * x, h)
    fd = sign * _bumped(var, h, of)
    # Absolute floor: rounding of the bumped quantity, amplified by 1/h.
    scale = 1e-9 * (np.abs(BASE[of]) + 1e-3 * S) / h
    _close(BASE[greek], fd, scale, rtol=1e-6)


def test_lambda_is_elasticity() -> None:
    np.testing.assert_allclose(BASE["lambda"], BASE["delta"] * S / BASE["price"], rtol=1e-13)


def test_d1_d2() -> None:
    d1 = (np.log(S / K) + (R - Q + 0.5 * V * V) * T) / (V * np.sqrt(T))
    np.testing.assert_allclose(BASE["d1"], d1, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(BASE["d2"], d1 - V * np.sqrt(T), rtol=1e-12, atol=1e-12)


def test_put_call_parity() -> None:
    c = _g(right=True)
    p = _g(right=False)
    fwd_pv = S * np.exp(-Q * T)
    k_pv = K * np.exp(-R * T)
    assert np.all(np.abs((c["price"] - p["price"]) - (fwd_pv - k_pv)) <= 1e-12 * (S + K))
    np.testing.assert_allclose(c["delta"] - p["delta"], np.exp(-Q * T), rtol=1e-12, atol=1e-13)
    for same in ("gamma", "vega", "vanna", "vomma", "veta", "speed", "zomma", "color", "ultima"):
        np.testing.assert_allclose(c[same], p[same], rtol=1e-11, atol=1e-13, err_msg=same)
    np.testing.assert_allclose(c["rho"] - p["rho"], K * T * np.exp(-R * T), rtol=1e-11)
    np.testing.assert_allclose(c["epsilon"] - p["epsilon"], -S * T * np.exp(-Q * T), rtol=1e-11)


def test_black76_rho_holds_the_futures_price_and_matches_bsm_with_q_equal_r() -> None:
    b76 = _g(model="black76")
    bsm_same = _g(q=R)  # Black-76 is BSM with carry 0, i.e. q = r, except for rho
    for name in (
        "price",
        "delta",
        "gamma",
        "vega",
        "theta",
        "vanna",
        "charm",
        "vomma",
        "veta",
        "speed",
        "zomma",
        "color",
        "ultima",
    ):
        np.testing.assert_allclose(b76[name], bsm_same[name], rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(b76["rho"], -T * b76["price"], rtol=1e-12)
    h = np.full(N, 1e-5)
    fd = _central(lambda r: _g(r=r, model="black76")["price"], R, h)
    _close(b76["rho"], fd, np.abs(b76["price"]) * T, rtol=1e-6)
    assert "epsilon" not in black76_greeks(100.0, 100.0, 1.0, 0.05, 0.2).column_names


def test_hull_textbook_values() -> None:
    # Hull, Options, Futures and Other Derivatives: S=42, K=40, r=10%, sigma=20%, T=0.5.
    t = greeks(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, ["call", "put"]).to_pydict()
    assert t["price"][0] == pytest.approx(4.76, abs=0.005)
    assert t["price"][1] == pytest.approx(0.81, abs=0.005)
    # Hull's Greek letters example: S=49, K=50, r=5%, sigma=20%, T=20 weeks, call.
    g = greeks(49.0, 50.0, 0.3846, 0.05, 0.0, 0.20, "call").to_pylist()[0]
    assert g["price"] == pytest.approx(2.40, abs=0.005)
    assert g["delta"] == pytest.approx(0.522, abs=0.0005)
    assert g["gamma"] == pytest.approx(0.066, abs=0.0005)
    assert g["vega"] == pytest.approx(12.1, abs=0.05)
    assert g["theta"] == pytest.approx(-4.31, abs=0.005)
    assert g["rho"] == pytest.approx(8.91, abs=0.005)
    # The classic at-the-money value.
    assert greeks(100.0, 100.0, 1.0, 0.05, 0.0, 0.2).column("price")[0].as_py() == pytest.approx(
        10.450583572185565, rel=1e-14
    )


def test_matches_py_vollib_analytical_greeks() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from py_vollib.black_scholes_merton import black_scholes_merton
        from py_vollib.black_scholes_merton.greeks import analytical as a
    trader = greeks(S, K, T, R, Q, V, CALL, order=2, units="trader").to_pydict()
    for i in range(0, N, 7):
        flag = "c" if CALL[i] else "p"
        args = (flag, S[i], K[i], T[i], R[i], V[i], Q[i])
        assert trader["price"][i] == pytest.approx(black_scholes_merton(*args), rel=1e-12, abs=1e-12)
        assert trader["delta"][i] == pytest.approx(a.delta(*args), rel=1e-12, abs=1e-14)
        assert trader["gamma"][i] == pytest.approx(a.gamma(*args), rel=1e-12, abs=1e-14)
        assert trader["vega"][i] == pytest.approx(a.vega(*args), rel=1e-12, abs=1e-14)
        assert trader["theta"][i] == pytest.approx(a.theta(*args), rel=1e-11, abs=1e-14)
        assert trader["rho"][i] == pytest.approx(a.rho(*args), rel=1e-11, abs=1e-14)


def test_thetadata_convention_reproduces_the_vendor_snapshot() -> None:
    """protocols.md A.3: AAPL 2026-01-16 275 CALL on 2025-08-20 15:59:59.805 ET, underlying
    225.74, implied_vol 0.2142. The vendor's rate (SOFR, about 4.3 %) and its exact time to
    expiry are not printed; with 148.33 days and r = 4.3 % the first and second order Greeks
    match to the 4 printed decimals or within 1 % (theta per calendar day, charm per year).
    The vendor's veta (18.8522) and color (-0.3832) follow no standard definition we could
    reproduce at these inputs, so they are not compared."""
    t = greeks(225.74, 275.0, 148.33 / 365.0, 0.043, 0.0, 0.2142, "CALL", order="all", units="thetadata")
    ours = t.select(THETADATA_COLUMNS["first_order"] + THETADATA_COLUMNS["second_order"]).to_pylist()[0]
    vendor = {
        "delta": 0.1060,
        "theta": -0.0217,
        "vega": 26.3226,
        "rho": 9.1050,
        "epsilon": -9.7049,
        "lambda": 16.1782,
        "gamma": 0.0059,
        "vanna": 1.1833,
        "charm": -0.3716,
        "vomma": 212.2670,
    }
    for name, value in vendor.items():
        assert ours[name] == pytest.approx(value, rel=1e-2, abs=6e-4), name


def test_units_scale_each_greek_by_its_derivative_orders() -> None:
    raw = greeks(S, K, T, R, Q, V, CALL, order=3).to_pydict()
    trader = greeks(
        S, K, T, R, Q, V, CALL, order=3, units=Units(time="trading_day", vol="point", rate="point")
    ).to_pydict()
    np.testing.assert_allclose(trader["theta"], np.array(raw["theta"]) / 252, rtol=1e-15)
    np.testing.assert_allclose(trader["vega"], np.array(raw["vega"]) / 100, rtol=1e-15)
    np.testing.assert_allclose(trader["vomma"], np.array(raw["vomma"]) / 1e4, rtol=1e-15)
    np.testing.assert_allclose(trader["veta"], np.array(raw["veta"]) / 25200, rtol=1e-15)
    np.testing.assert_allclose(trader["vera"], np.array(raw["vera"]) / 1e4, rtol=1e-15)
    np.testing.assert_allclose(trader["ultima"], np.array(raw["ultima"]) / 1e6, rtol=1e-15)
    np.testing.assert_allclose(trader["gamma"], raw["gamma"], rtol=0)
    assert CONVENTIONS["thetadata"] == Units(time="day", time_columns=("theta",))
    with pytest.raises(InvalidArgumentError):
        Units(time="week")
    with pytest.raises(InvalidArgumentError):
        greeks(100, 100, 1, units="vendor")


def test_orders_and_columns() -> None:
    assert greek_columns(1) == ("price", "delta", "vega", "theta", "rho", "epsilon", "lambda")
    assert greeks(100, 100, 1.0, order="second").column_names == list(greek_columns(2)) + ["status"]
    assert "ultima" in greek_columns("third") and "d1" not in greek_columns(3)
    assert set(THETADATA_COLUMNS["all"]) <= set(greek_columns("all"))
    assert "vera" in THETADATA_COLUMNS["all"] and "vera" not in THETADATA_COLUMNS["second_order"]
    for bad in (0, 4, "fourth", True):
        with pytest.raises(InvalidArgumentError):
            greeks(100, 100, 1.0, order=bad)


def test_invalid_contracts_are_flagged_not_raised() -> None:
    t = greeks(
        [100, 0, 100, 100, np.nan, 100],
        [100, 100, -1, 100, 100, 100],
        [1, 1, 1, 0, 1, 1],
        0.05,
        0.0,
        [0.2, 0.2, 0.2, 0.2, 0.2, np.inf],
    ).to_pydict()
    assert t["status"] == ["ok", "invalid_input", "invalid_input", "invalid_input", "invalid_input", "invalid_input"]
    assert np.isfinite(t["price"][0]) and all(np.isnan(t["price"][1:]))
    with pytest.raises(BadDataError, match="4 of 6"):
        greeks([100, 0, 100, 100, np.nan, 100], 100, [1, 1, 1, 0, 1, 1], 0.05, 0.0, [0.2] * 5 + [np.inf], strict=True)


def test_inputs_accept_arrow_polars_lists_and_broadcast() -> None:
    expected = greeks(np.array([90.0, 110.0]), 100.0, 0.5, 0.01, 0.0, 0.3, ["C", "P"]).column("price").to_pylist()
    assert (
        greeks(pa.array([90.0, 110.0]), 100, 0.5, 0.01, 0.0, 0.3, pa.array(["call", "PUT"])).column("price").to_pylist()
        == expected
    )
    assert (
        greeks(pl.Series([90.0, 110.0]), 100, 0.5, 0.01, 0.0, 0.3, pl.Series(["c", "p"])).column("price").to_pylist()
        == expected
    )
    assert greeks([90, 110], 100, 0.5, 0.01, 0.0, 0.3, [True, False]).column("price").to_pylist() == expected
    chunked = pa.chunked_array([[90.0], [110.0]])
    assert (
        greeks(chunked, 100, 0.5, 0.01, 0.0, 0.3, pa.array(["c", "p"]).dictionary_encode()).column("price").to_pylist()
        == expected
    )
    assert greeks(100, 100, 1.0).num_rows == 1
    assert greeks(np.empty(0), 100, 1.0).num_rows == 0
    with pytest.raises(InvalidArgumentError, match="length mismatch"):
        greeks([1.0, 2.0], [1.0, 2.0, 3.0], 1.0)
    with pytest.raises(InvalidArgumentError, match="not 'call'"):
        greeks(100, 100, 1.0, right=["call", "straddle"])
    with pytest.raises(InvalidArgumentError):
        greeks(100, 100, 1.0, right="x")
    with pytest.raises(SchemaError):
        greeks(pa.array(["a"]), 100, 1.0)
    with pytest.raises(InvalidArgumentError):
        greeks(100, 100, 1.0, model="heston")


def test_price_only_path_matches_greeks() -> None:
    p = price(S, K, T, R, Q, V, CALL)
    np.testing.assert_allclose(p.column("price").to_numpy(), BASE["price"], rtol=1e-14)
    assert p.column("status").to_pylist() == ["ok"] * N


def test_deep_tails_keep_relative_accuracy() -> None:
    """Far out of the money the price is tiny but still accurate (normal tail computed directly)."""
    import mpmath as mp

    mp.mp.dps = 50
    s, k, t, r, v = 100.0, 300.0, 0.25, 0.03, 0.2
    ours = greeks(s, k, t, r, 0.0, v, "call").column("price")[0].as_py()
    sm, km, tm, rm, vm = (mp.mpf(x) for x in (s, k, t, r, v))
    d1 = (mp.log(sm / km) + (rm + vm**2 / 2) * tm) / (vm * mp.sqrt(tm))
    ref = sm * mp.ncdf(d1) - km * mp.exp(-rm * tm) * mp.ncdf(d1 - vm * mp.sqrt(tm))
    assert ours == pytest.approx(float(ref), rel=1e-9)


@settings(max_examples=200, deadline=None)
@given(
    s=st.floats(1.0, 1000.0),
    m=st.floats(-1.0, 1.0),
    t=st.floats(1e-3, 5.0),
    r=st.floats(-0.02, 0.15),
    q=st.floats(0.0, 0.1),
    v=st.floats(0.01, 2.0),
    call=st.booleans(),
)
def test_no_arbitrage_bounds_and_signs(s: float, m: float, t: float, r: float, q: float, v: float, call: bool) -> None:
    k = s * np.exp(m)
    g = greeks(s, k, t, r, q, v, call, order=2).to_pylist()[0]
    fwd_pv, k_pv = s * np.exp(-q * t), k * np.exp(-r * t)
    intrinsic = max(fwd_pv - k_pv, 0.0) if call else max(k_pv - fwd_pv, 0.0)
    upper = fwd_pv if call else k_pv
    tol = 1e-12 * (s + k)
    assert intrinsic - tol <= g["price"] <= upper + tol
    assert g["gamma"] >= 0.0 and g["vega"] >= 0.0
    if call:
        assert -1e-15 <= g["delta"] <= np.exp(-q * t) + 1e-15
    else:
        assert -np.exp(-q * t) - 1e-15 <= g["delta"] <= 1e-15
