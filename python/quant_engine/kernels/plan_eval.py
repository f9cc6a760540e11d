"""The Numba evaluator of compiled strategy plans.

One interpreter, compiled once and cached on disk, runs every plan: it dispatches each
instruction to a vectorized kernel that processes a whole symbol segment, so the interpretation
cost is paid per instruction, not per bar. There is no code generation.

* :func:`eval_shared` runs concrete instructions (the ones shared by several parameter
  combinations, or all of them for a single backtest) level by level, in parallel over
  (instruction, symbol) pairs, writing rows of the shared ``slab``.
* :func:`eval_combos` runs, for each parameter combination, the instructions specific to it
  (into per-thread scratch rows) and packs the four rule roots into signal bytes, plus the
  per-bar stop distances when a stop depends on the bar (ATR stops).

Signal byte bits: 1 = entry long, 2 = exit long, 4 = entry short, 8 = exit short.
Conditions are three-valued floats: 1.0 true, 0.0 false, NaN unknown; only true sets a bit.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch
from quant_engine.kernels import indicators as ind
from quant_engine.kernels.plan_ops import (
    ABS,
    ADD,
    AND,
    CALL,
    CROSS,
    DIV,
    EMA,
    FILL,
    GE,
    GT,
    K_CONST,
    K_FIELD,
    K_NONE,
    K_PARAM,
    K_SCRATCH,
    K_SLAB,
    LAG,
    LOG,
    MAX,
    MIN,
    MUL,
    NEG,
    NOT,
    OR,
    RMAX,
    RMIN,
    RSI,
    RSUM,
    SESSION_SUM,
    SMA,
    STD,
    SUB,
    TRUE_RANGE,
    WILDER,
    WMA,
)

compile_watch.install()  # notice + compile time of first-run compilations

__all__ = [
    "eval_shared",
    "eval_combos",
    "noop_operator",
    "SIG_ENTRY_LONG",
    "SIG_EXIT_LONG",
    "SIG_ENTRY_SHORT",
    "SIG_EXIT_SHORT",
]

SIG_ENTRY_LONG, SIG_EXIT_LONG, SIG_ENTRY_SHORT, SIG_EXIT_SHORT = 1, 2, 4, 8
_NAN = np.nan

# code columns
_OP, _OUT_KIND, _OUT_ROW, _FN, _N_IN, _N_INT = 0, 1, 2, 3, 4, 5


@nb.njit("void(float64[:, :], int64[::1], float64[::1], float64[::1])", cache=True, nogil=True)
def noop_operator(inputs, iparams, fparams, out):  # type: ignore[no-untyped-def]
    """Placeholder in the user-operator tuple when a plan calls none (never executed)."""
    out[:] = np.nan


@nb.njit(cache=True, nogil=True)
def _series(k, v, fields, slab, scratch, row_map, s, e):  # type: ignore[no-untyped-def]
    r = np.int64(v)
    if k == K_FIELD:
        return fields[r][s:e]
    if k == K_SLAB:
        return slab[r, s:e]
    if k == K_SCRATCH:
        return scratch[r, s:e]
    return slab[row_map[r], s:e]


@nb.njit(cache=True, nogil=True, inline="always")
def _scalar(k, v, params):  # type: ignore[no-untyped-def]
    if k == K_PARAM:
        return params[np.int64(v)]
    return v


@nb.njit(cache=True, nogil=True, inline="always")
def _is_scalar(k):  # type: ignore[no-untyped-def]
    return k == K_CONST or k == K_PARAM


@nb.njit(cache=True, nogil=True, inline="always")
def _f_add(x, y):  # type: ignore[no-untyped-def]
    return x + y


@nb.njit(cache=True, nogil=True, inline="always")
def _f_sub(x, y):  # type: ignore[no-untyped-def]
    return x - y


@nb.njit(cache=True, nogil=True, inline="always")
def _f_mul(x, y):  # type: ignore[no-untyped-def]
    return x * y


@nb.njit(cache=True, nogil=True, inline="always")
def _f_div(x, y):  # type: ignore[no-untyped-def]
    return x / y if y != 0.0 else _NAN


@nb.njit(cache=True, nogil=True, inline="always")
def _f_min(x, y):  # type: ignore[no-untyped-def]
    if x != x or y != y:
        return _NAN
    return x if x < y else y


@nb.njit(cache=True, nogil=True, inline="always")
def _f_max(x, y):  # type: ignore[no-untyped-def]
    if x != x or y != y:
        return _NAN
    return x if x > y else y


@nb.njit(cache=True, nogil=True, inline="always")
def _f_gt(x, y):  # type: ignore[no-untyped-def]
    if x != x or y != y:
        return _NAN
    return 1.0 if x > y else 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _f_ge(x, y):  # type: ignore[no-untyped-def]
    if x != x or y != y:
        return _NAN
    return 1.0 if x >= y else 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _f_and(x, y):  # type: ignore[no-untyped-def]
    if x == 0.0 or y == 0.0:
        return 0.0
    if x != x or y != y:
        return _NAN
    return 1.0


@nb.njit(cache=True, nogil=True, inline="always")
def _f_or(x, y):  # type: ignore[no-untyped-def]
    if x == 1.0 or y == 1.0:
        return 1.0
    if x != x or y != y:
        return _NAN
    return 0.0


@nb.njit(cache=True, nogil=True, inline="always")
def _f_neg(x):  # type: ignore[no-untyped-def]
    return -x


@nb.njit(cache=True, nogil=True, inline="always")
def _f_abs(x):  # type: ignore[no-untyped-def]
    return abs(x)


@nb.njit(cache=True, nogil=True, inline="always")
def _f_log(x):  # type: ignore[no-untyped-def]
    return np.log(x) if x > 0.0 else _NAN


@nb.njit(cache=True, nogil=True, inline="always")
def _f_not(x):  # type: ignore[no-untyped-def]
    return 1.0 - x


@nb.njit(cache=True, nogil=True, inline="always")
def _loop2(f, a, a_sc, a_is, b, b_sc, b_is, out):  # type: ignore[no-untyped-def]
    m = out.shape[0]
    if a_is and b_is:
        r = f(a_sc, b_sc)
        for i in range(m):
            out[i] = r
    elif a_is:
        for i in range(m):
            out[i] = f(a_sc, b[i])
    elif b_is:
        for i in range(m):
            out[i] = f(a[i], b_sc)
    else:
        for i in range(m):
            out[i] = f(a[i], b[i])


@nb.njit(cache=True, nogil=True, inline="always")
def _loop1(f, a, a_sc, a_is, out):  # type: ignore[no-untyped-def]
    m = out.shape[0]
    if a_is:
        r = f(a_sc)
        for i in range(m):
            out[i] = r
    else:
        for i in range(m):
            out[i] = f(a[i])


@nb.njit(cache=True, nogil=True)
def _cross(a, a_sc, a_is, b, b_sc, b_is, out):  # type: ignore[no-untyped-def]
    """``a`` crosses above ``b``: a > b now, a <= b on the previous bar (NaN if unknown)."""
    m = out.shape[0]
    if m == 0:
        return
    out[0] = _NAN
    for i in range(1, m):
        x = a_sc if a_is else a[i]
        y = b_sc if b_is else b[i]
        px = a_sc if a_is else a[i - 1]
        py = b_sc if b_is else b[i - 1]
        bad = (x != x) | (y != y) | (px != px) | (py != py)
        out[i] = _NAN if bad else np.float64((x > y) & (px <= py))


@nb.njit(cache=True, nogil=True)
def _exec(i, code, kind, val, params, fields, slab, scratch, row_map, funcs, s, e):  # type: ignore[no-untyped-def]
    """Runs instruction ``i`` over bars ``[s, e)`` (one symbol's segment)."""
    op = code[i, _OP]
    if code[i, _OUT_KIND] == K_SLAB:
        out = slab[code[i, _OUT_ROW], s:e]
    else:
        out = scratch[code[i, _OUT_ROW], s:e]
    k0 = kind[i, 0]
    k1 = kind[i, 1]
    dummy = fields[0][s:e]
    a_is = _is_scalar(k0)
    b_is = _is_scalar(k1)
    a = dummy if (a_is or k0 == K_NONE) else _series(k0, val[i, 0], fields, slab, scratch, row_map, s, e)
    a_sc = _scalar(k0, val[i, 0], params) if a_is else 0.0
    if (
        op == ADD
        or op == SUB
        or op == MUL
        or op == DIV
        or op == MIN
        or op == MAX
        or op == GT
        or op == GE
        or op == AND
        or op == OR
        or op == CROSS
    ):
        b = dummy if b_is else _series(k1, val[i, 1], fields, slab, scratch, row_map, s, e)
        b_sc = _scalar(k1, val[i, 1], params) if b_is else 0.0
        if op == ADD:
            _loop2(_f_add, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == SUB:
            _loop2(_f_sub, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == MUL:
            _loop2(_f_mul, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == DIV:
            _loop2(_f_div, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == MIN:
            _loop2(_f_min, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == MAX:
            _loop2(_f_max, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == GT:
            _loop2(_f_gt, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == GE:
            _loop2(_f_ge, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == AND:
            _loop2(_f_and, a, a_sc, a_is, b, b_sc, b_is, out)
        elif op == OR:
            _loop2(_f_or, a, a_sc, a_is, b, b_sc, b_is, out)
        else:
            _cross(a, a_sc, a_is, b, b_sc, b_is, out)
        return
    if op == NEG:
        _loop1(_f_neg, a, a_sc, a_is, out)
    elif op == ABS:
        _loop1(_f_abs, a, a_sc, a_is, out)
    elif op == LOG:
        _loop1(_f_log, a, a_sc, a_is, out)
    elif op == NOT:
        _loop1(_f_not, a, a_sc, a_is, out)
    elif op == FILL:
        out[:] = a_sc
    elif op == TRUE_RANGE:
        b = _series(k1, val[i, 1], fields, slab, scratch, row_map, s, e)
        c = _series(kind[i, 2], val[i, 2], fields, slab, scratch, row_map, s, e)
        ind.true_range(a, b, c, out)
    elif op == SESSION_SUM:
        b = _series(k1, val[i, 1], fields, slab, scratch, row_map, s, e)
        ind.session_sum(a, b, out)
    elif op == CALL:
        n_in = code[i, _N_IN]
        n_int = code[i, _N_INT]
        m = e - s
        buf = np.empty((max(n_in, 1), m), np.float64)
        for j in range(n_in):
            src = _series(kind[i, j], val[i, j], fields, slab, scratch, row_map, s, e)
            for t in range(m):
                buf[j, t] = src[t]
        ip = np.empty(n_int, np.int64)
        for j in range(n_int):
            ip[j] = np.int64(_scalar(kind[i, n_in + j], val[i, n_in + j], params))
        n_float = 0
        for j in range(n_in + n_int, kind.shape[1]):
            if kind[i, j] != K_NONE:
                n_float += 1
        fp = np.empty(n_float, np.float64)
        for j in range(n_float):
            fp[j] = _scalar(kind[i, n_in + n_int + j], val[i, n_in + n_int + j], params)
        tmp = np.empty(m, np.float64)
        funcs[code[i, _FN]](buf, ip, fp, tmp)
        for t in range(m):
            out[t] = tmp[t]
    else:
        n = np.int64(_scalar(k1, val[i, 1], params))
        if op == SMA:
            ind.sma(a, n, out)
        elif op == EMA:
            ind.ema(a, n, out)
        elif op == WILDER:
            ind.wilder(a, n, out)
        elif op == WMA:
            ind.wma(a, n, out)
        elif op == STD:
            ind.rolling_std(a, n, np.int64(_scalar(kind[i, 2], val[i, 2], params)), out)
        elif op == RMIN:
            ind.rolling_min(a, n, out)
        elif op == RMAX:
            ind.rolling_max(a, n, out)
        elif op == RSUM:
            ind.rolling_sum(a, n, out)
        elif op == LAG:
            ind.lag(a, n, out)
        elif op == RSI:
            ind.rsi(a, n, out)


@nb.njit(cache=True, nogil=True, parallel=True)
def eval_shared(code, kind, val, levels, fields, slab, seg, funcs):  # type: ignore[no-untyped-def]
    """Runs concrete instructions (no parameters, outputs in ``slab``), level by level
    (``levels[j]:levels[j+1]`` are independent), in parallel over (instruction, segment)."""
    nseg = seg.shape[0] - 1
    params = np.zeros(1, np.float64)
    scratch = np.empty((1, 1), np.float64)
    row_map = np.zeros(1, np.int64)
    for lv in range(levels.shape[0] - 1):
        lo = levels[lv]
        ntask = (levels[lv + 1] - lo) * nseg
        for t in nb.prange(ntask):
            i = lo + t // nseg
            g = t % nseg
            _exec(i, code, kind, val, params, fields, slab, scratch, row_map, funcs, seg[g], seg[g + 1])


@nb.njit(cache=True, nogil=True, inline="always")
def _cond(op, x, y, px, py):  # type: ignore[no-untyped-def]
    if op == GT:
        return _f_gt(x, y)
    if op == GE:
        return _f_ge(x, y)
    if op == AND:
        return _f_and(x, y)
    if op == OR:
        return _f_or(x, y)
    if op == NOT:
        return _f_not(x)
    # CROSS
    if x != x or y != y or px != px or py != py:
        return _NAN
    return 1.0 if (x > y and px <= py) else 0.0


@nb.njit(cache=True, nogil=True)
def _root_into(op, k0, v0, k1, v1, bit, params, slab, scratch, row_map, fields, seg_start, s, e, sig):  # type: ignore[no-untyped-def]
    """ORs ``bit`` into ``sig[s:e]`` where the root condition is true. ``op`` 0: the root is a
    plain operand (a constant or a materialized condition row); otherwise the root condition is
    evaluated here from its operands (fused: never stored as a row)."""
    if k0 == K_NONE:
        return
    dummy = fields[0][s:e]
    a_is = _is_scalar(k0)
    if op == 0:
        if a_is:
            if _scalar(k0, v0, params) == 1.0:
                for t in range(s, e):
                    sig[t] |= bit
            return
        x = _series(k0, v0, fields, slab, scratch, row_map, s, e)
        for t in range(e - s):
            sig[s + t] |= bit * np.uint8(x[t] == 1.0)
        return
    b_is = _is_scalar(k1) or k1 == K_NONE
    a = dummy if a_is else _series(k0, v0, fields, slab, scratch, row_map, s, e)
    b = dummy if b_is else _series(k1, v1, fields, slab, scratch, row_map, s, e)
    a_sc = _scalar(k0, v0, params) if a_is else 0.0
    b_sc = _scalar(k1, v1, params) if (b_is and k1 != K_NONE) else 0.0
    m = e - s
    out = sig[s:e]
    if op == CROSS:
        if a_is and b_is:
            return  # two constants never cross
        if s == seg_start:
            if m <= 1:
                return
            # no previous bar at a segment start: unknown
            a = a[1:] if not a_is else a
            b = b[1:] if not b_is else b
            out = sig[s + 1 : e]
            s += 1
        if not a_is and not b_is:
            pa = _series(k0, v0, fields, slab, scratch, row_map, s - 1, e)
            pb = _series(k1, v1, fields, slab, scratch, row_map, s - 1, e)
            _bits_cross(pa, pb, out, bit)
            return
        for t in range(out.shape[0]):
            x = a_sc if a_is else a[t]
            y = b_sc if b_is else b[t]
            px = a_sc if a_is else _series(k0, v0, fields, slab, scratch, row_map, s - 1 + t, s + t)[0]
            py = b_sc if b_is else _series(k1, v1, fields, slab, scratch, row_map, s - 1 + t, s + t)[0]
            out[t] |= bit * np.uint8((x > y) & (px <= py))
        return
    if not a_is and not b_is and (op == GT or op == GE):
        _bits_compare(a, b, out, bit, op == GE)
        return
    for t in range(m):
        x = a_sc if a_is else a[t]
        y = b_sc if b_is else b[t]
        out[t] |= bit * np.uint8(_cond(op, x, y, 0.0, 0.0) == 1.0)


@nb.njit(cache=True, nogil=True)
def _bits_cross(a, b, out, bit):  # type: ignore[no-untyped-def]
    """``out[t] |= bit`` where ``a`` crosses above ``b`` at ``t + 1`` of the inputs (which
    start one bar before ``out``); NaN compares false, so unknown never sets the bit."""
    for t in range(out.shape[0]):
        out[t] |= bit * np.uint8((a[t + 1] > b[t + 1]) & (a[t] <= b[t]))


@nb.njit(cache=True, nogil=True)
def _bits_compare(a, b, out, bit, or_equal):  # type: ignore[no-untyped-def]
    """``out[t] |= bit`` where ``a > b`` (``>=`` with ``or_equal``)."""
    if or_equal:
        for t in range(out.shape[0]):
            out[t] |= bit * np.uint8(a[t] >= b[t])
    else:
        for t in range(out.shape[0]):
            out[t] |= bit * np.uint8(a[t] > b[t])


@nb.njit(cache=True, nogil=True)
def _pack(c, cc, params, row_map, fields, slab, scr, roots_op, roots_kind, roots_val, seg_start, s, e, sig, stop, take):  # type: ignore[no-untyped-def]
    row = sig[cc]
    for t in range(s, e):
        row[t] = 0
    for r in range(4):
        _root_into(
            roots_op[r],
            roots_kind[r, 0],
            roots_val[r, 0],
            roots_kind[r, 1],
            roots_val[r, 1],
            np.uint8(1 << r),
            params[c],
            slab,
            scr,
            row_map[c],
            fields,
            seg_start,
            s,
            e,
            row,
        )
    if roots_kind[4, 0] != K_NONE:
        stop[cc, s:e] = _series(roots_kind[4, 0], roots_val[4, 0], fields, slab, scr, row_map[c], s, e)
    if roots_kind[5, 0] != K_NONE:
        take[cc, s:e] = _series(roots_kind[5, 0], roots_val[5, 0], fields, slab, scr, row_map[c], s, e)


@nb.njit(cache=True, nogil=True, parallel=True)
def eval_combos(  # type: ignore[no-untyped-def]
    code,
    kind,
    val,
    params,
    row_map,
    fields,
    slab,
    seg,
    funcs,
    roots_op,
    roots_kind,
    roots_val,
    c0,
    c1,
    sig,
    stop,
    take,
    scratch,
    block,
):
    """For combinations ``c0 <= c < c1``: runs the per-combination instructions (outputs in
    ``scratch[thread]``), then writes signal bytes ``sig[c - c0]`` and, when the roots exist,
    stop / take-profit distances ``stop[c - c0]``, ``take[c - c0]``.

    Threads take combinations round-robin, each with its own scratch. When no instruction is
    specific to a combination (the roots read shared rows only), the bars are cut in blocks of
    ``block`` (within each symbol's segment) and the threads share out the (block, combination)
    pairs block-major, so the shared rows a block touches stay in cache across its combinations
    and even a single combination (a backtest) is packed by every thread."""
    count = c1 - c0
    nseg = seg.shape[0] - 1
    if code.shape[0] > 0:
        nthreads = scratch.shape[0]
        for t in nb.prange(nthreads):
            scr = scratch[t]
            for cc in range(t, count, nthreads):
                c = c0 + cc
                for i in range(code.shape[0]):
                    for g in range(nseg):
                        _exec(i, code, kind, val, params[c], fields, slab, scr, row_map[c], funcs, seg[g], seg[g + 1])
                for g in range(nseg):
                    _pack(
                        c,
                        cc,
                        params,
                        row_map,
                        fields,
                        slab,
                        scr,
                        roots_op,
                        roots_kind,
                        roots_val,
                        seg[g],
                        seg[g],
                        seg[g + 1],
                        sig,
                        stop,
                        take,
                    )
        return
    nblocks = 0
    for g in range(nseg):
        nblocks += (seg[g + 1] - seg[g] + block - 1) // block
    b_seg = np.empty(nblocks, np.int64)
    b_start = np.empty(nblocks, np.int64)
    b_end = np.empty(nblocks, np.int64)
    k = 0
    for g in range(nseg):
        for bs in range(seg[g], seg[g + 1], block):
            b_seg[k] = seg[g]
            b_start[k] = bs
            b_end[k] = min(bs + block, seg[g + 1])
            k += 1
    # no per-combination rows: the roots read shared rows only, scratch is never read
    scr = scratch[0]
    for task in nb.prange(nblocks * count):
        j = task // count
        cc = task - j * count
        _pack(
            c0 + cc,
            cc,
            params,
            row_map,
            fields,
            slab,
            scr,
            roots_op,
            roots_kind,
            roots_val,
            b_seg[j],
            b_start[j],
            b_end[j],
            sig,
            stop,
            take,
        )
