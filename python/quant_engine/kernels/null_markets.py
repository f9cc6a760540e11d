"""Numba kernels: the Red Team's altered markets (VALIDATION.md §4), many at once, in parallel.

A bar is split into scale-free *components* (per symbol; bar 0's gap is 0, its open standing in
for the previous close):

* ``gap = log(open[t] / close[t-1])``, ``body = log(close[t] / open[t])`` (their sum is the
  bar-to-bar log return ``r[t]``);
* ``up = log(high / max(open, close)) >= 0``, ``down = log(min(open, close) / low) >= 0``;
* ``vw = log(vwap / close)``; the volume is kept as is.

A market is rebuilt from a sequence of components (as the multiplicative factors of
:func:`bar_factors`, one row per bar, so a random gather reads one cache line) starting at the
symbol's first open:
``open = prev_close * exp(gap)``, ``close = open * exp(body)``, ``high = max(open, close) *
exp(up)``, ``low = min(open, close) * exp(-down)``, ``vwap = close * exp(vw)`` clipped to
``[low, high]``. OHLC are consistent by construction (``high >= max(open, close)``,
``low <= min(open, close)``).

* :func:`resampled_markets` (WNT-B): whole bars' components in the order of a permutation or a
  stationary-bootstrap index row of :mod:`quant_engine.kernels.bootstrap` (one row for every
  symbol: dates move jointly), so the multiset of bar-to-bar returns is preserved by a
  permutation.
* :func:`simulated_markets` (WNT-A): log returns ``r = mu + sqrt(h_t) z`` with ``z`` standard
  normal (Marsaglia's polar method), ``h_t`` constant (i.i.d.) or GARCH(1,1)
  ``h_t = omega + alpha (r_{t-1} - mu)^2 + beta h_{t-1}``; each bar's shape (its gap, wicks, vwap
  offset and volume) is that of a uniformly drawn real bar, the body being ``r - gap``.
* :func:`garch11_fit`: Gaussian quasi-maximum likelihood of GARCH(1,1) with variance targeting
  (``omega = s^2 (1 - alpha - beta)``, Engle & Mezrich 1996), Nelder-Mead over
  ``(alpha, beta)`` from the best point of a coarse grid.

Output layout: ``count x N`` arrays, row ``m`` a whole market in the input's layout (symbol
segments ``offsets[s]:offsets[s+1]``). Market ``m`` of seed ``s`` depends only on ``(s, first + m)``
(the counter-based streams of :mod:`quant_engine.kernels.bootstrap`), whatever the chunking.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import numpy.typing as npt

from quant_engine.kernels.bootstrap import _below, _perm_row, _sb_row, _stream_state, _uniform

__all__ = ["bar_components", "bar_factors", "market_buffer", "resampled_markets", "simulated_markets", "garch11_fit"]

_F = npt.NDArray[np.float64]
_SIM_STREAM = np.int64(0x5EED)  # keeps WNT-A's streams apart from WNT-B's for the same seed


def bar_components(
    open_: _F, high: _F, low: _F, close: _F, vwap: _F, offsets: npt.NDArray[np.int64]
) -> tuple[_F, _F, _F, _F, _F]:
    """``(gap, body, up, down, vw)`` of every bar (see the module doc); bar 0 of each symbol has
    ``gap = 0``. Vectorized NumPy (one pass)."""
    prev = np.empty_like(close)
    prev[1:] = close[:-1]
    starts = offsets[:-1][offsets[:-1] < close.shape[0]]
    prev[starts] = open_[starts]
    gap = np.log(open_ / prev)
    body = np.log(close / open_)
    up = np.maximum(np.log(high / np.maximum(open_, close)), 0.0)
    down = np.maximum(np.log(np.minimum(open_, close) / low), 0.0)
    vw = np.log(vwap / close)
    return gap, body, up, down, vw


def bar_factors(components: tuple[_F, _F, _F, _F, _F], volume: _F) -> _F:
    """The components as the rebuilding kernels read them: an ``N x 6`` array (one bar per row,
    gathered together under random access) of ``exp(gap), exp(body), exp(up), exp(-down),
    exp(vw), volume``."""
    gap, body, up, down, vw = components
    return np.ascontiguousarray(
        np.stack([np.exp(gap), np.exp(body), np.exp(up), np.exp(-down), np.exp(vw), volume], axis=1)
    )


def market_buffer(count: int, n_all: int) -> _F:
    """An output buffer for ``count`` markets of ``n_all`` bars (``6 x count x n_all``), reusable
    across calls."""
    return np.empty((6, count, n_all))


@nb.njit(cache=True, nogil=True, inline="always")
def _emit(prev, eg, eb, eu, ed, ew, vol, out, m, k):  # type: ignore[no-untyped-def]
    """Writes one rebuilt bar of market ``m`` at ``k`` from the previous close; returns its close."""
    o = prev * eg
    c = o * eb
    hi = max(o, c) * eu
    lo = min(o, c) * ed
    vw = c * ew
    out[0, m, k] = o
    out[1, m, k] = hi
    out[2, m, k] = lo
    out[3, m, k] = c
    out[4, m, k] = vol
    out[5, m, k] = min(max(vw, lo), hi)
    return c


@nb.njit(cache=True, nogil=True, parallel=True)
def _resampled(fac, base, offsets, seed, first, count, p, out):  # type: ignore[no-untyped-def]
    nsym = offsets.shape[0] - 1
    n = offsets[1] - offsets[0]
    for m in nb.prange(count):
        idx = np.empty(n, dtype=np.int64)
        row = np.int64(first) + np.int64(m)
        if p > 0.0:
            _sb_row(seed, row, p, idx)
        else:
            _perm_row(seed, row, idx)
        for s in range(nsym):
            s0 = offsets[s]
            prev = base[s]
            for t in range(n):
                i = s0 + idx[t]
                prev = _emit(prev, fac[i, 0], fac[i, 1], fac[i, 2], fac[i, 3], fac[i, 4], fac[i, 5], out, m, s0 + t)


def _markets(out: _F, count: int) -> tuple[_F, _F, _F, _F, _F, _F]:
    return out[0, :count], out[1, :count], out[2, :count], out[3, :count], out[4, :count], out[5, :count]


def resampled_markets(
    factors: _F,
    base: _F,
    offsets: npt.NDArray[np.int64],
    *,
    seed: int,
    first: int,
    count: int,
    mean_block: float | None,
    out: _F | None = None,
) -> tuple[_F, _F, _F, _F, _F, _F]:
    """``count`` resampled markets (rows ``first .. first+count-1`` of ``seed``): ``(open, high,
    low, close, volume, vwap)``, each ``count x N``. ``factors`` come from :func:`bar_factors`.
    Every symbol segment must have the same length ``n`` (aligned bars); one index row (a
    permutation when ``mean_block`` is None, else a stationary bootstrap with that mean block)
    reorders every symbol's bars. ``base[s]`` is symbol ``s``'s starting price (its first open).
    ``out`` (from :func:`market_buffer`, at least ``count`` markets) is reused when given."""
    p = 0.0 if mean_block is None else 1.0 / float(mean_block)
    if out is None or out.shape[1] < count or out.shape[2] != factors.shape[0]:
        out = market_buffer(count, factors.shape[0])
    _resampled(factors, base, offsets, np.int64(seed), np.int64(first), np.int64(count), p, out)
    return _markets(out, count)


@nb.njit(cache=True, nogil=True, parallel=True)
def _sim_returns(offsets, mu, sd, omega, alpha, beta, garch, seed, first, count, out, jdx):  # type: ignore[no-untyped-def]
    """Pass 1: the log return of every bar into ``out[3]`` and the shape bar drawn for it into
    ``jdx``. Normals by Marsaglia's polar method (only ``log`` and ``sqrt``: this machine's libm
    ``cos`` and ``exp`` cost about 100 ns each inside Numba, ``log`` 6 ns)."""
    nsym = offsets.shape[0] - 1
    for m in nb.prange(count):
        row = np.int64(first) + np.int64(m)
        state = np.empty(1, dtype=np.uint64)
        state[0] = _stream_state(seed, row)
        spare = 0.0
        have = False
        for s in range(nsym):
            s0 = offsets[s]
            n = offsets[s + 1] - s0
            h = sd[s] * sd[s]
            eps = 0.0
            for t in range(n):
                if garch[m] and t > 0:
                    h = omega[s] + alpha[s] * eps * eps + beta[s] * h
                if have:
                    z = spare
                    have = False
                else:
                    while True:
                        u = 2.0 * _uniform(state) - 1.0
                        v = 2.0 * _uniform(state) - 1.0
                        q = u * u + v * v
                        if 0.0 < q < 1.0:
                            break
                    f = math.sqrt(-2.0 * math.log(q) / q)
                    z = u * f
                    spare = v * f
                    have = True
                eps = math.sqrt(h) * z
                out[3, m, s0 + t] = mu[s] + eps
                jdx[m, s0 + t] = s0 + _below(state, n)


@nb.njit(cache=True, nogil=True, parallel=True)
def _sim_bars(fac, base, offsets, count, out, jdx):  # type: ignore[no-untyped-def]
    """Pass 2: bars from ``out[3]`` = ``exp(r)`` and the drawn shapes (the body completes the
    drawn bar's gap to the return)."""
    nsym = offsets.shape[0] - 1
    for m in nb.prange(count):
        for s in range(nsym):
            s0 = offsets[s]
            prev = base[s]
            for k in range(s0, offsets[s + 1]):
                j = jdx[m, k]
                eb = out[3, m, k] / fac[j, 0]
                prev = _emit(prev, fac[j, 0], eb, fac[j, 2], fac[j, 3], fac[j, 4], fac[j, 5], out, m, k)


def simulated_markets(
    factors: _F,
    base: _F,
    offsets: npt.NDArray[np.int64],
    mu: _F,
    sd: _F,
    garch_params: npt.NDArray[np.float64],
    garch: npt.NDArray[np.bool_],
    *,
    seed: int,
    first: int,
    out: _F | None = None,
) -> tuple[_F, _F, _F, _F, _F, _F]:
    """Null markets rows ``first .. first+len(garch)-1`` of ``seed`` (see the module doc):
    ``(open, high, low, close, volume, vwap)``, each ``count x N``. ``factors`` come from
    :func:`bar_factors`; ``mu``, ``sd`` per symbol (of the log returns); ``garch_params`` is
    ``S x 3`` (``omega, alpha, beta``), used by the markets whose ``garch`` flag is set (their
    unconditional variance should be ``sd^2``). ``out`` is reused when given."""
    gp = np.ascontiguousarray(garch_params, dtype=np.float64)
    count = int(garch.shape[0])
    if out is None or out.shape[1] < count or out.shape[2] != factors.shape[0]:
        out = market_buffer(count, factors.shape[0])
    jdx = np.empty((count, factors.shape[0]), np.int64)
    _sim_returns(offsets, np.ascontiguousarray(mu, dtype=np.float64), np.ascontiguousarray(sd, dtype=np.float64),
                 gp[:, 0].copy(), gp[:, 1].copy(), gp[:, 2].copy(), np.ascontiguousarray(garch, dtype=np.bool_),
                 np.int64(seed) ^ _SIM_STREAM, np.int64(first), np.int64(count), out, jdx)  # fmt: skip
    np.exp(out[3, :count], out=out[3, :count])  # vectorized (SIMD) exp
    _sim_bars(factors, base, offsets, np.int64(count), out, jdx)
    return _markets(out, count)


@nb.njit(cache=True, nogil=True)
def _garch_nll(e2, s2, alpha, beta):  # type: ignore[no-untyped-def]
    """Mean Gaussian negative log-likelihood (constants dropped) of squared innovations ``e2``
    under variance-targeted GARCH(1,1); ``inf`` outside ``alpha, beta >= 0, alpha + beta < 1``."""
    if alpha < 0.0 or beta < 0.0 or alpha + beta >= 0.9995:
        return np.inf
    omega = s2 * (1.0 - alpha - beta)
    h = s2
    acc = 0.0
    for t in range(e2.shape[0]):
        if t > 0:
            h = omega + alpha * e2[t - 1] + beta * h
        acc += math.log(h) + e2[t] / h
    return 0.5 * acc / e2.shape[0]


@nb.njit(cache=True, nogil=True)
def _nelder_mead(e2, s2, x0, y0, step, iters):  # type: ignore[no-untyped-def]
    pts = np.empty((3, 2))
    val = np.empty(3)
    pts[0, 0], pts[0, 1] = x0, y0
    pts[1, 0], pts[1, 1] = x0 + step, y0
    pts[2, 0], pts[2, 1] = x0, y0 + step
    for i in range(3):
        val[i] = _garch_nll(e2, s2, pts[i, 0], pts[i, 1])
    for _ in range(iters):
        order = np.argsort(val)
        pts = pts[order].copy()
        val = val[order].copy()
        if abs(val[2] - val[0]) < 1e-12:
            break
        cx = 0.5 * (pts[0, 0] + pts[1, 0])
        cy = 0.5 * (pts[0, 1] + pts[1, 1])
        rx, ry = cx + (cx - pts[2, 0]), cy + (cy - pts[2, 1])
        fr = _garch_nll(e2, s2, rx, ry)
        if fr < val[0]:
            ex, ey = cx + 2.0 * (cx - pts[2, 0]), cy + 2.0 * (cy - pts[2, 1])
            fe = _garch_nll(e2, s2, ex, ey)
            if fe < fr:
                pts[2, 0], pts[2, 1], val[2] = ex, ey, fe
            else:
                pts[2, 0], pts[2, 1], val[2] = rx, ry, fr
        elif fr < val[1]:
            pts[2, 0], pts[2, 1], val[2] = rx, ry, fr
        else:
            kx, ky = cx + 0.5 * (pts[2, 0] - cx), cy + 0.5 * (pts[2, 1] - cy)
            fk = _garch_nll(e2, s2, kx, ky)
            if fk < val[2]:
                pts[2, 0], pts[2, 1], val[2] = kx, ky, fk
            else:
                for i in range(1, 3):
                    pts[i, 0] = pts[0, 0] + 0.5 * (pts[i, 0] - pts[0, 0])
                    pts[i, 1] = pts[0, 1] + 0.5 * (pts[i, 1] - pts[0, 1])
                    val[i] = _garch_nll(e2, s2, pts[i, 0], pts[i, 1])
    best = np.argmin(val)
    return pts[best, 0], pts[best, 1], val[best]


@nb.njit(cache=True, nogil=True)
def _garch_fit(r):  # type: ignore[no-untyped-def]
    n = r.shape[0]
    mu = r.mean()
    e2 = np.empty(n)
    for t in range(n):
        e2[t] = (r[t] - mu) ** 2
    s2 = e2.mean()
    best_a, best_b, best_v = 0.0, 0.0, _garch_nll(e2, s2, 0.0, 0.0)
    for ia in range(1, 12):
        a = 0.02 * ia
        for ip in range(12):
            pers = 0.5 + 0.045 * ip  # persistence alpha + beta in [0.5, 0.995]
            if pers <= a:
                continue
            v = _garch_nll(e2, s2, a, pers - a)
            if v < best_v:
                best_a, best_b, best_v = a, pers - a, v
    a, b, v = _nelder_mead(e2, s2, best_a, best_b, 0.02, 200)
    if v < best_v:
        best_a, best_b, best_v = a, b, v
    return s2 * (1.0 - best_a - best_b), best_a, best_b, -best_v


def garch11_fit(r: _F) -> tuple[float, float, float, float]:
    """Variance-targeted Gaussian QML fit of GARCH(1,1) to ``r`` (finite, at least 2 values):
    ``(omega, alpha, beta, mean log-likelihood without constants)``. ``alpha = beta = 0`` means
    the i.i.d. model fits best (no volatility clustering)."""
    r = np.ascontiguousarray(r, dtype=np.float64)
    if r.ndim != 1 or r.shape[0] < 2:
        raise ValueError("garch11_fit needs a 1-D series of at least 2 returns")
    omega, alpha, beta, ll = _garch_fit(r)
    return float(omega), float(alpha), float(beta), float(ll)
