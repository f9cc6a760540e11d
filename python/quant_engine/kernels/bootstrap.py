"""Numba kernels: seeded resampling index sets and the bootstrap of column means.

Resampling is done on *row indices*: a set of ``B`` index rows (``B x T`` int64), each a
resample of the ``T`` periods. The same row applies to every column of a ``T x K`` matrix, so
strategies (or symbols) are resampled jointly and keep their cross-sectional dependence (dates
permuted jointly across symbols, as WNT-B requires).

Random numbers come from a counter-based generator: replicate ``b`` of seed ``s`` has its own
SplitMix64 stream (Steele, Lea, Flood 2014) seeded from ``(s, b)``. Every replicate is therefore
the same whatever the thread count, the scheduling or the chunk of replicates requested
(``first`` / ``count``), so large index sets can be generated chunk by chunk without storing them.

Index sets:

* :func:`stationary_bootstrap_indices`: Politis & Romano (1994) stationary bootstrap with mean
  block length ``L`` (``p = 1/L``). Same convention as ``arch.bootstrap.StationaryBootstrap``:
  ``idx[0]`` is uniform; for ``t >= 1`` a uniform ``u > p`` continues the block
  (``idx[t-1] + 1``, wrapping to 0) and otherwise a new uniform start is drawn.
* :func:`permutation_indices`: uniform random permutations (Fisher-Yates).

:func:`resampled_means` computes the ``B x K`` matrix of resampled column means from any index
set. It scans each index row for runs of consecutive indices and adds each run as one difference
of column prefix sums, so a stationary bootstrap costs ``O(T/L * K)`` per replicate instead of
``O(T * K)`` (prefix sums are taken on the column-demeaned data, keeping them of the order of
``sqrt(T) * sd`` so no precision is lost).
"""

from __future__ import annotations

import numba as nb
import numpy as np
import numpy.typing as npt

