"""Typed results of the Red Team's statistics and the failure taxonomy they feed (VALIDATION.md §6).

Every test returns a frozen :class:`msgspec.Struct` deriving from :class:`StatResult`: the
statistic, the threshold it is gated on, a p-value where there is one, ``passed`` and the
failure types a failing result feeds. A test that cannot be computed (too few observations, zero
variance, non-finite input) has ``passed = False``, ``statistic = nan`` and a ``reason``: it never
silently passes.
"""

from __future__ import annotations

import enum
import math

import msgspec

__all__ = [
    "FailureType",
    "StatResult",
    "SharpeSummary",
    "PSRResult",
    "DSRResult",
    "MinTRLResult",
    "EffectiveTrialsResult",
    "PBOResult",
    "SPAResult",
    "RealityCheckResult",
    "NullTestResult",
    "WhitenessResult",
]


class FailureType(str, enum.Enum):
    """The 11 failure types of VALIDATION.md §6 (value = the type's name)."""

    OVERFITTING = "OVERFITTING"
    LOOKAHEAD_BIAS = "LOOKAHEAD_BIAS"
    NOISE_FITTING = "NOISE_FITTING"
    REGIME_DEPENDENCE = "REGIME_DEPENDENCE"
    COST_SENSITIVITY = "COST_SENSITIVITY"
    CAPACITY_LIQUIDITY = "CAPACITY_LIQUIDITY"
    PARAMETER_INSTABILITY = "PARAMETER_INSTABILITY"
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"
    REDUNDANCY_DECAY = "REDUNDANCY_DECAY"
    EXCESSIVE_DRAWDOWN = "EXCESSIVE_DRAWDOWN"
    EXECUTION_DIVERGENCE = "EXECUTION_DIVERGENCE"


class StatResult(msgspec.Struct, frozen=True, kw_only=True):
    """One test's outcome.

    Attributes:
        name: the test (``"psr"``, ``"dsr"``, ``"pbo"``, ...).
        statistic: the gated value (NaN when not computable).
        threshold: the gate it was compared with (``None`` for descriptive results).
        p_value: the test's p-value where it has one.
        passed: ``True`` only when computed and inside the gate.
        feeds: the failure types a failure of this test is evidence for.
        reason: why the test could not be computed (``None`` when it was).
    """

    name: str
    statistic: float
    threshold: float | None
    p_value: float | None
    passed: bool
    feeds: tuple[FailureType, ...]
    reason: str | None = None

    @property
    def computable(self) -> bool:
        """Whether the statistic was computed (no ``reason``)."""
        return self.reason is None


class SharpeSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Moments of a return series: per-period Sharpe ``mean / sd`` (``ddof = 1``), skewness ``g3``
    and non-excess kurtosis ``g4`` (population moments), ``n`` periods. NaN fields + ``reason``
    when not computable."""

    n: int
    mean: float
    sd: float
    sharpe: float
    g3: float
    g4: float
    reason: str | None = None


class PSRResult(StatResult, frozen=True, kw_only=True):
    """PSR(SR*): ``statistic`` = PSR, ``p_value = 1 - PSR``. Feeds INSUFFICIENT_EVIDENCE."""

    sharpe: float = math.nan
    sr_star: float = 0.0
    n_obs: int = 0
    g3: float = math.nan
    g4: float = math.nan


class DSRResult(PSRResult, frozen=True, kw_only=True):
    """DSR = PSR(SR0) with ``SR0`` the expected maximum Sharpe of ``n_trials`` skill-less trials
    whose Sharpe ratios have standard deviation ``sr_std``. Feeds OVERFITTING."""

    n_trials: float = math.nan
    sr_std: float = math.nan
    sr0: float = math.nan


class MinTRLResult(StatResult, frozen=True, kw_only=True):
    """Minimum track record length: ``statistic`` = MinTRL (periods), ``threshold`` = the sample
    length ``T`` (passes when ``T >= MinTRL``). Feeds INSUFFICIENT_EVIDENCE."""

    n_obs: int = 0
    alpha: float = 0.05


class EffectiveTrialsResult(msgspec.Struct, frozen=True, kw_only=True):
    """Effective number of independent trials (participation ratio of the trials' correlations).

    ``n_trials`` columns given, ``n_degenerate`` of them constant (excluded from the correlation
    estimate, counted as one extra trial if any), ``effective`` the estimate. ``reason`` when not
    computable (``effective`` then falls back to ``n_trials``, the conservative count)."""

    n_trials: int
    effective: float
    n_degenerate: int = 0
    reason: str | None = None


class PBOResult(StatResult, frozen=True, kw_only=True):
    """PBO by CSCV: ``statistic`` = PBO. Also the OLS slope/intercept of the OOS Sharpe of ``n*``
    on its IS Sharpe across splits, ``prob_oos_loss`` = P(OOS Sharpe of ``n*`` < 0), the median
    logit. Feeds OVERFITTING."""

    n_splits: int = 0
    n_blocks: int = 0
    slope: float = math.nan
    intercept: float = math.nan
    prob_oos_loss: float = math.nan
    median_logit: float = math.nan


class SPAResult(StatResult, frozen=True, kw_only=True):
    """Hansen's SPA: ``statistic`` = the (studentized) test statistic, ``p_value`` = the gated
    kind's p-value; all three kinds are given. Feeds OVERFITTING."""

    p_lower: float = math.nan
    p_consistent: float = math.nan
    p_upper: float = math.nan
    reps: int = 0
    mean_block: float = math.nan
    studentized: bool = True
    best_column: int = -1


class RealityCheckResult(StatResult, frozen=True, kw_only=True):
    """White's Reality Check: ``statistic`` = ``V = max_k sqrt(n) mean(f_k)``. Feeds OVERFITTING."""

    reps: int = 0
    mean_block: float = math.nan
    best_column: int = -1


class NullTestResult(StatResult, frozen=True, kw_only=True):
    """A test against a null distribution (WNT-B): ``p = (1 + #{null >= real}) / (1 + B)``.
    ``statistic`` = the real statistic. Feeds NOISE_FITTING."""

    n_null: int = 0
    n_exceed: int = 0


class WhitenessResult(StatResult, frozen=True, kw_only=True):
    """WNT-C: ``statistic`` = Ljung-Box ``Q(h)``, ``p_value`` its chi-square p-value.

    When the P&L is autocorrelated (``flagged``: ``p < alpha``), the gate moves to Lo's adjusted
    Sharpe: ``sharpe_adjusted = eta(q) / sqrt(q) * SR`` (per-period units, equal to ``SR`` for
    white returns) must have PSR(SR*) >= ``psr_min`` (``psr_adjusted``). Feeds
    INSUFFICIENT_EVIDENCE (§6 has no type of its own for WNT-C)."""

    lags: int = 0
    flagged: bool = False
    eta: float = math.nan
    lo_periods: int = 0
    sharpe: float = math.nan
    sharpe_adjusted: float = math.nan
    psr_adjusted: float = math.nan
