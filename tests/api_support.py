"""Test support for the API: a real ``quant-engine serve`` (uvicorn) in a subprocess on 127.0.0.1
and a free port, over a temporary SQLite store and a catalog of synthetic trades, once per test
session; its log is kept so tests can check what it wrote."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

TOKEN = "test-token-5f0c2e1d9a"
CATALOG_DAY = ("2024-01-02", "2024-01-03")


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running server: its base URL, store and catalog paths, log file and process."""

    url: str
    store_path: Path
    catalog: Path
    log: Path
    process: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        """The ``ws://`` base URL."""
        return self.url.replace("http://", "ws://")

    def log_text(self) -> str:
        """What the server logged so far."""
        return self.log.read_text(errors="replace")


def start_server(root: Path, env_extra: dict[str, str], store: str | None = None) -> Server:
    """Starts ``quant-engine serve`` (over ``store``, default a SQLite file under ``root``) and
    waits until ``/health`` answers (60 s at most)."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QE_")}
    env.update({"QE_CATALOG_DIR": str(root / "catalog"), **env_extra})
    log = root / "server.log"
    store_path = root / "store.sqlite"
    cmd = [
        sys.executable,
        "-m",
        "quant_engine.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--store",
        store or str(store_path),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}", store_path, root / "catalog", log, process)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"server did not answer within 60 s:\n{server.log_text()}")


def stop_server(server: Server) -> None:
    """Stops the server (SIGTERM, then SIGKILL after 10 s)."""
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)


def write_catalog(root: Path) -> None:
    """A catalog holding one synthetic session of trades for SPY and AAPL."""
    from quant_engine.feeds.catalog import Catalog
    from quant_engine.feeds.synthetic import SyntheticMarket

    market = SyntheticMarket(seed=3, symbols=["SPY", "AAPL"], start=CATALOG_DAY[0], days=1, ticks_per_day=2000)
    Catalog(root).append("trades", market.trades())


@pytest.fixture(scope="session")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The session's server (token :data:`TOKEN`)."""
    root = tmp_path_factory.mktemp("api")
    write_catalog(root / "catalog")
    server = start_server(root, {"QE_API_TOKEN": TOKEN})
    yield server
    stop_server(server)


def auth() -> dict[str, str]:
    """The Authorization header of :data:`TOKEN`."""
    return {"Authorization": f"Bearer {TOKEN}"}
