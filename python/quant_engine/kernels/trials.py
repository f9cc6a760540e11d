"""Effective number of independent trials from a ``T x N`` matrix of the trials' returns.

Estimator: the participation ratio of the trials' correlation matrix ``R`` (Bretherton, Widmann,
Dymnikov, Wallace & Battisti 1999, "The effective number of spatial degrees of freedom of a
time-varying field", J. Climate 12, eq. 5):

    N_eff = (sum_i lambda_i)^2 / sum_i lambda_i^2 = N^2 / ||R||_F^2 = N^2 / sum_ij rho_ij^2

(``lambda_i`` the eigenvalues of ``R``; no eigendecomposition is needed). ``N`` identical trials
give 1, ``N`` uncorrelated trials give ``N``, and ``k`` blocks of perfectly correlated trials of
equal size give ``k``. Under independence a sample correlation has ``E[r^2] = 1/(T - 1)`` (normal
data), which would shrink ``N_eff`` towards ``N / (1 + N/T)``; each off-diagonal ``r^2`` is
therefore debiased as ``(r^2 - 1/(T-1)) / (1 - 1/(T-1))`` before summing, and the result is
clipped to ``[1, N]``.

Chosen over hierarchical clustering on ``1 - rho`` because it needs no distance threshold (a free
parameter that would itself be tuned), is ``O(T N^2)`` through one BLAS product, and is smooth in
the data. The correlation product is computed in column blocks to bound memory.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["effective_trials"]

_BLOCK = 1024


def effective_trials(x: npt.NDArray[np.float64]) -> float:
    """``N_eff`` of the columns of ``x`` (``T x N``, finite, ``T >= 3``, no constant column)."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    t, n = x.shape
    if n == 1:
        return 1.0
    z = x - x.mean(axis=0)
    z /= np.sqrt((z * z).sum(axis=0))
    bias = 1.0 / (t - 1)
    total = 0.0
    for i0 in range(0, n, _BLOCK):
        r = z[:, i0 : i0 + _BLOCK].T @ z
        total += float((r * r).sum())
    off = total - n  # the diagonal contributes exactly n
    off = (off - n * (n - 1) * bias) / (1.0 - bias)
    return float(min(max(n * n / (n + off), 1.0), n))
