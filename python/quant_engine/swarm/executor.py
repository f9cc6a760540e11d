"""Executors: how the Swarm fans candidate evaluation out (an interface a cluster engine can
implement later).

An executor is started once with an initializer and its arguments (the bars, the configuration
and the user operators, see :func:`~quant_engine.swarm.evaluate.init_worker`), then maps a
function over batches. :class:`ProcessExecutor` (the default) runs a process pool; its workers
receive the parent's registered user operators through the initializer, so strategies calling them
evaluate there too. :class:`SerialExecutor` runs everything in the calling process (tests,
debugging, one core).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Protocol, TypeVar

__all__ = ["Executor", "SerialExecutor", "ProcessExecutor"]

T = TypeVar("T")
R = TypeVar("R")


class Executor(Protocol):
    """What the Swarm needs of an executor."""

    def start(self, initializer: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Runs ``initializer(*args)`` wherever work will run (once per worker)."""
        ...

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """``fn`` over ``items``, results in order."""
        ...

    def close(self) -> None:
        """Releases the workers."""
        ...


class SerialExecutor:
    """Runs everything in the calling process."""

    workers = 1

    def start(self, initializer: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Calls the initializer here."""
        initializer(*args)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """``map(fn, items)``."""
        return map(fn, items)

    def close(self) -> None:
        """Nothing to release."""


class ProcessExecutor:
    """A process pool of ``workers`` processes (default: the CPU count).

    ``start_method`` is ``"forkserver"`` where the platform has it, else ``"spawn"``: never a
    plain ``fork`` of a process whose Numba threads (OpenMP) are running, which is unsafe. Workers
    import the package afresh (the server preloads it once) and the initializer re-registers the
    parent's user operators there, so their kernels must be importable module-level functions."""

    def __init__(self, workers: int | None = None, *, start_method: str | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)
        methods = multiprocessing.get_all_start_methods()
        self.start_method = start_method or ("forkserver" if "forkserver" in methods else "spawn")
        self._pool: ProcessPoolExecutor | None = None

    def start(self, initializer: Callable[..., None], args: tuple[Any, ...]) -> None:
        """Starts the pool (replacing a running one)."""
        self.close()
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(["quant_engine.swarm.evaluate"])
        self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=initializer, initargs=args)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[R]:
        """``fn`` over ``items`` in the pool, results in order."""
        if self._pool is None:
            raise RuntimeError("the executor is not started")
        return self._pool.map(fn, items)

    def close(self) -> None:
        """Shuts the pool down."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
