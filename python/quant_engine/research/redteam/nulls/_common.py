"""Shared pieces of the null tests: input checks that give a *reason*, per-symbol return
moments, the gross (cost-free) configuration and per-market Sharpe / PSR of return matrices."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import numpy.typing as npt

from quant_engine.execution import ExecutionConfig
from quant_engine.kernels.null_markets import bar_components
from quant_engine.kernels.sharpe_stats import probabilistic_sharpe
from quant_engine.research.config import BacktestConfig
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.nulls._engine import Prepared
from quant_engine.strategy.bar_arrays import BarArrays

__all__ = ["data_reason", "components", "base_prices", "gross", "sharpe_psr", "DEFAULT"]

DEFAULT = RedTeamThresholds()


def data_reason(prep: Prepared, thresholds: RedTeamThresholds) -> str | None:
    """Why no null test can be computed on ``prep``'s bars (too few bars per symbol, constant
    prices), or None."""
    lengths = np.diff(prep.data.offsets)
    need = max(thresholds.min_observations, 3)
    if lengths.size == 0 or int(lengths.min()) < need:
        return f"too few bars: {int(lengths.min()) if lengths.size else 0} per symbol < {need}"
    for s, sym in enumerate(prep.data.symbols):
        seg = slice(int(prep.data.offsets[s]), int(prep.data.offsets[s + 1]))
        if not float(np.ptp(prep.data.close[seg])) > 0.0:
            return f"constant prices: symbol '{sym}' closes at one price on every bar"
    return None


_F = npt.NDArray[np.float64]


def components(data: BarArrays) -> tuple[_F, _F, _F, _F, _F]:
    """The bars' components ``(gap, body, up, down, vw)`` (:func:`bar_components`)."""
    return bar_components(data.open, data.high, data.low, data.close, data.vwap, data.offsets)


def base_prices(data: BarArrays) -> npt.NDArray[np.float64]:
    """Each symbol's first open: where rebuilt markets start."""
    return np.ascontiguousarray(data.open[data.offsets[:-1]], dtype=np.float64)


def gross(config: BacktestConfig) -> BacktestConfig:
    """``config`` without fees and slippage (gross returns)."""
    return dataclasses.replace(config, execution=ExecutionConfig())


def sharpe_psr(returns: npt.NDArray[np.float64], ppy: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Annualized Sharpe and PSR(0) of every row of ``returns`` (``M x T``); NaN where a row is
    constant. Moments as :func:`~quant_engine.kernels.sharpe_stats.column_moments` defines them
    (sd with ddof 1, population ``g3``, ``g4``), computed along the rows."""
    t = returns.shape[1]
    mean_v = returns.mean(axis=1)
    dev = returns - mean_v[:, None]  # rows are contiguous: NumPy's row reductions stream them
    m2 = np.einsum("ij,ij->i", dev, dev) / t
    d2 = dev * dev
    m3 = np.einsum("ij,ij->i", d2, dev) / t
    m4 = np.einsum("ij,ij->i", d2, d2) / t
    sd_v = np.sqrt(m2 * t / max(t - 1, 1))
    sr = np.full(returns.shape[0], np.nan)
    ps = np.full(returns.shape[0], np.nan)
    for j in range(returns.shape[0]):  # one closed form per market
        mean, sd = float(mean_v[j]), float(sd_v[j])
        g3 = float(m3[j] / m2[j] ** 1.5) if m2[j] > 0 else math.nan
        g4 = float(m4[j] / m2[j] ** 2) if m2[j] > 0 else math.nan
        if sd > 0.0 and math.isfinite(sd):
            sr[j] = mean / sd * math.sqrt(ppy)
            ps[j] = probabilistic_sharpe(mean / sd, t, g3, g4, 0.0)
    return sr, ps
