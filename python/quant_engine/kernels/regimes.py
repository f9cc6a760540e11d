"""Numba kernel: causal market-regime features per symbol and bar.

For bar ``t`` of a symbol every feature uses only that symbol's bars ``<= t``, each computed
directly over its trailing window (no running sums carried across the series), so the value at
``t`` is identical whatever follows: the classification is prefix invariant by construction.
Symbols are independent and run in parallel.

Features (``r_t = ln(close_t / close_{t-1})``, per-bar units):

* ``realized_vol``: standard deviation of the last ``vol_window`` returns;
* ``vol_percentile``: fraction of the last ``history`` values of ``realized_vol`` (including the
  current one) that are ``<=`` the current one, in (0, 1];
* ``trend_z``: ``ln(close_t / close_{t-n}) / (sd * sqrt(n))`` with ``n = trend_window`` and ``sd``
  the standard deviation of those ``n`` returns: the t-statistic of the mean return;
* ``efficiency``: Kaufman's efficiency ratio ``|close_t - close_{t-n}| / sum |close_i - close_{i-1}|``;
* ``variance_ratio``: ``Var(q-bar returns) / (q Var(1-bar returns))`` over the last ``vr_window``
  returns with overlapping ``q = vr_lag`` sums (1 = random walk, > 1 momentum, < 1 mean
  reversion); ``hurst = 0.5 (1 + ln(VR) / ln(q))``, the Hurst exponent implied by ``VR ~ q^(2H-1)``.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = ["regime_features", "N_FEATURES", "FEATURES"]

FEATURES: tuple[str, ...] = (
    "log_return",
    "realized_vol",
    "vol_percentile",
    "trend_z",
    "efficiency",
    "variance_ratio",
    "hurst",
)
"""Feature rows of the kernel output, in order."""
N_FEATURES = len(FEATURES)


@nb.njit(cache=True, nogil=True)
def _std(r, lo, hi):  # type: ignore[no-untyped-def]
    """Sample standard deviation of r[lo:hi] (two-pass)."""
    n = hi - lo
    mean = 0.0
    for i in range(lo, hi):
        mean += r[i]
    mean /= n
    ss = 0.0
    for i in range(lo, hi):
        d = r[i] - mean
        ss += d * d
    return np.sqrt(ss / (n - 1))


@nb.njit(cache=True, nogil=True)
def _symbol_features(close, lo, hi, vol_window, trend_window, history, vr_window, vr_lag, out):  # type: ignore[no-untyped-def]
    n = hi - lo
    r = np.full(n, np.nan)
    for i in range(1, n):
        r[i] = np.log(close[lo + i] / close[lo + i - 1])
    vol = np.full(n, np.nan)
    for t in range(n):
        g = lo + t
        for k in range(N_FEATURES):
            out[k, g] = np.nan
        out[0, g] = r[t]
        if t >= vol_window:
            vol[t] = _std(r, t - vol_window + 1, t + 1)
            out[1, g] = vol[t]
            first = max(vol_window, t - history + 1)
            below = 0
            for j in range(first, t + 1):
                if vol[j] <= vol[t]:
                    below += 1
            out[2, g] = below / (t + 1 - first)
        if t >= trend_window:
            sd = _std(r, t - trend_window + 1, t + 1)
            move = np.log(close[g] / close[g - trend_window])
            out[3, g] = move / (sd * np.sqrt(trend_window)) if sd > 0.0 else 0.0
            path = 0.0
            for j in range(t - trend_window + 1, t + 1):
                path += abs(close[lo + j] - close[lo + j - 1])
            out[4, g] = abs(close[g] - close[g - trend_window]) / path if path > 0.0 else 0.0
        if t >= vr_window:
            a = t - vr_window + 1  # returns r[a..t]
            var1 = _std(r, a, t + 1) ** 2
            m = vr_window - vr_lag + 1
            mean_q = 0.0
            for j in range(m):
                s = 0.0
                for k in range(vr_lag):
                    s += r[a + j + k]
                mean_q += s
            mean_q /= m
            ss = 0.0
            for j in range(m):
                s = 0.0
                for k in range(vr_lag):
                    s += r[a + j + k]
                ss += (s - mean_q) ** 2
            varq = ss / (m - 1)
            if var1 > 0.0:
                vr = varq / (vr_lag * var1)
                out[5, g] = vr
                out[6, g] = 0.5 * (1.0 + np.log(vr) / np.log(vr_lag)) if vr > 0.0 else np.nan


@nb.njit(cache=True, nogil=True, parallel=True)
def regime_features(close, seg_start, seg_end, vol_window, trend_window, history, vr_window, vr_lag, out):  # type: ignore[no-untyped-def]
    """Fills ``out[k, i]`` (``FEATURES[k]`` of bar ``i``) for bars sorted by symbol then time;
    symbol ``s`` occupies rows ``seg_start[s]:seg_end[s]``."""
    for s in nb.prange(seg_start.shape[0]):
        _symbol_features(close, seg_start[s], seg_end[s], vol_window, trend_window, history, vr_window, vr_lag, out)
