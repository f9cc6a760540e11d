"""Fitness evaluation of candidates: the code that runs in the executor's workers.

A worker is initialised once with the bars, the backtest configuration and the user operators of
the parent (:func:`init_worker`), then evaluates batches of canonical strategy documents
(:func:`evaluate_batch`): compile, signals (the Numba plan), fills (the Rust core, the same call a
sweep makes) and a fingerprint of the return series for the correlation dedupe. Nothing but JSON
documents and small arrays crosses the process boundary per candidate.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quant_engine import _core
from quant_engine.research import backtester as bt
from quant_engine.research.config import BacktestConfig
from quant_engine.research.metrics import METRIC_NAMES
from quant_engine.strategy import BarArrays, compile_strategy, register_operator, registered_operators

__all__ = ["Evaluation", "OperatorSpec", "operator_specs", "init_worker", "evaluate_batch", "FINGERPRINT_BLOCKS"]

FINGERPRINT_BLOCKS = 512
"""A return series is summed over this many equal blocks of periods for its fingerprint."""


@dataclass(frozen=True)
class Evaluation:
    """One candidate's evaluation (or its error).

    Attributes:
        metrics: the backtest metrics (:data:`~quant_engine.research.metrics.METRIC_NAMES` order).
        fingerprint: the returns summed over :data:`FINGERPRINT_BLOCKS` blocks (for correlation).
        signals_s, fills_s: seconds spent on signals and on fills.
        error: why the evaluation failed ("" when it did not).
    """

    metrics: np.ndarray
    fingerprint: np.ndarray
    signals_s: float
    fills_s: float
    error: str = ""


OperatorSpec = tuple[str, Any, int, dict[str, tuple[int, int]], dict[str, tuple[float, float]], Any, str]
"""A registered user operator as picklable parts: name, Python kernel, inputs, int and float
parameters, warm-up function, description."""


def operator_specs() -> list[OperatorSpec]:
    """The parent's registered user operators, to re-register in workers."""
    return [
        (op.name, getattr(op.kernel, "py_func", op.kernel), op.inputs, dict(op.int_params), dict(op.float_params),
         op.warmup, op.description)
        for op in registered_operators().values()
    ]  # fmt: skip


class _State:
    bars: BarArrays
    bar_args: bt._BarArgs
    config: BacktestConfig
    config_json: str


_STATE = _State()


def init_worker(bars: BarArrays, config: BacktestConfig, operators: Sequence[OperatorSpec]) -> None:
    """Installs the bars, configuration and user operators in this process (the executor's
    initializer; the serial executor calls it in the parent)."""
    known = registered_operators()
    for name, fn, inputs, ints, floats, warmup, description in operators:
        if name in known and getattr(known[name].kernel, "py_func", known[name].kernel) is fn:
            continue
        register_operator(name, fn, inputs=inputs, int_params=ints, float_params=floats, warmup=warmup,
                          description=description, verify=False, replace=True)  # fmt: skip
    _STATE.bars = bars
    _STATE.bar_args = bt._bar_args(bars)
    _STATE.config = config
    _STATE.config_json = config.to_json(reference_month=bt._reference_month(bars))


def _fingerprint(returns: np.ndarray) -> np.ndarray:
    n = returns.shape[0]
    k = min(FINGERPRINT_BLOCKS, max(n, 1))
    edges = np.linspace(0, n, k + 1).astype(np.int64)
    clean = np.nan_to_num(returns, nan=0.0)
    return np.add.reduceat(clean, edges[:-1]) if n else np.zeros(0)


def _evaluate(doc: bytes) -> Evaluation:
    data = _STATE.bars
    t0 = time.perf_counter()
    cs = compile_strategy(doc)
    bt._check_timeframe(cs, data)
    grid = cs.bind(None)
    chunk = next(iter(cs.signal_chunks(data, grid, threads=1)))
    t1 = time.perf_counter()
    rules = bt._rules(cs, grid)
    buf = np.empty((1, len(data) if len(data.symbols) == 1 else _core.backtest_periods(*_STATE.bar_args[:8])))
    metrics = _core.backtest_sweep(
        *_STATE.bar_args, chunk.signals, chunk.stop_distance, chunk.take_distance,
        rules.stop_kind, rules.stop_value, rules.take_kind, rules.take_value, rules.time_stop,
        rules.sizing_kind, rules.sizing_value, _STATE.config_json, bt._ppy(cs, _STATE.config), 1, buf,
    )  # fmt: skip
    t2 = time.perf_counter()
    return Evaluation(np.asarray(metrics[0], np.float64), _fingerprint(buf[0]), t1 - t0, t2 - t1)


def evaluate_batch(docs: Sequence[bytes]) -> list[Evaluation]:
    """Evaluates canonical strategy documents on the worker's bars; a candidate that fails to
    evaluate gets an :class:`Evaluation` with ``error`` set and NaN metrics (counted, never lost)."""
    out: list[Evaluation] = []
    for doc in docs:
        try:
            out.append(_evaluate(doc))
        except Exception as exc:  # noqa: BLE001 - an implementation error of one candidate is counted, not fatal
            nan = np.full(len(METRIC_NAMES), np.nan)
            out.append(Evaluation(nan, np.zeros(0), 0.0, 0.0, f"{type(exc).__name__}: {exc}"))
    return out
