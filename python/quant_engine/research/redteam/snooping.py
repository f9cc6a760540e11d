"""Data-snooping tests over a population (VALIDATION.md §3) and the WNT-B null machinery (§4).

* :func:`spa`: Hansen's (2005) test of superior predictive ability, studentized, with lower /
  consistent / upper p-values; :func:`reality_check`: White's (2000) Reality Check. Both take the
  ``T x K`` matrix of the ``K`` strategies' per-period returns and a benchmark (default: zero, i.e.
  cash), and resample with the Politis-Romano stationary bootstrap (seeded). Pass ``indices`` to
  use an explicit ``B x T`` index set (e.g. ``arch``'s own, to compare exactly). Feed OVERFITTING.
* :func:`null_index_sets`: WNT-B's ``B`` permuted or block-bootstrapped bar index sets (dates
  permuted jointly across symbols: one index row serves every symbol), seeded and chunkable.
* :func:`null_test`: ``p = (1 + #{null >= real}) / (1 + B)`` (Phipson & Smyth 2010), gated on
  ``wnt_b_p_max``; :func:`fixed_position_null_test` runs it for a position series decided without
  the resampled returns. Feed NOISE_FITTING.
* :func:`bootstrap_mean_interval`: a percentile stationary-bootstrap interval of a mean.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.bootstrap import (
    permutation_indices,
    permuted_pnl_sharpes,
    resampled_means,
    stationary_bootstrap_indices,
)
from quant_engine.kernels.spa import spa_pvalues
from quant_engine.research.redteam._inputs import as_matrix, as_series, finite_reason
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.results import FailureType, NullTestResult, RealityCheckResult, SPAResult

__all__ = [
    "spa",
    "reality_check",
    "null_index_sets",
    "null_test",
    "fixed_position_null_test",
    "bootstrap_mean_interval",
]

_NAN = math.nan
_OVERFIT = (FailureType.OVERFITTING,)
_NOISE = (FailureType.NOISE_FITTING,)
_DEFAULT = RedTeamThresholds()


def _differentials(
    returns: Any, benchmark: Any, thresholds: RedTeamThresholds
) -> tuple[npt.NDArray[np.float64], str | None, float]:
    """``returns - benchmark`` (``T x K``), a reason it cannot be tested, and the mean block."""
    m = as_matrix(returns)
    if benchmark is not None:
        b = as_series(benchmark, "benchmark")
        if b.shape[0] != m.shape[0]:
            raise InvalidArgumentError(f"benchmark has {b.shape[0]} periods, returns {m.shape[0]}")
        reason = finite_reason(b.reshape(-1, 1), 1, "benchmark")
        m = m - b[:, None]
    else:
        reason = None
    reason = reason or finite_reason(m, max(thresholds.min_observations, 3))
    if reason is None and m.shape[1] == 0:
        reason = "no strategies"
    block = thresholds.bootstrap_mean_block or float(max(1, int(math.sqrt(m.shape[0]))))
    return m, reason, block


def _check_indices(indices: Any, n: int) -> npt.NDArray[np.int64] | None:
    if indices is None:
        return None
    idx = np.ascontiguousarray(indices, dtype=np.int64)
    if idx.ndim != 2 or idx.shape[1] != n or idx.shape[0] < 1:
        raise InvalidArgumentError(f"indices must be B x {n}, got shape {idx.shape}")
    if idx.min() < 0 or idx.max() >= n:
        raise InvalidArgumentError(f"indices must be in [0, {n})")
    return idx


def spa(
    returns: Any,
    benchmark: Any = None,
    thresholds: RedTeamThresholds = _DEFAULT,
    *,
    seed: int = 0,
    studentize: bool = True,
    indices: Any = None,
) -> SPAResult:
    """Hansen's SPA: can any of the ``K`` strategies beat the benchmark, after searching over all?

    ``returns`` is ``T x K`` (1-D: one strategy), ``benchmark`` ``T`` (``None``: zero). Gated on the
    ``thresholds.spa_pvalue`` kind: passes when that p-value <= ``spa_p_max`` (the null "no
    strategy beats the benchmark" is rejected). ``studentize=False`` gives the statistic
    ``arch.bootstrap.SPA`` computes (equal p-values for equal indices). Feeds OVERFITTING.
    """
    d, reason, block = _differentials(returns, benchmark, thresholds)
    reps = thresholds.bootstrap_reps if indices is None else int(np.shape(indices)[0])
    if reason is not None:
        return SPAResult(
            name="spa",
            statistic=_NAN,
            threshold=thresholds.spa_p_max,
            p_value=None,
            passed=False,
            feeds=_OVERFIT,
            reason=reason,
            reps=reps,
            mean_block=block,
            studentized=studentize,
        )
    idx = _check_indices(indices, d.shape[0])
    stat, p, _ = spa_pvalues(d, mean_block=block, reps=reps, seed=seed, studentize=studentize, indices=idx)
    gated = float(p[("lower", "consistent", "upper").index(thresholds.spa_pvalue)])
    return SPAResult(
        name="spa",
        statistic=stat,
        threshold=thresholds.spa_p_max,
        p_value=gated,
        passed=gated <= thresholds.spa_p_max,
        feeds=_OVERFIT,
        p_lower=float(p[0]),
        p_consistent=float(p[1]),
        p_upper=float(p[2]),
        reps=reps,
        mean_block=block,
        studentized=studentize,
        best_column=int(np.argmax(d.mean(axis=0))),
    )


def reality_check(
    returns: Any, benchmark: Any = None, thresholds: RedTeamThresholds = _DEFAULT, *, seed: int = 0, indices: Any = None
) -> RealityCheckResult:
    """White's Reality Check ``V = max_k sqrt(n) mean(f_k)`` with ``f = returns - benchmark``.

    Passes when its p-value <= ``spa_p_max``. Feeds OVERFITTING.
    """
    d, reason, block = _differentials(returns, benchmark, thresholds)
    reps = thresholds.bootstrap_reps if indices is None else int(np.shape(indices)[0])
    if reason is not None:
        return RealityCheckResult(
            name="reality_check",
            statistic=_NAN,
            threshold=thresholds.spa_p_max,
            p_value=None,
            passed=False,
            feeds=_OVERFIT,
            reason=reason,
            reps=reps,
            mean_block=block,
        )
    idx = _check_indices(indices, d.shape[0])
    stat, p, _ = spa_pvalues(d, mean_block=block, reps=reps, seed=seed, studentize=False, indices=idx)
    return RealityCheckResult(
        name="reality_check",
        statistic=stat * math.sqrt(d.shape[0]),
        threshold=thresholds.spa_p_max,
        p_value=float(p[2]),
        passed=float(p[2]) <= thresholds.spa_p_max,
        feeds=_OVERFIT,
        reps=reps,
        mean_block=block,
        best_column=int(np.argmax(d.mean(axis=0))),
    )


def null_index_sets(
    n_bars: int,
    reps: int,
    *,
    method: Literal["permutation", "block"] = "permutation",
    mean_block: float = 1.0,
    seed: int = 0,
    first: int = 0,
) -> npt.NDArray[np.int64]:
    """WNT-B's bar index sets: rows ``first .. first+reps-1`` of ``seed`` (``reps x n_bars`` int64).

    ``"permutation"``: uniform permutations of the bars; ``"block"``: a stationary bootstrap with
    mean block ``mean_block`` (the holding period). Apply one row to every symbol (dates move
    jointly). Rows depend only on ``(seed, row)``: generate large sets chunk by chunk.
    """
    if method == "permutation":
        return permutation_indices(n_bars, reps, seed=seed, first=first)
    if method == "block":
        return stationary_bootstrap_indices(n_bars, mean_block, reps, seed=seed, first=first)
    raise InvalidArgumentError(f"method must be 'permutation' or 'block', got {method!r}")


def null_test(
    real: float, null: Any, thresholds: RedTeamThresholds = _DEFAULT, *, name: str = "wnt_b"
) -> NullTestResult:
    """``p = (1 + #{null >= real}) / (1 + B)``, passing when ``p <= wnt_b_p_max``. Feeds NOISE_FITTING.

    A non-finite real statistic or null value (a null run that failed) makes it not computable.
    """
    z = as_series(null, "null")
    b = z.shape[0]
    reason = None
    if b == 0:
        reason = "empty null distribution"
    elif not math.isfinite(real):
        reason = f"the real statistic is not finite ({real})"
    elif not np.all(np.isfinite(z)):
        reason = f"{b - int(np.count_nonzero(np.isfinite(z)))} null statistic(s) are not finite"
    if reason is not None:
        return NullTestResult(
            name=name,
            statistic=float(real),
            threshold=thresholds.wnt_b_p_max,
            p_value=None,
            passed=False,
            feeds=_NOISE,
            reason=reason,
            n_null=b,
        )
    k = int(np.count_nonzero(z >= real))
    p = (1.0 + k) / (1.0 + b)
    return NullTestResult(
        name=name,
        statistic=float(real),
        threshold=thresholds.wnt_b_p_max,
        p_value=p,
        passed=p <= thresholds.wnt_b_p_max,
        feeds=_NOISE,
        n_null=b,
        n_exceed=k,
    )


def fixed_position_null_test(
    positions: Any,
    returns: Any,
    thresholds: RedTeamThresholds = _DEFAULT,
    *,
    method: Literal["permutation", "block"] = "permutation",
    mean_block: float = 1.0,
    seed: int = 0,
) -> NullTestResult:
    """WNT-B for a position series fixed independently of the resampled returns: the Sharpe of
    ``positions[t] * returns[t]`` against ``positions[t] * returns[idx_b[t]]`` over
    ``wnt_b_reps`` index sets. Feeds NOISE_FITTING."""
    pos = as_series(positions, "positions")
    r = as_series(returns)
    if pos.shape != r.shape:
        raise InvalidArgumentError(f"positions and returns differ in length: {pos.shape[0]} vs {r.shape[0]}")
    reason = finite_reason(np.stack([pos, r], axis=1), max(thresholds.min_observations, 3))
    pnl = pos * r
    if reason is None and not float(np.ptp(pnl)) > 0.0:
        reason = "zero variance: the P&L is constant"
    if reason is not None:
        return NullTestResult(
            name="wnt_b",
            statistic=_NAN,
            threshold=thresholds.wnt_b_p_max,
            p_value=None,
            passed=False,
            feeds=_NOISE,
            reason=reason,
        )
    real = float(np.mean(pnl) / np.std(pnl, ddof=1))
    if method not in ("permutation", "block"):
        raise InvalidArgumentError(f"method must be 'permutation' or 'block', got {method!r}")
    block = None if method == "permutation" else max(1.0, float(mean_block))
    null = permuted_pnl_sharpes(pos, r, thresholds.wnt_b_reps, seed=seed, mean_block=block)
    null = np.where(np.isfinite(null), null, 0.0)  # a constant resampled P&L (Sharpe undefined) has no edge
    return null_test(real, null, thresholds)


def bootstrap_mean_interval(
    x: Any, *, level: float = 0.95, reps: int = 1000, mean_block: float = 1.0, seed: int = 0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Percentile stationary-bootstrap interval of the mean of every column of ``x`` (1-D: one).

    Returns ``(lo, hi)``, one value per column. Raises for non-finite input or ``level`` outside (0, 1).
    """
    m = as_matrix(x, "x")
    if not 0.0 < level < 1.0:
        raise InvalidArgumentError(f"level must be in (0, 1), got {level}")
    if finite_reason(m, 2, "x") is not None:
        raise InvalidArgumentError(f"x: {finite_reason(m, 2, 'x')}")
    means = resampled_means(m, stationary_bootstrap_indices(m.shape[0], mean_block, reps, seed=seed))
    lo, hi = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)
    return lo, hi
