"""Credentials never appear in logs, exceptions, reprs or statuses: every path that handles the
Massive key or the terminal password is exercised with logging at DEBUG for every logger
(httpx, httpcore, websockets, quant_engine ...)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest

from feeds_support import run
from quant_engine.errors import VendorAuthError, VendorError
from quant_engine.feeds.config import FeedSettings, Secret
from quant_engine.feeds.massive import AsyncMassiveClient, MassiveClient, MassiveStream
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.router import DataRouter
from quant_engine.feeds.supervisor import TerminalSupervisor
from quant_engine.sandbox import FakeMassive, SandboxMarket

KEY = "sk-LIVE-9f8e7d6c5b4a3210"
PASSWORD = "hunter2-Terminal-Pass"
FAST = Backoff(initial=0.01, maximum=0.02, retries=2)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMassive]:
    market = SandboxMarket.synthetic_market(symbols=["AAPL"], ticks_per_day=2_000)
    with FakeMassive(market, api_key=KEY, speed=3000) as srv:
        yield srv


def test_the_key_and_password_never_leak(
    fake: FakeMassive, caplog: pytest.LogCaptureFixture, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "websockets", "quant_engine", "asyncio", ""):
        logging.getLogger(name).setLevel(logging.DEBUG)
    seen: list[str] = []

    c = MassiveClient(KEY, fake.rest_url, backoff=FAST)
    seen += [repr(c), str(c.status()), str(c.status().to_dict())]
    c.trades("AAPL", "2024-01-02T14:30:00Z", "2024-01-02T14:40:00Z", limit=50)  # paged: next_url followed
    fake.faults.update({"http_5xx": 10})
    with pytest.raises(VendorError) as err:
        c.aggregates("AAPL", 1, "minute", "2024-01-02T14:30:00Z", "2024-01-02T15:00:00Z")
    seen += [str(err.value), repr(err.value), str(c.status())]
    fake.faults.http_5xx = 0
    with pytest.raises(VendorAuthError) as auth:
        MassiveClient(KEY + "x", fake.rest_url, backoff=FAST).trades("AAPL", "2024-01-02", "2024-01-03")
    seen += [str(auth.value)]

    async def stream() -> None:
        rest = AsyncMassiveClient(KEY, fake.rest_url, backoff=FAST)
        s = MassiveStream(fake.ws_url + "/stocks", KEY, rest=rest)
        await s.start()
        await s.wait_ready(5)
        await s.subscribe("trades", "AAPL")
        seen.extend([repr(s), str(s.status()), str(s.stats()), repr(rest)])
        await s.close()
        bad = MassiveStream(fake.ws_url + "/stocks", KEY + "y")
        await bad.start()
        with pytest.raises(VendorAuthError) as e:
            await bad.wait_ready(5)
        seen.extend([str(e.value), repr(bad), str(bad.status())])
        await bad.close()
        await rest.aclose()

    run(stream())

    monkeypatch.setenv("QE_MASSIVE_API_KEY", KEY)
    monkeypatch.setenv("QE_THETA_PASSWORD", PASSWORD)
    monkeypatch.setenv("QE_MASSIVE_BASE_URL", fake.rest_url)
    monkeypatch.setenv("QE_CATALOG_DIR", str(tmp_path))
    settings = FeedSettings.from_env()
    seen += [repr(settings), str(settings), repr(settings.massive_api_key), str(Secret(PASSWORD))]
    router = DataRouter(settings)
    seen += [repr(router), str({k: v.to_dict() for k, v in router.engines_status().items()})]
    sup = TerminalSupervisor(
        [sys.executable, "-c", "import sys; sys.exit(3)", "--password={password}"],
        health_url="http://127.0.0.1:9/none",
        start_timeout=1.0,
    )
    with pytest.raises(VendorError) as dead:
        sup.start()
    seen += [repr(sup), str(dead.value), str(sup.status()), sup.command_for_display()]

    text = "\n".join(seen) + "\n" + caplog.text + "\n" + "\n".join(str(r.args) for r in caplog.records)
    assert "DEBUG" in caplog.text or caplog.records  # logging really was on
    assert KEY not in text
    assert PASSWORD not in text
    assert "{password}" in sup.command_for_display()