__all__ = [
    "stationary_bootstrap_indices",
    "permutation_indices",
    "resampled_means",
    "permuted_pnl_sharpes",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_STREAM = np.uint64(0xD1B54A32D192ED03)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0


@nb.njit(cache=True, nogil=True, inline="always")
def _mix(z):  # type: ignore[no-untyped-def]
    """The SplitMix64 output function."""
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(cache=True, nogil=True, inline="always")
def _stream_state(seed, b):  # type: ignore[no-untyped-def]
    """Initial state of replicate ``b``'s stream for ``seed`` (both non-negative int64)."""
    return _mix(_mix(np.uint64(seed) + _GOLDEN) ^ ((np.uint64(b) + np.uint64(1)) * _STREAM))


@nb.njit(cache=True, nogil=True, inline="always")
def _uniform(state):  # type: ignore[no-untyped-def]
    """Advances ``state`` (a 1-element uint64 array); returns a uniform double in [0, 1)."""
    state[0] += _GOLDEN
    return np.float64(_mix(state[0]) >> _S11) * _TWO_M53


@nb.njit(cache=True, nogil=True, inline="always")
def _below(state, n):  # type: ignore[no-untyped-def]
    """A uniform integer in [0, n) (bias below 2^-53 * n, negligible for any T)."""
    k = np.int64(_uniform(state) * n)
    return k if k < n else n - 1


@nb.njit(cache=True, nogil=True)
def _sb_row(seed, b, p, out):  # type: ignore[no-untyped-def]
    """Fills ``out`` with stationary-bootstrap row ``b`` of ``seed`` (start probability ``p``)."""
    n = out.shape[0]
    state = np.empty(1, dtype=np.uint64)
    state[0] = _stream_state(seed, b)
    out[0] = _below(state, n)
    for t in range(1, n):
        if _uniform(state) > p:
            j = out[t - 1] + 1
            out[t] = 0 if j == n else j
        else:
            out[t] = _below(state, n)


@nb.njit(cache=True, nogil=True)
def _perm_row(seed, b, out):  # type: ignore[no-untyped-def]
    """Fills ``out`` with permutation row ``b`` of ``seed`` (Fisher-Yates from the identity)."""
    n = out.shape[0]
    state = np.empty(1, dtype=np.uint64)
    state[0] = _stream_state(seed, b)
    for t in range(n):
        out[t] = t
    for t in range(n - 1, 0, -1):
        j = _below(state, t + 1)
        tmp = out[t]
        out[t] = out[j]
        out[j] = tmp


@nb.njit(cache=True, nogil=True, parallel=True)
def _index_rows(seed, first, count, n, p):  # type: ignore[no-untyped-def]
    """Rows ``first .. first+count-1``: stationary bootstrap if ``p > 0``, else permutations."""
    out = np.empty((count, n), dtype=np.int64)
    for r in nb.prange(count):
        if p > 0.0:
            _sb_row(seed, first + r, p, out[r])
        else:
            _perm_row(seed, first + r, out[r])
    return out


def _check_seed_range(seed: int, first: int, count: int, n: int) -> None:
    if not 0 <= seed < 2**63:
        raise ValueError(f"seed must be in [0, 2^63), got {seed}")
    if first < 0 or count < 0:
        raise ValueError(f"first and count must be >= 0, got {first}, {count}")
    if n < 1:
        raise ValueError(f"the number of periods must be >= 1, got {n}")


def stationary_bootstrap_indices(
    n: int, mean_block: float, count: int, *, seed: int, first: int = 0
) -> npt.NDArray[np.int64]:
    """Stationary-bootstrap index rows ``first .. first+count-1`` of ``seed`` (``count x n`` int64).

    ``mean_block`` is the expected block length ``L >= 1`` (``p = 1/L``; ``L = 1`` is the i.i.d.
    bootstrap). Deterministic for ``(seed, replicate)``, in parallel over replicates.
    """
    _check_seed_range(seed, first, count, n)
    if not mean_block >= 1.0:
        raise ValueError(f"mean_block must be >= 1, got {mean_block}")
    return _index_rows(np.int64(seed), np.int64(first), np.int64(count), np.int64(n), 1.0 / float(mean_block))


def permutation_indices(n: int, count: int, *, seed: int, first: int = 0) -> npt.NDArray[np.int64]:
    """Uniform random permutations of ``range(n)``, rows ``first .. first+count-1`` of ``seed``."""
    _check_seed_range(seed, first, count, n)
    return _index_rows(np.int64(seed), np.int64(first), np.int64(count), np.int64(n), 0.0)


_COLS = 64  # columns per chunk of the prefix-sum kernel (rows read contiguously)


@nb.njit(cache=True, nogil=True, parallel=True)
def _column_prefix(x, means):  # type: ignore[no-untyped-def]
    n, k = x.shape
    pre = np.empty((n + 1, k))
    for ch in nb.prange((k + _COLS - 1) // _COLS):
        c0 = ch * _COLS
        c1 = min(c0 + _COLS, k)
        for c in range(c0, c1):
            pre[0, c] = 0.0
        for t in range(n):
            for c in range(c0, c1):
                pre[t + 1, c] = pre[t, c] + (x[t, c] - means[c])
    return pre


@nb.njit(cache=True, nogil=True, parallel=True)
def _run_means(pre, idx, means):  # type: ignore[no-untyped-def]
    b_count, n = idx.shape
    k = pre.shape[1]
    out = np.empty((b_count, k))
    inv_n = 1.0 / n
    for b in nb.prange(b_count):
        acc = np.zeros(k)
        start = idx[b, 0]
        length = 1
        for t in range(1, n + 1):
            if t < n and idx[b, t] == start + length:
                length += 1
                continue
            hi = start + length
            for c in range(k):
                acc[c] += pre[hi, c] - pre[start, c]
            if t < n:
                start = idx[b, t]
                length = 1
        for c in range(k):
            out[b, c] = means[c] + acc[c] * inv_n
    return out


def resampled_means(x: npt.NDArray[np.float64], idx: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Column means of ``x[idx[b]]`` for every index row ``b``: a ``B x K`` matrix.

    ``x`` is ``T x K`` float64 (finite), ``idx`` is ``B x T`` int64 with values in ``[0, T)``
    (from :func:`stationary_bootstrap_indices`, :func:`permutation_indices` or any other source,
    e.g. ``arch``'s own bootstrap indices). Parallel over replicates.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    idx = np.ascontiguousarray(idx, dtype=np.int64)
    if x.ndim != 2 or idx.ndim != 2 or idx.shape[1] != x.shape[0]:
        raise ValueError(f"x must be T x K and idx B x T, got {x.shape} and {idx.shape}")
    if idx.size and (idx.min() < 0 or idx.max() >= x.shape[0]):
        raise ValueError("bootstrap indices out of range")
    means = x.mean(axis=0)
    x = x.view()
    x.flags.writeable = False  # one kernel specialization whatever the source (store blobs are read-only)
    pre = _column_prefix(x, means)
    return _run_means(pre, idx, means)


@nb.njit(cache=True, nogil=True, parallel=True)
def _pnl_sharpes(positions, returns, seed, count, p):  # type: ignore[no-untyped-def]
    n = returns.shape[0]
    out = np.empty(count)
    for b in nb.prange(count):
        idx = np.empty(n, dtype=np.int64)
        row = np.int64(b)  # prange indexes may be unsigned: one specialization of the row kernels
        if p > 0.0:
            _sb_row(seed, row, p, idx)
        else:
            _perm_row(seed, row, idx)
        s = 0.0
        ss = 0.0
        for t in range(n):
            v = positions[t] * returns[idx[t]]
            s += v
            ss += v * v
        mean = s / n
        var = (ss - n * mean * mean) / (n - 1)
        out[b] = mean / np.sqrt(var) if var > 1e-14 * (ss / n) else np.nan
    return out


def permuted_pnl_sharpes(
    positions: npt.NDArray[np.float64],
    returns: npt.NDArray[np.float64],
    count: int,
    *,
    seed: int,
    mean_block: float | None = None,
) -> npt.NDArray[np.float64]:
    """Per-period Sharpe of ``positions[t] * returns[idx_b[t]]`` for index rows ``b < count``.

    ``idx_b`` is row ``b`` of :func:`permutation_indices` (``mean_block=None``) or of
    :func:`stationary_bootstrap_indices` for ``seed``, generated inside the kernel one row per
    replicate (memory ``O(threads * T)``, not ``O(B * T)``). The null distribution of a *fixed*
    position series (decided without the resampled returns); a strategy whose positions depend on
    the bars must instead be rerun on the resampled bars (WNT-B proper). NaN where the resampled
    P&L has zero variance.
    """
    positions = np.ascontiguousarray(positions, dtype=np.float64)
    returns = np.ascontiguousarray(returns, dtype=np.float64)
    if positions.shape != returns.shape or positions.ndim != 1:
        raise ValueError("positions and returns must be 1-D of the same length")
    _check_seed_range(seed, 0, count, returns.shape[0])
    if returns.shape[0] < 2:
        raise ValueError("at least 2 periods are needed")
    p = 0.0 if mean_block is None else 1.0 / float(mean_block)
    if mean_block is not None and not mean_block >= 1.0:
        raise ValueError(f"mean_block must be >= 1, got {mean_block}")
    positions, returns = positions.view(), returns.view()
    positions.flags.writeable = returns.flags.writeable = False  # one kernel specialization
    return _pnl_sharpes(positions, returns, np.int64(seed), np.int64(count), p)
