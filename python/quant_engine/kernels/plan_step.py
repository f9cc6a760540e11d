"""The incremental Numba evaluator of compiled plans: one new bar at a time, for live trading.

:mod:`quant_engine.kernels.plan_eval` evaluates a plan over whole series. Here each instruction
keeps its state across bars (running sums and their refresh counters, exponential averages and
their seeds, the deques of rolling extremes, the previous close of the true range ...), and the
values a later bar still reads (``x[t - n]`` of a window of ``n``, the previous value of a
crossing) stay in a ring per row, sized by the longest look-back that reads it. Evaluating the
newest bar then costs a few operations per instruction, whatever the length of the history.

Every step replays the exact operations of the series kernel it mirrors (the same order of
additions, the same warm-up and NaN restarts, the same refresh points), so the value at bar ``t``
is bit for bit the value the series kernels give at ``t`` on the whole history (a property test
over random strategies checks it). User operators (``call``) are whole-series kernels with no
step form: plans calling them are not compiled here (:func:`steppable`).

Layout (built by :mod:`quant_engine.trading.program`): programs are concatenated. ``code[i]``
holds ``op, out_row, aux_off, kind0, kind1, kind2, n, ddof`` and ``val[i]`` the three operand
values (a row number, or the constant itself); ``rows[r]`` the ring offset and mask of row ``r``
(rows ``0..7`` of a program are the bar fields, see ``FIELD_ROWS``); ``prog[p]`` the instruction
and row ranges of program ``p``, ``roots_i[p] / roots_v[p]`` its six roots (``op, kind0, kind1``
and values). An account ``a`` runs program ``acc[a, 0]`` with its ring, state rows and deque
buffer at ``acc[a, 1:4]``; ``clock[a]`` is its bar count and the local day of its last bar.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from quant_engine.kernels import compile_watch
from quant_engine.kernels.indicators import _REFRESH, _nadd
from quant_engine.kernels.plan_eval import (
    _f_abs,
    _f_add,
    _f_and,
    _f_div,
    _f_ge,
    _f_gt,
    _f_log,
    _f_max,
    _f_min,
    _f_mul,
    _f_neg,
    _f_not,
    _f_or,
    _f_sub,
)
from quant_engine.kernels.plan_ops import (
    ABS,
    ADD,
    AND,
    CALL,
    CROSS,
    DIV,
    EMA,
    GE,
    GT,
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

compile_watch.install()

__all__ = ["S_NONE", "S_ROW", "S_CONST", "STATE_SLOTS", "N_FIELDS", "steppable", "step_accounts", "step_series"]

S_NONE, S_ROW, S_CONST = 0, 1, 2
"""Operand kinds of a step program: unused, a row (its current value), a constant."""
STATE_SLOTS = 6
"""Float and integer state slots per instruction."""
N_FIELDS = 8
"""Bar field rows at the start of every program (``FIELD_ROWS`` order); row 7 receives the
session-start flag derived from the local day given in the bar's column 7."""

_NAN = np.nan
_DAY_SLOT = 1


def steppable(ops: list[int]) -> bool:
    """Whether a plan made of opcodes ``ops`` has a step form (every opcode but ``call``)."""
    return CALL not in ops


@nb.njit(cache=True, nogil=True, inline="always")
def _at(ring, rows, rb, r, t):  # type: ignore[no-untyped-def]
    """Value of row ``r`` at bar ``t`` (within its look-back)."""
    return ring[rb + rows[r, 0] + (t & rows[r, 1])]


@nb.njit(cache=True, nogil=True, inline="always")
def _opnd(ring, rows, rb, r0, k, v, t):  # type: ignore[no-untyped-def]
    """Operand value at bar ``t``: a row's value or the constant."""
    if k == S_ROW:
        return ring[rb + rows[r0 + np.int64(v), 0] + (t & rows[r0 + np.int64(v), 1])]
    return v


