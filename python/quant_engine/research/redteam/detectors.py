"""The failure taxonomy's detectors (VALIDATION.md §6): which tests confirm each failure type, the
default trip (the tests' gates read :class:`RedTeamThresholds`, the one place for every default),
and the evidence a raised type carries.

A detector trips when any *computed*, gated test feeding its type failed. A test that could not be
computed raises no type (it is listed in ``Verdict.not_computable`` and fails the verdict on its
own). EXECUTION_DIVERGENCE is decided in paper trading, never here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from quant_engine.research.redteam.results import FailureType
from quant_engine.research.redteam.verdict import TestOutcome

__all__ = ["Detector", "DETECTORS", "NOT_APPLICABLE", "detect"]


@dataclass(frozen=True)
class Detector:
    """A failure type's detector: the tests feeding it and its default trip (documentation)."""

    failure_type: FailureType
    tests: tuple[str, ...]
    trip: str


DETECTORS: tuple[Detector, ...] = (
    Detector(FailureType.OVERFITTING, ("dsr", "pbo", "spa", "reality_check", "cpcv"),
             "DSR < dsr_min (0.95) or PBO > pbo_max (0.2) or SPA / Reality Check p > spa_p_max (0.05) "
             "or median CPCV path Sharpe <= cpcv_min_sharpe (0)"),
    Detector(FailureType.LOOKAHEAD_BIAS, ("prefix_invariance", "wnt_a", "lag_collapse"),
             "any prefix mismatch; a WNT-A edge on noise (> 2 SE); collapse with one extra bar of lag"),
    Detector(FailureType.NOISE_FITTING, ("wnt_b",), "WNT-B p > wnt_b_p_max (0.01)"),
    Detector(FailureType.REGIME_DEPENDENCE, ("vol_terciles", "best_year", "trend_regimes"),
             "Sharpe <= regime_min_sharpe (0) in a volatility tercile or > best_year_max_share (50%) of the "
             "P&L from one year (trend/range regime Sharpe: reported)"),
    Detector(FailureType.COST_SENSITIVITY, ("costs_x2", "breakeven_cost"),
             "breakeven cost < cost_multiplier (2) x the assumed cost or net Sharpe at 2x costs <= 0"),
    Detector(FailureType.CAPACITY_LIQUIDITY, ("capacity",), "a fill > max_participation (5%) of average bar volume"),
    Detector(FailureType.PARAMETER_INSTABILITY, ("perturbation",),
             "neighbourhood median < 50% of the peak under +-20% perturbation"),
    Detector(FailureType.INSUFFICIENT_EVIDENCE, ("trades", "min_trl", "psr", "wnt_c"),
             "< min_trades (30) trades or T < MinTRL or PSR(0) < psr_min (0.95) or autocorrelated P&L whose "
             "Lo-adjusted PSR < psr_min"),
    Detector(FailureType.REDUNDANCY_DECAY, ("correlation",), "correlation with a graduate > max_correlation (0.7)"),
    Detector(FailureType.EXCESSIVE_DRAWDOWN, ("max_drawdown", "drawdown_duration"),
             "max drawdown > max_drawdown (25%) or under water > max_drawdown_share (50%) of the sample"),
)  # fmt: skip
"""One detector per failure type, in taxonomy order (EXECUTION_DIVERGENCE excepted)."""

NOT_APPLICABLE: dict[FailureType, str] = {
    FailureType.EXECUTION_DIVERGENCE: "decided in paper trading (paper-vs-backtest tracking), not by the battery",
}
"""Failure types a verdict cannot decide, with why."""


def _evidence(t: TestOutcome) -> dict[str, float | None]:
    out: dict[str, float | None] = {
        f"{t.name}.statistic": t.statistic,
        f"{t.name}.threshold": t.threshold,
        f"{t.name}.passed": 1.0 if t.passed else 0.0,
    }
    if t.p_value is not None:
        out[f"{t.name}.p_value"] = t.p_value
    out.update({f"{t.name}.{k}": v for k, v in t.details.items()})
    return out


def detect(tests: Iterable[TestOutcome]) -> tuple[tuple[FailureType, ...], dict[FailureType, dict[str, float | None]]]:
    """The failure types raised by ``tests`` (taxonomy order) and, per raised type, the evidence of
    every computed test feeding it (``"<test>.<value>"`` -> number)."""
    tests = list(tests)
    raised: list[FailureType] = []
    evidence: dict[FailureType, dict[str, float | None]] = {}
    for d in DETECTORS:
        feeding = [t for t in tests if d.failure_type in t.feeds and t.computable]
        if any(t.gated and not t.passed for t in feeding):
            raised.append(d.failure_type)
            ev: dict[str, float | None] = {}
            for t in feeding:
                ev.update(_evidence(t))
            evidence[d.failure_type] = ev
    return tuple(raised), evidence
