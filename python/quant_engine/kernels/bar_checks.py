"""One-pass validation of bar arrays at the edge (before strategies and backtests read them)."""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = ["check_bars", "BAR_PROBLEMS", "all_equal_strings"]

BAR_PROBLEMS: tuple[str, ...] = (
    "bar starts not strictly increasing",
    "non-finite or non-positive prices",
    "high/low not containing open/close",
    "bad volume or vwap",
)
"""What :func:`check_bars` counts, in order."""


@nb.njit(cache=True, nogil=True, parallel=True)
def _count_problems(start, offsets, o, h, lo, c, v, vw):  # type: ignore[no-untyped-def]
    """Counts of each problem, branch-free per bar so the loops vectorize and split across
    threads (clean data, the common case, needs nothing more; the pass is bound by reading the
    seven columns, so a second thread helps)."""
    n = start.shape[0]
    n0 = np.int64(0)
    n1 = np.int64(0)
    n2 = np.int64(0)
    n3 = np.int64(0)
    # starts must increase within a segment: count over all neighbours, then take back the pairs
    # that straddle a segment boundary
    for i in nb.prange(1, n):
        n0 += np.int64(start[i] <= start[i - 1])
    for g in range(1, offsets.shape[0] - 1):
        a = offsets[g]
        # each boundary once (empty segments repeat an offset)
        if 0 < a < n and a != offsets[g - 1]:
            n0 -= np.int64(start[a] <= start[a - 1])
    for i in nb.prange(n):
        oi = o[i]
        hi = h[i]
        li = lo[i]
        ci = c[i]
        ok_price = (oi > 0.0) & (hi > 0.0) & (li > 0.0) & (ci > 0.0) & (hi < np.inf) & (oi < np.inf) & (ci < np.inf)
        n1 += np.int64(not ok_price)
        n2 += np.int64(ok_price & ((li > oi) | (li > ci) | (hi < oi) | (hi < ci)))
        n3 += np.int64(not ((v[i] >= 0.0) & (v[i] < np.inf) & (vw[i] > 0.0) & (vw[i] < np.inf)))
    counts = np.zeros(4, np.int64)
    counts[0] = n0
    counts[1] = n1
    counts[2] = n2
    counts[3] = n3
    return counts


@nb.njit(cache=True, nogil=True)
def _first_problems(start, offsets, o, h, lo, c, v, vw):  # type: ignore[no-untyped-def]
    """The first row showing each problem (-1: none), bar by bar."""
    first = np.full(4, -1, np.int64)
    for g in range(offsets.shape[0] - 1):
        a = offsets[g]
        for i in range(a, offsets[g + 1]):
            oi = o[i]
            hi = h[i]
            li = lo[i]
            ci = c[i]
            vv = v[i]
            ww = vw[i]
            bad0 = (i > a) & (start[i] <= start[i - 1] if i > a else False)
            ok_price = (oi > 0.0) & (hi > 0.0) & (li > 0.0) & (ci > 0.0) & (hi < np.inf) & (oi < np.inf) & (ci < np.inf)
            bad2 = ok_price & ((li > oi) | (li > ci) | (hi < oi) | (hi < ci))
            bad3 = not ((vv >= 0.0) & (vv < np.inf) & (ww > 0.0) & (ww < np.inf))
            if bad0 | (not ok_price) | bad2 | bad3:
                flags = (bad0, not ok_price, bad2, bad3)
                for k in range(4):
                    if flags[k] and first[k] < 0:
                        first[k] = i
    return first


@nb.njit(cache=True, nogil=True)
def check_bars(start, offsets, o, h, lo, c, v, vw):  # type: ignore[no-untyped-def]
    """Counts of each problem of :data:`BAR_PROBLEMS` and the first row showing it (-1: none).
    The counts come from a vectorized pass; only bad data pays for a second pass that finds the
    first rows."""
    counts = _count_problems(start, offsets, o, h, lo, c, v, vw)
    if counts.sum() == 0:
        return counts, np.full(4, -1, np.int64)
    return counts, _first_problems(start, offsets, o, h, lo, c, v, vw)


_STRING_BLOCK = 1 << 16
"""Rows (and value bytes) per task of :func:`all_equal_strings`."""


@nb.njit(cache=True, nogil=True, parallel=True)
def all_equal_strings(offsets, data):  # type: ignore[no-untyped-def]
    """Whether every string of an Arrow string array equals the first, from its buffers:
    ``offsets`` (``len + 1`` of them, already shifted by the array's offset) and the value bytes
    ``data``. Every string must be as long as the first, and the bytes must repeat with that
    period (each byte equal to the one a string earlier). Both passes are branch-free
    reductions over blocks that vectorize and split across threads (the pass is bound by
    reading the buffers, as much as a price column): nothing is allocated."""
    n = offsets.shape[0] - 1
    if n <= 1:
        return True
    lo = offsets[0]
    size = offsets[1] - lo
    # slices and plain ranges (no index arithmetic that could be negative) let LLVM vectorize
    ends = offsets[1:]
    starts = offsets[:-1]
    bad = np.int64(0)
    for blk in nb.prange((n + _STRING_BLOCK - 1) // _STRING_BLOCK):
        a = blk * _STRING_BLOCK
        e = ends[a : min(a + _STRING_BLOCK, n)]
        st = starts[a : min(a + _STRING_BLOCK, n)]
        cnt = np.int64(0)
        for i in range(e.shape[0]):
            cnt += np.int64(e[i] - st[i] != size)
        bad += cnt
    if bad != 0:
        return False
    later = data[lo + size : lo + size * n]
    earlier = data[lo : lo + size * (n - 1)]
    m = later.shape[0]
    for blk in nb.prange((m + _STRING_BLOCK - 1) // _STRING_BLOCK):
        a = blk * _STRING_BLOCK
        x = later[a : min(a + _STRING_BLOCK, m)]
        y = earlier[a : min(a + _STRING_BLOCK, m)]
        cnt = np.int64(0)
        for k in range(x.shape[0]):
            cnt += np.int64(x[k] != y[k])
        bad += cnt
    return bad == 0