@nb.njit(cache=True, nogil=True)
def _pointwise(op, x, y):  # type: ignore[no-untyped-def]
    if op == ADD:
        return _f_add(x, y)
    if op == SUB:
        return _f_sub(x, y)
    if op == MUL:
        return _f_mul(x, y)
    if op == DIV:
        return _f_div(x, y)
    if op == MIN:
        return _f_min(x, y)
    if op == MAX:
        return _f_max(x, y)
    if op == GT:
        return _f_gt(x, y)
    if op == GE:
        return _f_ge(x, y)
    if op == AND:
        return _f_and(x, y)
    if op == OR:
        return _f_or(x, y)
    if op == NEG:
        return _f_neg(x)
    if op == ABS:
        return _f_abs(x)
    if op == LOG:
        return _f_log(x)
    if op == NOT:
        return _f_not(x)
    return x  # FILL: the constant


@nb.njit(cache=True, nogil=True)
def _window_sum(ring, rows, rb, xr, t, v, n, scale, fst, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators._window_sums`` (SMA, rolling sum)."""
    if v != v:
        fst[si, 0] = 0.0
        ist[si, 0] = 0
        return _NAN
    ist[si, 0] += 1
    run = ist[si, 0]
    if run <= n:
        fst[si, 0] += v
        ist[si, 1] = 0
        return fst[si, 0] * scale if run == n else _NAN
    ist[si, 1] += 1
    if ist[si, 1] >= max(n, _REFRESH):
        s = 0.0
        for j in range(t - n + 1, t + 1):
            s += _at(ring, rows, rb, xr, j)
        fst[si, 0] = s
        ist[si, 1] = 0
    else:
        fst[si, 0] += v - _at(ring, rows, rb, xr, t - n)
    return fst[si, 0] * scale


@nb.njit(cache=True, nogil=True)
def _seeded(v, n, wilder_form, fst, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators._seeded_recursion`` (EMA, Wilder): ``fst[si]`` seed, e; ``ist[si]`` run."""
    alpha = 2.0 / (n + 1.0)
    if v != v:
        ist[si, 0] = 0
        fst[si, 0] = 0.0
        return _NAN
    if ist[si, 0] < n:
        fst[si, 0] += v
        ist[si, 0] += 1
        if ist[si, 0] == n:
            fst[si, 1] = fst[si, 0] / n
            return fst[si, 1]
        return _NAN
    if wilder_form:
        fst[si, 1] = (fst[si, 1] * (n - 1) + v) / n
    else:
        fst[si, 1] = fst[si, 1] + alpha * (v - fst[si, 1])
    return fst[si, 1]


@nb.njit(cache=True, nogil=True)
def _wma(ring, rows, rb, xr, t, v, n, fst, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators.wma``: ``fst[si]`` w, s; ``ist[si]`` run, since."""
    denom = n * (n + 1) / 2.0
    if v != v:
        ist[si, 0] = 0
        return _NAN
    ist[si, 0] += 1
    if ist[si, 0] < n:
        return _NAN
    if ist[si, 0] == n or ist[si, 1] >= n:
        w = 0.0
        s = 0.0
        for j in range(n):
            xv = _at(ring, rows, rb, xr, t - j)
            w += (n - j) * xv
            s += xv
        fst[si, 0] = w
        fst[si, 1] = s
        ist[si, 1] = 0
    else:
        fst[si, 0] = fst[si, 0] + n * v - fst[si, 1]
        fst[si, 1] = fst[si, 1] + v - _at(ring, rows, rb, xr, t - n)
        ist[si, 1] += 1
    return fst[si, 0] / denom


@nb.njit(cache=True, nogil=True)
def _std(ring, rows, rb, xr, t, v, n, ddof, fst, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators.rolling_std``: ``fst[si]`` s1, c1, s2, c2, k; ``ist[si]`` run."""
    if v != v:
        fst[si, 0] = 0.0
        fst[si, 1] = 0.0
        fst[si, 2] = 0.0
        fst[si, 3] = 0.0
        ist[si, 0] = 0
        return _NAN
    if ist[si, 0] == 0:
        fst[si, 4] = v
    k = fst[si, 4]
    d = v - k
    s1, c1 = _nadd(fst[si, 0], fst[si, 1], d)
    s2, c2 = _nadd(fst[si, 2], fst[si, 3], d * d)
    ist[si, 0] += 1
    if ist[si, 0] > n:
        old = _at(ring, rows, rb, xr, t - n) - k
        s1, c1 = _nadd(s1, c1, -old)
        s2, c2 = _nadd(s2, c2, -old * old)
        ist[si, 0] = n
    fst[si, 0], fst[si, 1], fst[si, 2], fst[si, 3] = s1, c1, s2, c2
    if ist[si, 0] == n and n > ddof:
        t1 = s1 + c1
        var = ((s2 + c2) - t1 * t1 / n) / (n - ddof)
        return np.sqrt(var) if var > 0.0 else 0.0
    return _NAN


@nb.njit(cache=True, nogil=True)
def _extreme(ring, rows, rb, xr, t, v, n, want_max, aux, d0, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators._rolling_extreme``: ``aux[d0:d0 + n]`` the deque; ``ist[si]``
    head, size, run."""
    if v != v:
        ist[si, 1] = 0
        ist[si, 2] = 0
        return _NAN
    ist[si, 2] += 1
    head = ist[si, 0]
    size = ist[si, 1]
    if size > 0 and aux[d0 + head] <= t - n:
        head += 1
        if head == n:
            head = 0
        size -= 1
    while size > 0:
        back = head + size - 1
        if back >= n:
            back -= n
        b = _at(ring, rows, rb, xr, aux[d0 + back])
        if (b <= v) if want_max else (b >= v):
            size -= 1
        else:
            break
    pos = head + size
    if pos >= n:
        pos -= n
    aux[d0 + pos] = t
    size += 1
    ist[si, 0] = head
    ist[si, 1] = size
    return _at(ring, rows, rb, xr, aux[d0 + head]) if ist[si, 2] >= n else _NAN


@nb.njit(cache=True, nogil=True)
def _rsi(v, n, fst, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators.rsi``: ``fst[si]`` prev, sg, sl, ag, al; ``ist[si]`` run."""
    if v != v:
        ist[si, 0] = 0
        fst[si, 1] = 0.0
        fst[si, 2] = 0.0
        return _NAN
    if ist[si, 0] == 0:
        fst[si, 0] = v
        ist[si, 0] = 1
        return _NAN
    d = v - fst[si, 0]
    fst[si, 0] = v
    g = d if d > 0.0 else 0.0
    lo = -d if d < 0.0 else 0.0
    nd = ist[si, 0]
    ist[si, 0] += 1
    if nd <= n:
        fst[si, 1] += g
        fst[si, 2] += lo
        if nd < n:
            return _NAN
        fst[si, 3] = fst[si, 1] / n
        fst[si, 4] = fst[si, 2] / n
    else:
        fst[si, 3] = (fst[si, 3] * (n - 1) + g) / n
        fst[si, 4] = (fst[si, 4] * (n - 1) + lo) / n
    ag = fst[si, 3]
    al = fst[si, 4]
    if al == 0.0:
        return 100.0 if ag > 0.0 else 50.0
    return 100.0 - 100.0 / (1.0 + ag / al)


@nb.njit(cache=True, nogil=True)
def _true_range(h, lo, c, t, fst, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators.true_range``: ``fst[si]`` the previous close."""
    pc = fst[si, 0] if t > 0 else _NAN
    r = h - lo
    if pc == pc:
        a = abs(h - pc)
        b = abs(lo - pc)
        if a > r:
            r = a
        if b > r:
            r = b
    fst[si, 0] = c
    return r


@nb.njit(cache=True, nogil=True)
def _session_sum(v, flag, fst, ist, si):  # type: ignore[no-untyped-def]
    """One step of ``indicators.session_sum``: ``fst[si]`` s, c; ``ist[si]`` invalid."""
    if flag != 0.0:
        fst[si, 0] = 0.0
        fst[si, 1] = 0.0
        ist[si, 0] = 0
    if v != v:
        ist[si, 0] = 1
    if ist[si, 0] != 0:
        return _NAN
    fst[si, 0], fst[si, 1] = _nadd(fst[si, 0], fst[si, 1], v)
    return fst[si, 0] + fst[si, 1]


@nb.njit(cache=True, nogil=True, inline="always")
def _instr(i, code, val, rows, r0, ring, rb, t, fst, ist, si, aux, ab):  # type: ignore[no-untyped-def]
    """Value of instruction ``i`` at bar ``t``, advancing its state."""
    op = code[i, 0]
    k0 = code[i, 3]
    k1 = code[i, 4]
    n = code[i, 6]
    x = _opnd(ring, rows, rb, r0, k0, val[i, 0], t)
    xr = r0 + np.int64(val[i, 0])
    if op == SMA:
        return _window_sum(ring, rows, rb, xr, t, x, n, 1.0 / n, fst, ist, si)
    if op == RSUM:
        return _window_sum(ring, rows, rb, xr, t, x, n, 1.0, fst, ist, si)
    if op == EMA:
        return _seeded(x, n, False, fst, ist, si)
    if op == WILDER:
        return _seeded(x, n, True, fst, ist, si)
    if op == WMA:
        return _wma(ring, rows, rb, xr, t, x, n, fst, ist, si)
    if op == STD:
        return _std(ring, rows, rb, xr, t, x, n, code[i, 7], fst, ist, si)
    if op == RMIN:
        return _extreme(ring, rows, rb, xr, t, x, n, False, aux, ab + code[i, 2], ist, si)
    if op == RMAX:
        return _extreme(ring, rows, rb, xr, t, x, n, True, aux, ab + code[i, 2], ist, si)
    if op == LAG:
        return _at(ring, rows, rb, xr, t - n) if t >= n else _NAN
    if op == RSI:
        return _rsi(x, n, fst, ist, si)
    y = _opnd(ring, rows, rb, r0, k1, val[i, 1], t)
    if op == TRUE_RANGE:
        return _true_range(x, y, _opnd(ring, rows, rb, r0, code[i, 5], val[i, 2], t), t, fst, si)
    if op == SESSION_SUM:
        return _session_sum(x, y, fst, ist, si)
    if op == CROSS:
        if t == 0:
            return _NAN
        px = _opnd(ring, rows, rb, r0, k0, val[i, 0], t - 1)
        py = _opnd(ring, rows, rb, r0, k1, val[i, 1], t - 1)
        if x != x or y != y or px != px or py != py:
            return _NAN
        return np.float64((x > y) & (px <= py))
    return _pointwise(op, x, y)


@nb.njit(cache=True, nogil=True, inline="always")
def _root_bit(op, k0, v0, k1, v1, rows, r0, ring, rb, t):  # type: ignore[no-untyped-def]
    """Whether a rule root is true at bar ``t`` (the bit ``plan_eval._root_into`` sets)."""
    if k0 == S_NONE:
        return False
    x = _opnd(ring, rows, rb, r0, k0, v0, t)
    if op == 0:
        return x == 1.0
    y = _opnd(ring, rows, rb, r0, k1, v1, t) if k1 != S_NONE else 0.0
    if op == CROSS:
        if (k0 != S_ROW and k1 != S_ROW) or t == 0:
            return False
        px = _opnd(ring, rows, rb, r0, k0, v0, t - 1)
        py = _opnd(ring, rows, rb, r0, k1, v1, t - 1)
        return (x > y) & (px <= py)
    if op == GT:
        return x > y
    if op == GE:
        return x >= y
    return _pointwise(op, x, y) == 1.0


@nb.njit(cache=True, nogil=True, inline="always")
def _step(a, bars, br, code, val, rows, prog, roots_i, roots_v, acc, clock, ring, fst, ist, aux):  # type: ignore[no-untyped-def]
    """Steps account ``a`` by one bar (``bars[br, 0:8]``: the fields, column 7 the local day):
    writes the fields and every instruction's value into the rings and returns the signal byte
    and the stop / take-profit distances."""
    p = acc[a, 0]
    rb = acc[a, 1]
    sb = acc[a, 2]
    ab = acc[a, 3]
    i_lo = prog[p, 0]
    i_hi = prog[p, 1]
    r0 = prog[p, 2]
    t = clock[a, 0]
    day = bars[br, 7]
    for f in range(N_FIELDS - 1):
        ring[rb + rows[r0 + f, 0] + (t & rows[r0 + f, 1])] = bars[br, f]
    flag = 1.0 if (t == 0 or day != clock[a, _DAY_SLOT]) else 0.0
    ring[rb + rows[r0 + 7, 0] + (t & rows[r0 + 7, 1])] = flag
    clock[a, _DAY_SLOT] = np.int64(day)
    for i in range(i_lo, i_hi):
        out = _instr(i, code, val, rows, r0, ring, rb, t, fst, ist, sb + i - i_lo, aux, ab)
        r = r0 + code[i, 1]
        ring[rb + rows[r, 0] + (t & rows[r, 1])] = out
    sig = np.uint8(0)
    for k in range(4):
        if _root_bit(
            roots_i[p, k, 0], roots_i[p, k, 1], roots_v[p, k, 0], roots_i[p, k, 2], roots_v[p, k, 1],
            rows, r0, ring, rb, t,
        ):  # fmt: skip
            sig |= np.uint8(1 << k)
    stop = _opnd(ring, rows, rb, r0, roots_i[p, 4, 1], roots_v[p, 4, 0], t) if roots_i[p, 4, 1] != S_NONE else _NAN
    take = _opnd(ring, rows, rb, r0, roots_i[p, 5, 1], roots_v[p, 5, 0], t) if roots_i[p, 5, 1] != S_NONE else _NAN
    clock[a, 0] = t + 1
    return sig, stop, take


@nb.njit(cache=True, nogil=True)
def step_accounts(  # type: ignore[no-untyped-def]
    accounts, bar_row, bars, code, val, rows, prog, roots_i, roots_v, acc, clock, ring, fst, ist, aux, sig, dist
):
    """Steps ``accounts[j]`` by the bar ``bars[bar_row[j]]`` for every ``j`` (one bar close of
    many strategies and symbols): ``sig[j]`` the signal byte, ``dist[j]`` the stop and
    take-profit distances (NaN when the plan has none)."""
    for j in range(accounts.shape[0]):
        s, st, tk = _step(
            accounts[j], bars, bar_row[j], code, val, rows, prog, roots_i, roots_v, acc, clock, ring, fst, ist, aux
        )
        sig[j] = s
        dist[j, 0] = st
        dist[j, 1] = tk


@nb.njit(cache=True, nogil=True)
def step_series(a, bars, code, val, rows, prog, roots_i, roots_v, acc, clock, ring, fst, ist, aux, sig, dist):  # type: ignore[no-untyped-def]
    """Steps account ``a`` through the bars ``bars[0..m)`` in order (a batch of one instrument's
    bars): ``sig[t]`` and ``dist[t]`` as in :func:`step_accounts`."""
    for t in range(bars.shape[0]):
        s, st, tk = _step(a, bars, t, code, val, rows, prog, roots_i, roots_v, acc, clock, ring, fst, ist, aux)
        sig[t] = s
        dist[t, 0] = st
        dist[t, 1] = tk
