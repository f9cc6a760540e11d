"""``/options/greeks`` and ``/options/implied_vol`` against a real server; the oracle is the
closed-form Black-Scholes-Merton formula written out here."""

from __future__ import annotations

import math

import httpx
import pytest

from api_support import Server, api_server, auth  # noqa: F401

pytestmark = pytest.mark.timeout(300)


def _n(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _bsm(spot: float, strike: float, t: float, r: float, vol: float, call: bool) -> tuple[float, float]:
    """Price and delta (no dividends)."""
    d1 = (math.log(spot / strike) + (r + 0.5 * vol * vol) * t) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    if call:
        return spot * _n(d1) - strike * math.exp(-r * t) * _n(d2), _n(d1)
    return strike * math.exp(-r * t) * _n(-d2) - spot * _n(-d1), _n(d1) - 1.0


def _post(server: Server, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=auth(), timeout=60)


CONTRACTS = [
    {"strike": 100.0, "right": "call", "expiry_years": 0.5},
    {"strike": 90.0, "right": "P", "expiry_years": 0.25},
]


def test_greeks_with_a_given_vol(api_server: Server) -> None:
    r = _post(api_server, "/options/greeks", {"contracts": CONTRACTS, "spot": 100.0, "vol": 0.2, "rate": 0.01})
    assert r.status_code == 200, r.text
    cols = r.json()["columns"]
    for i, (k, t, call) in enumerate([(100.0, 0.5, True), (90.0, 0.25, False)]):
        price, delta = _bsm(100.0, k, t, 0.01, 0.2, call)
        assert cols["model_price"][i] == pytest.approx(price, rel=1e-9) and cols["delta"][i] == pytest.approx(
            delta, rel=1e-9
        )
    assert cols["status"] == ["ok", "ok"] and "vomma" in cols


def test_implied_vol_recovers_the_volatility(api_server: Server) -> None:
    price, _ = _bsm(100.0, 105.0, 0.75, 0.02, 0.31, True)
    contracts = [{"strike": 105.0, "right": "call", "expiry_years": 0.75, "price": price},
                 {"strike": 80.0, "right": "call", "expiry_years": 0.5, "price": 1.0}]  # fmt: skip  # below intrinsic
    r = _post(api_server, "/options/implied_vol", {"contracts": contracts, "spot": 100.0, "rate": 0.02})
    assert r.status_code == 200, r.text
    cols = r.json()["columns"]
    assert cols["implied_vol"][0] == pytest.approx(0.31, rel=1e-9) and cols["status"] == ["ok", "below_intrinsic"]
    assert cols["implied_vol"][1] is None
    solved = _post(api_server, "/options/greeks", {"contracts": contracts[:1], "spot": 100.0, "rate": 0.02}).json()[
        "columns"
    ]
    assert solved["implied_vol"][0] == pytest.approx(0.31, rel=1e-9) and solved["iv_status"] == ["ok"]


def test_bad_chains_are_422(api_server: Server) -> None:
    r = _post(api_server, "/options/implied_vol", {"contracts": CONTRACTS, "spot": 100.0})
    assert r.status_code == 422 and "contracts[0] has no price" in r.json()["message"]
    r = _post(api_server, "/options/greeks", {"contracts": [{**CONTRACTS[0], "strike": -1}], "spot": 100.0, "vol": 0.2})
    assert r.status_code == 422 and r.json()["path"] == "$.contracts[0].strike"
    r = _post(api_server, "/options/greeks", {"contracts": CONTRACTS, "spot": 100.0, "vol": 0.2, "order": 4})
    assert r.status_code == 422 and r.json()["path"] == "$.order"
