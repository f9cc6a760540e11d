"""Market regimes: a causal, documented label per symbol and bar, with the features behind it.

``classify(bars)`` takes bars in the project's bar schema (``symbol, start, open, high, low,
close, volume, vwap, trades``; any number of symbols, any order, any interval) and returns one
row per bar, sorted by symbol then ``start``, with the features of
:mod:`quant_engine.kernels.regimes` and two labels:

* ``regime``: ``trend_up_calm``, ``trend_up_volatile``, ``trend_down_calm``,
  ``trend_down_volatile``, ``range_calm``, ``range_volatile``, or ``warmup`` while the history is
  too short. A bar *trends* when ``|trend_z| >= trend_threshold`` (direction = sign of
  ``trend_z``); it is *volatile* when ``vol_percentile >= volatile_percentile``.
* ``character``: ``momentum`` (``variance_ratio >= 1 + vr_band``), ``mean_reverting``
  (``<= 1 - vr_band``), ``random_walk`` in between, or ``warmup``.

Every value at bar ``t`` depends only on bars ``<= t`` of the same symbol, so labels never change
when later bars arrive (tested as prefix invariance). ``docs/regimes.md`` is the reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine.bar_segments import bars_table, positive_column, sorted_segments
from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.regimes import FEATURES, regime_features

__all__ = ["classify", "RegimeConfig", "REGIMES", "CHARACTERS"]

REGIMES: tuple[str, ...] = (
    "warmup",
    "trend_up_calm",
    "trend_up_volatile",
    "trend_down_calm",
    "trend_down_volatile",
    "range_calm",
    "range_volatile",
)
"""Regime labels (dictionary order of the ``regime`` column)."""
CHARACTERS: tuple[str, ...] = ("warmup", "momentum", "random_walk", "mean_reverting")
"""Labels of the ``character`` column."""


@dataclass(frozen=True)
class RegimeConfig:
    """Windows (in bars) and thresholds of :func:`classify`.

    Attributes:
        vol_window: returns per realized-volatility estimate.
        trend_window: bars over which trend strength and efficiency are measured.
        history: realized-volatility values the percentile is ranked against.
        min_history: fewest realized-volatility values before a percentile counts (warmup).
        vr_window: returns per variance-ratio estimate.
        vr_lag: horizon ``q`` of the variance ratio.
        trend_threshold: ``|trend_z|`` at or above which a bar trends.
        volatile_percentile: ``vol_percentile`` at or above which a bar is volatile.
        vr_band: distance of the variance ratio from 1 that makes a character.
    """

    vol_window: int = 20
    trend_window: int = 50
    history: int = 252
    min_history: int = 20
    vr_window: int = 100
    vr_lag: int = 5
    trend_threshold: float = 2.0
    volatile_percentile: float = 0.7
    vr_band: float = 0.2

    def __post_init__(self) -> None:
        for name in ("vol_window", "trend_window", "history", "min_history", "vr_window", "vr_lag"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 2:
                raise InvalidArgumentError(f"invalid {name}: {value!r} (expected an integer >= 2)")
        if self.vr_lag >= self.vr_window:
            raise InvalidArgumentError(f"invalid vr_lag: {self.vr_lag} (must be < vr_window {self.vr_window})")
        if self.min_history > self.history:
            raise InvalidArgumentError(f"invalid min_history: {self.min_history} (must be <= history {self.history})")
        if not (self.trend_threshold > 0):
            raise InvalidArgumentError(f"invalid trend_threshold: {self.trend_threshold}")
        if not (0.0 < self.volatile_percentile <= 1.0):
            raise InvalidArgumentError(f"invalid volatile_percentile: {self.volatile_percentile} (expected (0, 1])")
        if not (0.0 <= self.vr_band < 1.0):
            raise InvalidArgumentError(f"invalid vr_band: {self.vr_band} (expected [0, 1))")

    @property
    def warmup_bars(self) -> int:
        """Bars of a symbol labelled ``warmup`` before the first regime label."""
        return max(self.trend_window, self.vol_window + self.min_history - 1)


def _close_array(bars: pa.Table) -> np.ndarray:
    return positive_column(bars, "close")


def classify(bars: Any, config: RegimeConfig | None = None, **overrides: Any) -> pa.Table:
    """Labels every bar with a regime (see the module docstring).

    Args:
        bars: an Arrow table (or PyCapsule producer) in the bar schema; ``symbol``, ``start`` and
            ``close`` are required.
        config: windows and thresholds; keyword ``overrides`` replace single fields
            (``classify(bars, trend_window=100)``).

    Returns:
        ``symbol, start, close`` and the features (``log_return, realized_vol, vol_percentile,
        trend_z, efficiency, variance_ratio, hurst``; NaN while undefined), ``regime`` and
        ``character`` (dictionary columns), sorted by symbol then start.
    """
    cfg = config or RegimeConfig()
    if overrides:
        unknown = set(overrides) - set(asdict(cfg))
        if unknown:
            raise InvalidArgumentError(f"unknown RegimeConfig field(s): {sorted(unknown)}")
        cfg = RegimeConfig(**{**asdict(cfg), **overrides})
    table, seg_start, seg_end = sorted_segments(bars_table(bars, ("symbol", "start", "close")))
    close = _close_array(table)
    n = close.shape[0]
    feats = np.empty((len(FEATURES), n), dtype=np.float64)
    if n:
        regime_features(
            close, seg_start, seg_end, cfg.vol_window, cfg.trend_window, cfg.history, cfg.vr_window, cfg.vr_lag, feats
        )
    position = np.zeros(n, np.int64)
    for a, b in zip(seg_start, seg_end):
        position[a:b] = np.arange(b - a)
    f = dict(zip(FEATURES, feats))
    warm = (position < cfg.warmup_bars) | ~np.isfinite(f["trend_z"]) | ~np.isfinite(f["vol_percentile"])
    trending = np.abs(f["trend_z"]) >= cfg.trend_threshold
    up = f["trend_z"] > 0
    volatile = f["vol_percentile"] >= cfg.volatile_percentile
    code = np.where(trending, np.where(up, 1, 3), 5) + volatile.astype(np.int64)
    code = np.where(warm, 0, code).astype(np.int8)
    vr = f["variance_ratio"]
    char = np.where(vr >= 1.0 + cfg.vr_band, 1, np.where(vr <= 1.0 - cfg.vr_band, 3, 2))
    char = np.where(np.isfinite(vr), char, 0).astype(np.int8)
    columns = [table.column("symbol"), table.column("start"), pa.array(close)]
    names = ["symbol", "start", "close"]
    for k, name in enumerate(FEATURES):
        columns.append(pa.array(feats[k]))
        names.append(name)
    columns.append(pa.DictionaryArray.from_arrays(pa.array(code), pa.array(REGIMES)))
    columns.append(pa.DictionaryArray.from_arrays(pa.array(char), pa.array(CHARACTERS)))
    names += ["regime", "character"]
    return pa.Table.from_arrays(columns, names=names)
