"""Running a local vendor server: in a background thread of this process (quick tests), or as a
child process (``python -m quant_engine.sandbox ...``: what ``quant-engine sandbox`` runs, and
what the reliability tests and the benchmark use so that the server has its own interpreter).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["BackgroundServer", "SandboxProcess"]


class BackgroundServer(abc.ABC):
    """A server whose :meth:`serve` coroutine runs until cancelled."""

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None

    @abc.abstractmethod
    async def serve(self, started: asyncio.Event) -> None:
        """Serves until cancelled; sets ``started`` once listening."""

    def start(self, timeout: float = 20.0) -> BackgroundServer:
        """Starts the server in a daemon thread with its own event loop; returns when it
        listens."""
        ready = threading.Event()

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            started = asyncio.Event()

            async def run() -> None:
                self._task = asyncio.current_task()
                waiter = asyncio.create_task(started.wait())
                server = asyncio.create_task(self.serve(started))
                done, _ = await asyncio.wait({waiter, server}, return_when=asyncio.FIRST_COMPLETED)
                if server in done:
                    self._error = server.exception() or RuntimeError("server stopped during start-up")
                    ready.set()
                    return
                ready.set()
                with contextlib.suppress(asyncio.CancelledError):
                    await server

            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(run())
            loop.close()

        self._thread = threading.Thread(target=main, name=type(self).__name__, daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError(f"{type(self).__name__} did not start within {timeout} s")
        if self._error is not None:
            raise RuntimeError(f"{type(self).__name__} failed to start: {self._error}")
        return self

    def call(self, fn: Any, *args: Any) -> Any:
        """Runs ``fn(*args)`` on the server's loop and returns its result (thread-safe)."""
        assert self._loop is not None
        fut: Any = asyncio.run_coroutine_threadsafe(_call(fn, *args), self._loop)
        return fut.result(10)

    def stop(self) -> None:
        """Stops the server and joins its thread."""
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        if self._thread is not None:
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


async def _call(fn: Any, *args: Any) -> Any:
    return fn(*args)


class SandboxProcess:
    """A local vendor server in a child process: ``SandboxProcess(["theta", "--port", "0"])``.

    The child prints one ``READY key=value ...`` line (its URLs) on stdout once it listens;
    :attr:`info` holds those values. The child exits by itself if this process dies.
    """

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 60.0) -> None:
        self.args = [sys.executable, "-m", "quant_engine.sandbox", *args]
        self.proc = subprocess.Popen(
            self.args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {}), "QE_SANDBOX_PARENT_PID": str(os.getpid())},
            start_new_session=True,
        )
        self.info: dict[str, str] = {}
        assert self.proc.stdout is not None
        deadline_timer = threading.Timer(timeout, self.kill)
        deadline_timer.start()
        try:
            for line in self.proc.stdout:
                if line.startswith("READY"):
                    self.info = dict(kv.split("=", 1) for kv in line.split()[1:])
                    break
        finally:
            deadline_timer.cancel()
        if not self.info:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise RuntimeError(f"sandbox {' '.join(args)} did not start: {err[-2000:]}")

    def kill(self) -> None:
        """Kills the child at once."""
        if self.proc.poll() is None:
            self.proc.kill()

    def stop(self) -> None:
        """Stops the child (SIGTERM, then SIGKILL) and reaps it."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> SandboxProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
