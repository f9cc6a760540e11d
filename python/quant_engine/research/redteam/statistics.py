"""The Red Team's single-strategy and population statistics (VALIDATION.md §1, §2, §4 WNT-C).

Each function takes NumPy return series (per-period, not annualized) or ``T x N`` return matrices
and a :class:`~quant_engine.research.redteam.config.RedTeamThresholds`, and returns a typed
result (:mod:`quant_engine.research.redteam.results`). Wrong shapes raise
:class:`~quant_engine.errors.InvalidArgumentError`; data a statistic cannot be computed on give a
failed result with a ``reason``. The data-snooping tests (SPA, Reality Check) and WNT-B live in
:mod:`quant_engine.research.redteam.snooping`.

Failure types fed (VALIDATION.md §6): PSR and MinTRL -> INSUFFICIENT_EVIDENCE; DSR (with the
effective number of trials) and PBO -> OVERFITTING; WNT-C -> INSUFFICIENT_EVIDENCE (the Sharpe is
re-judged after Lo's correction; §6 has no type of its own for it).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from quant_engine.kernels.cscv import cscv as _cscv_kernel
from quant_engine.kernels.sharpe_stats import (
    column_moments,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe,
)
from quant_engine.kernels.trials import effective_trials as _effective_trials_kernel
from quant_engine.kernels.whiteness import autocorrelations, chi2_sf, ljung_box, lo_eta
from quant_engine.research.redteam._inputs import as_matrix, as_series, finite_reason
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.results import (
    DSRResult,
    EffectiveTrialsResult,
    FailureType,
    MinTRLResult,
    PBOResult,
    PSRResult,
    SharpeSummary,
    WhitenessResult,
)

__all__ = [
    "DEFAULT_THRESHOLDS",
    "sharpe_summary",
    "psr",
    "min_trl",
    "dsr",
    "dsr_from_trials",
    "effective_trials",
    "pbo",
    "whiteness",
]

DEFAULT_THRESHOLDS = RedTeamThresholds()
"""The defaults of VALIDATION.md."""

_NAN = math.nan
_EVIDENCE = (FailureType.INSUFFICIENT_EVIDENCE,)
_OVERFIT = (FailureType.OVERFITTING,)


def sharpe_summary(returns: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS) -> SharpeSummary:
    """Per-period Sharpe, mean, sd, ``g3`` and ``g4`` of a 1-D return series (a ``reason`` when it
    has fewer than ``min_observations`` periods, non-finite values or zero variance)."""
    r = as_series(returns)
    reason = finite_reason(r, max(thresholds.min_observations, 3))
    if reason is None:
        mean, sd, g3, g4 = (float(v) for v in column_moments(r.reshape(-1, 1))[:, 0])
        if float(np.ptp(r)) == 0.0 or not sd > 0.0 or not math.isfinite(g3):
            reason = "zero variance: the returns are constant"
        else:
            return SharpeSummary(n=r.shape[0], mean=mean, sd=sd, sharpe=mean / sd, g3=g3, g4=g4)
    return SharpeSummary(n=r.shape[0], mean=_NAN, sd=_NAN, sharpe=_NAN, g3=_NAN, g4=_NAN, reason=reason)


def _psr_from(s: SharpeSummary, sr_star: float) -> tuple[float, str | None]:
    """PSR(sr_star) from a summary, or NaN and a reason."""
    if s.reason is not None:
        return _NAN, s.reason
    v = probabilistic_sharpe(s.sharpe, s.n, s.g3, s.g4, sr_star)
    if math.isnan(v):
        return _NAN, "the Sharpe ratio's variance factor 1 - g3*SR + (g4-1)/4*SR^2 is not positive"
    return v, None


def psr(returns: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS) -> PSRResult:
    """Probabilistic Sharpe ratio PSR(SR*) (Bailey & López de Prado 2012), gated on ``psr_min``.

    Feeds INSUFFICIENT_EVIDENCE (a Sharpe not distinguishable from ``SR*`` on this sample).
    """
    s = sharpe_summary(returns, thresholds)
    v, reason = _psr_from(s, thresholds.sr_star)
    return PSRResult(
        name="psr",
        statistic=v,
        threshold=thresholds.psr_min,
        p_value=None if reason else 1.0 - v,
        passed=reason is None and v >= thresholds.psr_min,
        feeds=_EVIDENCE,
        reason=reason,
        sharpe=s.sharpe,
        sr_star=thresholds.sr_star,
        n_obs=s.n,
        g3=s.g3,
        g4=s.g4,
    )


def min_trl(returns: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS) -> MinTRLResult:
    """Minimum track record length at ``mintrl_alpha``; passes when the sample is at least that long.

    Feeds INSUFFICIENT_EVIDENCE. A Sharpe at or below ``SR*`` gives MinTRL = inf (fails).
    """
    s = sharpe_summary(returns, thresholds)
    if s.reason is not None:
        return MinTRLResult(
            name="min_trl",
            statistic=_NAN,
            threshold=float(s.n),
            p_value=None,
            passed=False,
            feeds=_EVIDENCE,
            reason=s.reason,
            n_obs=s.n,
            alpha=thresholds.mintrl_alpha,
        )
    v = min_track_record_length(s.sharpe, s.g3, s.g4, thresholds.sr_star, thresholds.mintrl_alpha)
    return MinTRLResult(
        name="min_trl",
        statistic=v,
        threshold=float(s.n),
        p_value=None,
        passed=s.n >= v,
        feeds=_EVIDENCE,
        n_obs=s.n,
        alpha=thresholds.mintrl_alpha,
    )


def dsr(
    returns: Any, *, n_trials: float, sr_std: float, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS
) -> DSRResult:
    """Deflated Sharpe ratio ``PSR(SR0)`` (Bailey & López de Prado 2014), gated on ``dsr_min``.

    ``n_trials`` is the (effective) number of trials of the family, ``sr_std`` the standard
    deviation of their per-period Sharpe ratios. Feeds OVERFITTING.
    """
    s = sharpe_summary(returns, thresholds)
    reason = s.reason
    sr0 = _NAN
    if reason is None and not (math.isfinite(n_trials) and n_trials >= 1.0):
        reason = f"the number of trials must be >= 1, got {n_trials}"
    if reason is None and not (math.isfinite(sr_std) and sr_std >= 0.0):
        reason = f"the trials' Sharpe standard deviation must be finite and >= 0, got {sr_std}"
    v = _NAN
    if reason is None:
        sr0 = expected_max_sharpe(n_trials, sr_std)
        v, reason = _psr_from(s, sr0)
    return DSRResult(
        name="dsr",
        statistic=v,
        threshold=thresholds.dsr_min,
        p_value=None if reason else 1.0 - v,
        passed=reason is None and v >= thresholds.dsr_min,
        feeds=_OVERFIT,
        reason=reason,
        sharpe=s.sharpe,
        sr_star=sr0,
        n_obs=s.n,
        g3=s.g3,
        g4=s.g4,
        n_trials=n_trials,
        sr_std=sr_std,
        sr0=sr0,
    )


def effective_trials(trials: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS) -> EffectiveTrialsResult:
    """Effective number of independent trials from the ``T x N`` matrix of the trials' returns.

    Participation ratio of the correlation matrix (see :mod:`quant_engine.kernels.trials`).
    Constant columns are excluded from the estimate and, if any, add one trial. When not
    computable, ``effective`` is the conservative ``N`` and ``reason`` says why. Feeds DSR.
    """
    m = as_matrix(trials, "trials")
    n = m.shape[1]
    reason = finite_reason(m, max(thresholds.min_observations, 3), "trials")
    if n == 0:
        reason = "no trials"
    if reason is not None:
        return EffectiveTrialsResult(n_trials=n, effective=float(n), reason=reason)
    live = np.ptp(m, axis=0) > 0.0
    n_dead = int(n - np.count_nonzero(live))
    if n_dead == n:
        return EffectiveTrialsResult(n_trials=n, effective=1.0, n_degenerate=n_dead)
    eff = _effective_trials_kernel(m[:, live]) + (1.0 if n_dead else 0.0)
    return EffectiveTrialsResult(n_trials=n, effective=eff, n_degenerate=n_dead)


def dsr_from_trials(
    returns: Any, trials: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS
) -> tuple[DSRResult, EffectiveTrialsResult]:
    """DSR of ``returns`` with ``N`` = the effective number of trials of the ``T x N`` matrix
    ``trials`` (every trial of the family, the candidate included) and ``sr_std`` the standard
    deviation of their per-period Sharpe ratios (``ddof = 1``). Feeds OVERFITTING."""
    eff = effective_trials(trials, thresholds)
    m = as_matrix(trials, "trials")
    if eff.reason is not None or m.shape[1] < 2:
        why = eff.reason or "at least 2 trials are needed for the cross-trial Sharpe dispersion"
        s = sharpe_summary(returns, thresholds)
        res = DSRResult(
            name="dsr",
            statistic=_NAN,
            threshold=thresholds.dsr_min,
            p_value=None,
            passed=False,
            feeds=_OVERFIT,
            reason=why,
            sharpe=s.sharpe,
            n_obs=s.n,
            g3=s.g3,
            g4=s.g4,
            n_trials=eff.effective,
        )
        return res, eff
    mom = column_moments(m)
    sd = mom[1]
    sharpes = np.where(sd > 0.0, mom[0] / np.where(sd > 0.0, sd, 1.0), 0.0)
    return dsr(returns, n_trials=eff.effective, sr_std=float(np.std(sharpes, ddof=1)), thresholds=thresholds), eff


def pbo(trials: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS) -> PBOResult:
    """Probability of backtest overfitting by CSCV over the ``T x N`` matrix of the family's trials.

    ``cscv_blocks`` blocks, all ``C(S, S/2)`` splits; gated on ``pbo_max``. Feeds OVERFITTING.
    Needs ``N >= 2`` and ``T >= 2 S``; a column constant over a subset scores Sharpe 0 there.
    """
    m = as_matrix(trials, "trials")
    s_blocks = thresholds.cscv_blocks
    reason = finite_reason(m, max(2 * s_blocks, thresholds.min_observations), "trials")
    if reason is None and m.shape[1] < 2:
        reason = f"PBO needs at least 2 trials, got {m.shape[1]}"
    if reason is None and not np.any(np.ptp(m, axis=0) > 0.0):
        reason = "zero variance: every trial's returns are constant"
    if reason is not None:
        return PBOResult(
            name="pbo",
            statistic=_NAN,
            threshold=thresholds.pbo_max,
            p_value=None,
            passed=False,
            feeds=_OVERFIT,
            reason=reason,
            n_blocks=s_blocks,
        )
    is_sr, oos_sr, lam = _cscv_kernel(m, s_blocks)
    value = float(np.mean(lam <= 0.0))
    var_is = float(np.var(is_sr))
    slope = float(np.mean((is_sr - is_sr.mean()) * (oos_sr - oos_sr.mean())) / var_is) if var_is > 0.0 else _NAN
    intercept = float(oos_sr.mean() - slope * is_sr.mean()) if var_is > 0.0 else _NAN
    return PBOResult(
        name="pbo",
        statistic=value,
        threshold=thresholds.pbo_max,
        p_value=None,
        passed=value <= thresholds.pbo_max,
        feeds=_OVERFIT,
        n_splits=int(lam.shape[0]),
        n_blocks=s_blocks,
        slope=slope,
        intercept=intercept,
        prob_oos_loss=float(np.mean(oos_sr < 0.0)),
        median_logit=float(np.median(lam)),
    )


def whiteness(returns: Any, thresholds: RedTeamThresholds = DEFAULT_THRESHOLDS) -> WhitenessResult:
    """WNT-C on daily net returns: Ljung-Box ``Q(h)``, ``h = min(ljung_box_max_lag, n // 5)``.

    White P&L (``p >= ljung_box_alpha``) passes. Autocorrelated P&L is flagged and gated on Lo's
    adjusted Sharpe: PSR(SR*) of ``eta(q)/sqrt(q) * SR`` (``q = lo_periods``, autocorrelations
    up to lag ``min(lo_max_lag, q - 1, n - 1)``) must reach ``psr_min``. Feeds INSUFFICIENT_EVIDENCE.
    """
    s = sharpe_summary(returns, thresholds)
    r = as_series(returns)
    n = r.shape[0]
    h = min(thresholds.ljung_box_max_lag, n // 5)
    reason = s.reason if s.reason is not None else (None if h >= 1 else f"too few observations for Ljung-Box: {n}")
    q_lo = thresholds.lo_periods
    if reason is not None:
        return WhitenessResult(
            name="wnt_c",
            statistic=_NAN,
            threshold=thresholds.ljung_box_alpha,
            p_value=None,
            passed=False,
            feeds=_EVIDENCE,
            reason=reason,
            lo_periods=q_lo,
        )
    lo_lags = min(thresholds.lo_max_lag, q_lo - 1, n - 1)
    rho = autocorrelations(r, max(h, lo_lags))
    q_stat = ljung_box(rho, n, h)
    p = chi2_sf(q_stat, h)
    flagged = p < thresholds.ljung_box_alpha
    eta = lo_eta(rho[: lo_lags + 1], q_lo)
    adj = eta / math.sqrt(q_lo) * s.sharpe if math.isfinite(eta) else _NAN
    psr_adj = probabilistic_sharpe(adj, n, s.g3, s.g4, thresholds.sr_star) if math.isfinite(adj) else _NAN
    passed = (not flagged) or (math.isfinite(psr_adj) and psr_adj >= thresholds.psr_min)
    return WhitenessResult(
        name="wnt_c",
        statistic=q_stat,
        threshold=thresholds.ljung_box_alpha,
        p_value=p,
        passed=passed,
        feeds=_EVIDENCE,
        lags=h,
        flagged=flagged,
        eta=eta,
        lo_periods=q_lo,
        sharpe=s.sharpe,
        sharpe_adjusted=adj,
        psr_adjusted=psr_adj,
    )
