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
    "UsageError",
    "StrategyValidationError",
    "ConstraintViolationError",
    "StreamProtocolError",
    "VendorError",
    "NoDataError",
    "VendorRequestError",
    "VendorPermissionError",
    "VendorAuthError",
    "VendorRateLimitError",
    "VendorUnavailableError",
    "VendorServerError",
    "LargeRequestError",
    "ResourceLimitError",
    "LLMError",
    "LLMNotConfiguredError",
    "LLMBudgetError",
    "LLMRequestError",
    "LLMUnavailableError",
]


class QuantEngineError(Exception):
    """Base class of every error raised by quant-engine."""


class InvalidArgumentError(QuantEngineError, ValueError):
    """A parameter has an invalid value (a bad interval, a negative capacity, ...)."""


class ResourceLimitError(InvalidArgumentError):
    """A request would need more memory (or another resource) than the configured cap allows
    (``QE_MEMORY_CAP``, see :mod:`quant_engine.memory`); the message gives the estimate and the cap."""


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


class UsageError(QuantEngineError, TypeError):
    """An API used in a way that cannot mean what was intended (``if buffer.is_ready:`` on a
    buffer of several symbols, whose readiness needs a symbol)."""


class StrategyValidationError(QuantEngineError, ValueError):
    """A strategy document is invalid: a wrong type, an unknown operator, a limit exceeded.

    ``path`` names the offending location in JSON-path form (``$.entry_long.args[1].n``) and
    ``reason`` says what is wrong there; ``str(error)`` combines both.
    """

    def __init__(self, reason: str, path: str = "$") -> None:
        super().__init__(f"{reason} - at `{path}`")
        self.reason = reason
        self.path = path


class ConstraintViolationError(StrategyValidationError):
    """A strategy breaks a research constraint (a machine constraint compiled from the
    Gatekeeper's causal memories): refused before any backtest. ``constraint_id`` names the
    constraint (and through it the memory that imposed it)."""

    def __init__(self, constraint_id: str, reason: str, path: str = "$") -> None:
        super().__init__(f"constraint {constraint_id}: {reason}", path)
        self.constraint_id = constraint_id


class StreamProtocolError(QuantEngineError, ConnectionError):
    """A vendor stream broke its wire protocol (bad WebSocket framing): the connection must be
    reopened. Malformed *messages* are not errors: they are counted and skipped."""


class VendorError(QuantEngineError):
    """A market-data vendor (ThetaData, Massive) refused or failed a request.

    Attributes:
        vendor: ``"thetadata"`` or ``"massive"``.
        status: the HTTP status (or vendor code such as 472), None for transport failures.
        code: the vendor's name of the code (``NO_DATA``, ``OS_LIMIT`` ...), or None.
    """

    def __init__(self, message: str, *, vendor: str = "", status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.vendor = vendor
        self.status = status
        self.code = code


class NoDataError(VendorError, LookupError):
    """The request is valid but there is no data (ThetaData 472 NO_DATA, an empty catalog range)."""


class VendorRequestError(VendorError, ValueError):
    """The vendor rejected the request's parameters (ThetaData 473/475/404/410, Massive 400/404)."""


class VendorPermissionError(VendorError, PermissionError):
    """The account is not entitled to the data (ThetaData 471/476, Massive 403)."""


class VendorAuthError(VendorError, PermissionError):
    """The credentials were missing or refused (Massive 401, WebSocket ``auth_failed``)."""


class VendorRateLimitError(VendorError):
    """The vendor kept throttling (429) after every retry."""


class VendorUnavailableError(VendorError, ConnectionError):
    """The vendor cannot be reached or is not ready (connection refused, ThetaData 474 upstream
    disconnected or 571 starting, 5xx) and retries did not help."""


class VendorServerError(VendorError):
    """The vendor failed internally (ThetaData 470/572, an unexpected status)."""


class LargeRequestError(VendorError):
    """The request is too large for the vendor (ThetaData 570) and cannot be split further."""


class LLMError(QuantEngineError):
    """Base class of the errors of the LLM client (:mod:`quant_engine.research.llm`)."""


class LLMNotConfiguredError(LLMError, InvalidArgumentError):
    """No LLM is configured (``QE_LLM_BASE_URL`` / ``QE_LLM_MODEL`` unset) or a ``QE_LLM_*`` setting
    is invalid; the message names the variable."""


class LLMBudgetError(LLMError):
    """A request would exceed the remaining token or cost budget of its mission; it was not sent.

    Attributes:
        mission_id: the mission whose budget is exhausted (None: the client's default budget).
        needed_tokens / needed_cost: the request's worst case (prompt estimate + max completion).
        remaining_tokens / remaining_cost: what was left (None: no limit of that kind).
    """

    def __init__(
        self,
        message: str,
        *,
        mission_id: int | None = None,
        needed_tokens: int = 0,
        needed_cost: float = 0.0,
        remaining_tokens: int | None = None,
        remaining_cost: float | None = None,
    ) -> None:
        super().__init__(message)
        self.mission_id = mission_id
        self.needed_tokens = needed_tokens
        self.needed_cost = needed_cost
        self.remaining_tokens = remaining_tokens
        self.remaining_cost = remaining_cost


class LLMRequestError(LLMError, ValueError):
    """The LLM server refused the request itself (400, 401, 403, 404 ...): retrying cannot help.

    Attributes:
        status: the HTTP status.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class LLMUnavailableError(LLMError, ConnectionError):
    """The LLM server kept failing (429, 5xx, timeouts, connection errors) through every retry.

    Attributes:
        outcome: the last failure (``rate_limited``, ``server_error``, ``timeout``, ``connection``).
        attempts: how many attempts were made.
        faults: the failure of every attempt, in order.
    """

    def __init__(self, message: str, *, outcome: str = "", attempts: int = 0, faults: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.attempts = attempts
        self.faults = faults
