"""Whiteness of a P&L series (WNT-C, VALIDATION.md §4): sample autocorrelations, the Ljung-Box
statistic with its chi-square p-value, and Lo's autocorrelation correction of the Sharpe ratio.

* Autocorrelation at lag ``k``: ``rho_k = sum_{t<n-k} e_t e_{t+k} / sum_t e_t^2`` on the demeaned
  series ``e`` (the standard biased estimator, as ``statsmodels.tsa.stattools.acf``).
* Ljung & Box (1978), Biometrika 65(2): ``Q(h) = n (n + 2) sum_{k=1}^{h} rho_k^2 / (n - k)``,
  asymptotically chi-square with ``h`` degrees of freedom under whiteness.
* Lo (2002), "The Statistics of Sharpe Ratios", Financial Analysts Journal 58(4), eq. 17:
  ``SR(q) = eta(q) SR`` with ``eta(q) = q / sqrt(q + 2 sum_{k=1}^{q-1} (q - k) rho_k)``
  (``eta(q) = sqrt(q)`` for white returns).
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = ["autocorrelations", "ljung_box", "chi2_sf", "lo_eta"]


@nb.njit(cache=True, nogil=True, parallel=True)
def _acf(x, max_lag):  # type: ignore[no-untyped-def]
    n = x.shape[0]
    mean = 0.0
    for t in range(n):
        mean += x[t]
    mean /= n
    e = np.empty(n)
    den = 0.0
    for t in range(n):
        e[t] = x[t] - mean
        den += e[t] * e[t]
    out = np.empty(max_lag + 1)
    for k in nb.prange(max_lag + 1):
        s = 0.0
        for t in range(n - k):
            s += e[t] * e[t + k]
        out[k] = s / den if den > 0.0 else np.nan
    return out


def autocorrelations(x: npt.NDArray[np.float64], max_lag: int) -> npt.NDArray[np.float64]:
    """``rho_0 .. rho_max_lag`` of the 1-D series ``x`` (NaN for a constant series)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 1 or not 0 <= max_lag < x.shape[0]:
        raise ValueError(f"need a 1-D series longer than max_lag={max_lag}, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float64).view()
    x.flags.writeable = False  # one kernel specialization whatever the source
    return _acf(x, np.int64(max_lag))


def ljung_box(rho: npt.NDArray[np.float64], n: int, h: int) -> float:
    """``Q(h)`` from the autocorrelations ``rho`` (``rho[k]`` at lag ``k``) of a series of length ``n``."""
    k = np.arange(1, h + 1, dtype=np.float64)
    return float(n * (n + 2.0) * np.sum(rho[1 : h + 1] ** 2 / (n - k)))


def chi2_sf(x: float, df: int) -> float:
    """Survival function ``P(X > x)`` of the chi-square distribution with integer ``df >= 1``.

    Closed forms (Abramowitz & Stegun 26.4.4-26.4.5): for even ``df``
    ``exp(-x/2) sum_{i<df/2} (x/2)^i / i!``; for odd ``df``
    ``erfc(sqrt(x/2)) + sqrt(2x/pi) exp(-x/2) sum_{i=1}^{(df-1)/2} x^(i-1) / (1 3 5 ... (2i-1))``.
    """
    if df < 1:
        raise ValueError(f"df must be >= 1, got {df}")
    if x <= 0.0:
        return 1.0
    half = 0.5 * x
    if df % 2 == 0:
        term = 1.0
        total = 1.0
        for i in range(1, df // 2):
            term *= half / i
            total += term
        return min(1.0, math.exp(-half) * total)
    total = 0.0
    term = math.sqrt(2.0 * x / math.pi)
    for i in range(1, (df - 1) // 2 + 1):
        total += term
        term *= x / (2 * i + 1)
    return min(1.0, math.erfc(math.sqrt(half)) + math.exp(-half) * total)


def lo_eta(rho: npt.NDArray[np.float64], q: int) -> float:
    """Lo's ``eta(q)``; ``rho[k]`` for ``k < q`` (missing lags count as 0). NaN if the variance
    term is not positive."""
    m = min(q - 1, rho.shape[0] - 1)
    k = np.arange(1, m + 1, dtype=np.float64)
    v = q + 2.0 * float(np.sum((q - k) * rho[1 : m + 1]))
    return q / math.sqrt(v) if v > 0.0 else math.nan
