"""Numba compilation, watched.

Every kernel is compiled with ``cache=True``: the first call in a new environment compiles it
(tens of seconds for the strategy evaluator), later processes load it from the on-disk cache.
``scripts/bootstrap.sh`` warms that cache at install time (:mod:`quant_engine.kernels.warmup`);
when a compilation happens anyway, this module

* prints :data:`NOTICE` on stderr once per process, when the first kernel of the package starts
  compiling (so a long first call does not sit silent), and
* adds up the seconds spent compiling (outermost compilations only, any dispatcher), so a run can
  report its compile time apart from its run time (:func:`compile_seconds`).

Loading a kernel from the cache is not a compilation and is not counted. Set
``QE_COMPILE_NOTICE=0`` to silence the notice.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Any

from numba.core import event

__all__ = ["NOTICE", "compile_seconds", "compilations", "install"]

NOTICE = "quant-engine: compiling kernels (first run only; cached on disk afterwards)"
"""The line printed on stderr the first time a quant-engine kernel compiles in a process."""

_lock = threading.Lock()
_state = {"seconds": 0.0, "count": 0, "noticed": False}
_local = threading.local()
_installed = False


def _ours(data: Any) -> bool:
    func = getattr(data.get("dispatcher"), "py_func", None)
    return str(getattr(func, "__module__", "")).startswith("quant_engine.")


class _Listener(event.Listener):
    """Times outermost ``numba:compile`` events (nested ones are part of their caller's)."""

    def on_start(self, ev: Any) -> None:
        depth = getattr(_local, "depth", 0)
        _local.depth = depth + 1
        if depth:
            return
        _local.started = time.perf_counter()
        if _ours(ev.data):
            with _lock:
                first = not _state["noticed"]
                _state["noticed"] = True
            if first and os.environ.get("QE_COMPILE_NOTICE", "1") != "0":
                print(NOTICE, file=sys.stderr, flush=True)

    def on_end(self, ev: Any) -> None:
        _local.depth = depth = getattr(_local, "depth", 1) - 1
        if depth:
            return
        elapsed = time.perf_counter() - getattr(_local, "started", time.perf_counter())
        with _lock:
            _state["seconds"] += elapsed
            _state["count"] += 1


def install() -> None:
    """Registers the listener (idempotent; every kernel module calls it on import)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    event.register("numba:compile", _Listener())  # type: ignore[no-untyped-call]


def compile_seconds() -> float:
    """Seconds this process has spent compiling Numba functions so far (take a difference around
    a call to time its compilations)."""
    with _lock:
        return float(_state["seconds"])


def compilations() -> int:
    """Outermost Numba compilations in this process so far (cache loads are not counted)."""
    with _lock:
        return int(_state["count"])
