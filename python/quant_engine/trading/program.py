"""Step programs: a compiled plan laid out for the incremental evaluator, and accounts' state.

:func:`step_program` turns one parameter combination of a compiled strategy into the arrays of
:mod:`quant_engine.kernels.plan_step` (its instructions in dependency order, the ring of every row
sized by the longest look-back that reads it, the six roots). :class:`StepState` holds the state
of accounts running programs (rings, per-instruction state, deques, bar clocks); a
:class:`StepBank` concatenates programs and states so that one Numba call steps many accounts.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numba as nb
import numpy as np

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels import plan_ops as P
from quant_engine.kernels import plan_step as K
from quant_engine.strategy.compiled import CompiledStrategy
from quant_engine.strategy.plan import schedule

__all__ = ["StepProgram", "step_program", "StepState", "StepBank", "entry_point"]

_LOOKBACK_OPS = frozenset({P.SMA, P.RSUM, P.WMA, P.STD, P.RMIN, P.RMAX, P.LAG})
"""Operations reading ``x[t - n]`` (or the last ``n`` values) of their first operand."""
_CLOCK = 3
"""Clock columns of an account: bars seen, local day of the last bar, start of the last bar."""


@dataclass(frozen=True)
class StepProgram:
    """One combination of a plan laid out for :mod:`~quant_engine.kernels.plan_step`.

    Attributes:
        code, val: instructions (``op, out_row, aux_off, kind0..2, n, ddof``) and operand values.
        rows: ring offset and mask of each row (the bar fields first).
        roots_i, roots_v: the six roots (``op, kind0, kind1`` and the two values).
        ring_size: floats of one account's rings.
        aux_size: deque slots of one account.
        time_fields: whether the plan reads ``time_of_day`` or ``session_start``.
    """

    code: np.ndarray
    val: np.ndarray
    rows: np.ndarray
    roots_i: np.ndarray
    roots_v: np.ndarray
    ring_size: int
    aux_size: int
    time_fields: bool

    @property
    def n_instr(self) -> int:
        """Number of instructions."""
        return int(self.code.shape[0])


def _operand(kind: int, value: float, row_map: np.ndarray, grid: np.ndarray) -> tuple[int, float]:
    """A schedule operand as a step operand (fields are rows ``0..7``, slab rows follow)."""
    if kind == P.K_NONE:
        return K.S_NONE, 0.0
    if kind == P.K_FIELD:
        return K.S_ROW, float(value)
    if kind == P.K_SLAB:
        return K.S_ROW, float(K.N_FIELDS + int(value))
    if kind == P.K_TPL:
        return K.S_ROW, float(K.N_FIELDS + int(row_map[int(value)]))
    if kind == P.K_CONST:
        return K.S_CONST, float(value)
    if kind == P.K_PARAM:
        return K.S_CONST, float(grid[0, int(value)])
    raise ValueError(f"operand kind {kind} has no step form")  # per-combination scratch: not for one combination


def step_program(cs: CompiledStrategy, grid: np.ndarray) -> StepProgram | None:
    """The step program of ``cs`` for the one combination ``grid`` (``1 x params``); None when
    the plan calls a user operator (a whole-series kernel, no step form)."""
    if not K.steppable([ins.op for ins in cs.template.instrs]):
        return None
    sched = schedule(cs.template, grid, 1)
    if sched.b_code.shape[0]:  # one combination runs everything in the shared phase
        raise AssertionError("a single combination scheduled per-combination instructions")
    row_map = sched.row_map[0]
    n = sched.a_code.shape[0]
    code = np.zeros((n, 8), np.int64)
    val = np.zeros((n, 3), np.float64)
    n_rows = K.N_FIELDS + sched.slab_rows
    lookback = np.zeros(n_rows, np.int64)
    aux = 0
    for i in range(n):
        op = int(sched.a_code[i, 0])
        code[i, 0] = op
        code[i, 1] = K.N_FIELDS + int(sched.a_code[i, 2])
        for j in range(3):
            code[i, 3 + j], val[i, j] = _operand(int(sched.a_kind[i, j]), float(sched.a_val[i, j]), row_map, grid)
        if op in P.WINDOWED and op not in (P.TRUE_RANGE, P.SESSION_SUM, P.CROSS):
            code[i, 6] = int(sched.a_val[i, 1])
        if op == P.STD:
            code[i, 7] = int(sched.a_val[i, 2])
        if op in (P.RMIN, P.RMAX):
            code[i, 2] = aux
            aux += int(code[i, 6])
        if op in _LOOKBACK_OPS and code[i, 3] == K.S_ROW:
            r = int(val[i, 0])
            lookback[r] = max(lookback[r], code[i, 6])
        if op == P.CROSS:
            for j in range(2):
                if code[i, 3 + j] == K.S_ROW:
                    lookback[int(val[i, j])] = max(lookback[int(val[i, j])], 1)
    roots_i = np.zeros((P.N_ROOTS, 3), np.int64)
    roots_v = np.zeros((P.N_ROOTS, 2), np.float64)
    for r in range(P.N_ROOTS):
        roots_i[r, 0] = sched.roots_op[r]
        for j in range(2):
            roots_i[r, 1 + j], roots_v[r, j] = _operand(
                int(sched.roots_kind[r, j]), float(sched.roots_val[r, j]), row_map, grid
            )
        if roots_i[r, 0] == P.CROSS:
            for j in range(2):
                if roots_i[r, 1 + j] == K.S_ROW:
                    lookback[int(roots_v[r, j])] = max(lookback[int(roots_v[r, j])], 1)
    sizes = np.left_shift(1, np.ceil(np.log2(lookback + 1.0)).astype(np.int64))
    rows = np.stack([np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes - 1], axis=1).astype(np.int64)
    fields = cs.template.fields
    return StepProgram(
        code, val, np.ascontiguousarray(rows), roots_i, roots_v, int(sizes.sum()), aux,
        bool({"time_of_day", "session_start"} & fields),
    )  # fmt: skip


class StepState:
    """The state of ``n`` accounts running step programs (see the module doc): its arrays are
    views into a :class:`StepBank`'s once the account joins one."""

    def __init__(self, program: StepProgram) -> None:
        self.acc = np.zeros((1, 4), np.int64)
        self.clock = np.zeros((1, _CLOCK), np.int64)
        self.ring = np.zeros(program.ring_size, np.float64)
        self.fst = np.zeros((max(program.n_instr, 1), K.STATE_SLOTS), np.float64)
        self.ist = np.zeros((max(program.n_instr, 1), K.STATE_SLOTS), np.int64)
        self.aux = np.zeros(max(program.aux_size, 1), np.int64)
        self.last = np.array([[0.0, np.nan, np.nan]])
        """The newest bar's signal byte, stop and take-profit distances."""
        self.bank: StepBank | None = None
        """The bank whose memory the arrays view (an account joins at most one)."""

    @property
    def bars_seen(self) -> int:
        """Bars the account has stepped."""
        return int(self.clock[0, 0])

    @property
    def last_start(self) -> int:
        """Start of the account's last bar (UTC ns)."""
        return int(self.clock[0, 2])


