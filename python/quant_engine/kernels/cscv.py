"""Numba kernel: combinatorially symmetric cross-validation (CSCV) for the probability of backtest
overfitting (Bailey, Borwein, López de Prado & Zhu 2017, "The Probability of Backtest
Overfitting", J. of Computational Finance 20(4); VALIDATION.md §2).

The ``T x N`` matrix of the ``N`` configurations' per-period returns is cut into ``S`` contiguous
row blocks (block ``s`` holds rows ``floor(s T / S) .. floor((s+1) T / S) - 1``, so sizes differ by
at most one row). For every one of the ``C(S, S/2)`` choices of ``S/2`` in-sample blocks (a bit
mask; all of them, complements included, in parallel):

* per-period Sharpe ``mean / sd`` (``ddof = 1``) of every column in sample and out of sample, from
  per-block sums (a column with zero variance in a subset, up to rounding, scores 0);
* ``n*`` = the in-sample best column (the first on ties);
* ``w = rank_OOS(n*) / (N + 1)`` with the out-of-sample midrank (1 = worst, ties averaged) and
  ``lambda = ln(w / (1 - w))``.

PBO is the share of splits with ``lambda <= 0``. Sums are taken on column-demeaned returns (the
mean is added back), so no precision is lost to cancellation.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = ["cscv_splits", "cscv"]


def cscv_splits(s: int) -> npt.NDArray[np.int64]:
    """The ``C(s, s/2)`` in-sample block masks (bit ``i`` set = block ``i`` in sample), ascending."""
    if s < 2 or s % 2 or s > 24:
        raise ValueError(f"the number of CSCV blocks must be even and in [2, 24], got {s}")
    masks = np.arange(1 << s, dtype=np.int64)
    return masks[np.bitwise_count(masks) == s // 2]


@nb.njit(cache=True, nogil=True, parallel=True)
def _block_sums(x, bounds):  # type: ignore[no-untyped-def]
    t, n = x.shape
    s = bounds.shape[0] - 1
    mean = np.empty(n)
    sums = np.empty((s, n))
    sqs = np.empty((s, n))
    for c in nb.prange(n):
        acc = 0.0
        for r in range(t):
            acc += x[r, c]
        m = acc / t
        mean[c] = m
        for b in range(s):
            a = 0.0
            q = 0.0
            for r in range(bounds[b], bounds[b + 1]):
                e = x[r, c] - m
                a += e
                q += e * e
            sums[b, c] = a
            sqs[b, c] = q
    return mean, sums, sqs


@nb.njit(cache=True, nogil=True, inline="always")
def _sharpe(mean, s, q, cnt):  # type: ignore[no-untyped-def]
    """Sharpe of a subset from its demeaned sum ``s`` and sum of squares ``q`` over ``cnt`` rows."""
    d = s / cnt
    var = (q - cnt * d * d) / (cnt - 1)
    # Rounding leaves a constant column a variance of ~1e-35, not 0: treat it as constant.
    return (mean + d) / np.sqrt(var) if var > 1e-14 * (mean * mean + q / cnt) else 0.0


@nb.njit(cache=True, nogil=True, parallel=True)
def _cscv(mean, sums, sqs, counts, masks):  # type: ignore[no-untyped-def]
    s, n = sums.shape
    m = masks.shape[0]
    is_best = np.empty(m)
    oos_best = np.empty(m)
    lam = np.empty(m)
    tot_s = np.zeros(n)
    tot_q = np.zeros(n)
    tot_c = 0
    for b in range(s):
        tot_c += counts[b]
        for c in range(n):
            tot_s[c] += sums[b, c]
            tot_q[c] += sqs[b, c]
    for i in nb.prange(m):
        mask = masks[i]
        in_s = np.zeros(n)
        in_q = np.zeros(n)
        in_c = 0
        for b in range(s):
            if (mask >> b) & 1:
                in_c += counts[b]
                for c in range(n):
                    in_s[c] += sums[b, c]
                    in_q[c] += sqs[b, c]
        best = 0
        best_sr = -np.inf
        for c in range(n):
            sr = _sharpe(mean[c], in_s[c], in_q[c], in_c)
            if sr > best_sr:
                best_sr = sr
                best = c
        out_c = tot_c - in_c
        star = _sharpe(mean[best], tot_s[best] - in_s[best], tot_q[best] - in_q[best], out_c)
        below = 0.0
        ties = 0.0
        for c in range(n):
            if c == best:
                continue
            o = _sharpe(mean[c], tot_s[c] - in_s[c], tot_q[c] - in_q[c], out_c)
            if o < star:
                below += 1.0
            elif o == star:
                ties += 1.0
        w = (1.0 + below + 0.5 * ties) / (n + 1.0)
        is_best[i] = best_sr
        oos_best[i] = star
        lam[i] = np.log(w / (1.0 - w))
    return is_best, oos_best, lam


def cscv(
    x: npt.NDArray[np.float64], s: int = 16
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per split (in :func:`cscv_splits` order): in-sample Sharpe of ``n*``, its OOS Sharpe, lambda.

    ``x`` is ``T x N`` finite float64 with ``T >= 2 s`` (every block at least 2 rows).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    t, _ = x.shape
    masks = cscv_splits(s)
    if t < 2 * s:
        raise ValueError(f"CSCV with {s} blocks needs at least {2 * s} rows, got {t}")
    bounds = (np.arange(s + 1, dtype=np.int64) * t) // s
    counts = np.diff(bounds)
    x = x.view()
    x.flags.writeable = False  # one kernel specialization whatever the source (store blobs are read-only)
    mean, sums, sqs = _block_sums(x, bounds)
    return _cscv(mean, sums, sqs, counts, masks)
