"""Result types of the null tests (WNT-A, WNT-B, perturbation, lag collapse); each is a
:class:`~quant_engine.research.redteam.results.StatResult` (``passed = False`` with a ``reason``
when it cannot be computed)."""

from __future__ import annotations

import math

from quant_engine.research.redteam.results import NullTestResult, StatResult

__all__ = ["NullMarketsResult", "WhiteNoiseBResult", "PerturbationResult", "LagCollapseResult"]


class NullMarketsResult(StatResult, frozen=True, kw_only=True):
    """WNT-A: the strategy (fitting included) on ``markets`` synthetic markets without edge.

    ``statistic`` = the mean gross annualized Sharpe over the markets, ``threshold`` = 2 standard
    errors of that mean (``2 sd / sqrt(K)``); ``p_value`` = the one-sided normal p-value of the
    mean. Fails when the mean exceeds the threshold or when more than ``max_graduating_share`` of
    the markets clear the graduation proxy (PSR(0) of their evaluated returns >=
    ``graduation_psr``). Feeds LOOKAHEAD_BIAS.

    Attributes:
        markets: markets run (half i.i.d., half GARCH(1,1)).
        mean_sharpe, se: mean annualized gross Sharpe and its standard error.
        mean_sharpe_iid, mean_sharpe_garch: the mean of each half.
        n_graduating: markets whose evaluated returns clear the graduation proxy.
        share_graduating, max_graduating_share, graduation_psr: that share and its gates.
        fitted: whether a parameter grid was fitted per market (selection on the first
            ``fit_fraction`` of each market, evaluation on the rest).
        fit_fraction: share of each market used for the fit (family only).
        n_no_trades: markets where the strategy never traded (their Sharpe counts as 0).
        garch: per symbol ``(omega, alpha, beta)`` of the GARCH(1,1) fit.
        null: every market's Sharpe, in market order.
    """

    markets: int = 0
    mean_sharpe: float = math.nan
    se: float = math.nan
    mean_sharpe_iid: float = math.nan
    mean_sharpe_garch: float = math.nan
    n_graduating: int = 0
    share_graduating: float = math.nan
    max_graduating_share: float = 0.05
    graduation_psr: float = 0.99
    fitted: bool = False
    fit_fraction: float = math.nan
    n_no_trades: int = 0
    garch: tuple[tuple[float, float, float], ...] = ()
    null: tuple[float, ...] = ()


class WhiteNoiseBResult(NullTestResult, frozen=True, kw_only=True):
    """WNT-B: ``statistic`` = the strategy's annualized Sharpe on the real data, ``p_value`` =
    ``(1 + #{SR_null >= SR_real}) / (1 + B)`` over ``n_null`` re-runs on resampled bars.

    Attributes:
        method: ``"permutation"`` or ``"block"`` (stationary bootstrap).
        mean_block: the block bootstrap's mean block (bars), NaN for permutations.
        n_no_trades: resamples where the strategy never traded (their Sharpe counts as 0).
        null: every resample's Sharpe, in replicate order.
    """

    method: str = "permutation"
    mean_block: float = math.nan
    n_no_trades: int = 0
    null: tuple[float, ...] = ()


class PerturbationResult(StatResult, frozen=True, kw_only=True):
    """+-``scale`` perturbation of every constant and window: ``statistic`` = the neighbourhood's
    median Sharpe / the strategy's own Sharpe (the peak), ``threshold`` = 0.5 by default.
    Feeds PARAMETER_INSTABILITY.

    Attributes:
        peak_sharpe: the strategy's own annualized Sharpe (the centre).
        median_sharpe: median Sharpe of the perturbed variants.
        best_sharpe: the best variant's Sharpe.
        sites: JSON paths of the perturbed constants, windows and parameters.
        points: perturbed variants run.
        values: ``points x len(sites)`` the values of every variant (row order of ``sharpes``).
        sharpes: every variant's Sharpe.
        skipped: sites left alone, with why (a zero constant cannot move by a ratio).
    """

    peak_sharpe: float = math.nan
    median_sharpe: float = math.nan
    best_sharpe: float = math.nan
    sites: tuple[str, ...] = ()
    points: int = 0
    values: tuple[tuple[float, ...], ...] = ()
    sharpes: tuple[float, ...] = ()
    skipped: tuple[str, ...] = ()


class LagCollapseResult(StatResult, frozen=True, kw_only=True):
    """The strategy re-run with its signals delayed by ``lag`` extra bar(s): ``statistic`` = the
    collapse ratio ``SR_lagged / SR``; it fails below ``threshold`` (a Sharpe that vanishes with
    one bar of delay is evidence of look-ahead). Evidence for LOOKAHEAD_BIAS.

    Attributes:
        sharpe: the annualized Sharpe as is.
        lagged_sharpe: with the extra lag.
        lag: extra bars of delay.
    """

    sharpe: float = math.nan
    lagged_sharpe: float = math.nan
    lag: int = 1
