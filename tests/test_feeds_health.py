"""Health that probes (Massive and the Theta Terminal, against the local fake servers), refused
stream handshakes that keep their HTTP status and stop, and the one ``QE_*`` configuration
source of every client and stream constructor."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from feeds_support import run
from quant_engine.errors import VendorAuthError, VendorRequestError
from quant_engine.feeds.massive import AsyncMassiveClient, MassiveClient, MassiveStream
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.thetadata import AsyncThetaDataClient, ThetaDataClient, ThetaDataStream
from quant_engine.sandbox import FakeMassive, FakeThetaTerminal, SandboxMarket

KEY = "health-key"
FAST = Backoff(initial=0.01, maximum=0.05, retries=2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    return SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=2_000)


@pytest.fixture(scope="module")
def massive(market: SandboxMarket) -> Iterator[FakeMassive]:
    with FakeMassive(market, api_key=KEY, speed=3000) as srv:
        yield srv


@pytest.fixture(scope="module")
def terminal(market: SandboxMarket) -> Iterator[FakeThetaTerminal]:
    with FakeThetaTerminal(market, speed=3000) as srv:
        yield srv


def test_massive_status_probes_nothing_listening_and_a_wrong_key(massive: FakeMassive) -> None:
    nothing = MassiveClient(KEY, f"http://127.0.0.1:{_free_port()}", backoff=FAST)
    st = nothing.status()
    assert st.state == "offline" and "not reachable" in st.reason
    wrong = MassiveClient("not-the-key", massive.rest_url, backoff=FAST)
    st = wrong.status()
    assert (
        st.state == "offline"
        and "unauthorized" in st.reason
        and "401" in st.reason
        and "not-the-key" not in str(st.to_dict())
    )
    good = MassiveClient(KEY, massive.rest_url, backoff=FAST)
    assert good.status().state == "online"
    assert run(AsyncMassiveClient("not-the-key", massive.rest_url).status()).state == "offline"
    for c in (nothing, wrong, good):
        c.close()


def test_theta_status_reports_the_streaming_side(terminal: FakeThetaTerminal) -> None:
    terminal.faults.__init__()  # type: ignore[misc]
    with ThetaDataClient(terminal.rest_url, backoff=FAST) as c:
        assert c.status().state == "online"
        terminal.faults.update({"fpss_down": 3.0})
        st = c.status()
        assert st.state == "degraded" and "streaming (FPSS) DISCONNECTED" in st.reason, st
        assert st.details["mdds"] == "CONNECTED"
        assert run(AsyncThetaDataClient(terminal.rest_url).status()).state == "degraded"
    terminal.faults.__init__()  # type: ignore[misc]
    st = ThetaDataClient(f"http://127.0.0.1:{_free_port()}").status()
    assert st.state == "offline" and "not reachable" in st.reason and "UNREACHABLE (ConnectError)" in st.reason


def test_constructors_read_the_qe_settings(
    monkeypatch: pytest.MonkeyPatch, terminal: FakeThetaTerminal, massive: FakeMassive
) -> None:
    monkeypatch.setenv("QE_THETA_BASE_URL", terminal.rest_url)
    monkeypatch.setenv("QE_THETA_WS_URL", terminal.ws_url)
    monkeypatch.setenv("QE_MASSIVE_API_KEY", KEY)
    monkeypatch.setenv("QE_MASSIVE_BASE_URL", massive.rest_url)
    monkeypatch.setenv("QE_MASSIVE_WS_URL", f"ws://127.0.0.1:{massive.ws_port}")
    monkeypatch.setenv("QE_HTTP_TIMEOUT", "7.5")
    monkeypatch.setenv("QE_HTTP_RETRIES", "2")
    with ThetaDataClient() as t:
        assert t.base_url == terminal.rest_url and t.timeout == 7.5 and t.backoff.retries == 2
        assert t.status().state == "online"
    assert AsyncThetaDataClient().base_url == terminal.rest_url
    assert ThetaDataStream().url == terminal.ws_url
    with MassiveClient() as m:
        assert m.base_url == massive.rest_url and m.timeout == 7.5 and m.status().state == "online"
    assert MassiveStream().url == f"ws://127.0.0.1:{massive.ws_port}/stocks"
    assert ThetaDataClient("http://127.0.0.1:1").base_url == "http://127.0.0.1:1"  # an argument wins
    monkeypatch.delenv("QE_MASSIVE_API_KEY")
    with pytest.raises(VendorAuthError, match="QE_MASSIVE_API_KEY"):
        MassiveClient()


@pytest.mark.parametrize("status", [404, 409])
def test_refused_handshake_keeps_status_and_body_and_stops(terminal: FakeThetaTerminal, status: int) -> None:
    terminal.faults.__init__()  # type: ignore[misc]
    url = terminal.ws_url if status == 409 else terminal.ws_url.replace("/v1/events", "/v1/nowhere")
    if status == 409:
        terminal.faults.update({"refuse_handshake": 409})

    async def main() -> None:
        s = ThetaDataStream(url, reconnect=Backoff(initial=0.01, maximum=0.02, retries=1_000_000))
        await s.start()
        t0 = time.monotonic()
        with pytest.raises(VendorRequestError) as info:
            await s.wait_ready(5)
        assert time.monotonic() - t0 < 3  # stopped at once, not retried for ever
        assert info.value.status == status and info.value.code == "HANDSHAKE_REFUSED"
        text = str(info.value)
        assert f"HTTP {status}" in text and (
            "another client" in text if status == 409 else "no websocket at /v1/nowhere" in text
        )
        st = s.status()
        assert st.state == "offline" and f"HTTP {status}" in st.reason
        assert s.stats()["reconnects"] == 0
        await s.close()

    try:
        run(main())
    finally:
        terminal.faults.__init__()  # type: ignore[misc]


def test_transient_refusal_is_retried(terminal: FakeThetaTerminal) -> None:
    terminal.faults.__init__()  # type: ignore[misc]
    terminal.faults.update({"refuse_handshake": 503})

    async def main() -> None:
        s = ThetaDataStream(terminal.ws_url, reconnect=Backoff(initial=0.01, maximum=0.02, retries=1_000_000))
        await s.start()
        await __import__("asyncio").sleep(0.3)
        assert s.status().state == "offline" and "HTTP 503" in s.status().reason and s.stats()["reconnects"] > 1
        terminal.faults.update({"refuse_handshake": 0})
        await s.wait_ready(5)
        assert s.status().state == "online"
        await s.close()

    try:
        run(main())
    finally:
        terminal.faults.__init__()  # type: ignore[misc]


def test_feeds_command_reports_the_probed_states(
    massive: FakeMassive, terminal: FakeThetaTerminal, tmp_path: Path
) -> None:
    import json
    import os
    import subprocess
    import sys

    terminal.faults.__init__()  # type: ignore[misc]
    terminal.faults.update({"fpss_down": 30.0})
    script = Path(sys.executable).parent / "quant-engine"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QE_")},
        "QE_MASSIVE_API_KEY": "wrong-key",
        "QE_MASSIVE_BASE_URL": massive.rest_url,
        "QE_THETA_BASE_URL": terminal.rest_url,
        "QE_CATALOG_DIR": str(tmp_path),
    }
    try:
        proc = subprocess.run([str(script), "feeds", "--json"], capture_output=True, text=True, timeout=60, env=env)
    finally:
        terminal.faults.__init__()  # type: ignore[misc]
    states = json.loads(proc.stdout)
    assert states["massive"]["state"] == "offline" and "unauthorized" in states["massive"]["reason"]
    assert states["thetadata"]["state"] == "degraded" and "FPSS" in states["thetadata"]["reason"]
    assert "wrong-key" not in proc.stdout + proc.stderr
