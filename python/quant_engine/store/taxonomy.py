"""The failure taxonomy: the 11 failure types of a strategy, defined once (VALIDATION.md section 6).

A post-mortem proposes a type; a mechanical detector must confirm it before the failure is stored
as a causal memory (:func:`quant_engine.store.memories.record_memory`). Implementation errors
(crash, NaN, wrong shape) are a separate class and are not failure types.
"""

from __future__ import annotations

import enum

from quant_engine.store.errors import UnknownFailureTypeError

__all__ = ["FailureType", "FAILURE_TYPES", "parse_failure_type"]


class FailureType(str, enum.Enum):
    """Why a strategy failed; the value is the name stored in ``causal_memories.failure_type``."""

    OVERFITTING = "OVERFITTING"
    """DSR with the ledger's N, PBO or SPA says the edge is selection bias."""
    LOOKAHEAD_BIAS = "LOOKAHEAD_BIAS"
    """Prefix invariance broken, an edge on noise, or collapse with one extra bar of lag."""
    NOISE_FITTING = "NOISE_FITTING"
    """Not significant against its own permuted / bootstrapped noise (WNT-B)."""
    REGIME_DEPENDENCE = "REGIME_DEPENDENCE"
    """The edge lives in one volatility tercile, trend/range regime or year."""
    COST_SENSITIVITY = "COST_SENSITIVITY"
    """The breakeven cost is below twice the assumed cost."""
    CAPACITY_LIQUIDITY = "CAPACITY_LIQUIDITY"
    """Positions are too large against the bar volume."""
    PARAMETER_INSTABILITY = "PARAMETER_INSTABILITY"
    """The neighbourhood of the chosen parameters performs far worse than the peak."""
    INSUFFICIENT_EVIDENCE = "INSUFFICIENT_EVIDENCE"
    """Too few trades or a sample shorter than the minimum track record length."""
    REDUNDANCY_DECAY = "REDUNDANCY_DECAY"
    """Correlated with graduated strategies, or its edge decays."""
    EXCESSIVE_DRAWDOWN = "EXCESSIVE_DRAWDOWN"
    """Drawdown depth or duration beyond the mission's limits."""
    EXECUTION_DIVERGENCE = "EXECUTION_DIVERGENCE"
    """Paper trading diverges from the backtest beyond the predicted band."""


FAILURE_TYPES: tuple[str, ...] = tuple(t.value for t in FailureType)
"""The stored names of the failure types, in taxonomy order."""


def parse_failure_type(value: FailureType | str) -> FailureType:
    """The :class:`FailureType` named by ``value`` (case-insensitive); raises
    :class:`UnknownFailureTypeError` for anything else."""
    if isinstance(value, FailureType):
        return value
    if isinstance(value, str):
        try:
            return FailureType(value.strip().upper())
        except ValueError:
            pass
    raise UnknownFailureTypeError(f"unknown failure type {value!r}; expected one of {', '.join(FAILURE_TYPES)}")
