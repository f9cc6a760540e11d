"""Lag collapse (VALIDATION.md §6, LOOKAHEAD_BIAS): the strategy with its signals delayed by one
extra bar. An edge that vanishes with one bar of delay is evidence of look-ahead."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.config import BacktestConfig
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.nulls._common import DEFAULT, data_reason, sharpe_psr
from quant_engine.research.redteam.nulls._engine import SHARPE, TRADES, prepare, real_markets, run_markets
from quant_engine.research.redteam.nulls.results import LagCollapseResult
from quant_engine.research.redteam.results import FailureType

__all__ = ["lag_collapse"]

_LOOKAHEAD = (FailureType.LOOKAHEAD_BIAS,)


def lag_collapse(
    strategy: Any,
    bars: Any,
    *,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    lag: int = 1,
    thresholds: RedTeamThresholds | None = None,
) -> LagCollapseResult:
    """The Sharpe collapse ratio ``SR_lagged / SR`` with every signal (entries, exits, stop and
    take-profit distances) delayed by ``lag`` extra bars within each symbol; passes when the ratio
    is at least ``lag_collapse_min_ratio``. Not computable (``passed=False`` with a reason): too
    few bars, constant prices, no trades, or no significant edge (PSR(0) below ``psr_min``: the
    collapse of an edge indistinguishable from noise means nothing). Evidence for LOOKAHEAD_BIAS."""
    th = thresholds or DEFAULT
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 1:
        raise InvalidArgumentError(f"lag must be a positive integer, got {lag!r}")
    prep = prepare(strategy, bars, config)
    gate = th.lag_collapse_min_ratio

    def failed(reason: str, sharpe: float = math.nan, lagged: float = math.nan) -> LagCollapseResult:
        return LagCollapseResult(name="lag_collapse", statistic=math.nan, threshold=gate, p_value=None, passed=False,
                                 feeds=_LOOKAHEAD, reason=reason, sharpe=sharpe, lagged_sharpe=lagged, lag=lag)  # fmt: skip

    reason = data_reason(prep, th)
    if reason is not None:
        return failed(reason)
    real = real_markets(prep.data)
    m0, rets = run_markets(prep, real, returns=True)
    m1, _ = run_markets(prep, real, lag=lag)
    sr, sr_lag = float(m0[0, 0, SHARPE]), float(m1[0, 0, SHARPE])
    if m0[0, 0, TRADES] == 0:
        return failed("no trades: the strategy never trades on the data")
    assert rets is not None
    psr0 = float(sharpe_psr(rets[:, 0, :], prep.ppy)[1][0])
    if not sr > 0.0 or not psr0 >= th.psr_min:
        return failed(f"no significant edge to collapse: Sharpe {sr:.4g}, PSR(0) {psr0:.3g} < {th.psr_min}", sr, sr_lag)
    lagged = sr_lag if math.isfinite(sr_lag) else 0.0  # no trade with the delay: no edge left
    ratio = lagged / sr
    return LagCollapseResult(name="lag_collapse", statistic=ratio, threshold=gate, p_value=None,
                             passed=ratio >= gate, feeds=_LOOKAHEAD, sharpe=sr, lagged_sharpe=lagged, lag=lag)  # fmt: skip
