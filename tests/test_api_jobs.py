"""Jobs: the bounded runner (queue limit, cancellation, failures, history) and the HTTP surface
(202 + Location, polling, cancel, 404/422/429) against a real server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from api_support import Server, api_server, auth  # noqa: F401
from quant_engine.api.jobs import JobRunner, QueueFull
from quant_engine.errors import InvalidArgumentError

pytestmark = pytest.mark.timeout(300)

SMA = json.loads((Path(__file__).parents[1] / "examples" / "strategies" / "sma_cross.json").read_text())


def _wait(runner: JobRunner, job_id: str, state: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = runner.get(job_id)
        if job is not None and job.state == state:
            return job
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} never reached {state}: {runner.get(job_id)}")


def test_runner_bounds_its_queue_and_cancels() -> None:
    runner = JobRunner(workers=1, max_queued=1, history=10)
    release = threading.Event()
    started = threading.Event()

    def blocking(progress: Any) -> str:
        started.set()
        while not release.wait(0.01):
            progress(0.5, "waiting")
        return "done"

    first = runner.submit("block", blocking)
    assert started.wait(5)
    second = runner.submit("block", lambda p: "second")
    with pytest.raises(QueueFull, match="at most 1"):
        runner.submit("block", lambda p: "third")
    assert runner.cancel(second.id).state == "cancelled"  # type: ignore[union-attr]
    running = runner.cancel(first.id)
    assert running is not None and running.state == "running" and running.cancel_requested
    cancelled = _wait(runner, first.id, "cancelled")
    assert cancelled.message == "cancelled while running" and cancelled.result is None
    assert runner.counts()["cancelled"] == 2 and runner.cancel("0" * 32) is None
    runner.close()
    with pytest.raises(QueueFull, match="shutting down"):
        runner.submit("late", lambda p: None)


def test_runner_reports_results_and_failures() -> None:
    runner = JobRunner(workers=2, max_queued=8, history=3)
    ok = runner.submit("sum", lambda p: (p(2.0, "clamped"), sum(range(10)))[1])
    typed = runner.submit("bad", lambda p: (_ for _ in ()).throw(InvalidArgumentError("window must be >= 1\nmore")))
    defect = runner.submit("bug", lambda p: 1 / 0)
    done = _wait(runner, ok.id, "succeeded")
    assert done.result == 45 and done.progress == 1.0 and done.finished_at >= done.started_at >= done.submitted_at
    failed = _wait(runner, typed.id, "failed")
    assert failed.error == {"code": "invalid_input", "message": "window must be >= 1"}
    crashed = _wait(runner, defect.id, "failed")
    assert crashed.error["code"] == "internal_error" and "ZeroDivision" not in crashed.error["message"]
    for _ in range(3):  # history=3: the oldest finished jobs are forgotten
        _wait(runner, runner.submit("x", lambda p: 0).id, "succeeded")
    assert runner.get(ok.id) is None and len(runner.list()) == 3
    runner.close(wait=True)


def _post(server: Server, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, json=body, headers=auth() if headers is None else headers, timeout=60)


def _poll(server: Server, url: str, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, Any] = httpx.get(server.url + url, timeout=30).json()
        if body["state"] in ("succeeded", "failed", "cancelled"):
            return body
        time.sleep(0.2)
    raise AssertionError(f"{url} did not finish")


def test_backtest_job_runs_and_matches_a_direct_backtest(api_server: Server) -> None:
    request = {"strategy": SMA, "seed": 5, "days": 2, "ticks_per_day": 5000}
    r = _post(api_server, "/backtests", request)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["kind"] == "backtest" and job["state"] in ("queued", "running", "succeeded")
    assert r.headers["location"] == job["status_url"] == f"/jobs/{job['id']}"
    assert httpx.get(api_server.url + "/health", timeout=30).status_code == 200  # the loop is free meanwhile
    done = _poll(api_server, job["status_url"])
    assert done["state"] == "succeeded", done
    result = done["result"]

    from quant_engine.bars import aggregate_ticks
    from quant_engine.feeds.synthetic import SyntheticMarket
    from quant_engine.research.backtester import backtest
    from quant_engine.strategy import compile_strategy

    cs = compile_strategy(SMA)
    market = SyntheticMarket(seed=5, symbols=list(cs.strategy.instruments), days=2, ticks_per_day=5000)
    direct = backtest(cs, aggregate_ticks(market.ticks(), cs.strategy.timeframe))
    assert result["strategy_hash"] == cs.hash and result["trades"] == direct.trades.num_rows > 0
    assert result["bars"] == len(direct.bars) and result["metrics"]["sharpe"] == pytest.approx(direct.metrics["sharpe"])
    listed = httpx.get(api_server.url + "/jobs", params={"kind": "backtest", "state": "succeeded"}, timeout=30).json()
    assert job["id"] in [j["id"] for j in listed]


def test_backtest_job_refusals(api_server: Server) -> None:
    bad = dict(SMA, entry_long={"op": "sma", "x": "close"})
    r = _post(api_server, "/backtests", {"strategy": bad})
    assert r.status_code == 422 and r.json()["code"] == "invalid_input", r.text
    r = _post(api_server, "/backtests", {"strategy": SMA, "days": 0})
    assert r.status_code == 422 and r.json()["path"] == "$.days"
    r = _post(api_server, "/backtests", {"strategy": SMA, "colour": "red"})
    assert r.status_code == 422 and "colour" in r.json()["message"]
    assert _post(api_server, "/backtests", {"strategy": SMA}, headers={}).status_code == 401
    assert httpx.get(api_server.url + "/jobs/" + "0" * 32, timeout=30).status_code == 404
    assert httpx.get(api_server.url + "/jobs/xyz", timeout=30).status_code == 422
    r = httpx.delete(api_server.url + "/jobs/" + "0" * 32, headers=auth(), timeout=30)
    assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_a_finished_job_cannot_be_cancelled(api_server: Server) -> None:
    r = _post(api_server, "/backtests", {"strategy": SMA, "days": 1, "ticks_per_day": 1000})
    done = _poll(api_server, r.json()["status_url"])
    again = httpx.delete(api_server.url + done["status_url"], headers=auth(), timeout=30).json()
    assert again["state"] == done["state"] == "succeeded"
