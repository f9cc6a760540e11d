"""The battery's statistical tests on the candidate's returns and its family's ledger: trade count,
PSR, MinTRL, WNT-C, DSR with the ledger's effective N, PBO by CSCV, SPA, White's Reality Check and
the CPCV out-of-sample Sharpe distribution (VALIDATION.md §1-§5).

Each test is a function of an :class:`~quant_engine.research.redteam.context.ExamContext`
returning a :class:`~quant_engine.research.redteam.verdict.TestOutcome`; the pure helpers
(:func:`cpcv_path_sharpes`, :func:`trade_count_outcome`) take arrays, so their gates can be tested
on constructed inputs.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.context import ExamContext
from quant_engine.research.redteam.cpcv import cpcv_splits
from quant_engine.research.redteam.results import FailureType
from quant_engine.research.redteam.snooping import reality_check, spa
from quant_engine.research.redteam.statistics import dsr, dsr_from_trials, min_trl, pbo, psr, whiteness
from quant_engine.research.redteam.verdict import TestOutcome, finite, outcome_from_result

__all__ = [
    "trade_count_outcome",
    "cpcv_path_sharpes",
    "cpcv_outcome",
    "t_trades",
    "t_psr",
    "t_min_trl",
    "t_wnt_c",
    "t_dsr",
    "t_pbo",
    "t_spa",
    "t_reality_check",
    "t_cpcv",
]

_EVIDENCE = (FailureType.INSUFFICIENT_EVIDENCE,)
_OVERFIT = (FailureType.OVERFITTING,)


def not_computable(name: str, threshold: float | None, feeds: tuple[FailureType, ...], reason: str) -> TestOutcome:
    """A test that could not be computed: not passed, with its reason."""
    return TestOutcome(name=name, statistic=None, threshold=threshold, passed=False, feeds=feeds, reason=reason)


def trade_count_outcome(trades: int, thresholds: RedTeamThresholds) -> TestOutcome:
    """INSUFFICIENT_EVIDENCE's trade count: passes with at least ``min_trades`` closed trades."""
    return TestOutcome(
        name="trades",
        statistic=float(trades),
        threshold=float(thresholds.min_trades),
        passed=trades >= thresholds.min_trades,
        feeds=_EVIDENCE,
    )


def t_trades(ctx: ExamContext) -> TestOutcome:
    """Closed round trips of the backtest against ``min_trades``."""
    return trade_count_outcome(int(ctx.result.trades.num_rows), ctx.thresholds)


def t_psr(ctx: ExamContext) -> TestOutcome:
    """PSR(SR*) of the net returns (INSUFFICIENT_EVIDENCE)."""
    return outcome_from_result(psr(ctx.returns, ctx.thresholds))


def t_min_trl(ctx: ExamContext) -> TestOutcome:
    """MinTRL against the sample length (INSUFFICIENT_EVIDENCE)."""
    return outcome_from_result(min_trl(ctx.returns, ctx.thresholds))


def t_wnt_c(ctx: ExamContext) -> TestOutcome:
    """WNT-C: Ljung-Box and Lo's adjusted Sharpe (INSUFFICIENT_EVIDENCE)."""
    return outcome_from_result(whiteness(ctx.returns, ctx.thresholds))


def t_dsr(ctx: ExamContext) -> TestOutcome:
    """DSR with N = the effective number of the family's trials in the ledger (OVERFITTING); with
    no usable ledger, N = 1 (DSR = PSR(0)) and a note saying so."""
    led = ctx.ledger
    if led.matrix is None or led.matrix.shape[1] < 2:
        why = led.reason or f"the ledger holds {led.n_trials} trial(s) of the family with returns"
        res = dsr(ctx.returns, n_trials=1.0, sr_std=0.0, thresholds=ctx.thresholds)
        return outcome_from_result(res, note=f"N = 1 ({why})", details={"n_trials": 1.0, "ledger_trials": led.n_trials})
    res, eff = dsr_from_trials(ctx.returns, led.matrix, ctx.thresholds)
    details = {
        "n_trials": res.n_trials,
        "effective_trials": eff.effective,
        "ledger_trials": float(led.n_trials),
        "matrix_trials": float(led.matrix.shape[1]),
        "sr_std": res.sr_std,
        "sr0": res.sr0,
        "sharpe": res.sharpe,
    }
    return outcome_from_result(res, details=details)


def _family(ctx: ExamContext, name: str, threshold: float) -> tuple[npt.NDArray[np.float64] | None, TestOutcome | None]:
    led = ctx.ledger
    if led.matrix is None:
        return None, not_computable(name, threshold, _OVERFIT, led.reason or "no ledger")
    return led.matrix, None


def t_pbo(ctx: ExamContext) -> TestOutcome:
    """PBO by CSCV over the family's trials (OVERFITTING); fewer than 2 trials: not computable."""
    m, missing = _family(ctx, "pbo", ctx.thresholds.pbo_max)
    if missing is not None or m is None:
        return missing or not_computable("pbo", ctx.thresholds.pbo_max, _OVERFIT, "no ledger")
    return outcome_from_result(pbo(m, ctx.thresholds), details=None)


def _snoop_matrix(ctx: ExamContext) -> tuple[npt.NDArray[np.float64], str | None]:
    led = ctx.ledger
    if led.matrix is None or led.matrix.shape[1] < 2:
        why = led.reason or "the family has no other trial with returns"
        return ctx.returns.reshape(-1, 1), f"the candidate alone (K = 1): {why}"
    return led.matrix, None


