"""The exceptions of quant-engine, defined once.

The Rust core (``quant_engine._core``) raises these classes too: its ``thiserror`` enum maps each
variant to one of them by name, and a Rust panic is caught at the FFI boundary and raised as
:class:`InternalError`. Every class derives from :class:`QuantEngineError`, and from the builtin
exception a caller would naturally catch (``ValueError`` for bad input, ``KeyError`` for an
unknown symbol).
"""

from __future__ import annotations

__all__ = [
    "QuantEngineError",
    "InvalidArgumentError",
    "SchemaError",
    "BadDataError",
    "UnknownSymbolError",
    "InternalError",
    "StrategyValidationError",
]


class QuantEngineError(Exception):
    """Base class of every error raised by quant-engine."""


class InvalidArgumentError(QuantEngineError, ValueError):
    """A parameter has an invalid value (a bad interval, a negative capacity, ...)."""


class SchemaError(QuantEngineError, ValueError):
    """Input data lacks a required column or has a column of an unsupported type."""


class BadDataError(QuantEngineError, ValueError):
    """Input rows were rejected and the caller asked for strict handling."""


class UnknownSymbolError(QuantEngineError, KeyError):
    """A symbol is not known (not in a fixed symbol set, or never seen)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown symbol"


class InternalError(QuantEngineError, RuntimeError):
    """An invariant was violated inside quant-engine (a bug, including a caught Rust panic)."""


class StrategyValidationError(QuantEngineError, ValueError):
    """A strategy document is invalid: a wrong type, an unknown operator, a limit exceeded.

    ``path`` names the offending location in JSON-path form (``$.entry_long.args[1].n``) and
    ``reason`` says what is wrong there; ``str(error)`` combines both.
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{reason} - at `{path}`")
        self.reason = reason
        self.path = path
