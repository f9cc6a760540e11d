"""Supervision of the Theta Terminal (a Java program) as a child process.

:class:`TerminalSupervisor` launches the configured command line, waits until the terminal
answers its status endpoint, health-checks it, restarts it with backoff when it dies or stops
answering, and stops it on shutdown (SIGTERM to its process group, then SIGKILL).

Credentials come from the environment (``QE_THETA_USERNAME`` / ``QE_THETA_PASSWORD`` by
default), are passed to the child in its environment (and, if the command line contains the
placeholders ``{username}`` / ``{password}``, substituted there at launch), and are never
logged, printed in a ``repr``, an exception or a status: logs show the command template.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from quant_engine.errors import InvalidArgumentError, VendorUnavailableError
from quant_engine.feeds.config import Secret
from quant_engine.feeds.health import EngineStatus
from quant_engine.feeds.retry import Backoff

__all__ = ["TerminalSupervisor"]

log = logging.getLogger("quant_engine.feeds.supervisor")


class TerminalSupervisor:
    """Keeps a terminal process alive.

    Args:
        command: the command line (a list, or a string split like a shell would).
        health_url: URL that answers 200 once the terminal is up (its MDDS status).
        credentials: child environment variable -> secret (default: ``THETADATA_USERNAME`` and
            ``THETADATA_PASSWORD`` from ``QE_THETA_USERNAME`` / ``QE_THETA_PASSWORD``).
        env: extra (non-secret) environment for the child.
        start_timeout: seconds to wait for the first healthy answer.
        health_interval: seconds between health checks.
        unhealthy_after: failed checks in a row before the process is restarted.
        restart: backoff between restarts; ``max_restarts`` caps them (None: no cap).
        log_path: file receiving the child's stdout and stderr (default: discarded).
    """

    def __init__(
        self,
        command: Sequence[str] | str,
        *,
        health_url: str = "http://127.0.0.1:25503/v3/terminal/mdds/status",
        credentials: Mapping[str, Secret | str] | None = None,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
        health_interval: float = 2.0,
        unhealthy_after: int = 3,
        restart: Backoff = Backoff(initial=0.5, maximum=30.0, retries=1_000_000),
        max_restarts: int | None = None,
        log_path: str | None = None,
    ) -> None:
        self._template = shlex.split(command) if isinstance(command, str) else list(command)
        if not self._template:
            raise InvalidArgumentError("invalid command: empty (set QE_THETA_TERMINAL_CMD)")
        if credentials is None:
            credentials = {
                "THETADATA_USERNAME": Secret(os.environ.get("QE_THETA_USERNAME", "")),
                "THETADATA_PASSWORD": Secret(os.environ.get("QE_THETA_PASSWORD", "")),
            }
        self._creds = {k: v if isinstance(v, Secret) else Secret(v) for k, v in credentials.items()}
        self.health_url = health_url
        self._env = dict(env or {})
        self.start_timeout = start_timeout
        self.health_interval = health_interval
        self.unhealthy_after = unhealthy_after
        self._restart = restart
        self.max_restarts = max_restarts
        self.log_path = log_path
        self._proc: subprocess.Popen[bytes] | None = None
        self._monitor: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.restarts = 0
        self.healthy = False
        self.last_error = ""
        self._failures = 0

    def __repr__(self) -> str:
        pid = self._proc.pid if self._proc is not None else None
        return f"TerminalSupervisor(command={self.command_for_display()!r}, pid={pid}, healthy={self.healthy}, restarts={self.restarts})"

    def command_for_display(self) -> str:
        """The command template (placeholders shown, never their values)."""
        return " ".join(shlex.quote(a) for a in self._template)

    @property
    def pid(self) -> int | None:
        """The child's process id, if running."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    # ------------------------------------------------------------------------------ process
    def _argv(self) -> list[str]:
        values = {
            "username": self._creds.get("THETADATA_USERNAME", Secret("")).reveal(),
            "password": self._creds.get("THETADATA_PASSWORD", Secret("")).reveal(),
        }
        return [
            a.replace("{username}", values["username"]).replace("{password}", values["password"])
            for a in self._template
        ]

    def _launch(self) -> None:
        env = {**os.environ, **self._env, **{k: v.reveal() for k, v in self._creds.items() if v}}
        out: Any = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                self._argv(),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT if self.log_path else subprocess.DEVNULL,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError as exc:
            raise VendorUnavailableError(
                f"cannot launch the terminal ({self.command_for_display()}): {exc.strerror}", vendor="thetadata"
            ) from None
        finally:
            if self.log_path:
                out.close()
        log.info("terminal started: pid %d: %s", self._proc.pid, self.command_for_display())

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(5)
        self._proc = None

    def check(self) -> bool:
        """One health check: the process runs and the status URL answers 200."""
        if self._proc is None or self._proc.poll() is not None:
            self.last_error = (
                "process not running" if self._proc is None else f"process exited with {self._proc.returncode}"
            )
            return False
        try:
            r = httpx.get(self.health_url, timeout=2.0)
        except httpx.HTTPError as exc:
            self.last_error = f"health check failed: {type(exc).__name__}"
            return False
        if r.status_code != 200:
            self.last_error = f"health check answered {r.status_code}"
            return False
        return True

    def _wait_healthy(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self._stop.is_set():
            if self.check():
                self.healthy = True
                self._failures = 0
                return True
            if self._proc is None or self._proc.poll() is not None:
                return False
            time.sleep(0.1)
        return False

    # ------------------------------------------------------------------------------ public
    def start(self) -> None:
        """Launches the terminal, waits until it is healthy (or raises
        :class:`~quant_engine.errors.VendorUnavailableError`), and starts monitoring."""
        with self._lock:
            if self._monitor is not None:
                return
            self._stop.clear()
            self._launch()
            if not self._wait_healthy(self.start_timeout):
                reason = self.last_error
                self._kill()
                raise VendorUnavailableError(
                    f"the terminal did not become healthy within {self.start_timeout} s: {reason}", vendor="thetadata"
                )
            self._monitor = threading.Thread(target=self._watch, name="terminal-supervisor", daemon=True)
            self._monitor.start()

    def stop(self) -> None:
        """Stops monitoring and the terminal."""
        self._stop.set()
        if self._monitor is not None:
            self._monitor.join(15)
            self._monitor = None
        with self._lock:
            self._kill()
            self.healthy = False

    def __enter__(self) -> TerminalSupervisor:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _watch(self) -> None:
        attempt = 0
        while not self._stop.wait(self.health_interval):
            if self.check():
                self.healthy = True
                self._failures = 0
                attempt = 0
                continue
            self._failures += 1
            dead = self._proc is None or self._proc.poll() is not None
            if not dead and self._failures < self.unhealthy_after:
                continue
            self.healthy = False
            if self.max_restarts is not None and self.restarts >= self.max_restarts:
                log.error("terminal down and restart budget spent: %s", self.last_error)
                continue
            log.warning("terminal %s; restarting (attempt %d)", self.last_error, attempt + 1)
            if self._stop.wait(self._restart.delay(attempt)):
                return
            attempt += 1
            with self._lock:
                if self._stop.is_set():
                    return
                self._kill()
                try:
                    self._launch()
                except VendorUnavailableError as exc:
                    self.last_error = str(exc)
                    continue
                self.restarts += 1
            if self._wait_healthy(self.start_timeout):
                log.info("terminal healthy again (pid %s)", self.pid)

    def status(self) -> EngineStatus:
        """``online`` (running, healthy), ``degraded`` (running, not answering, or restarting),
        ``offline`` (not running)."""
        details = {"command": self.command_for_display(), "pid": self.pid, "restarts": self.restarts}
        if self.healthy:
            return EngineStatus("thetadata-terminal", "online", "", details=details)
        if self._monitor is not None:
            return EngineStatus("thetadata-terminal", "degraded", f"restarting: {self.last_error}", details=details)
        return EngineStatus("thetadata-terminal", "offline", self.last_error or "not started", details=details)
