"""The Red Team's default thresholds and test settings, defined in one place (VALIDATION.md §1-§6).

Every threshold marked *default* in VALIDATION.md lives here; the statistics in
:mod:`quant_engine.research.redteam.statistics` read them from a :class:`RedTeamThresholds`
instance and never hard-code them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["RedTeamThresholds"]


class RedTeamThresholds(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Gates and settings of the statistical battery (defaults from VALIDATION.md).

    Attributes:
        psr_min: PSR(0) a candidate needs (INSUFFICIENT_EVIDENCE); ``1 - mintrl_alpha`` by default.
        dsr_min: DSR gate, §1 (OVERFITTING).
        mintrl_alpha: confidence level ``alpha`` of MinTRL, §1 (INSUFFICIENT_EVIDENCE).
        sr_star: benchmark Sharpe ``SR*`` of PSR and MinTRL (per period).
        min_observations: fewest periods any statistic is computed on (fewer: not computable).
        pbo_max: PBO gate, §2 (OVERFITTING).
        cscv_blocks: CSCV's ``S`` (even), §2.
        spa_p_max: SPA / Reality Check gate, §3 (OVERFITTING).
        spa_pvalue: which SPA p-value gates: ``"consistent"`` (Hansen's recommendation),
            ``"lower"`` or ``"upper"``.
        bootstrap_reps: stationary-bootstrap replications of SPA and the Reality Check.
        bootstrap_mean_block: mean block length of the stationary bootstrap; ``None`` uses
            ``int(sqrt(T))`` (the ``arch`` package's default).
        wnt_b_p_max: WNT-B permutation p-value gate, §4 (NOISE_FITTING).
        wnt_b_reps: WNT-B's ``B``.
        ljung_box_alpha: WNT-C flags autocorrelated P&L when the Ljung-Box p-value is below it.
        ljung_box_max_lag: ``h = min(ljung_box_max_lag, n // 5)``.
        lo_periods: Lo's ``q`` (periods aggregated, e.g. 252 for daily to annual).
        lo_max_lag: autocorrelations Lo's ``eta(q)`` uses (``rho_k`` for ``k <= lo_max_lag``,
            higher lags count as 0): sample autocorrelations of a demeaned series sum to exactly
            -1/2 over all lags, so summing ``q - 1 = 251`` noisy lags biases ``eta`` upwards.
        cpcv_groups: combinatorial purged CV's ``N``, §5.
        cpcv_test_groups: combinatorial purged CV's ``k``, §5.
        embargo_fraction: embargo ``h`` as a fraction of ``T``, §5 (about 1%).
        max_correlation: correlation with a graduated strategy above which REDUNDANCY_DECAY trips.
        min_trades: fewest trades (INSUFFICIENT_EVIDENCE).
        cpcv_min_sharpe: the median out-of-sample per-period Sharpe of the CPCV paths must exceed
            it, §5 (OVERFITTING).
        prefix_cutoffs: random cut-offs of the prefix-invariance check, §4 (LOOKAHEAD_BIAS).
        regime_min_sharpe: per-period Sharpe every volatility tercile must exceed, §6 #4
            (REGIME_DEPENDENCE).
        regime_vol_window: bars of the trailing realized volatility the terciles are cut on.
        best_year_max_share: largest share of the total P&L one calendar year may contribute, §6 #4
            (REGIME_DEPENDENCE).
        cost_multiplier: the cost stress, §6 #5: net Sharpe at ``cost_multiplier`` x the assumed
            costs must exceed ``costs_min_sharpe``, and the breakeven cost must reach
            ``cost_multiplier`` x the assumed cost per unit of turnover (COST_SENSITIVITY).
        costs_min_sharpe: per-period net Sharpe required at ``cost_multiplier`` x costs.
        max_participation: largest position / average bar volume, §6 #6 (CAPACITY_LIQUIDITY).
        impact_coefficient: ``Y`` of the square-root impact ``Y * sigma * sqrt(q / V)`` (reported).
        max_drawdown: deepest peak-to-trough equity loss allowed (fraction), §6 #10
            (EXCESSIVE_DRAWDOWN); the mission's limit when it has one.
        max_drawdown_share: longest drawdown allowed, as a share of the sample's periods, §6 #10.
        wnt_a_se: WNT-A fails when the mean gross Sharpe exceeds this many standard errors.
        wnt_a_max_graduating: WNT-A fails when more than this share of the markets graduate.
        wnt_a_graduation_psr: the graduation proxy of a null market: PSR(0) of its evaluated
            returns at least this (0.99: WNT-B's 1% level; about 1% of edgeless markets clear it).
        wnt_a_fit_fraction: share of each null market a family's grid is fitted on (the rest is
            evaluated).
        perturbation_min_ratio: the neighbourhood median Sharpe must be at least this share of
            the peak (PARAMETER_INSTABILITY).
        lag_collapse_min_ratio: the Sharpe with one extra bar of lag must keep at least this
            share of the Sharpe (evidence of LOOKAHEAD_BIAS).
    """

    psr_min: float = 0.95
    dsr_min: float = 0.95
    mintrl_alpha: float = 0.05
    sr_star: float = 0.0
    min_observations: int = 30
    pbo_max: float = 0.2
    cscv_blocks: int = 16
    spa_p_max: float = 0.05
    spa_pvalue: Literal["lower", "consistent", "upper"] = "consistent"
    bootstrap_reps: int = 1000
    bootstrap_mean_block: float | None = None
    wnt_b_p_max: float = 0.01
    wnt_b_reps: int = 1000
    ljung_box_alpha: float = 0.05
    ljung_box_max_lag: int = 10
    lo_periods: int = 252
    lo_max_lag: int = 10
    cpcv_groups: int = 6
    cpcv_test_groups: int = 2
    embargo_fraction: float = 0.01
    max_correlation: float = 0.7
    min_trades: int = 30
    cpcv_min_sharpe: float = 0.0
    prefix_cutoffs: int = 5
    regime_min_sharpe: float = 0.0
    regime_vol_window: int = 20
    best_year_max_share: float = 0.5
    cost_multiplier: float = 2.0
    costs_min_sharpe: float = 0.0
    max_participation: float = 0.05
    impact_coefficient: float = 1.0
    max_drawdown: float = 0.25
    max_drawdown_share: float = 0.5
    wnt_a_se: float = 2.0
    wnt_a_max_graduating: float = 0.05
    wnt_a_graduation_psr: float = 0.99
    wnt_a_fit_fraction: float = 0.5
    perturbation_min_ratio: float = 0.5
    lag_collapse_min_ratio: float = 0.5

    def __post_init__(self) -> None:
        """Rejects impossible settings with :class:`~quant_engine.errors.InvalidArgumentError`."""
        from quant_engine.errors import InvalidArgumentError

        for name in (
            "psr_min",
            "dsr_min",
            "mintrl_alpha",
            "pbo_max",
            "spa_p_max",
            "wnt_b_p_max",
            "ljung_box_alpha",
            "best_year_max_share",
            "max_participation",
            "max_drawdown",
            "max_drawdown_share",
        ):
            v = getattr(self, name)
            if not 0.0 < v < 1.0:
                raise InvalidArgumentError(f"{name} must be in (0, 1), got {v}")
        if self.cscv_blocks < 2 or self.cscv_blocks % 2 or self.cscv_blocks > 24:
            raise InvalidArgumentError(f"cscv_blocks must be even and in [2, 24], got {self.cscv_blocks}")
        if self.spa_pvalue not in ("lower", "consistent", "upper"):
            raise InvalidArgumentError(f"spa_pvalue must be lower, consistent or upper, got {self.spa_pvalue!r}")
        if self.bootstrap_mean_block is not None and not self.bootstrap_mean_block >= 1.0:
            raise InvalidArgumentError(f"bootstrap_mean_block must be >= 1, got {self.bootstrap_mean_block}")
        for name in (
            "bootstrap_reps",
            "wnt_b_reps",
            "ljung_box_max_lag",
            "min_observations",
            "lo_periods",
            "lo_max_lag",
            "prefix_cutoffs",
            "regime_vol_window",
        ):
            if getattr(self, name) < 1:
                raise InvalidArgumentError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("wnt_a_max_graduating", "wnt_a_graduation_psr", "wnt_a_fit_fraction"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise InvalidArgumentError(f"{name} must be in (0, 1), got {getattr(self, name)}")
        if not self.wnt_a_se > 0.0:
            raise InvalidArgumentError(f"wnt_a_se must be > 0, got {self.wnt_a_se}")
        if not 0.0 < self.perturbation_min_ratio <= 1.0 or not self.lag_collapse_min_ratio <= 1.0:
            raise InvalidArgumentError("perturbation_min_ratio must be in (0, 1], lag_collapse_min_ratio <= 1")
        if not 1 <= self.cpcv_test_groups < self.cpcv_groups:
            raise InvalidArgumentError("cpcv_test_groups must be in [1, cpcv_groups)")
        if not self.cost_multiplier >= 1.0:
            raise InvalidArgumentError(f"cost_multiplier must be >= 1, got {self.cost_multiplier}")
        if not self.impact_coefficient >= 0.0:
            raise InvalidArgumentError(f"impact_coefficient must be >= 0, got {self.impact_coefficient}")
        if not 0.0 <= self.embargo_fraction < 0.5:
            raise InvalidArgumentError(f"embargo_fraction must be in [0, 0.5), got {self.embargo_fraction}")
