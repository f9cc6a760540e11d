"""The Red Team's statistical battery (VALIDATION.md): typed results over NumPy return series and
``T x N`` return matrices, computed by the Numba kernels in :mod:`quant_engine.kernels`.

* :mod:`.statistics`: moments, PSR, DSR (with the effective number of trials), MinTRL, PBO by
  CSCV, WNT-C (Ljung-Box, Lo's adjusted Sharpe);
* :mod:`.snooping`: Hansen's SPA, White's Reality Check, the WNT-B null machinery, bootstrap
  intervals;
* :mod:`.cpcv`: combinatorial purged cross-validation with embargo;
* :mod:`.nulls`: the tests that re-run a strategy on altered data: WNT-A (null markets),
  WNT-B (permuted / block-bootstrapped bars), +-20% perturbation, lag collapse (imported on
  demand: ``from quant_engine.research.redteam.nulls import white_noise_b``);
* :mod:`.config`: :class:`RedTeamThresholds`, every default threshold in one place;
* :mod:`.results`: the result types and :class:`FailureType` (the 11 types of §6);
* :mod:`.examine`: ``RedTeam(config).examine(strategy, data, store) -> Verdict``, the whole battery
  (:mod:`.battery_stats`, :mod:`.battery_market`, :mod:`.battery_nulls`) with the failure types'
  detectors (:mod:`.detectors`) and the :class:`Verdict` (:mod:`.verdict`).
"""

from __future__ import annotations

from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.cpcv import CPCVPlan, CPCVSplit, cpcv_splits
from quant_engine.research.redteam.detectors import DETECTORS, Detector
from quant_engine.research.redteam.examine import BATTERY, RedTeam, RedTeamConfig
from quant_engine.research.redteam.results import (
    DSRResult,
    EffectiveTrialsResult,
    FailureType,
    MinTRLResult,
    NullTestResult,
    PBOResult,
    PSRResult,
    RealityCheckResult,
    SharpeSummary,
    SPAResult,
    StatResult,
    WhitenessResult,
)
from quant_engine.research.redteam.snooping import (
    bootstrap_mean_interval,
    fixed_position_null_test,
    null_index_sets,
    null_test,
    reality_check,
    spa,
)
from quant_engine.research.redteam.statistics import (
    DEFAULT_THRESHOLDS,
    dsr,
    dsr_from_trials,
    effective_trials,
    min_trl,
    pbo,
    psr,
    sharpe_summary,
    whiteness,
)
from quant_engine.research.redteam.verdict import TestOutcome, Verdict

__all__ = [
    "RedTeam",
    "RedTeamConfig",
    "Verdict",
    "TestOutcome",
    "BATTERY",
    "DETECTORS",
    "Detector",
    "RedTeamThresholds",
    "DEFAULT_THRESHOLDS",
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
    "CPCVPlan",
    "CPCVSplit",
    "sharpe_summary",
    "psr",
    "dsr",
    "dsr_from_trials",
    "min_trl",
    "effective_trials",
    "pbo",
    "whiteness",
    "spa",
    "reality_check",
    "null_index_sets",
    "null_test",
    "fixed_position_null_test",
    "bootstrap_mean_interval",
    "cpcv_splits",
]
