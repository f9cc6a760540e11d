"""Numba kernel: implied volatility to machine precision (generalized Black-Scholes-Merton).

Method (after P. Jäckel, "By implication", 2006, and "Let's be rational", 2015):

1. Normalize. With forward ``F = S e^{(r-q)T}`` (Black-76: ``F`` = the futures price),
   undiscounted price ``p = P e^{rT}`` and ``x = ln(F/K)``, the *time value* ``p - intrinsic`` is
   the same for the call and the put (parity), so every contract becomes an out-of-the-money
   call with ``x <= 0`` and normalized price ``beta = (p - intrinsic) / sqrt(F K)`` in
   ``(0, e^{x/2})``. Solving for ``s = sigma sqrt(T)`` in
   ``b(x, s) = e^{x/2} Phi(x/s + s/2) - e^{-x/2} Phi(x/s - s/2)``.
2. Evaluate ``b`` and ``e^{x/2} - b`` without cancellation or underflow (``normalized_black``):
   with ``h = x/s``, ``t = s/2``, ``E = exp(-(h^2 + t^2)/2)``: an erf series for small total
   volatility near the money (``|h| + t <= 1``); otherwise
   ``b = E/2 [erfcx(-(h+t)/sqrt2) - erfcx((t-h)/sqrt2)]`` below the inflection point
   ``s_c = sqrt(2|x|)`` and ``e^{x/2} - b = E/2 [erfcx((h+t)/sqrt2) + erfcx((t-h)/sqrt2)]`` above it.
3. Start from closed-form guesses on each side of ``s_c`` (the root lies on the side where
   ``beta`` falls relative to ``b(x, s_c)``, which also brackets it): above, Jäckel's 2006
   guess; below, his guess refined by matching the slope of ``ln b`` at ``s_c``. Then apply
   Halley steps to an objective chosen so that it is smooth and nearly linear where the root
   is (see ``_halley``): two or three steps reach double precision. Steps that leave the
   bracket are replaced by bisection.
4. Run in blocks of ``_BLOCK`` contracts: vectorized passes (normalization, guesses, then
   ``_SIMD_STEPS`` Halley steps for every contract in lock-step), then a scalar pass that
   finishes the rare contracts whose last relative step was still above ``_STEP_TOL``.

Status codes (one byte per contract, see ``STATUS_NAMES``):
0 ``ok``; 1 ``below_intrinsic`` (price under the no-arbitrage lower bound); 2 ``above_upper_bound``
(price at or over the upper bound ``S e^{-qT}`` for calls, ``K e^{-rT}`` for puts); 3
``no_time_value`` (price equals intrinsic value to within rounding, or the time value is below
1e-300 of ``sqrt(F K)``: volatility not identifiable); 4 ``invalid_input`` (non-finite or
non-positive spot, strike or expiry, non-finite price, rate or yield; a negative price is
``below_intrinsic``);
5 ``no_convergence`` (a safeguard; not observed). The volatility is NaN unless the status is 0.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch
from quant_engine.kernels.special import (
    INV_SQRT_2PI,
    erf_small,
    erfcx_pos,
    fexp,
    flog,
    norm_tail,
)

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = ["implied_vol_kernel", "normalized_black", "STATUS_NAMES"]

STATUS_NAMES: tuple[str, ...] = (
    "ok",
    "below_intrinsic",
    "above_upper_bound",
    "no_time_value",
    "invalid_input",
    "no_convergence",
    "implausible_vol",
    "implausible_rate",
)
"""Names of the status codes, by code. Codes 6 and 7 are set by the pricing functions, never by
this kernel: the row was computed, but its volatility is above 5 (500 %) or its rate or yield
above 1 (100 %) in magnitude, most likely a percentage given for a fraction (20 for 0.20)."""
_OK, _BELOW, _ABOVE, _NO_TV, _INVALID, _NO_CONV = 0, 1, 2, 3, 4, 5
_INV_SQRT2 = 0.7071067811865476
_EPS = 2.220446049250313e-16
_TINY = 1e-300
_MAX_ITER = 24
_STEP_TOL = 1e-9
"""Halley converges cubically: after a relative step below 1e-9 the error is far below 1 ulp."""


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _inv_norm_lower(p: float) -> float:
    """Phi^{-1}(p) for 0 < p <= 1/2 to about 4.5e-4 (Abramowitz & Stegun 26.2.23): a guess."""
    t = np.sqrt(-2.0 * flog(p))
    num = 2.515517 + t * (0.802853 + t * 0.010328)
    den = 1.0 + t * (1.432788 + t * (0.189269 + t * 0.001308))
    return -(t - num / den)


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _two_sinh_half(x: float) -> float:
    """2 sinh(x/2) for |x| <= 1 without cancellation (odd series to x^13)."""
    x2 = x * x
    p = 1.0 / 25505877196800.0
    p = 1.0 / 40874803200.0 + x2 * p
    p = 1.0 / 92897280.0 + x2 * p
    p = 1.0 / 322560.0 + x2 * p
    p = 1.0 / 1920.0 + x2 * p
    p = 1.0 / 24.0 + x2 * p
    return x * (1.0 + x2 * p)


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def normalized_black(x: float, s: float) -> tuple[float, float, float]:
    """For ``x <= 0``, ``s > 0``: (b, e^{x/2} - b, db/ds) of the normalized OTM call price.

    Three exact forms, each used where it loses least to cancellation: for ``|h| + t <= 1``
    (small total vol near the money, where ``b`` is small but both normal CDFs are near 1/2)
    ``b = e^{x/2}/2 [erf((h+t)/sqrt2) - erf((h-t)/sqrt2)] + Phi(h-t) 2 sinh(x/2)``; otherwise
    below ``s_c`` the difference of two scaled complementary error functions, above it
    ``b = e^{x/2} - u`` with ``u`` a sum of two such terms.
    """
    return _normalized_black(x, s, fexp(0.5 * x), _two_sinh_half(max(x, -1.0)))


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _normalized_black(x: float, s: float, bmax: float, sinh2: float) -> tuple[float, float, float]:
    """:func:`normalized_black` given ``bmax = e^{x/2}`` and ``sinh2 = 2 sinh(x/2)`` (the
    latter only needed, and only accurate, for ``|x| <= 1``)."""
    h = x / s
    t = 0.5 * s
    e = fexp(-0.5 * (h * h + t * t))
    near = erfcx_pos(abs(h + t) * _INV_SQRT2)
    far = erfcx_pos((t - h) * _INV_SQRT2)
    below = h + t <= 0.0
    b_low = 0.5 * e * (near - far)
    u_high = 0.5 * e * (near + far)
    small = abs(h) + t <= 1.0  # both erf arguments within 0.71 (and |x| = 2|h|t <= 1/2)
    b_small = 0.5 * bmax * (erf_small((h + t) * _INV_SQRT2) - erf_small((h - t) * _INV_SQRT2))
    b_small = b_small + 0.5 * e * bmax * far * sinh2
    b = b_small if small else (b_low if below else bmax - u_high)
    u = bmax - b if small or below else u_high
    return b, u, e * INV_SQRT_2PI


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _guess(x: float, beta: float, bmax: float) -> tuple[float, float, float, float, float]:
    """Initial guess: (s0, lo, hi, objective mode 0/1/2, objective target); see the module docstring."""
    ax = -x
    s_c = np.sqrt(2.0 * ax)
    # b at the inflection point in closed form: there h = -t, so E = e^{x/2} = bmax, the near
    # term is erfcx(0) = 1 and the far one erfcx(sqrt|x|); for |x| <= 1/2 (s_c <= 1) the erf form.
    root = np.sqrt(ax)
    far = erfcx_pos(root)
    b_small = 0.5 * bmax * (erf_small(min(root, 0.75)) + bmax * far * _two_sinh_half(max(x, -1.0)))
    b_c = b_small if s_c <= 1.0 else 0.5 * bmax * (1.0 - far)
    u_c = bmax - b_c
    db_c = bmax * INV_SQRT_2PI
    lower = beta < b_c
    mode = 0.0 if lower else (1.0 if beta < 0.5 * bmax else 2.0)
    # Below s_c: ln b(s) ~ ln b_c + (|x|/4)(1 - v) - (gamma/2) ln v with v = (s_c/s)^2. gamma = 0
    # is Jäckel's 2006 guess; gamma matched to the slope of ln b at s_c (the tail asymptotics
    # give gamma -> 3) makes it several times more accurate. Solved for v by Newton from the
    # gamma = 0 root (F is convex and decreasing, so the iterates approach the root from below).
    big_l = flog(max(beta / max(b_c, _TINY), _TINY))
    gamma = max(s_c * db_c / max(b_c, _TINY) - 0.5 * ax, 0.0)
    v = 1.0 - 4.0 * big_l / max(ax, _TINY)
    for _ in range(3):
        fv = 0.25 * ax * (1.0 - v) - 0.5 * gamma * flog(v) - big_l
        v = max(v - fv / (-0.25 * ax - 0.5 * gamma / v), 1.0)
    s_low = s_c / np.sqrt(v)
    tail = norm_tail(np.sqrt(0.5 * ax), np.sqrt(bmax))  # Phi(-sqrt(|x|/2)); exp(-|x|/4) = sqrt(bmax)
    s_high = -2.0 * _inv_norm_lower(max(tail * (bmax - beta) / u_c, _TINY))
    s = s_low if lower else s_high
    lo = 0.0 if lower else s_c
    hi = s_c if lower else np.inf
    log_arg = flog(bmax - beta if mode == 2.0 else beta)
    target = 1.0 / log_arg if lower else log_arg
    inside = (s > lo) & (s < hi)
    fallback = 0.5 * (lo + hi) if hi < np.inf else 2.0 * lo + 1.0
    return (s if inside else fallback), lo, hi, mode, target


@nb.njit(cache=True, nogil=True, inline="always", error_model="numpy")
def _halley(
    x: float, s: float, lo: float, hi: float, mode: float, target: float, bmax: float, sinh2: float
) -> tuple[float, float, float]:
    """One safeguarded Halley step on the objective of ``mode``: (s_new, lo, hi).

    Objectives, all increasing in s: mode 0 (below s_c) ``1/ln(beta) - 1/ln(b)``, nearly
    quadratic in s as s -> 0 where ``ln b ~ -x^2/(2 s^2)``; mode 1 (above s_c, beta < e^{x/2}/2)
    ``ln b - ln beta``; mode 2 (beta near its bound) ``ln(e^{x/2} - beta) - ln(e^{x/2} - b)``.
    """
    b, u, db = _normalized_black(x, s, bmax, sinh2)
    d2b = db * (x * x / (s * s * s) - 0.25 * s)
    upper = mode == 2.0
    v = max(u if upper else b, _TINY)
    lnv = flog(v)
    l1 = db / v  # d ln b / ds (modes 0, 1) or -d ln u / ds (mode 2)
    inv = 1.0 / lnv
    if mode == 0.0:
        f = target - inv
        g1 = l1 * inv * inv
        g2 = (d2b / v - l1 * l1 - 2.0 * l1 * l1 * inv) * inv * inv
    elif mode == 1.0:
        f = lnv - target
        g1 = l1
        g2 = d2b / v - l1 * l1
    else:
        f = target - lnv
        g1 = l1
        g2 = d2b / v + l1 * l1
    hi = min(hi, s) if f > 0.0 else hi
    lo = max(lo, s) if f < 0.0 else lo
    newton = -f / g1
    denom = 1.0 + 0.5 * newton * g2 / g1
    step = newton / denom if denom > 0.5 else newton
    s_new = s + step
    s_new = s if f == 0.0 else s_new
    bisect = 0.5 * (lo + hi) if hi < np.inf else 2.0 * s
    ok = ((s_new >= lo) & (s_new <= hi) & (s_new > 0.0)) | (f == 0.0)
    return (s_new if ok else bisect), lo, hi


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _solve(x: float, beta: float, bmax: float) -> tuple[float, int]:
    """s > 0 with b(x, s) = beta for x <= 0 and 0 < beta < bmax = e^{x/2}; (s, status)."""
    s, lo, hi, mode, target = _guess(x, beta, bmax)
    return _polish(x, s, lo, hi, mode, target, bmax, _two_sinh_half(max(x, -1.0)), _MAX_ITER)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _polish(
    x: float, s: float, lo: float, hi: float, mode: float, target: float, bmax: float, sinh2: float, iterations: int
) -> tuple[float, int]:
    """Halley steps until the relative step is below ``_STEP_TOL``: (s, status)."""
    for _ in range(iterations):
        s_new, lo, hi = _halley(x, s, lo, hi, mode, target, bmax, sinh2)
        if abs(s_new - s) <= _STEP_TOL * s:
            return s_new, _OK
        s = s_new
    return s, _NO_CONV


_R_X, _R_S, _R_LO, _R_HI, _R_MODE, _R_TARGET, _R_STEP, _R_CODE, _R_BMAX, _R_SINH = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
_NR = 10
_BLOCK = 256
_SIMD_STEPS = 3
"""Halley steps done for every contract of a block in lock-step (vectorized); the few contracts
whose last step was still large continue one by one."""


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _normalize_block(price, spot, strike, expiry, rate, dividend, is_call, black76, lo_i, m, w):  # type: ignore[no-untyped-def]
    """Pass 1 over a block: validation, status codes, normalization and initial guesses."""
    for j in range(m):
        i = lo_i + j
        p0 = price[i]
        s0 = spot[i]
        k = strike[i]
        t = expiry[i]
        r = rate[i]
        q = r if black76 else dividend[i]
        valid = (
            (s0 > 0.0)
            & (k > 0.0)
            & (t > 0.0)
            & (abs(p0) < np.inf)
            & (s0 < np.inf)
            & (k < np.inf)
            & (t < np.inf)
            & (abs(r) < np.inf)
            & (abs(q) < np.inf)
        )
        s0 = s0 if valid else 1.0
        k = k if valid else 1.0
        t = t if valid else 1.0
        r = r if valid else 0.0
        q = q if valid else 0.0
        p0 = p0 if valid else 0.1
        fwd = s0 * fexp((r - q) * t)
        p = p0 * fexp(r * t)  # undiscounted
        x = flog(fwd / k)
        call = is_call[i] != 0
        intrinsic = max(fwd - k, 0.0) if call else max(k - fwd, 0.0)
        upper = fwd if call else k
        tv = p - intrinsic
        beta = tv / np.sqrt(fwd * k)
        xm = -abs(x)
        bmax = fexp(0.5 * xm)
        # Later checks take precedence over earlier ones.
        code = _ABOVE if (p >= upper) | (beta >= bmax * (1.0 - 4.0 * _EPS)) else _OK
        code = _NO_TV if (beta <= _TINY) | (tv <= 4.0 * _EPS * intrinsic) else code
        code = _BELOW if tv < -4.0 * _EPS * intrinsic else code
        code = code if valid else _INVALID
        w[_R_CODE, j] = code
        w[_R_X, j] = xm
        w[_R_S, j] = beta if code == _OK else 0.5 * bmax  # beta until _guess_block
        w[_R_LO, j] = bmax
    _guess_block(m, w)


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _guess_block(m, w):  # type: ignore[no-untyped-def]
    """Initial guesses and brackets for a block (a loop of its own: it vectorizes)."""
    for j in range(m):
        x = w[_R_X, j]
        bmax = w[_R_LO, j]
        s, lo, hi, mode, target = _guess(x, w[_R_S, j], bmax)
        w[_R_BMAX, j] = bmax
        w[_R_SINH, j] = _two_sinh_half(max(x, -1.0))
        w[_R_S, j] = s
        w[_R_LO, j] = lo
        w[_R_HI, j] = hi
        w[_R_MODE, j] = mode
        w[_R_TARGET, j] = target


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _halley_block(m, w):  # type: ignore[no-untyped-def]
    """One Halley step for every contract of a block (vectorized; lanes that are done stay put)."""
    for j in range(m):
        s = w[_R_S, j]
        s_new, lo, hi = _halley(
            w[_R_X, j], s, w[_R_LO, j], w[_R_HI, j], w[_R_MODE, j], w[_R_TARGET, j], w[_R_BMAX, j], w[_R_SINH, j]
        )
        w[_R_S, j] = s_new
        w[_R_LO, j] = lo
        w[_R_HI, j] = hi
        w[_R_STEP, j] = abs(s_new - s) / s


@nb.njit(cache=True, nogil=True, error_model="numpy")
def _finish_block(expiry, lo_i, m, w, vol_out, status_out):  # type: ignore[no-untyped-def]
    """Last passes: results written out (vectorized), then the rare contracts whose last step
    was still large continue one by one and overwrite theirs."""
    for j in range(m):
        i = lo_i + j
        code = w[_R_CODE, j]
        vol_out[i] = w[_R_S, j] / np.sqrt(expiry[i]) if code == _OK else np.nan
        status_out[i] = np.uint8(code)
    for j in range(m):
        if w[_R_CODE, j] == _OK and not (w[_R_STEP, j] <= _STEP_TOL):
            i = lo_i + j
            s, code = _polish(
                w[_R_X, j],
                w[_R_S, j],
                w[_R_LO, j],
                w[_R_HI, j],
                w[_R_MODE, j],
                w[_R_TARGET, j],
                w[_R_BMAX, j],
                w[_R_SINH, j],
                _MAX_ITER,
            )
            vol_out[i] = s / np.sqrt(expiry[i]) if code == _OK else np.nan
            status_out[i] = code


@nb.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
def implied_vol_kernel(price, spot, strike, expiry, rate, dividend, is_call, black76, vol_out, status_out):  # type: ignore[no-untyped-def]
    """Fills ``vol_out[i]`` (annualized volatility, NaN unless ok) and ``status_out[i]``.

    ``price`` is the option's present value, ``spot`` the underlying (the futures price when
    ``black76``), ``dividend`` the continuous yield (ignored when ``black76``).

    Contracts go through in blocks: a vectorized pass normalizes them and computes the initial
    guesses, ``_SIMD_STEPS`` vectorized passes apply Halley steps to every contract, and a last
    scalar pass finishes the rare contracts that have not converged yet.
    """
    n = price.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for blk in nb.prange(nblocks):
        lo_i = blk * _BLOCK
        m = min(_BLOCK, n - lo_i)
        w = np.empty((_NR, _BLOCK))  # one scratch array: few alias checks, vectorized loops
        w[_R_STEP, :] = np.inf
        _normalize_block(price, spot, strike, expiry, rate, dividend, is_call, black76, lo_i, m, w)
        for _ in range(_SIMD_STEPS):
            _halley_block(m, w)
        _finish_block(expiry, lo_i, m, w, vol_out, status_out)
