"""WNT-B (VALIDATION.md §4): the strategy re-run on its own data with the bar-to-bar returns
permuted (dates jointly across symbols) or stationary-block-bootstrapped; feeds NOISE_FITTING."""

from __future__ import annotations

import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import msgspec
import numba as nb
import numpy as np

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.null_markets import bar_factors, market_buffer, resampled_markets
from quant_engine.research.config import BacktestConfig
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.nulls._common import DEFAULT, base_prices, components, data_reason
from quant_engine.research.redteam.nulls._engine import (
    EXPOSURE,
    PERIODS,
    SHARPE,
    TRADES,
    markets_per_chunk,
    prepare,
    real_markets,
    run_markets,
)
from quant_engine.research.redteam.nulls.results import WhiteNoiseBResult
from quant_engine.research.redteam.results import FailureType
from quant_engine.research.redteam.snooping import null_test

__all__ = ["white_noise_b"]

_NOISE = (FailureType.NOISE_FITTING,)


def _failed(reason: str, th: RedTeamThresholds, method: str, statistic: float = math.nan) -> WhiteNoiseBResult:
    return WhiteNoiseBResult(name="wnt_b", statistic=statistic, threshold=th.wnt_b_p_max, p_value=None, passed=False,
                             feeds=_NOISE, reason=reason, method=method)  # fmt: skip


def white_noise_b(
    strategy: Any,
    bars: Any,
    *,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    reps: int = 1000,
    method: Literal["permutation", "block"] = "permutation",
    mean_block: float | None = None,
    seed: int = 0,
    thresholds: RedTeamThresholds | None = None,
) -> WhiteNoiseBResult:
    """WNT-B: ``p = (1 + #{SR_null >= SR_real}) / (1 + B)``, passing when ``p <= wnt_b_p_max``.

    ``SR`` is the annualized net Sharpe of a full run (signals and fills, as :func:`backtest`
    computes it). The ``B = reps`` null markets keep every bar's shape and reorder the bars' returns
    with one index row per replicate for every symbol (``method="permutation"``: a uniform
    permutation; ``"block"``: a stationary bootstrap of mean block ``mean_block``, by default the
    strategy's mean holding period ``exposure x periods / trades``), rebuilt into consistent bars
    (:mod:`quant_engine.kernels.null_markets`). A resample without trades has Sharpe 0 (no edge).
    Not computable (``passed=False`` with a ``reason``): too few bars, constant prices, no trade
    on the real data, symbols not aligned in time. Deterministic for ``seed``.
    """
    th = thresholds or DEFAULT
    if method not in ("permutation", "block"):
        raise InvalidArgumentError(f"method must be 'permutation' or 'block', got {method!r}")
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 1:
        raise InvalidArgumentError(f"reps must be a positive integer, got {reps!r}")
    if mean_block is not None and not mean_block >= 1.0:
        raise InvalidArgumentError(f"mean_block must be >= 1, got {mean_block}")
    prep = prepare(strategy, bars, config)
    reason = data_reason(prep, th) or prep.aligned()
    if reason is not None:
        return _failed(reason, th, method)
    real_m, _ = run_markets(prep, real_markets(prep.data))
    real = float(real_m[0, 0, SHARPE])
    trades = float(real_m[0, 0, TRADES])
    if trades == 0:
        return _failed("no trades: the strategy never trades on the data", th, method)
    if not math.isfinite(real):
        return _failed(f"the strategy's Sharpe is not finite ({real})", th, method)
    block = None
    if method == "block":
        held = float(real_m[0, 0, EXPOSURE]) * float(real_m[0, 0, PERIODS]) / trades
        block = float(mean_block) if mean_block is not None else max(1.0, held)
    factors = bar_factors(components(prep.data), prep.data.volume)
    base = base_prices(prep.data)
    null = np.empty(reps)
    no_trades = 0
    per_chunk = min(reps, markets_per_chunk(prep, prep.grid))
    buf = market_buffer(per_chunk, prep.n_bars)
    with ThreadPoolExecutor(max_workers=prep.config.threads or nb.get_num_threads()) as pool:
        for first in range(0, reps, per_chunk):
            k = min(per_chunk, reps - first)
            mk = resampled_markets(factors, base, prep.data.offsets, seed=seed, first=first, count=k,
                                   mean_block=block, out=buf)  # fmt: skip
            m, _ = run_markets(prep, mk, pool=pool)
            null[first : first + k] = m[:, 0, SHARPE]
            no_trades += int(np.count_nonzero(m[:, 0, TRADES] == 0))
    null = np.where(np.isfinite(null), null, 0.0)
    r = null_test(real, null, th)
    return WhiteNoiseBResult(**msgspec.structs.asdict(r), method=method,
                             mean_block=math.nan if block is None else block, n_no_trades=no_trades,
                             null=tuple(float(v) for v in null))  # fmt: skip
