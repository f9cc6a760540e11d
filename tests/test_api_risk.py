"""``/risk/validate`` and ``/risk/size`` against a real server, with hand-computed expectations."""

from __future__ import annotations

import httpx
import jsonschema
import pytest

from api_support import Server, api_server, auth  # noqa: F401

pytestmark = pytest.mark.timeout(300)

LIMITS = {"equity": {"max_order_quantity": 10, "max_position": 12}}


def _post(server: Server, path: str, body: object) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=auth(), timeout=60)


def test_validate_checks_orders_in_sequence(api_server: Server) -> None:
    orders = [
        {"symbol": "AAPL", "side": "buy", "quantity": 5, "price": 100.0},
        {"symbol": "AAPL", "side": "buy", "quantity": 50, "price": 100.0},  # above 10 per order
        {"symbol": "AAPL", "side": "buy", "quantity": 8, "price": 100.0},  # 5 open + 8 > 12 held
    ]
    r = _post(api_server, "/risk/validate", {"orders": orders, "limits": LIMITS, "cash": 100_000})
    assert r.status_code == 200, r.text
    got = [(d["accepted"], d["reason"], d["value"], d["limit"]) for d in r.json()]
    assert got[0] == (True, "accepted", None, None)
    assert got[1] == (False, "max_order_quantity", 50.0, 10.0)
    assert got[2][:2] == (False, "max_position") and got[2][3] == 12.0


def test_size_by_risk_fraction_is_capped_by_the_limits(api_server: Server) -> None:
    body = {
        "symbol": "AAPL",
        "side": "buy",
        "price": 100.0,
        "risk_fraction": 0.01,
        "stop_distance": 2.0,
        "cash": 100_000,
    }
    r = _post(api_server, "/risk/size", body)
    assert r.status_code == 200, r.text
    assert r.json()["raw"] == pytest.approx(500.0)  # 1% of 100,000 over a 2.0 stop
    capped = _post(api_server, "/risk/size", {**body, "limits": LIMITS}).json()
    assert capped["quantity"] == 10.0 and capped["binding"] == "max_order_quantity" and capped["decision"]["accepted"]


def test_bad_risk_requests_are_422(api_server: Server) -> None:
    r = _post(api_server, "/risk/validate", {"orders": [{"symbol": "AAPL", "side": "buy", "quantity": 1, "price": 1}],
                                             "limits": {"equity": {"nope": 1}}})  # fmt: skip
    assert r.status_code == 422 and r.json()["path"] == "$.limits.equity" and "nope" in r.json()["message"]
    r = _post(api_server, "/risk/validate", {"orders": []})
    assert r.status_code == 422 and r.json()["path"] == "$.orders"
    r = _post(api_server, "/risk/size", {"symbol": "AAPL", "side": "hold", "price": 1})
    assert r.status_code == 422 and r.json()["path"] == "$.side"


def test_an_unsizable_order_gets_nulls_not_nan(api_server: Server) -> None:
    # found by Schemathesis: an unknown instrument has no raw size (NaN inside the engine)
    r = _post(
        api_server,
        "/risk/size",
        {"symbol": "S", "side": "buy", "price": 10.0, "risk_fraction": 0.5, "stop_distance": 1.0},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (
        body["raw"] is None and body["decision"]["reason"] == "unknown_instrument" and not body["decision"]["accepted"]
    )
    doc = httpx.get(api_server.url + "/openapi.json", timeout=30).json()
    jsonschema.validate(
        body, {"$ref": "#/components/schemas/SizeBody", "components": doc["components"]}
    )  # as documented