def t_spa(ctx: ExamContext) -> TestOutcome:
    """Hansen's SPA over the family's trials against a zero benchmark (OVERFITTING)."""
    m, note = _snoop_matrix(ctx)
    res = spa(m, None, ctx.thresholds, seed=ctx.seed + 11)
    return outcome_from_result(res, note=note)


def t_reality_check(ctx: ExamContext) -> TestOutcome:
    """White's Reality Check over the family's trials against a zero benchmark (OVERFITTING)."""
    m, note = _snoop_matrix(ctx)
    res = reality_check(m, None, ctx.thresholds, seed=ctx.seed + 13)
    return outcome_from_result(res, note=note)


def _sums(m: npt.NDArray[np.float64], rows: npt.NDArray[np.int64] | slice) -> tuple[np.ndarray, np.ndarray]:
    x = m[rows]
    return x.sum(axis=0), np.einsum("ij,ij->j", x, x)


def cpcv_path_sharpes(m: npt.NDArray[np.float64], thresholds: RedTeamThresholds) -> npt.NDArray[np.float64]:
    """Out-of-sample per-period Sharpe of each CPCV path (López de Prado 2018, ch. 12).

    In each of the ``C(N, k)`` splits the trial (column of ``m``, ``T x n``) with the best Sharpe
    on the purged, embargoed training rows is selected; its returns on the split's test groups
    form the path segments. Works from per-group sums: no ``T x n`` copy per split.
    """
    t, _n = m.shape
    plan = cpcv_splits(
        t,
        n_groups=thresholds.cpcv_groups,
        n_test_groups=thresholds.cpcv_test_groups,
        embargo_fraction=thresholds.embargo_fraction,
    )
    b = plan.group_bounds
    g_s1, g_s2 = zip(*(_sums(m, slice(int(b[g]), int(b[g + 1]))) for g in range(len(b) - 1)))
    s1, s2 = np.array(g_s1), np.array(g_s2)  # groups x n
    counts = np.diff(b).astype(np.float64)
    tot1, tot2 = s1.sum(axis=0), s2.sum(axis=0)
    all_rows = np.arange(t, dtype=np.int64)
    chosen = np.empty(len(plan.splits), np.int64)
    for i, sp in enumerate(plan.splits):  # C(N, k) = 15 splits
        dropped = np.setdiff1d(all_rows, np.concatenate([sp.train, sp.test]), assume_unique=True)
        d1, d2 = _sums(m, dropped)
        tg = list(sp.test_groups)
        a1 = tot1 - s1[tg].sum(axis=0) - d1
        a2 = tot2 - s2[tg].sum(axis=0) - d2
        n_tr = float(sp.train.size)
        var = (a2 - a1 * a1 / n_tr) / max(n_tr - 1.0, 1.0)
        sr = np.where(var > 0.0, a1 / n_tr / np.sqrt(np.where(var > 0.0, var, 1.0)), -np.inf)
        chosen[i] = int(np.argmax(sr))
    out = np.empty(plan.paths.shape[0])
    for p in range(plan.paths.shape[0]):
        cols = chosen[plan.paths[p]]
        groups = np.arange(plan.paths.shape[1])
        p1, p2, n_p = float(s1[groups, cols].sum()), float(s2[groups, cols].sum()), float(counts.sum())
        var = (p2 - p1 * p1 / n_p) / (n_p - 1.0)
        out[p] = p1 / n_p / math.sqrt(var) if var > 0.0 else math.nan
    return out


def cpcv_outcome(m: npt.NDArray[np.float64], thresholds: RedTeamThresholds, note: str | None = None) -> TestOutcome:
    """CPCV gate: the median out-of-sample path Sharpe must exceed ``cpcv_min_sharpe`` (OVERFITTING)."""
    thr = thresholds.cpcv_min_sharpe
    bad = int(m.size - np.count_nonzero(np.isfinite(m)))
    if bad:
        return not_computable("cpcv", thr, _OVERFIT, f"returns hold {bad} non-finite value(s)")
    if m.shape[0] < max(thresholds.min_observations, 2 * thresholds.cpcv_groups):
        return not_computable("cpcv", thr, _OVERFIT, f"too few observations for CPCV: {m.shape[0]}")
    sharpes = cpcv_path_sharpes(m, thresholds)
    if not np.all(np.isfinite(sharpes)):
        return not_computable("cpcv", thr, _OVERFIT, "zero variance on an out-of-sample path")
    med = float(np.median(sharpes))
    details: dict[str, float | None] = {f"path_{i}": finite(v) for i, v in enumerate(sharpes)}
    details.update(
        n_paths=float(sharpes.size),
        min=finite(sharpes.min()),
        max=finite(sharpes.max()),
        share_positive=float(np.mean(sharpes > 0.0)),
        n_trials=float(m.shape[1]),
    )
    return TestOutcome(
        name="cpcv", statistic=med, threshold=thr, passed=med > thr, feeds=_OVERFIT, note=note, details=details
    )


def t_cpcv(ctx: ExamContext) -> TestOutcome:
    """CPCV (N = 6, k = 2) over the family's trials (the candidate alone without a ledger)."""
    m, note = _snoop_matrix(ctx)
    return cpcv_outcome(m, ctx.thresholds, note)
