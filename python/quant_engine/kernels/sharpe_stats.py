"""Sharpe-ratio statistics: column moments (Numba) and the closed forms of Bailey & López de Prado.

Notation (VALIDATION.md §1): ``SR`` is the per-period Sharpe ratio ``mean / sd`` (sample standard
deviation, ``ddof = 1``), ``T`` the number of periods, ``g3`` the skewness ``m3 / m2^1.5`` and
``g4`` the (non-excess) kurtosis ``m4 / m2^2`` with ``m_k`` the central sample moments
(``1/T`` normalization, normal = 3).

* PSR: Bailey & López de Prado (2012), "The Sharpe Ratio Efficient Frontier", J. of Risk 15(2).
* Expected maximum Sharpe ``SR0`` and DSR: Bailey & López de Prado (2014), "The Deflated Sharpe
  Ratio", J. of Portfolio Management 40(5).
* MinTRL: Bailey & López de Prado (2012), eq. for the minimum track record length.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = [
    "column_moments",
    "sharpe_variance_factor",
    "probabilistic_sharpe",
    "expected_max_sharpe",
    "min_track_record_length",
    "EULER_GAMMA",
]

EULER_GAMMA = 0.5772156649015329
"""The Euler-Mascheroni constant."""

_N01 = NormalDist()


@nb.njit(cache=True, nogil=True, parallel=True)
def _moments(x):  # type: ignore[no-untyped-def]
    n, k = x.shape
    out = np.empty((4, k))
    for c in nb.prange(k):
        s = 0.0
        for t in range(n):
            s += x[t, c]
        mean = s / n
        m2 = 0.0
        m3 = 0.0
        m4 = 0.0
        for t in range(n):
            e = x[t, c] - mean
            e2 = e * e
            m2 += e2
            m3 += e2 * e
            m4 += e2 * e2
        out[0, c] = mean
        out[1, c] = np.sqrt(m2 / (n - 1)) if n > 1 else np.nan
        m2 /= n
        if m2 > 0.0:
            out[2, c] = (m3 / n) / m2**1.5
            out[3, c] = (m4 / n) / (m2 * m2)
        else:
            out[2, c] = np.nan
            out[3, c] = np.nan
    return out


def column_moments(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Rows ``(mean, sd, g3, g4)`` for every column of the ``T x K`` matrix ``x`` (``4 x K``).

    Two-pass per column, parallel over columns. ``g3``/``g4`` are NaN for a constant column,
    ``sd`` is NaN for ``T < 2``. NaNs in ``x`` propagate (callers reject them first).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"x must be a non-empty T x K matrix, got shape {x.shape}")
    x = x.view()
    x.flags.writeable = False  # one kernel specialization whatever the source
    return _moments(x)


def sharpe_variance_factor(sr: float, g3: float, g4: float) -> float:
    """``1 - g3*SR + (g4 - 1)/4 * SR^2``: ``(T - 1) Var[SR_hat]`` for non-normal returns."""
    return 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr


def probabilistic_sharpe(sr: float, t: int, g3: float, g4: float, sr_star: float = 0.0) -> float:
    """``PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4-1)/4 SR^2))``.

    NaN when the variance factor is not positive (an impossible moment combination).
    """
    v = sharpe_variance_factor(sr, g3, g4)
    if not v > 0.0 or t < 2:
        return math.nan
    return _N01.cdf((sr - sr_star) * math.sqrt(t - 1) / math.sqrt(v))


def expected_max_sharpe(n_trials: float, sr_std: float) -> float:
    """``SR0 = sd * ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))`` (0 for ``N <= 1``).

    ``n_trials`` may be fractional (an effective number of trials); ``sr_std`` is the standard
    deviation of the trials' per-period Sharpe ratios.
    """
    if n_trials <= 1.0:
        return 0.0
    a = _N01.inv_cdf(1.0 - 1.0 / n_trials)
    b = _N01.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return sr_std * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


def min_track_record_length(sr: float, g3: float, g4: float, sr_star: float = 0.0, alpha: float = 0.05) -> float:
    """``MinTRL = 1 + (1 - g3 SR + (g4-1)/4 SR^2) (Phi^-1(1 - alpha) / (SR - SR*))^2`` periods.

    ``inf`` when ``SR <= SR*`` (no track record is long enough).
    """
    if sr <= sr_star:
        return math.inf
    z = _N01.inv_cdf(1.0 - alpha)
    return 1.0 + sharpe_variance_factor(sr, g3, g4) * (z / (sr - sr_star)) ** 2
