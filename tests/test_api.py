"""The API against a real uvicorn server (subprocess) over a temporary SQLite store: health, data,
regimes, discovery, the research endpoints, the error body and limits (httpx client)."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from api_support import CATALOG_DAY, TOKEN, Server, api_server, auth  # noqa: F401
from quant_engine.store import Memory, add_strategy, open_store, record_memories, record_trials, transition
from store_support import spec

pytestmark = pytest.mark.timeout(300)


def _get(server: Server, path: str, **kw: object) -> httpx.Response:
    return httpx.get(server.url + path, timeout=60, **kw)  # type: ignore[arg-type]


def _post(server: Server, path: str, **kw: object) -> httpx.Response:
    headers = kw.pop("headers", auth())
    return httpx.post(server.url + path, timeout=60, headers=headers, **kw)  # type: ignore[arg-type]


def _error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, object]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) <= {"code", "message", "path"} and isinstance(body["message"], str) and body["message"]
    if code is not None:
        assert body["code"] == code, body
    return body


# ------------------------------------------------------------------------------------ health, data
def test_health_reports_every_part(api_server: Server) -> None:
    body = _get(api_server, "/health").json()
    assert body["status"] == "ok" and body["store"]["state"] == "online"
    assert set(body["feeds"]) == {"thetadata", "massive", "catalog"}
    assert body["feeds"]["catalog"]["state"] == "online"
    assert body["llm"]["state"] == "not configured" and body["shadow_trader"]["state"] == "not running"


def test_health_theta_offline_when_not_configured(api_server: Server) -> None:
    body = _get(api_server, "/health/theta").json()
    assert body["engine"] == "thetadata" and body["state"] == "offline" and body["configured"] is False
    assert "QE_THETA" in body["reason"]


def test_engines_status(api_server: Server) -> None:
    body = _get(api_server, "/data/engines/status").json()
    assert {k: v["state"] for k, v in body.items()} == {
        "thetadata": "offline",
        "massive": "offline",
        "catalog": "online",
    }


def _catalog_bars(server: Server) -> pa.Table:
    from quant_engine.feeds.catalog import Catalog

    return Catalog(server.catalog).bars("SPY", CATALOG_DAY[0], CATALOG_DAY[1], "5m")


def test_market_json_equals_the_catalog(api_server: Server) -> None:
    req = {"symbol": "SPY", "start": CATALOG_DAY[0], "end": CATALOG_DAY[1], "timeframe": "5m"}
    r = _post(api_server, "/data/market", json=req)
    assert r.status_code == 200, r.text
    body = r.json()
    oracle = _catalog_bars(api_server)
    assert body["engine"] == "catalog" and body["rows"] == oracle.num_rows > 10
    assert [t["engine"] for t in body["tried"]] == ["massive"]
    assert body["columns"]["close"] == oracle.column("close").to_pylist()
    assert body["columns"]["start"] == pc.cast(oracle.column("start"), pa.int64()).to_pylist()
    assert set(body["columns"]["symbol"]) == {"SPY"}


def test_market_arrow_stream_equals_json(api_server: Server) -> None:
    req = {"symbol": "SPY", "start": CATALOG_DAY[0], "end": CATALOG_DAY[1], "timeframe": "5m"}
    r = _post(api_server, "/data/market", json=req, headers={**auth(), "Accept": "application/vnd.apache.arrow.stream"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/vnd.apache.arrow.stream"
    assert r.headers["x-qe-engine"] == "catalog"
    table = pa.ipc.open_stream(io.BytesIO(r.content)).read_all()
    oracle = _catalog_bars(api_server)
    assert table.column("close").equals(oracle.column("close")) and table.column("start").equals(oracle.column("start"))


def test_market_errors(api_server: Server) -> None:
    r = _post(api_server, "/data/market", json={"symbol": "ZZZZ", "start": CATALOG_DAY[0], "end": CATALOG_DAY[1]})
    assert "ZZZZ" in str(_error(r, 404, "no_data")["message"])
    r = _post(api_server, "/data/market", json={"symbol": "SPY", "start": "2024-01-03", "end": "2024-01-02"})
    _error(r, 422, "invalid_input")
    r = _post(api_server, "/data/market", json={"symbol": "SPY", "start": "yesterday-ish", "end": "2024-01-02"})
    _error(r, 422)
    r = _post(
        api_server,
        "/data/market",
        json={"symbol": "SPY", "start": CATALOG_DAY[0], "end": CATALOG_DAY[1], "timeframe": "7q"},
    )
    _error(r, 422)


def test_regimes_match_the_library(api_server: Server) -> None:
    from quant_engine.api.market_bars import synthetic_bars
    from quant_engine.regimes import classify

    r = _get(api_server, "/regimes", params={"symbols": "SPY,AAPL", "days": 3, "timeframe": "5m"})
    assert r.status_code == 200, r.text
    body = r.json()
    labelled = classify(synthetic_bars(("SPY", "AAPL"), 3, 7, "5m")).to_pylist()
    last = {row["symbol"]: row for row in labelled}  # sorted by symbol then start: the last row wins
    assert {s["symbol"] for s in body["symbols"]} == {"SPY", "AAPL"}
    for s in body["symbols"]:
        want = last[s["symbol"]]
        assert s["regime"] == want["regime"] and s["character"] == want["character"]
        assert s["close"] == want["close"] and s["features"]["trend_z"] == pytest.approx(want["trend_z"])


def test_discovery_matches_the_library(api_server: Server) -> None:
    from quant_engine.api.market_bars import synthetic_bars
    from quant_engine.discovery import scan

    r = _get(api_server, "/discovery", params={"symbols": "SPY,AAPL,MSFT,NVDA", "days": 15, "lookback": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    oracle = scan(synthetic_bars(("SPY", "AAPL", "MSFT", "NVDA"), 15, 7, "1d"), lookback=10).to_pylist()
    assert [row["symbol"] for row in body["rows"]] == [row["symbol"] for row in oracle] and len(oracle) == 4
    assert [row["score"] for row in body["rows"]] == pytest.approx([row["score"] for row in oracle])
    _error(_get(api_server, "/discovery", params={"rank_by": "luck"}), 422, "validation_error")
    _error(_get(api_server, "/regimes", params={"timeframe": "7q", "days": 1}), 422)


# ------------------------------------------------------------------------------------ research
@pytest.fixture(scope="module")
def seeded(api_server: Server) -> dict[str, object]:
    """Five strategies (one graduated, one child with a parent), trials and memories, written by
    this process through the store's API into the server's store."""
    store = open_store(api_server.store_path)
    try:
        recs = [add_strategy(store, spec(fast=5 + i, slow=40), family="sma-api", origin="search") for i in range(5)]
        child = add_strategy(store, spec(fast=3, slow=20), family="sma-api-child", parents=[recs[0].hash])
        transition(store, recs[1].hash, "testing")
        transition(store, recs[1].hash, "graduated", reason="passed")
        metrics = np.arange(12, dtype=np.float64).reshape(6, 2)
        record_trials(store, recs[2].hash, params=[{"fast": float(i)} for i in range(6)], metrics={"sharpe": metrics[:, 0], "mdd": metrics[:, 1]},
                      config_hash="c" * 16)  # fmt: skip
        record_memories(
            store,
            [
                Memory(
                    "overfitting",
                    "pbo",
                    strategy_hash=recs[3].hash,
                    statistic=0.7,
                    threshold=0.5,
                    lesson="too many knobs",
                )
            ],
        )
        return {
            "hashes": [r.hash for r in recs],
            "child": child.hash,
            "graduated": recs[1].hash,
            "traded": recs[2].hash,
        }
    finally:
        store.close()


def test_strategies_list_pages_and_filters(api_server: Server, seeded: dict[str, object]) -> None:
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = _get(api_server, "/strategies", params={"limit": 2, "offset": offset}).json()
        assert len(page["items"]) <= 2
        seen += [s["hash"] for s in page["items"]]
        offset = page["next_offset"]
    assert len(seen) == len(set(seen)) == 6
    assert set(seen) == set(seeded["hashes"]) | {seeded["child"]}  # type: ignore[arg-type]
    graduated = _get(api_server, "/strategies", params={"status": "graduated"}).json()["items"]
    assert [s["hash"] for s in graduated] == [seeded["graduated"]]
    fam = _get(api_server, "/strategies", params={"family": "sma-api-child"}).json()["items"]
    assert [s["hash"] for s in fam] == [seeded["child"]]
    _error(_get(api_server, "/strategies", params={"status": "alive"}), 422, "validation_error")


def test_strategy_detail_has_transitions_and_lineage(api_server: Server, seeded: dict[str, object]) -> None:
    h = str(seeded["graduated"])
    body = _get(api_server, f"/strategies/{h[:10]}").json()
    assert body["strategy"]["hash"] == h and body["strategy"]["status"] == "graduated"
    assert [(t["from_status"], t["to_status"]) for t in body["transitions"]] == [
        (None, "candidate"),
        ("candidate", "testing"),
        ("testing", "graduated"),
    ]
    assert body["spec"]["instruments"] == ["AAPL"] and set(body["spec"]["params"]) == {"fast", "slow"}
    child = _get(api_server, f"/strategies/{seeded['child']}").json()
    assert child["parents"] == [seeded["hashes"][0]]  # type: ignore[index]
    _error(_get(api_server, "/strategies/" + "0" * 64), 404, "not_found")
    _error(_get(api_server, "/strategies/xyz!"), 422)


def test_promote_and_retire_follow_the_lifecycle(api_server: Server, seeded: dict[str, object]) -> None:
    cand = seeded["hashes"][4]  # type: ignore[index]
    r = _post(api_server, f"/strategies/{cand}/promote", json={"reason": "looks good"})
    assert "illegal transition candidate -> promoted" in str(_error(r, 409, "illegal_transition")["message"])
    h = seeded["graduated"]
    r = _post(api_server, f"/strategies/{h}/promote", json={"reason": "paper trading"})
    assert r.status_code == 200, r.text and r.json()["status"] == "promoted"
    r = _post(api_server, f"/strategies/{h}/retire")  # no body: the reason defaults to ""
    assert r.status_code == 200 and r.json()["status"] == "retired"
    _error(_post(api_server, f"/strategies/{h}/retire"), 409, "illegal_transition")
    moves = _get(api_server, f"/strategies/{h}").json()["transitions"]
    assert [(m["to_status"], m["reason"], m["actor"]) for m in moves[-2:]] == [
        ("promoted", "paper trading", "api"),
        ("retired", "", "api"),
    ]
    _error(_post(api_server, "/strategies/" + "0" * 64 + "/promote"), 404, "not_found")
    _error(_post(api_server, f"/strategies/{h}/promote", json={"why": 1}), 422, "validation_error")


def test_trials_page_with_a_cursor(api_server: Server, seeded: dict[str, object]) -> None:
    ids: list[int] = []
    before = None
    while True:
        params = {"strategy": seeded["traded"], "limit": 4, **({"before": before} if before else {})}
        page = _get(api_server, "/trials", params=params).json()
        ids += [t["id"] for t in page["items"]]
        before = page["next_before"]
        if before is None:
            break
    assert len(ids) == 6 and ids == sorted(ids, reverse=True)
    first = _get(api_server, "/trials", params={"family": "sma-api"}).json()["items"]
    assert {t["params"]["fast"] for t in first} == {float(i) for i in range(6)} and first[-1]["metrics"][
        "sharpe"
    ] == 0.0


def test_missions_create_list_get_cancel(api_server: Server) -> None:
    r = _post(
        api_server,
        "/missions",
        json={"directive": "find mean reversion in tech", "scope": {"symbols": ["AAPL"]}, "name": "tech-mr"},
    )
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["status"] == "active" and m["scope"] == {"symbols": ["AAPL"]}
    _error(_post(api_server, "/missions", json={"directive": "again", "name": "tech-mr"}), 409, "conflict")
    assert m["id"] in [x["id"] for x in _get(api_server, "/missions").json()]
    assert _get(api_server, f"/missions/{m['id']}").json()["directive"] == "find mean reversion in tech"
    r = _post(api_server, f"/missions/{m['id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    _error(_post(api_server, f"/missions/{m['id']}/cancel"), 409, "conflict")
    assert [x["id"] for x in _get(api_server, "/missions", params={"status": "cancelled"}).json()] == [m["id"]]
    _error(_get(api_server, "/missions/999999"), 404, "not_found")
    _error(_post(api_server, "/missions/999999/cancel"), 404, "not_found")
    _error(_post(api_server, "/missions", json={"directive": "   "}), 422, "validation_error")


def test_memories_and_failure_stats(api_server: Server, seeded: dict[str, object]) -> None:
    mems = _get(api_server, "/memories", params={"failure_type": "overfitting"}).json()
    assert len(mems) == 1 and mems[0]["strategy_hash"] == seeded["hashes"][3] and mems[0]["lesson"] == "too many knobs"  # type: ignore[index]
    stats = _get(api_server, "/memories/stats").json()
    row = next(s for s in stats if s["failure_type"].lower() == "overfitting")
    assert row["count"] == 1 and row["share"] == 1.0
    assert "bad-luck" in str(_error(_get(api_server, "/memories", params={"failure_type": "bad-luck"}), 422)["message"])


# ------------------------------------------------------------------------------------ errors, limits
def test_bad_bodies_get_422_with_the_path(api_server: Server) -> None:
    body = _error(_post(api_server, "/missions", content=b"{not json"), 422, "invalid_json")
    body = _error(_post(api_server, "/missions", json={"directive": ["a"]}), 422, "validation_error")
    assert body["path"] == "$.directive"
    body = _error(_post(api_server, "/missions", json={"directive": "x", "colour": 1}), 422, "validation_error")
    assert "colour" in str(body["message"])
    body = _error(
        _post(
            api_server,
            "/data/market",
            json={"symbol": "SPY", "start": "2024-01-02", "end": "2024-01-03", "timeframe": 5},
        ),
        422,
    )
    assert body["path"] == "$.timeframe"


def test_body_limit_and_unknown_paths(api_server: Server) -> None:
    big = b'{"directive": "' + b"x" * (1 << 20) + b'"}'
    _error(_post(api_server, "/missions", content=big), 413, "body_too_large")

    def chunks():  # no Content-Length: the limit applies to what arrives
        for _ in range(20):
            yield b"x" * 65536

    _error(_post(api_server, "/missions", content=chunks()), 413, "body_too_large")
    _error(_get(api_server, "/no/such/path"), 404, "not_found")
    _error(httpx.delete(api_server.url + "/missions/1", headers=auth()), 405)


def test_metrics_count_requests_by_route_template(api_server: Server) -> None:
    for _ in range(3):
        _get(api_server, "/strategies/" + "0" * 64)
    _post(api_server, "/missions", json={"directive": "x"}, headers={})  # refused by the guard: counted too
    r = _get(api_server, "/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    lines = r.text.splitlines()

    def value(prefix: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix))

    assert value('qe_api_requests_total{method="GET",route="/strategies/{strategy_hash}",status="404"}') >= 3
    assert value('qe_api_requests_total{method="POST",route="unmatched",status="401"}') >= 1
    assert value('qe_api_request_seconds_count{method="GET",route="/strategies/{strategy_hash}"}') >= 3
    assert "0" * 64 not in r.text  # raw paths never become labels
