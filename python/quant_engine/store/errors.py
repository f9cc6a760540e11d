"""The typed errors of the research store.

Every class derives from :class:`quant_engine.errors.QuantEngineError` and from the builtin a
caller would naturally catch (``ValueError`` for bad input, ``KeyError`` for an unknown key).
"""

from __future__ import annotations

from quant_engine.errors import QuantEngineError

__all__ = [
    "StoreError",
    "StoreVersionError",
    "StoreConfigError",
    "IllegalTransitionError",
    "UnknownStrategyError",
    "UnknownRecordError",
    "UnknownFailureTypeError",
    "CorruptBlobError",
    "StoreInputError",
]


class StoreError(QuantEngineError):
    """Base class of every error raised by :mod:`quant_engine.store`."""


class StoreVersionError(StoreError, RuntimeError):
    """The store was written by a newer quant-engine (its schema revision is unknown here), or
    it is not a quant-engine store at all. Upgrade quant-engine; the store is left untouched."""


class StoreConfigError(StoreError, ValueError):
    """The store URL is malformed or names an unsupported database."""


class StoreInputError(StoreError, ValueError):
    """A value handed to the store is invalid (wrong shape, wrong type, out of range)."""


class IllegalTransitionError(StoreError, ValueError):
    """A strategy lifecycle transition that the lifecycle does not allow (e.g. failed -> promoted).

    Attributes:
        strategy_hash: the strategy's identity.
        current: its status in the store.
        requested: the status asked for.
    """

    def __init__(self, strategy_hash: str, current: str, requested: str) -> None:
        super().__init__(f"strategy {strategy_hash[:12]}: illegal transition {current} -> {requested}")
        self.strategy_hash = strategy_hash
        self.current = current
        self.requested = requested


class UnknownRecordError(StoreError, KeyError):
    """A referenced row (mission, snapshot, trial, consumer ...) does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown record"


class UnknownStrategyError(UnknownRecordError):
    """A strategy hash is not in the store (record the strategy before its trials)."""


class UnknownFailureTypeError(StoreError, ValueError):
    """A failure type is not one of the 11 types of the taxonomy (VALIDATION.md section 6)."""


class CorruptBlobError(StoreError, ValueError):
    """A stored returns blob fails its checksum, does not decode, or has the wrong shape."""
