"""Test support for the research store: a throw-away PostgreSQL server and store fixtures.

The server is a real PostgreSQL cluster made with ``initdb`` and started with ``pg_ctl`` from
``/usr/lib/postgresql/*/bin`` on 127.0.0.1 and a free port, in a temporary directory, once per test
session (as the ``postgres`` user when the tests run as root, since ``initdb`` refuses root), and
stopped when the session ends. Missing binaries FAIL the tests with a clear message: install them
with ``scripts/system-deps.sh`` (``apt-get install postgresql``).
"""

from __future__ import annotations

import atexit
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from quant_engine.store import Store, open_store

ENGINES = ("sqlite", "postgresql")

SPEC = {
    "instruments": ["AAPL"],
    "params": {"fast": 10, "slow": 30},
    "entry_long": {
        "op": "cross_above",
        "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
    },
    "exit_long": {
        "op": "cross_below",
        "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
    },
}
"""A valid strategy template (an SMA cross with two parameters)."""


def spec(fast: float = 10, slow: float = 30, symbol: str = "AAPL") -> dict[str, object]:
    """:data:`SPEC` with other parameter defaults / symbol (a different strategy hash)."""
    return {**SPEC, "instruments": [symbol], "params": {"fast": float(fast), "slow": float(slow)}}


def _pg_bin() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    if not found:
        pytest.fail(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin: the store tests need a real server. "
            "Install them with scripts/system-deps.sh (apt-get install -y postgresql).",
            pytrace=False,
        )
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A throw-away PostgreSQL cluster (trust auth, superuser ``postgres``) on 127.0.0.1."""

    def __init__(self) -> None:
        self.bin = _pg_bin()
        self.root = Path(tempfile.mkdtemp(prefix="qe-pg-"))
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres", "postgres")
            self._as_user = ["runuser", "-u", "postgres", "--"]
        self.data = self.root / "data"
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        opts = f"-p {self.port} -h 127.0.0.1 -k {self.root} -c fsync=off -c full_page_writes=off -c max_connections=60"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", opts, "-l", str(self.root / "server.log"), "-w", "-t", "60", "start"
        )
        self.running = True

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run(
            [*self._as_user, str(self.bin / tool), *args], capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()} {log[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        """The psycopg URL of ``database``."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        engine.dispose()
        return self.url(name)

    def drop_database(self, url: str) -> None:
        """Drops a database made by :meth:`create_database` (disconnecting its clients)."""
        name = sa.make_url(url).database
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        engine.dispose()

    def stop(self) -> None:
        """Stops the server and removes its directory."""
        if self.running:
            self.running = False
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            finally:
                shutil.rmtree(self.root, ignore_errors=True)


_SERVER: PostgresServer | None = None


def postgres_server() -> PostgresServer:
    """The session's server, started on first use and stopped at exit."""
    global _SERVER
    if _SERVER is None:
        _SERVER = PostgresServer()
        atexit.register(_SERVER.stop)
    return _SERVER


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """The throw-away PostgreSQL server (one per test session)."""
    yield postgres_server()


def new_store_url(engine: str, tmp_path: Path) -> str:
    """A fresh, empty store URL of the given engine."""
    if engine == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return postgres_server().create_database()


@pytest.fixture(params=ENGINES)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL, once per engine."""
    url = new_store_url(request.param, tmp_path)
    yield url
    if request.param == "postgresql":
        postgres_server().drop_database(url)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A fresh open store, once per engine."""
    s = open_store(store_url)
    yield s
    s.close()
