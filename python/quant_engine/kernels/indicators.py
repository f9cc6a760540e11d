"""Numba indicator kernels over one symbol's bar series (oldest first).

Every kernel writes ``out[i]`` from ``x[:i+1]`` only (causal), is compiled with ``cache=True``
and ``nogil=True``, and follows one warm-up rule:

* a window of ``n`` bars is defined once it holds ``n`` consecutive valid (non-NaN) values;
* a NaN input makes the output NaN and **restarts the warm-up** (windows refill, exponential
  averages re-seed), so leading NaNs (an input that is itself warming up) simply delay it.

Exponential averages are seeded with the simple mean of their first ``n`` values (the TA-Lib
convention). Running window sums are recomputed exactly at regular intervals and variance sums
are compensated (Neumaier), so long series do not drift. These kernels
are the primitives the strategy plan evaluator calls; they are public for direct use on NumPy
arrays (e.g. ``sma(close, 20, out)``).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = [
    "sma",
    "rolling_sum",
    "ema",
    "wilder",
    "wma",
    "rolling_std",
    "rolling_min",
    "rolling_max",
    "lag",
    "rsi",
    "true_range",
    "session_sum",
]

_NAN = np.nan


@nb.njit(cache=True, nogil=True, inline="always")
def _nadd(s: float, c: float, v: float) -> tuple[float, float]:
    """Neumaier compensated addition: returns the new (sum, compensation)."""
    t = s + v
    if abs(s) >= abs(v):
        c += (s - t) + v
    else:
        c += (v - t) + s
    return t, c


_REFRESH = 1024
"""Running window sums are recomputed exactly every ``max(n, _REFRESH)`` bars."""


@nb.njit(cache=True, nogil=True, inline="always")
def _window_sums(x, n, out, scale):  # type: ignore[no-untyped-def]
    """``scale * sum(x[i-n+1..i])`` once ``n`` consecutive values are valid. A running sum,
    recomputed exactly every ``max(n, _REFRESH)`` bars so rounding cannot accumulate."""
    s = 0.0
    run = 0
    since = 0
    refresh = max(n, _REFRESH)
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            s = 0.0
            run = 0
            out[i] = _NAN
            continue
        run += 1
        if run <= n:
            s += v
            out[i] = s * scale if run == n else _NAN
            since = 0
            continue
        since += 1
        if since >= refresh:
            s = 0.0
            for j in range(i - n + 1, i + 1):
                s += x[j]
            since = 0
        else:
            s += v - x[i - n]
        out[i] = s * scale


@nb.njit(cache=True, nogil=True)
def rolling_sum(x, n, out):  # type: ignore[no-untyped-def]
    """Sum of the last ``n`` values."""
    _window_sums(x, n, out, 1.0)


@nb.njit(cache=True, nogil=True)
def sma(x, n, out):  # type: ignore[no-untyped-def]
    """Simple moving average over ``n`` bars."""
    _window_sums(x, n, out, 1.0 / n)


@nb.njit(cache=True, nogil=True, inline="always")
def _seeded_recursion(x, n, out, wilder_form):  # type: ignore[no-untyped-def]
    """A recursive average seeded with the mean of the first ``n`` values (NaN before it; a NaN
    input restarts the seed): ``e + 2/(n+1) * (x - e)`` (EMA) or, with ``wilder_form``,
    ``(e * (n - 1) + x) / n`` (Wilder)."""
    alpha = 2.0 / (n + 1.0)
    run = 0
    seed = 0.0
    e = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            run = 0
            seed = 0.0
            out[i] = _NAN
            continue
        if run < n:
            seed += v
            run += 1
            if run == n:
                e = seed / n
                out[i] = e
            else:
                out[i] = _NAN
        elif wilder_form:
            e = (e * (n - 1) + v) / n
            out[i] = e
        else:
            e = e + alpha * (v - e)
            out[i] = e


@nb.njit(cache=True, nogil=True)
def ema(x, n, out):  # type: ignore[no-untyped-def]
    """Exponential moving average, ``alpha = 2 / (n + 1)``, seeded with the mean of the first
    ``n`` values."""
    _seeded_recursion(x, n, out, False)


@nb.njit(cache=True, nogil=True)
def wilder(x, n, out):  # type: ignore[no-untyped-def]
    """Wilder's smoothing (RMA): ``e = (e * (n - 1) + x) / n``, seeded with the mean of the
    first ``n`` values."""
    _seeded_recursion(x, n, out, True)


@nb.njit(cache=True, nogil=True)
def wma(x, n, out):  # type: ignore[no-untyped-def]
    """Linearly weighted moving average (weights ``1..n``, newest heaviest). Updated in O(1)
    per bar and recomputed exactly every ``n`` bars, so rounding cannot accumulate."""
    denom = n * (n + 1) / 2.0
    run = 0
    since = 0
    w = 0.0
    s = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            run = 0
            out[i] = _NAN
            continue
        run += 1
        if run < n:
            out[i] = _NAN
            continue
        if run == n or since >= n:
            w = 0.0
            s = 0.0
            for j in range(n):
                xv = x[i - j]
                w += (n - j) * xv
                s += xv
            since = 0
        else:
            w = w + n * v - s
            s = s + v - x[i - n]
            since += 1
        out[i] = w / denom


@nb.njit(cache=True, nogil=True)
def rolling_std(x, n, ddof, out):  # type: ignore[no-untyped-def]
    """Standard deviation over ``n`` bars with ``ddof`` (0: population, 1: sample). Sums are
    taken of ``x - K`` (K = the first value after a (re)start, a causal shift) with compensation."""
    s1 = 0.0
    c1 = 0.0
    s2 = 0.0
    c2 = 0.0
    k = 0.0
    run = 0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            s1 = 0.0
            c1 = 0.0
            s2 = 0.0
            c2 = 0.0
            run = 0
            out[i] = _NAN
            continue
        if run == 0:
            k = v
        d = v - k
        s1, c1 = _nadd(s1, c1, d)
        s2, c2 = _nadd(s2, c2, d * d)
        run += 1
        if run > n:
            old = x[i - n] - k
            s1, c1 = _nadd(s1, c1, -old)
            s2, c2 = _nadd(s2, c2, -old * old)
            run = n
        if run == n and n > ddof:
            t1 = s1 + c1
            var = ((s2 + c2) - t1 * t1 / n) / (n - ddof)
            out[i] = np.sqrt(var) if var > 0.0 else 0.0
        else:
            out[i] = _NAN


@nb.njit(cache=True, nogil=True)
def _rolling_extreme(x, n, out, want_max):  # type: ignore[no-untyped-def]
    dq = np.empty(n, np.int64)
    head = 0
    size = 0
    run = 0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            size = 0
            run = 0
            out[i] = _NAN
            continue
        run += 1
        if size > 0 and dq[head] <= i - n:
            head += 1
            if head == n:
                head = 0
            size -= 1
        while size > 0:
            back = head + size - 1
            if back >= n:
                back -= n
            b = x[dq[back]]
            if (b <= v) if want_max else (b >= v):
                size -= 1
            else:
                break
        pos = head + size
        if pos >= n:
            pos -= n
        dq[pos] = i
        size += 1
        out[i] = x[dq[head]] if run >= n else _NAN


@nb.njit(cache=True, nogil=True)
def rolling_min(x, n, out):  # type: ignore[no-untyped-def]
    """Lowest value of the last ``n`` bars (monotonic deque, O(1) amortized)."""
    _rolling_extreme(x, n, out, False)


@nb.njit(cache=True, nogil=True)
def rolling_max(x, n, out):  # type: ignore[no-untyped-def]
    """Highest value of the last ``n`` bars (monotonic deque, O(1) amortized)."""
    _rolling_extreme(x, n, out, True)


@nb.njit(cache=True, nogil=True)
def lag(x, n, out):  # type: ignore[no-untyped-def]
    """``x`` shifted ``n`` bars back (NaN for the first ``n`` bars)."""
    m = x.shape[0]
    for i in range(min(n, m)):
        out[i] = _NAN
    for i in range(n, m):
        out[i] = x[i - n]


@nb.njit(cache=True, nogil=True)
def rsi(x, n, out):  # type: ignore[no-untyped-def]
    """Wilder's RSI over ``n`` bars (0..100): average gain and loss of one-bar changes, seeded
    with their means over the first ``n`` changes, then Wilder-smoothed. 100 when there are no
    losses, 50 when there are neither gains nor losses."""
    run = 0
    prev = 0.0
    sg = 0.0
    sl = 0.0
    ag = 0.0
    al = 0.0
    for i in range(x.shape[0]):
        v = x[i]
        if v != v:
            run = 0
            sg = 0.0
            sl = 0.0
            out[i] = _NAN
            continue
        if run == 0:
            prev = v
            run = 1
            out[i] = _NAN
            continue
        d = v - prev
        prev = v
        g = d if d > 0.0 else 0.0
        lo = -d if d < 0.0 else 0.0
        nd = run  # changes seen including this one
        run += 1
        if nd <= n:
            sg += g
            sl += lo
            if nd < n:
                out[i] = _NAN
                continue
            ag = sg / n
            al = sl / n
        else:
            ag = (ag * (n - 1) + g) / n
            al = (al * (n - 1) + lo) / n
        if al == 0.0:
            out[i] = 100.0 if ag > 0.0 else 50.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + ag / al)


@nb.njit(cache=True, nogil=True)
def true_range(high, low, close, out):  # type: ignore[no-untyped-def]
    """True range: ``max(high - low, |high - prev close|, |low - prev close|)``; on the first
    bar (or after a NaN close) ``high - low``."""
    pc = _NAN
    for i in range(high.shape[0]):
        h = high[i]
        lo = low[i]
        r = h - lo
        if pc == pc:
            a = abs(h - pc)
            b = abs(lo - pc)
            if a > r:
                r = a
            if b > r:
                r = b
        out[i] = r
        pc = close[i]


@nb.njit(cache=True, nogil=True)
def session_sum(x, session_start, out):  # type: ignore[no-untyped-def]
    """Running sum of ``x`` since the start of the bar's session (``session_start[i] != 0``
    marks a session's first bar). A NaN makes the rest of that session NaN."""
    s = 0.0
    c = 0.0
    valid = True
    for i in range(x.shape[0]):
        if session_start[i] != 0.0:
            s = 0.0
            c = 0.0
            valid = True
        v = x[i]
        if v != v:
            valid = False
        if not valid:
            out[i] = _NAN
            continue
        s, c = _nadd(s, c, v)
        out[i] = s + c
