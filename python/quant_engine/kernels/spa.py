"""White's Reality Check and Hansen's SPA over a ``T x K`` matrix of performance differentials.

``d[t, k]`` is strategy ``k``'s excess performance over the benchmark in period ``t`` (e.g. its
return minus the benchmark's; larger is better). With ``dbar_k`` the column means, ``m*_bk`` the
resampled means (:func:`quant_engine.kernels.bootstrap.resampled_means`) and the three
recentering functions of Hansen (2005), ``g_l(x) = max(x, 0)``,
``g_c(x) = x * 1{x >= -sqrt(omega_k^2 / n * 2 ln ln n)}`` and ``g_u(x) = x``:

* **studentized (Hansen 2005)**: ``T = max(0, max_k sqrt(n) dbar_k / omega_k)`` and
  ``T*_b = max(0, max_k sqrt(n) (m*_bk - g(dbar_k)) / omega_k)``; ``p = #{T*_b > T} / B``.
  Columns with ``omega_k = 0`` (identical to the benchmark) contribute 0.
* **unstudentized**: ``max_k dbar_k`` against ``max_k (m*_bk - g(dbar_k))`` (no floor at 0): the
  statistic ``arch.bootstrap.SPA`` computes (arch 8.0 uses its variances only for the consistent
  threshold), and with ``g_u`` exactly White's (2000) Reality Check
  ``V = max_k sqrt(n) dbar_k``, ``V* = max_k sqrt(n) (m*_k - dbar_k)`` (the ``sqrt(n)`` cancels).

``omega_k^2`` is the long-run variance of ``sqrt(n) dbar_k`` estimated with the stationary
bootstrap's kernel (Politis & Romano 1994), exactly as ``arch`` does:
``(gamma_0 + 2 sum_{i>=1} kappa_i gamma_i) / n`` with ``gamma_i = sum_t e_t e_{t+i}`` on the
demeaned column and ``kappa_i = (1 - i/n)(1-p)^i + (i/n)(1-p)^(n-i)``; the lag sums come from one
zero-padded FFT per column (``O(n log n)`` instead of arch's ``O(n^2)`` loop).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from quant_engine.kernels.bootstrap import resampled_means, stationary_bootstrap_indices

__all__ = ["stationary_bootstrap_variance", "spa_pvalues", "SPA_KINDS"]

SPA_KINDS: tuple[str, ...] = ("lower", "consistent", "upper")
"""Order of the three p-values returned by :func:`spa_pvalues`."""

_COL_CHUNK = 256
_MAX_IDX_CELLS = 1 << 23  # index rows generated per chunk: at most 64 MiB of int64


def stationary_bootstrap_variance(d: npt.NDArray[np.float64], mean_block: float) -> npt.NDArray[np.float64]:
    """``omega_k^2`` of every column of the ``T x K`` matrix ``d`` (see the module docstring)."""
    d = np.ascontiguousarray(d, dtype=np.float64)
    n, k = d.shape
    p = 1.0 / mean_block
    lags = np.arange(n, dtype=np.float64)
    kappa = (1.0 - lags / n) * (1.0 - p) ** lags + (lags / n) * (1.0 - p) ** (n - lags)
    kappa[0] = 0.5  # gamma_0 enters once: 2 * 0.5
    nfft = 1 << int(np.ceil(np.log2(max(2 * n, 2))))
    out = np.empty(k)
    for c0 in range(0, k, _COL_CHUNK):
        block = d[:, c0 : c0 + _COL_CHUNK]
        e = block - block.mean(axis=0)
        f = np.fft.rfft(e, n=nfft, axis=0)
        gamma = np.fft.irfft(f.real**2 + f.imag**2, n=nfft, axis=0)[:n]
        out[c0 : c0 + _COL_CHUNK] = 2.0 * (kappa @ gamma) / n
    return out


def spa_pvalues(
    d: npt.NDArray[np.float64],
    *,
    mean_block: float,
    reps: int = 1000,
    seed: int = 0,
    studentize: bool = True,
    indices: npt.NDArray[np.int64] | None = None,
) -> tuple[float, npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The SPA statistic, its ``(lower, consistent, upper)`` p-values and ``omega_k^2``.

    Resamples are stationary-bootstrap rows ``0 .. reps-1`` of ``seed`` generated in chunks, or
    the explicit ``indices`` (``B x T``) when given (e.g. arch's own, to compare exactly).
    ``d`` must be finite, ``T >= 3``.
    """
    d = np.ascontiguousarray(d, dtype=np.float64)
    n, k = d.shape
    variances = stationary_bootstrap_variance(d, mean_block)
    dbar = d.mean(axis=0)
    threshold = -np.sqrt(variances / n * 2.0 * np.log(np.log(n)))
    centers = np.stack([np.maximum(dbar, 0.0), np.where(dbar >= threshold, dbar, 0.0), dbar])
    if studentize:
        omega = np.sqrt(np.maximum(variances, 0.0))
        scale = np.where(omega > 0.0, np.sqrt(n) / np.where(omega > 0.0, omega, 1.0), 0.0)
        stat = max(0.0, float(np.max(dbar * scale)))
    else:
        scale = np.ones(k)
        stat = float(np.max(dbar))
    b_total = reps if indices is None else int(indices.shape[0])
    exceed = np.zeros(3, dtype=np.int64)
    chunk = max(1, _MAX_IDX_CELLS // max(n, 1))
    for b0 in range(0, b_total, chunk):
        count = min(chunk, b_total - b0)
        if indices is None:
            idx = stationary_bootstrap_indices(n, mean_block, count, seed=seed, first=b0)
        else:
            idx = indices[b0 : b0 + count]
        means = resampled_means(d, idx)
        for j in range(3):
            sims = ((means - centers[j]) * scale).max(axis=1)
            if studentize:
                sims = np.maximum(sims, 0.0)
            exceed[j] += int(np.count_nonzero(sims > stat))
    return stat, exceed / float(b_total), variances
