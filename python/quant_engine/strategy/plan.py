"""Scheduling a template plan over a parameter grid, and running it.

For a grid of ``C`` parameter combinations, each template instruction depends on a subset of the
parameters; the distinct values of that subset over the grid are its *instances* (found with
``numpy.unique``, no Python per combination). An instruction with fewer instances than
combinations is *shared*: each instance is computed once into a row of the shared slab
(``sma(close, fast)`` over 30 values of ``fast`` is 30 rows, not 990). Instructions specific to
one combination (typically the final comparisons) run per combination in per-thread scratch and
end as signal bytes. A memory budget bounds the slab; beyond it instructions move to the
per-combination phase.

A single backtest is the grid of one combination: everything runs in the shared phase.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numba as nb
import numpy as np

from quant_engine.kernels import plan_ops as P
from quant_engine.kernels.plan_eval import eval_combos, eval_shared, noop_operator
from quant_engine.strategy.compiler import Operand, Template

__all__ = ["Schedule", "schedule", "SignalChunk", "run_schedule", "DEFAULT_SLAB_BUDGET"]

DEFAULT_SLAB_BUDGET = 1 << 30
"""Bytes the shared slab may use before instructions move to the per-combination phase."""

_CODE_COLS = 6
_CONDITION_OPS = frozenset({P.GT, P.GE, P.CROSS, P.AND, P.OR, P.NOT})
BLOCK = 4096
"""Bars per block when signals of many combinations are packed from shared rows."""


@dataclass
class Schedule:
    """Executable arrays of a template over a grid.

    Attributes:
        a_code, a_kind, a_val, levels: the shared (concrete) instructions, by dependency level.
        slab_rows: rows of the shared slab.
        b_code, b_kind, b_val: the per-combination instructions.
        scratch_rows: scratch rows per thread.
        params: the grid, one row per combination, columns in ``template.params`` order.
        row_map: slab row of each shared template instruction per combination.
        roots_op, roots_kind, roots_val: the six roots: a plain operand (``roots_op`` 0) or a
            condition evaluated straight into signal bits (its opcode and two operands).
        functions: user kernels tuple passed to the evaluator.
    """

    a_code: np.ndarray
    a_kind: np.ndarray
    a_val: np.ndarray
    levels: np.ndarray
    slab_rows: int
    b_code: np.ndarray
    b_kind: np.ndarray
    b_val: np.ndarray
    scratch_rows: int
    params: np.ndarray
    row_map: np.ndarray
    roots_op: np.ndarray
    roots_kind: np.ndarray
    roots_val: np.ndarray
    functions: tuple[object, ...]

    @property
    def n_combos(self) -> int:
        """Number of parameter combinations."""
        return int(self.params.shape[0])


def _inputs(operands: tuple[Operand, ...]) -> list[int]:
    return [int(v) for k, v in operands if k == "instr"]


def _functions(template: Template) -> tuple[object, ...]:
    kernels = [op.kernel for op in template.functions]
    if not kernels:
        return (noop_operator,)
    size = 1
    while size < len(kernels):
        size *= 2  # few distinct tuple lengths -> few compiled variants of the evaluator
    return tuple(kernels + [noop_operator] * (size - len(kernels)))


def schedule(template: Template, grid: np.ndarray, n_bars: int, *, slab_budget: int = DEFAULT_SLAB_BUDGET) -> Schedule:
    """Schedules ``template`` over ``grid`` (``C x len(template.params)`` float64) for series of
    ``n_bars`` bars in total."""
    grid = np.ascontiguousarray(grid, dtype=np.float64)
    if grid.ndim != 2 or grid.shape[1] != len(template.params) or grid.shape[0] < 1:
        raise ValueError(f"grid must be (combinations x {len(template.params)}), got shape {grid.shape}")
    n_combos = grid.shape[0]
    instrs = template.instrs
    n_instr = len(instrs)
    pidx = {name: i for i, name in enumerate(template.params)}

    deps: list[tuple[int, ...]] = []
    for ins in instrs:
        needs: set[int] = set()
        for k, v in ins.operands:
            if k == "param":
                needs.add(pidx[str(v)])
            elif k == "instr":
                needs.update(deps[int(v)])
        deps.append(tuple(sorted(needs)))

    instances: dict[tuple[int, ...], tuple[int, np.ndarray, np.ndarray]] = {}
    for d in set(deps):
        if not d or n_combos == 1:
            instances[d] = (1, np.zeros(n_combos, np.int64), np.zeros(1, np.int64))
        else:
            _, first, inv = np.unique(grid[:, list(d)], axis=0, return_index=True, return_inverse=True)
            instances[d] = (len(first), inv.reshape(-1).astype(np.int64), first.astype(np.int64))

    # condition roots read by nothing else are evaluated straight into signal bits (never rows)
    used_as_input = {j for ins in instrs for j in _inputs(ins.operands)}
    fused = {
        int(root[1])
        for r, root in enumerate(template.roots)
        if r < 4
        and root is not None
        and root[0] == "instr"
        and instrs[int(root[1])].op in _CONDITION_OPS
        and int(root[1]) not in used_as_input
    }

    shared = [False] * n_instr
    rowbase = [0] * n_instr
    level = [0] * n_instr
    rows = 0
    row_bytes = max(n_bars, 1) * 8
    for i, ins in enumerate(instrs):
        if i in fused:
            continue
        m = instances[deps[i]][0]
        ins_in = _inputs(ins.operands)
        fits = (rows + m) * row_bytes <= slab_budget or n_combos == 1
        if (n_combos == 1 or m < n_combos) and all(shared[j] for j in ins_in) and fits:
            shared[i] = True
            rowbase[i] = rows
            rows += m
            level[i] = 1 + max((level[j] for j in ins_in), default=-1)

    # shared phase: concrete instructions
    blocks: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]] = []
    for i, ins in enumerate(instrs):
        if not shared[i]:
            continue
        m, inv_i, first_i = instances[deps[i]]
        code = np.zeros((m, _CODE_COLS), np.int64)
        code[:, 0] = ins.op
        code[:, 1] = P.K_SLAB
        code[:, 2] = rowbase[i] + np.arange(m)
        code[:, 3] = ins.fn
        code[:, 4] = ins.n_in
        code[:, 5] = ins.n_int
        kinds = np.zeros((m, P.MAX_OPERANDS), np.int64)
        vals = np.zeros((m, P.MAX_OPERANDS), np.float64)
        for j, (k, v) in enumerate(ins.operands):
            if k == "field":
                kinds[:, j], vals[:, j] = P.K_FIELD, float(v)
            elif k == "const":
                kinds[:, j], vals[:, j] = P.K_CONST, float(v)
            elif k == "param":
                kinds[:, j], vals[:, j] = P.K_CONST, grid[first_i, pidx[str(v)]]
            else:
                src = int(v)
                kinds[:, j] = P.K_SLAB
                vals[:, j] = rowbase[src] + instances[deps[src]][1][first_i]
        blocks.append((level[i], code, kinds, vals))
    blocks.sort(key=lambda b: b[0])
    if blocks:
        a_code = np.concatenate([b[1] for b in blocks])
        a_kind = np.concatenate([b[2] for b in blocks])
        a_val = np.concatenate([b[3] for b in blocks])
        lv = np.repeat([b[0] for b in blocks], [b[1].shape[0] for b in blocks])
        levels = np.searchsorted(lv, np.arange(lv.max() + 2)).astype(np.int64)
    else:
        a_code = np.zeros((0, _CODE_COLS), np.int64)
        a_kind = np.zeros((0, P.MAX_OPERANDS), np.int64)
        a_val = np.zeros((0, P.MAX_OPERANDS), np.float64)
        levels = np.zeros(1, np.int64)

    row_map = np.full((n_combos, max(n_instr, 1)), -1, np.int64)
    for i in range(n_instr):
        if shared[i]:
            row_map[:, i] = rowbase[i] + instances[deps[i]][1]

    # per-combination phase, scratch rows reused once their last reader has run
    b_ids = [i for i in range(n_instr) if not shared[i] and i not in fused]
    last_use = {i: -1 for i in b_ids}
    for pos, i in enumerate(b_ids):
        for j in _inputs(instrs[i].operands):
            if not shared[j]:
                last_use[j] = pos
    for root in template.roots:
        if root is not None and root[0] == "instr" and not shared[int(root[1])]:
            src = int(root[1])
            for j in [src] if src not in fused else _inputs(instrs[src].operands):
                if not shared[j]:
                    last_use[j] = len(b_ids) + 1
    scratch_row: dict[int, int] = {}
    free: list[int] = []
    n_scratch = 0
    b_code = np.zeros((len(b_ids), _CODE_COLS), np.int64)
    b_kind = np.zeros((len(b_ids), P.MAX_OPERANDS), np.int64)
    b_val = np.zeros((len(b_ids), P.MAX_OPERANDS), np.float64)
    for pos, i in enumerate(b_ids):
        ins = instrs[i]
        if free:
            row = free.pop()
        else:
            row = n_scratch
            n_scratch += 1
        scratch_row[i] = row
        b_code[pos] = (ins.op, P.K_SCRATCH, row, ins.fn, ins.n_in, ins.n_int)
        for j, op in enumerate(ins.operands):
            b_kind[pos, j], b_val[pos, j] = _b_operand(op, shared, scratch_row, pidx)
        for j in set(_inputs(ins.operands)):
            if not shared[j] and last_use[j] == pos:
                free.append(scratch_row[j])

    roots_op = np.zeros(P.N_ROOTS, np.int64)
    roots_kind = np.zeros((P.N_ROOTS, 2), np.int64)
    roots_val = np.zeros((P.N_ROOTS, 2), np.float64)
    for r, root in enumerate(template.roots):
        if root is None:
            continue
        if root[0] == "instr" and int(root[1]) in fused:
            ins = instrs[int(root[1])]
            roots_op[r] = ins.op
            for j, op in enumerate(ins.operands):
                roots_kind[r, j], roots_val[r, j] = _b_operand(op, shared, scratch_row, pidx)
        else:
            roots_kind[r, 0], roots_val[r, 0] = _b_operand(root, shared, scratch_row, pidx)
    return Schedule(
        a_code, a_kind, a_val, levels, rows, b_code, b_kind, b_val, n_scratch, grid, row_map,
        roots_op, roots_kind, roots_val, _functions(template),
    )  # fmt: skip


def _b_operand(op: Operand, shared: list[bool], scratch_row: dict[int, int], pidx: dict[str, int]) -> tuple[int, float]:
    k, v = op
    if k == "field":
        return P.K_FIELD, float(v)
    if k == "const":
        return P.K_CONST, float(v)
    if k == "param":
        return P.K_PARAM, float(pidx[str(v)])
    src = int(v)
    if shared[src]:
        return P.K_TPL, float(src)
    return P.K_SCRATCH, float(scratch_row[src])


@dataclass
class SignalChunk:
    """Signals of combinations ``c0 <= c < c1``: bytes per bar (bit 1 entry long, 2 exit long,
    4 entry short, 8 exit short) and, for ATR stops, the per-bar stop / take-profit distance."""

    c0: int
    c1: int
    signals: np.ndarray
    stop_distance: np.ndarray | None
    take_distance: np.ndarray | None


@contextmanager
def _numba_threads(threads: int | None) -> Iterator[None]:
    """Numba's parallel regions started by this thread use at most ``threads`` threads (None:
    or 0: Numba's current setting), restored afterwards."""
    if not threads:
        yield
        return
    before = nb.get_num_threads()
    nb.set_num_threads(max(1, min(threads, nb.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    try:
        yield
    finally:
        nb.set_num_threads(before)


def run_schedule(
    sched: Schedule,
    fields: tuple[np.ndarray, ...],
    offsets: np.ndarray,
    *,
    chunk: int | None = None,
    threads: int | None = None,
) -> Iterator[SignalChunk]:
    """Evaluates the shared phase once, then yields signal chunks of up to ``chunk``
    combinations (default: about 16 MB of signal bytes per chunk). Buffers are reused between
    chunks: consume each chunk before asking for the next."""
    n_bars = int(fields[0].shape[0])
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    slab = np.empty((max(sched.slab_rows, 1), n_bars), np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=nb.NumbaExperimentalFeatureWarning)
        if sched.a_code.shape[0]:
            with _numba_threads(threads):
                eval_shared(
                    sched.a_code, sched.a_kind, sched.a_val, sched.levels, fields, slab, offsets, sched.functions
                )
        n_combos = sched.n_combos
        if chunk is None:
            chunk = max(1, min(n_combos, (16 << 20) // max(n_bars, 1)))
        nthreads = max(1, min(threads or nb.get_num_threads(), chunk))
        scratch = np.empty((nthreads, max(sched.scratch_rows, 1), n_bars if sched.scratch_rows else 1), np.float64)
        has_stop = sched.roots_kind[4, 0] != P.K_NONE
        has_take = sched.roots_kind[5, 0] != P.K_NONE
        sig = np.empty((chunk, n_bars), np.uint8)
        stop = np.empty((chunk, n_bars) if has_stop else (1, 0), np.float64)
        take = np.empty((chunk, n_bars) if has_take else (1, 0), np.float64)
        for c0 in range(0, n_combos, chunk):
            c1 = min(n_combos, c0 + chunk)
            with _numba_threads(threads):
                eval_combos(
                    sched.b_code, sched.b_kind, sched.b_val, sched.params, sched.row_map, fields, slab, offsets,
                    sched.functions, sched.roots_op, sched.roots_kind, sched.roots_val, c0, c1, sig, stop, take,
                    scratch, BLOCK,
                )  # fmt: skip
            k = c1 - c0
            yield SignalChunk(c0, c1, sig[:k], stop[:k] if has_stop else None, take[:k] if has_take else None)
