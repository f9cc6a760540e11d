"""The battery's look-ahead and null tests: prefix invariance (computed here) and the wrappers of
:mod:`quant_engine.research.redteam.nulls` (WNT-A, WNT-B, the +-20% perturbation and the
one-bar-lag collapse), which plug in when that module is present (VALIDATION.md §4, §6 #2, #3, #7).
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa

from quant_engine.research.redteam.battery_stats import not_computable
from quant_engine.research.redteam.context import ExamContext
from quant_engine.research.redteam.results import FailureType, StatResult
from quant_engine.research.redteam.verdict import TestOutcome, finite, outcome_from_result
from quant_engine.schema import TIMESTAMP
from quant_engine.strategy.bar_arrays import BarArrays

__all__ = [
    "bars_table",
    "prefix_mismatches",
    "prefix_outcome",
    "t_prefix",
    "t_wnt_a",
    "t_wnt_b",
    "t_perturbation",
    "t_lag_collapse",
    "null_statistics",
]

_LOOK = (FailureType.LOOKAHEAD_BIAS,)
_SIGNAL_COLUMNS = ("entry_long", "exit_long", "entry_short", "exit_short")


def bars_table(b: BarArrays) -> pa.Table:
    """``BarArrays`` back into an Arrow bar table (``symbol, start, open, high, low, close, volume, vwap``)."""
    sym_idx = np.repeat(np.arange(len(b.symbols)), np.diff(b.offsets))
    return pa.table(
        {
            "symbol": pa.array(np.asarray(b.symbols, dtype=object)[sym_idx], pa.string()),
            "start": pa.array(b.start, TIMESTAMP),
            "open": b.open,
            "high": b.high,
            "low": b.low,
            "close": b.close,
            "volume": b.volume,
            "vwap": b.vwap,
        }
    )


def _columns(t: pa.Table) -> dict[str, np.ndarray]:
    return {n: t.column(n).to_numpy(zero_copy_only=False) for n in t.column_names if n not in ("symbol", "start")}


def prefix_mismatches(signals: Callable[[pa.Table], pa.Table], table: pa.Table, cutoffs: np.ndarray) -> tuple[int, int]:
    """For each cut-off time ``c``: signals on the bars with ``start <= c`` against the full run's
    signals on those bars. Returns (mismatched bars, bars compared); stop/take distances compare
    with NaN equal to NaN."""
    full = signals(table)
    start = table.column("start").cast(pa.int64()).to_numpy()
    fcols = _columns(full)
    bad = compared = 0
    for c in cutoffs:  # a handful of cut-offs, each one vectorized run
        keep = start <= c
        part = signals(table.filter(pa.array(keep)))
        pcols = _columns(part)
        diff = np.zeros(int(keep.sum()), dtype=bool)
        for name, col in fcols.items():
            a, b = col[keep], pcols[name]
            if a.dtype == bool:
                diff |= a != b
            else:
                diff |= ~np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True)
        bad += int(diff.sum())
        compared += int(keep.sum())
    return bad, compared


def prefix_outcome(mismatches: int, compared: int, cutoffs: int, reason: str | None = None) -> TestOutcome:
    """Prefix invariance: any mismatched signal trips LOOKAHEAD_BIAS (threshold 0)."""
    if reason is not None:
        return not_computable("prefix_invariance", 0.0, _LOOK, reason)
    return TestOutcome(
        name="prefix_invariance",
        statistic=float(mismatches),
        threshold=0.0,
        passed=mismatches == 0,
        feeds=_LOOK,
        details={"bars_compared": float(compared), "cutoffs": float(cutoffs)},
    )


def t_prefix(ctx: ExamContext) -> TestOutcome:
    """Prefix invariance on ``prefix_cutoffs`` random cut-offs (seeded) after the warm-up."""
    times = np.unique(ctx.bars.start)
    lo = min(int(ctx.strategy.lookback) + 1, max(times.size - 2, 0))
    k = ctx.thresholds.prefix_cutoffs
    if times.size - 1 - lo < 1:
        return prefix_outcome(0, 0, 0, f"too few bars after the warm-up for cut-offs: {times.size}")
    rng = np.random.default_rng([ctx.seed, 17])
    picks = np.sort(rng.choice(np.arange(lo, times.size - 1), size=min(k, times.size - 1 - lo), replace=False))
    table = bars_table(ctx.bars)
    bad, compared = prefix_mismatches(ctx.strategy.signals, table, times[picks])
    return prefix_outcome(bad, compared, picks.size)


def null_statistics(res: Any) -> Any:
    """The null distribution a null test exposes (``null``, ``null_statistics`` or ``null_sharpes``)."""
    for attr in ("null", "null_statistics", "null_sharpes", "nulls"):
        v = getattr(res, attr, None)
        if v is not None:
            return np.asarray(v, dtype=np.float64).ravel()
    return None


def _nulls_call(
    ctx: ExamContext, func: str, name: str, feeds: tuple[FailureType, ...], marker: str | None = None, **kw: Any
) -> TestOutcome:
    """Runs ``nulls.<func>(strategy, bars, config=..., seed=..., thresholds=..., **kw)`` as a test
    (``seed`` and ``kw`` only where the function takes them). ``marker``: the result field the
    report marks on the null histogram (default: the statistic)."""
    try:
        mod = importlib.import_module("quant_engine.research.redteam.nulls")
        fn = getattr(mod, func)
    except (ImportError, AttributeError):
        return not_computable(name, None, feeds, f"quant_engine.research.redteam.nulls.{func} is not available")
    takes = set(inspect.signature(fn).parameters)
    args = {k: v for k, v in {"seed": ctx.seed, **kw}.items() if k in takes}
    res = fn(ctx.strategy, ctx.data, config=ctx.config, thresholds=ctx.thresholds, **args)
    if not isinstance(res, StatResult):
        return not_computable(name, None, feeds, f"nulls.{func} returned {type(res).__name__}, not a StatResult")
    out = outcome_from_result(res, name=name, null=null_statistics(res))
    changes: dict[str, Any] = {}
    if not out.feeds:
        changes["feeds"] = feeds
    if marker is not None:
        changes["details"] = {**out.details, "marker": finite(getattr(res, marker, None))}
    return msgspec.structs.replace(out, **changes) if changes else out


def t_wnt_a(ctx: ExamContext) -> TestOutcome:
    """WNT-A: no edge on null markets shaped like the data (LOOKAHEAD_BIAS); with the family's
    parameter grid from the ledger, each null market repeats the fitting."""
    grid = ctx.ledger.grid or None
    return _nulls_call(ctx, "white_noise_a", "wnt_a", _LOOK, grid=grid)


def t_wnt_b(ctx: ExamContext) -> TestOutcome:
    """WNT-B: significance against permuted bars, ``B = wnt_b_reps`` (NOISE_FITTING)."""
    return _nulls_call(ctx, "white_noise_b", "wnt_b", (FailureType.NOISE_FITTING,), reps=ctx.thresholds.wnt_b_reps)


def t_perturbation(ctx: ExamContext) -> TestOutcome:
    """+-20% perturbation of every constant and window (PARAMETER_INSTABILITY)."""
    return _nulls_call(ctx, "perturbation", "perturbation", (FailureType.PARAMETER_INSTABILITY,), marker="peak_sharpe")


def t_lag_collapse(ctx: ExamContext) -> TestOutcome:
    """Collapse of the edge with one extra bar of lag (LOOKAHEAD_BIAS)."""
    return _nulls_call(ctx, "lag_collapse", "lag_collapse", _LOOK)
