"""The instruction set of compiled strategy plans (shared by the compiler and the evaluator).

A plan is a list of instructions in dependency order. Each instruction has an opcode, an output
row and up to :data:`MAX_OPERANDS` operands; an operand is a *kind* and a *value*:

======== ===================================================================
kind      value
======== ===================================================================
NONE      unused
FIELD     index of a bar field (:data:`FIELD_ROWS`)
SLAB      row of the shared result slab (concrete instruction outputs)
SCRATCH   row of the evaluating thread's scratch (per-combination outputs)
CONST     the number itself
PARAM     column of the parameter matrix (one row per combination)
TPL       template instruction id, mapped per combination to a slab row
======== ===================================================================
"""

from __future__ import annotations

__all__ = [
    "MAX_OPERANDS",
    "N_ROOTS",
    "FIELD_ROWS",
    "K_NONE",
    "K_FIELD",
    "K_SLAB",
    "K_SCRATCH",
    "K_CONST",
    "K_PARAM",
    "K_TPL",
    "WINDOWED",
    "POINTWISE",
    "OPCODES",
]

MAX_OPERANDS = 8
N_ROOTS = 6
"""entry_long, exit_long, entry_short, exit_short, stop-loss distance, take-profit distance."""

FIELD_ROWS: dict[str, int] = {
    "open": 0,
    "high": 1,
    "low": 2,
    "close": 3,
    "volume": 4,
    "vwap": 5,
    "time_of_day": 6,
    "session_start": 7,
}
"""Row of each input series in the field tuple passed to the evaluator."""

K_NONE, K_FIELD, K_SLAB, K_SCRATCH, K_CONST, K_PARAM, K_TPL = 0, 1, 2, 3, 4, 5, 6

# opcodes: stateful series operators
SMA, EMA, WILDER, WMA, STD, RMIN, RMAX, RSUM, LAG, RSI, TRUE_RANGE, SESSION_SUM, FILL = range(1, 14)
# pointwise
ADD, SUB, MUL, DIV, MIN, MAX, NEG, ABS, LOG = range(20, 29)
GT, GE, CROSS, AND, OR, NOT = range(30, 36)
CALL = 40

OPCODES: dict[str, int] = {
    "sma": SMA, "ema": EMA, "wilder": WILDER, "wma": WMA, "std": STD, "rolling_min": RMIN,
    "rolling_max": RMAX, "rolling_sum": RSUM, "lag": LAG, "rsi": RSI, "true_range": TRUE_RANGE,
    "session_sum": SESSION_SUM, "fill": FILL,
    "add": ADD, "sub": SUB, "mul": MUL, "div": DIV, "min": MIN, "max": MAX, "neg": NEG,
    "abs": ABS, "log": LOG, "gt": GT, "ge": GE, "cross_above": CROSS, "and": AND, "or": OR,
    "not": NOT, "call": CALL,
}  # fmt: skip
"""Opcode by instruction name."""

WINDOWED = frozenset({SMA, EMA, WILDER, WMA, STD, RMIN, RMAX, RSUM, LAG, RSI, TRUE_RANGE, SESSION_SUM, CROSS, CALL})
"""Opcodes whose value at a bar depends on earlier bars."""

POINTWISE = frozenset({ADD, SUB, MUL, DIV, MIN, MAX, NEG, ABS, LOG, GT, GE, AND, OR, NOT, FILL})
"""Opcodes computed bar by bar."""
