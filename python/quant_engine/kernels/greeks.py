"""Numba kernels: option prices and Greeks to third order (generalized Black-Scholes-Merton).

One model covers both user-facing variants through the cost of carry ``b``:

* Black-Scholes-Merton with continuous dividend yield ``q``: underlying = spot, ``b = r - q``;
* Black-76 (options on futures): underlying = futures price, ``b = 0``.

Every quantity is computed in closed form from one ``log``, one ``sqrt`` and four exponentials per
contract (the discount factors and the two normal densities), using the vectorizable functions
of :mod:`quant_engine.kernels.special`, so the ``prange`` loops compile to SIMD code. Raw units
here: per 1.00 of the underlying, of volatility, of rates; time in years; time Greeks are
derivatives with respect to the *passage* of time (``d/dt = -d/dT``), so a long option's theta is
negative. Unit conversions (per day, per vol point, vendor conventions) are done by the caller.

Output rows (``out[k, i]`` for contract ``i``), by ``level``:

* level 1: price, delta, vega, theta, rho, epsilon, lambda
* level 2: + gamma, vanna, charm, vomma, veta, vera
* level 3: + speed, zomma, color, ultima
* level 4: + d1, d2, dual_delta, dual_gamma

A contract with a non-finite or non-positive spot, strike, expiry or volatility, or a non-finite
rate or yield, gets NaN in every row and status 4 (``invalid_input``); otherwise status 0.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch
from quant_engine.kernels.special import INV_SQRT_2PI, fexp, flog, norm_tail

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = ["greeks_kernel", "price_kernel", "COLUMNS", "LEVEL_ROWS", "STATUS_OK", "STATUS_INVALID"]

COLUMNS: tuple[str, ...] = (
    "price",
    "delta",
    "vega",
    "theta",
    "rho",
    "epsilon",
    "lambda",
    "gamma",
    "vanna",
    "charm",
    "vomma",
    "veta",
    "vera",
    "speed",
    "zomma",
    "color",
    "ultima",
    "d1",
    "d2",
    "dual_delta",
    "dual_gamma",
)
"""Row names of the kernel output, in order."""
LEVEL_ROWS = (0, 7, 13, 17, 21)
"""``LEVEL_ROWS[level]`` = number of rows written at that level."""
STATUS_OK = 0
STATUS_INVALID = 4
_INV_SQRT2 = 0.7071067811865476


@nb.njit(cache=True, nogil=True, inline="always")
def _valid(s: float, k: float, t: float, r: float, q: float, v: float) -> bool:
    return (
        s > 0.0
        and k > 0.0
        and t > 0.0
        and v > 0.0
        and s < np.inf
        and k < np.inf
        and t < np.inf
        and v < np.inf
        and abs(r) < np.inf
        and abs(q) < np.inf
    )


# Work rows of the per-block scratch array (see greeks_kernel).
_W_OK, _W_S, _W_K, _W_T, _W_R, _W_Q, _W_SIG, _W_SGN = 0, 1, 2, 3, 4, 5, 6, 7
_W_SQT, _W_D1, _W_D2, _W_NSD1, _W_NSD2, _W_PDF1, _W_PDF2, _W_DFQ, _W_DFR = 8, 9, 10, 11, 12, 13, 14, 15, 16
_NW = 17
BLOCK = 512
"""Contracts per work block: each thread processes whole blocks whose scratch rows stay in cache."""


@nb.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def greeks_kernel(spot, strike, expiry, rate, dividend, vol, is_call, black76, level, out, status):  # type: ignore[no-untyped-def]
    """Fills ``out[:LEVEL_ROWS[level], i]`` and ``status[i]`` for every contract ``i``.

    ``dividend`` is the continuous yield ``q`` (ignored when ``black76``: the carry is zero, as
    if ``q = r``); ``is_call`` is 1 for calls, 0 for puts.

    Each block of contracts goes through short loops over a scratch array: one that reads the
    inputs and evaluates the transcendental functions, then one per Greek order that only reads
    the scratch rows. Loops touching few distinct arrays need few runtime alias checks, so LLVM
    vectorizes every one of them (one long loop writing 13 output rows from 7 input arrays
    exceeds its alias-check budget and stays scalar, about 4x slower).
    """
    n = spot.shape[0]
    nblocks = (n + BLOCK - 1) // BLOCK
    nan = np.nan
    for blk in nb.prange(nblocks):
        lo = blk * BLOCK
        m = min(BLOCK, n - lo)
        w = np.empty((_NW, BLOCK))
        for j in range(m):
            i = lo + j
            s0 = spot[i]
            k0 = strike[i]
            t0 = expiry[i]
            r0 = rate[i]
            q0 = dividend[i]
            v0 = vol[i]
            ok = _valid(s0, k0, t0, r0, q0, v0)
            # Invalid rows are computed on benign inputs and masked with NaN (branch-free loop).
            s = s0 if ok else 1.0
            k = k0 if ok else 1.0
            t = t0 if ok else 1.0
            sig = v0 if ok else 0.2
            r = r0 if ok else 0.0
            q = r if black76 else (q0 if ok else 0.0)  # Black-76: zero carry, b = r - q = 0
            sgn = 1.0 if is_call[i] else -1.0
            sqt = np.sqrt(t)
            sv = sig * sqt
            d1 = (flog(s / k) + (r - q + 0.5 * sig * sig) * t) / sv
            d2 = d1 - sv
            e1 = fexp(-0.5 * d1 * d1)
            e2 = fexp(-0.5 * d2 * d2)
            tail1 = norm_tail(d1, e1)
            tail2 = norm_tail(d2, e2)
            w[_W_OK, j] = 1.0 if ok else 0.0
            w[_W_S, j] = s
            w[_W_K, j] = k
            w[_W_T, j] = t
            w[_W_R, j] = r
            w[_W_Q, j] = q
            w[_W_SIG, j] = sig
            w[_W_SGN, j] = sgn
            w[_W_SQT, j] = sqt
            w[_W_D1, j] = d1
            w[_W_D2, j] = d2
            w[_W_NSD1, j] = tail1 if sgn * d1 < 0.0 else 1.0 - tail1  # N(sgn d1)
            w[_W_NSD2, j] = tail2 if sgn * d2 < 0.0 else 1.0 - tail2  # N(sgn d2)
            w[_W_PDF1, j] = e1 * INV_SQRT_2PI
            w[_W_PDF2, j] = e2 * INV_SQRT_2PI
            w[_W_DFQ, j] = fexp(-q * t)  # e^{(b - r) T}
            w[_W_DFR, j] = fexp(-r * t)
        for j in range(m):
            i = lo + j
            ok = w[_W_OK, j] != 0.0
            s = w[_W_S, j]
            t = w[_W_T, j]
            r = w[_W_R, j]
            q = w[_W_Q, j]
            sig = w[_W_SIG, j]
            sgn = w[_W_SGN, j]
            sqt = w[_W_SQT, j]
            dfq = w[_W_DFQ, j]
            pdf1 = w[_W_PDF1, j]
            sdf = s * dfq
            a = sdf * w[_W_NSD1, j]
            c = w[_W_K, j] * w[_W_DFR, j] * w[_W_NSD2, j]
            price = max(sgn * (a - c), 0.0)  # rounding can leave -1e-17 far out of the money
            delta = sgn * dfq * w[_W_NSD1, j]
            vega = sdf * pdf1 * sqt
            theta = -sdf * pdf1 * sig / (2.0 * sqt) + sgn * (q * a - r * c)
            rho = -t * price if black76 else sgn * t * c
            lam = delta * s / price if price > 0.0 else nan
            out[0, i] = price if ok else nan
            out[1, i] = delta if ok else nan
            out[2, i] = vega if ok else nan
            out[3, i] = theta if ok else nan
            out[4, i] = rho if ok else nan
            out[5, i] = (-sgn * t * a) if ok else nan
            out[6, i] = lam if ok else nan
            status[i] = STATUS_OK if ok else STATUS_INVALID
        if level >= 2:
            for j in range(m):
                i = lo + j
                ok = w[_W_OK, j] != 0.0
                s = w[_W_S, j]
                t = w[_W_T, j]
                q = w[_W_Q, j]
                b = w[_W_R, j] - q
                sig = w[_W_SIG, j]
                sqt = w[_W_SQT, j]
                sv = sig * sqt
                d1 = w[_W_D1, j]
                d2 = w[_W_D2, j]
                dfq = w[_W_DFQ, j]
                pdf1 = w[_W_PDF1, j]
                vega = s * dfq * pdf1 * sqt
                dd1dt = b / sv - d2 / (2.0 * t)  # d(d1)/dT
                vera = -t * vega if black76 else -t * w[_W_K, j] * w[_W_DFR, j] * w[_W_PDF2, j] * d1 / sig
                out[7, i] = (dfq * pdf1 / (s * sv)) if ok else nan
                out[8, i] = (-dfq * pdf1 * d2 / sig) if ok else nan
                out[9, i] = (w[_W_SGN, j] * q * dfq * w[_W_NSD1, j] - dfq * pdf1 * dd1dt) if ok else nan
                out[10, i] = (vega * d1 * d2 / sig) if ok else nan
                out[11, i] = (vega * (q + b * d1 / sv - (1.0 + d1 * d2) / (2.0 * t))) if ok else nan
                out[12, i] = vera if ok else nan
        if level >= 3:
            for j in range(m):
                i = lo + j
                ok = w[_W_OK, j] != 0.0
                s = w[_W_S, j]
                t = w[_W_T, j]
                q = w[_W_Q, j]
                b = w[_W_R, j] - q
                sig = w[_W_SIG, j]
                sqt = w[_W_SQT, j]
                sv = sig * sqt
                d1 = w[_W_D1, j]
                d2 = w[_W_D2, j]
                d12 = d1 * d2
                dfq = w[_W_DFQ, j]
                pdf1 = w[_W_PDF1, j]
                gamma = dfq * pdf1 / (s * sv)
                vega = s * dfq * pdf1 * sqt
                out[13, i] = (-gamma / s * (d1 / sv + 1.0)) if ok else nan
                out[14, i] = (gamma * (d12 - 1.0) / sig) if ok else nan
                out[15, i] = (gamma * (q + b * d1 / sv - (d12 - 1.0) / (2.0 * t))) if ok else nan
                out[16, i] = (-vega / (sig * sig) * (d12 * (1.0 - d12) + d1 * d1 + d2 * d2)) if ok else nan
        if level >= 4:
            for j in range(m):
                i = lo + j
                ok = w[_W_OK, j] != 0.0
                sv = w[_W_SIG, j] * w[_W_SQT, j]
                dfr = w[_W_DFR, j]
                out[17, i] = w[_W_D1, j] if ok else nan
                out[18, i] = w[_W_D2, j] if ok else nan
                out[19, i] = (-w[_W_SGN, j] * dfr * w[_W_NSD2, j]) if ok else nan
                out[20, i] = (dfr * w[_W_PDF2, j] / (w[_W_K, j] * sv)) if ok else nan


@nb.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def price_kernel(spot, strike, expiry, rate, dividend, vol, is_call, black76, out):  # type: ignore[no-untyped-def]
    """Prices only (NaN for invalid contracts): the cheapest path for pricing whole chains."""
    n = spot.shape[0]
    for i in nb.prange(n):
        s = spot[i]
        k = strike[i]
        t = expiry[i]
        r = rate[i]
        q = r if black76 else dividend[i]
        sig = vol[i]
        ok = _valid(s, k, t, r, q, sig)
        s = s if ok else 1.0
        k = k if ok else 1.0
        t = t if ok else 1.0
        sig = sig if ok else 0.2
        r = r if ok else 0.0
        q = q if ok else 0.0
        sgn = 1.0 if is_call[i] else -1.0
        sv = sig * np.sqrt(t)
        d1 = (flog(s / k) + (r - q + 0.5 * sig * sig) * t) / sv
        d2 = d1 - sv
        tail1 = norm_tail(d1, fexp(-0.5 * d1 * d1))
        tail2 = norm_tail(d2, fexp(-0.5 * d2 * d2))
        n_sd1 = tail1 if sgn * d1 < 0.0 else 1.0 - tail1
        n_sd2 = tail2 if sgn * d2 < 0.0 else 1.0 - tail2
        price = max(sgn * (s * fexp(-q * t) * n_sd1 - k * fexp(-r * t) * n_sd2), 0.0)
        out[i] = price if ok else np.nan
