"""The terminal supervisor, supervising the fake terminal as a real child process."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

import httpx
import pytest

from quant_engine.errors import VendorUnavailableError
from quant_engine.feeds.config import Secret
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.supervisor import TerminalSupervisor


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read().split(b"\0")
    return dict(kv.decode().split("=", 1) for kv in raw if b"=" in kv)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_launches_health_checks_restarts_and_stops() -> None:
    rest, ws = _free_port(), _free_port()
    cmd = [
        sys.executable,
        "-m",
        "quant_engine.sandbox",
        "theta",
        "--port",
        str(rest),
        "--ws-port",
        str(ws),
        "--symbols",
        "AAPL",
        "--ticks-per-day",
        "500",
        "--no-quotes",
    ]
    sup = TerminalSupervisor(
        cmd,
        health_url=f"http://127.0.0.1:{rest}/v3/terminal/mdds/status",
        credentials={"THETADATA_USERNAME": Secret("me@example.com"), "THETADATA_PASSWORD": Secret("s3cret-pw")},
        health_interval=0.2,
        restart=Backoff(0.05, 0.2, retries=100),
        start_timeout=60,
    )
    sup.start()
    try:
        pid = sup.pid
        assert pid is not None and sup.status().state == "online"
        env = _environ(pid)
        assert env["THETADATA_PASSWORD"] == "s3cret-pw" and env["THETADATA_USERNAME"] == "me@example.com"
        assert httpx.get(f"http://127.0.0.1:{rest}/v3/terminal/mdds/status").text == "CONNECTED"
        os.kill(pid, signal.SIGKILL)  # the terminal dies
        deadline = time.monotonic() + 60
        while (sup.pid in (None, pid) or not sup.healthy) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sup.restarts == 1 and sup.pid not in (None, pid) and sup.status().state == "online"
        assert httpx.get(f"http://127.0.0.1:{rest}/v3/terminal/mdds/status").status_code == 200
        second = sup.pid
    finally:
        sup.stop()
    assert sup.pid is None and sup.status().state == "offline"
    with pytest.raises(ProcessLookupError):
        os.kill(second, 0)  # type: ignore[arg-type]


def test_a_terminal_that_never_gets_healthy_is_reported() -> None:
    sup = TerminalSupervisor(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        health_url=f"http://127.0.0.1:{_free_port()}/x",
        start_timeout=0.5,
    )
    with pytest.raises(VendorUnavailableError, match="did not become healthy"):
        sup.start()
    assert sup.pid is None
    with pytest.raises(VendorUnavailableError, match="cannot launch"):
        TerminalSupervisor(["/nonexistent/ThetaTerminal"], start_timeout=0.5).start()
