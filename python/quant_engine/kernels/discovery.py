"""Numba kernel: market-scan features of selected bars against each symbol's own history.

For a selected bar ``t`` of a symbol (bars sorted by symbol then time) every feature uses bar
``t`` and the ``lookback`` bars before it (``high_low_window`` for highs and lows), never later
bars. Rows are independent and run in parallel.

Features (``FEATURES[k]`` is output row ``k``):

* ``change_pct``: ``close_t / close_{t-1} - 1``; ``gap_pct``: ``open_t / close_{t-1} - 1``;
* ``move_z``, ``gap_z``: ``ln(close_t/close_{t-1})`` and ``ln(open_t/close_{t-1})`` over ``sd``, the
  standard deviation of the ``lookback`` close-to-close log returns before ``t``;
* ``rel_volume``: ``volume_t`` over the mean volume of the ``lookback`` bars before ``t``;
  ``volume_z``: ``ln(volume_t)`` against the mean and standard deviation of ``ln(volume)`` over
  those bars (volumes floored at 1);
* ``range_expansion``: true range of ``t`` over the mean true range of the ``lookback`` bars
  before it; ``vol_expansion``: standard deviation of the last 5 returns (up to ``t``) over ``sd``;
* ``new_high`` / ``new_low`` (1.0 or 0.0): ``high_t`` above every high (``low_t`` below every low)
  of the ``high_low_window`` bars before ``t`` (or as many as exist, at least ``lookback``);
* ``high_low_position``: ``(close_t - lowest low) / (highest high - lowest low)`` over that window
  including ``t``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = ["discovery_features", "FEATURES"]

FEATURES: tuple[str, ...] = (
    "change_pct",
    "gap_pct",
    "move_z",
    "gap_z",
    "rel_volume",
    "volume_z",
    "range_expansion",
    "vol_expansion",
    "new_high",
    "new_low",
    "high_low_position",
)
_SHORT = 5


@nb.njit(cache=True, nogil=True)
def _mean_sd(x, lo, hi):  # type: ignore[no-untyped-def]
    n = hi - lo
    m = 0.0
    for i in range(lo, hi):
        m += x[i]
    m /= n
    ss = 0.0
    for i in range(lo, hi):
        ss += (x[i] - m) ** 2
    return m, np.sqrt(ss / (n - 1))


@nb.njit(cache=True, nogil=True, parallel=True)
def discovery_features(open_, high, low, close, volume, rows, seg_start, lookback, high_low_window, out):  # type: ignore[no-untyped-def]
    """Fills ``out[k, j]`` for bar ``rows[j]`` whose symbol starts at row ``seg_start[j]``; the
    caller guarantees ``rows[j] - seg_start[j] >= lookback + 1``."""
    for j in nb.prange(rows.shape[0]):
        t = rows[j]
        s0 = seg_start[j]
        a = t - lookback  # history bars a..t-1 (returns need a-1)
        prev = close[t - 1]
        ret = np.empty(lookback)
        lv = np.empty(lookback)
        tr = np.empty(lookback)
        vsum = 0.0
        for i in range(lookback):
            b = a + i
            ret[i] = np.log(close[b] / close[b - 1])
            vol = max(volume[b], 1.0)
            lv[i] = np.log(vol)
            vsum += volume[b]
            tr[i] = max(high[b], close[b - 1]) - min(low[b], close[b - 1])
        _, sd = _mean_sd(ret, 0, lookback)
        lv_mean, lv_sd = _mean_sd(lv, 0, lookback)
        tr_mean = 0.0
        for i in range(lookback):
            tr_mean += tr[i]
        tr_mean /= lookback
        r_t = np.log(close[t] / prev)
        g_t = np.log(open_[t] / prev)
        out[0, j] = close[t] / prev - 1.0
        out[1, j] = open_[t] / prev - 1.0
        out[2, j] = r_t / sd if sd > 0.0 else 0.0
        out[3, j] = g_t / sd if sd > 0.0 else 0.0
        vmean = vsum / lookback
        out[4, j] = volume[t] / vmean if vmean > 0.0 else np.nan
        out[5, j] = (np.log(max(volume[t], 1.0)) - lv_mean) / lv_sd if lv_sd > 0.0 else 0.0
        tr_t = max(high[t], prev) - min(low[t], prev)
        out[6, j] = tr_t / tr_mean if tr_mean > 0.0 else np.nan
        short = np.empty(_SHORT)
        for i in range(_SHORT):
            short[i] = np.log(close[t - _SHORT + 1 + i] / close[t - _SHORT + i])
        _, sd_short = _mean_sd(short, 0, _SHORT)
        out[7, j] = sd_short / sd if sd > 0.0 else np.nan
        first = max(s0, t - high_low_window)
        hh = -np.inf
        ll = np.inf
        for b in range(first, t):
            hh = max(hh, high[b])
            ll = min(ll, low[b])
        out[8, j] = 1.0 if high[t] > hh else 0.0
        out[9, j] = 1.0 if low[t] < ll else 0.0
        top = max(hh, high[t])
        bottom = min(ll, low[t])
        out[10, j] = (close[t] - bottom) / (top - bottom) if top > bottom else 0.5
