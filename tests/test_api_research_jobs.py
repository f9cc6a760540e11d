"""Research jobs over HTTP against a real server: the White Noise Test and the examination of a
stored strategy (verdict recorded, event emitted) and of a posted document, a swarm run (trials in
the ledger) and its stop; refusals."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_support import Server, api_server, auth  # noqa: F401
from quant_engine.store import add_strategy, list_verdicts, open_store, read_events, trial_count

pytestmark = pytest.mark.timeout(600)

SMA = json.loads((Path(__file__).parents[1] / "examples" / "strategies" / "sma_cross.json").read_text())
SMALL = {"days": 3, "ticks_per_day": 3000}


def _post(server: Server, path: str, body: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=auth(), timeout=60)


def _finish(server: Server, response: httpx.Response, timeout: float = 400.0) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    url = response.json()["status_url"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(server.url + url, timeout=30).json()
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise AssertionError(f"{url} did not finish")


def test_white_noise_test_of_a_stored_strategy_is_recorded(api_server: Server) -> None:
    store = open_store(f"sqlite:///{api_server.store_path}")
    s = add_strategy(store, SMA, family="sma-cross-api")
    store.close()
    job = _finish(api_server, _post(api_server, "/redteam/white-noise", {"strategy_hash": s.hash[:10], **SMALL}))
    assert job["state"] == "succeeded", job
    result = job["result"]
    names = [t["name"] for t in result["verdict"]["tests"]]
    assert sorted(names) == ["wnt_a", "wnt_b", "wnt_c"] and result["strategy_hash"] == s.hash
    store = open_store(f"sqlite:///{api_server.store_path}")
    verdicts = list_verdicts(store, s.hash)
    events = [e for e in read_events(store, limit=100_000) if e.kind == "verdict.recorded" and e.subject == s.hash]
    store.close()
    assert [v.id for v in verdicts] == [result["verdict_id"]] and len(events) == 1
    assert verdicts[0].passed == result["passed"] and list(verdicts[0].failure_types) == sorted(result["failure_types"])


def test_examination_of_a_posted_document(api_server: Server) -> None:
    job = _finish(api_server, _post(api_server, "/redteam/examine", {"strategy": SMA, **SMALL}))
    assert job["state"] == "succeeded", job
    verdict = job["result"]["verdict"]
    assert job["result"]["verdict_id"] is None  # not a stored strategy: nothing recorded
    assert len(verdict["tests"]) > 10 and isinstance(verdict["passed"], bool)
    assert all(t["passed"] or t["reason"] or not t["gated"] or t["feeds"] is not None for t in verdict["tests"])


def test_research_job_refusals(api_server: Server) -> None:
    r = _post(api_server, "/redteam/examine", {"strategy_hash": "abcdef12", "strategy": SMA})
    assert r.status_code == 422 and "exactly one" in r.json()["message"]
    r = _post(api_server, "/redteam/examine", {})
    assert r.status_code == 422
    r = _post(api_server, "/redteam/white-noise", {"strategy_hash": "fedcba9876"})
    assert r.status_code == 404, r.text
    r = _post(api_server, "/redteam/examine", {"strategy": {**SMA, "timeframe": "7 parsecs"}})
    assert r.status_code == 422, r.text
    r = _post(api_server, "/swarm", {"mission_id": 999_999})
    assert r.status_code == 404, r.text
    r = _post(api_server, "/swarm", {"generations": 0})
    assert r.status_code == 422 and r.json()["path"] == "$.generations"
    r = httpx.post(api_server.url + "/swarm", json={}, timeout=30)
    assert r.status_code == 401


def test_swarm_run_records_trials_and_can_be_stopped(api_server: Server) -> None:
    store = open_store(f"sqlite:///{api_server.store_path}")
    before = trial_count(store)
    store.close()
    small = {"generations": 1, "pool": 1, "population": 12, "days": 2, "ticks_per_day": 2000}
    job = _finish(api_server, _post(api_server, "/swarm", small))
    assert job["state"] == "succeeded", job
    counts = job["result"]["counts"]
    store = open_store(f"sqlite:///{api_server.store_path}")
    assert trial_count(store) - before == counts["trials_recorded"] > 0
    store.close()
    long = _post(api_server, "/swarm", {**small, "generations": 100, "pool": 1000})
    job_id = long.json()["id"]
    deadline = time.monotonic() + 120
    while httpx.get(api_server.url + f"/jobs/{job_id}", timeout=30).json()["state"] == "queued":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    httpx.delete(api_server.url + f"/jobs/{job_id}", headers=auth(), timeout=30)
    stopped = _finish(api_server, long)
    assert stopped["state"] == "cancelled" and stopped["message"] == "cancelled while running"