class StepBank:
    """Programs and account states concatenated for :func:`~quant_engine.kernels.plan_step.step_accounts`:
    programs are shared by identity; each state's arrays become views of the bank's, so the
    account keeps stepping through either."""

    def __init__(self, programs: Sequence[StepProgram], states: Sequence[StepState]) -> None:
        if any(s.bank is not None for s in states):
            raise InvalidArgumentError("an account already belongs to a LiveBook (a runner joins at most one)")
        uniq: dict[int, int] = {}
        progs: list[StepProgram] = []
        for p in programs:
            if id(p) not in uniq:
                uniq[id(p)] = len(progs)
                progs.append(p)
        i_off = np.concatenate([[0], np.cumsum([p.n_instr for p in progs])]).astype(np.int64)
        r_off = np.concatenate([[0], np.cumsum([p.rows.shape[0] for p in progs])]).astype(np.int64)
        self.code = np.concatenate([p.code for p in progs])
        self.val = np.concatenate([p.val for p in progs])
        self.rows = np.concatenate([p.rows for p in progs])
        self.prog = np.stack([i_off[:-1], i_off[1:], r_off[:-1]], axis=1).astype(np.int64)
        self.roots_i = np.stack([p.roots_i for p in progs])
        self.roots_v = np.stack([p.roots_v for p in progs])
        pid = np.array([uniq[id(p)] for p in programs], np.int64)
        n_ring = np.array([s.ring.shape[0] for s in states], np.int64)
        n_state = np.array([s.fst.shape[0] for s in states], np.int64)
        n_aux = np.array([s.aux.shape[0] for s in states], np.int64)
        bases = [np.concatenate([[0], np.cumsum(x)]).astype(np.int64) for x in (n_ring, n_state, n_aux)]
        self.acc = np.stack([pid, bases[0][:-1], bases[1][:-1], bases[2][:-1]], axis=1).astype(np.int64)
        self.clock = np.concatenate([s.clock for s in states])
        self.ring = np.concatenate([s.ring for s in states])
        self.fst = np.concatenate([s.fst for s in states])
        self.ist = np.concatenate([s.ist for s in states])
        self.aux = np.concatenate([s.aux for s in states])
        self.last = np.concatenate([s.last for s in states])
        for a, s in enumerate(states):  # the accounts keep their own (relative) layout, on the bank's memory
            s.clock = self.clock[a : a + 1]
            s.ring = self.ring[bases[0][a] : bases[0][a + 1]]
            s.fst = self.fst[bases[1][a] : bases[1][a + 1]]
            s.ist = self.ist[bases[1][a] : bases[1][a + 1]]
            s.aux = self.aux[bases[2][a] : bases[2][a + 1]]
            s.last = self.last[a : a + 1]
            s.bank = self
        self._step: Any = None

    def step(self, accounts: np.ndarray, bar_row: np.ndarray, bars: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steps ``accounts[j]`` by ``bars[bar_row[j]]``; returns the signal bytes and the
        ``(stop, take)`` distances of each."""
        m = accounts.shape[0]
        sig = np.empty(m, np.uint8)
        dist = np.empty((m, 2), np.float64)
        args = (
            accounts, bar_row, bars, self.code, self.val, self.rows, self.prog, self.roots_i, self.roots_v,
            self.acc, self.clock, self.ring, self.fst, self.ist, self.aux, sig, dist,
        )  # fmt: skip
        if self._step is None:
            K.step_accounts(*args)
            self._step = entry_point(K.step_accounts, args)
        else:
            self._step(*args)
        return sig, dist


def entry_point(dispatcher: Any, args: tuple[Any, ...]) -> Any:
    """The compiled function ``dispatcher`` runs for arguments of the types of ``args`` (it
    unboxes by the fixed signature, skipping the per-call type dispatch); the dispatcher itself
    when it cannot be found."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=nb.NumbaExperimentalFeatureWarning)
            sig = tuple(dispatcher.typeof_pyval(a) for a in args)
        return dispatcher.overloads[sig].entry_point
    except (KeyError, AttributeError):
        return dispatcher
