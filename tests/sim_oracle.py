"""A reference simulation of the backtester's documented fill rules, shared by the conformance
tests (an oracle: it calls nothing of quant_engine)."""

from __future__ import annotations

import math

import numpy as np


def reference_long_only(
    o: np.ndarray, c: np.ndarray, entry: np.ndarray, exit_: np.ndarray, cash: float
) -> tuple[float, int]:
    """An independent simulation of the documented rules for all-in long-only, no costs: sized at
    the signal close (whole shares of equity / close), filled at the next open, closed at the last
    close. Written from docs/backtest.md, never from the backtester's code."""
    pos, pending, pending_qty, trades = 0.0, 0, 0.0, 0
    for i in range(len(c)):
        if pending == 1:
            pos, cash = pending_qty, cash - pending_qty * o[i]
        elif pending == -1:
            cash, pos, trades = cash + pos * o[i], 0.0, trades + 1
        pending = 0
        if i == len(c) - 1:
            if pos:
                cash, pos, trades = cash + pos * c[i], 0.0, trades + 1
            break
        if pos and exit_[i]:
            pending = -1
        elif not pos and entry[i]:
            q = math.floor((cash + pos * c[i]) / c[i])
            if q > 0:
                pending, pending_qty = 1, float(q)
    return cash, trades
