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
demeaned column and ``kappa_i = (1 - i/n)(1-p)^i + (i/n)(1-p)^(n-i)``. The kernel's geometric
form makes the weighted lag sum computable in ``O(n)`` per column (instead of arch's ``O(n^2)``
loop): with ``r = 1 - p``,
``sum_i (1 - i/n) r^i gamma_i = sum_t e_t (A_t - B_t / n)`` where ``A_t = sum_{s>t} r^(s-t) e_s`` and
``B_t = sum_{s>t} (s-t) r^(s-t) e_s`` follow backward recursions, and
``sum_i (i/n) r^(n-i) gamma_i = (1/n) sum_t r^(n-t) e_t (t C_t - D_t)`` with
``C_t = sum_{s<t} r^s e_s`` and ``D_t = sum_{s<t} s r^s e_s`` forward sums (parallel over column
chunks, rows read contiguously).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

from quant_engine.kernels.bootstrap import resampled_means, stationary_bootstrap_indices

__all__ = ["stationary_bootstrap_variance", "spa_pvalues", "SPA_KINDS"]

SPA_KINDS: tuple[str, ...] = ("lower", "consistent", "upper")
"""Order of the three p-values returned by :func:`spa_pvalues`."""

_VAR_CHUNK = 32
_MAX_IDX_CELLS = 1 << 23  # index rows generated per chunk: at most 64 MiB of int64


@nb.njit(cache=True, nogil=True, parallel=True)
def _sb_variance(x, p):  # type: ignore[no-untyped-def]
    n, k = x.shape
    rho = 1.0 - p
    log_rho = np.log(rho) if rho > 0.0 else -np.inf
    rpow = np.empty(n + 1)
    for i in range(n + 1):
        rpow[i] = np.exp(i * log_rho) if i > 0 else 1.0
    out = np.empty(k)
    n_chunks = (k + _VAR_CHUNK - 1) // _VAR_CHUNK
    for ch in nb.prange(n_chunks):
        c0 = ch * _VAR_CHUNK
        w = min(_VAR_CHUNK, k - c0)
        mean = np.zeros(w)
        for t in range(n):
            for j in range(w):
                mean[j] += x[t, c0 + j]
        for j in range(w):
            mean[j] /= n
        g0 = np.zeros(w)
        s1 = np.zeros(w)
        s2 = np.zeros(w)
        cc = np.zeros(w)  # C_t = sum_{s<t} rho^s e_s
        dd = np.zeros(w)  # D_t = sum_{s<t} s rho^s e_s
        for t in range(n):
            a = rpow[n - t]
            b = rpow[t]
            for j in range(w):
                e = x[t, c0 + j] - mean[j]
                g0[j] += e * e
                s2[j] += a * e * (t * cc[j] - dd[j])
                cc[j] += b * e
                dd[j] += t * b * e
        aa = np.zeros(w)  # A_t = sum_{s>t} rho^(s-t) e_s
        bb = np.zeros(w)  # B_t = sum_{s>t} (s-t) rho^(s-t) e_s
        for t in range(n - 1, -1, -1):
            for j in range(w):
                e = x[t, c0 + j] - mean[j]
                s1[j] += e * (aa[j] - bb[j] / n)
                bb[j] = rho * (bb[j] + e + aa[j])
                aa[j] = rho * (e + aa[j])
        for j in range(w):
            out[c0 + j] = (g0[j] + 2.0 * s1[j] + 2.0 * s2[j] / n) / n
    return out


def stationary_bootstrap_variance(d: npt.NDArray[np.float64], mean_block: float) -> npt.NDArray[np.float64]:
    """``omega_k^2`` of every column of the ``T x K`` matrix ``d`` (see the module docstring)."""
    d = np.ascontiguousarray(d, dtype=np.float64)
    d = d.view()
    d.flags.writeable = False  # one kernel specialization whatever the source
    return _sb_variance(d, 1.0 / float(mean_block))


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
