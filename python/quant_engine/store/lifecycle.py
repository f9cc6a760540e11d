"""The strategy lifecycle: statuses and the transitions allowed between them.

::

    candidate --> testing --> failed
                     |
                     +------> graduated --> promoted --> retired
                                  |                        ^
                                  +------------------------+

A graduate may be retired without being promoted (paper trading left its expected band).
``failed`` and ``retired`` are terminal. Every transition is recorded in
``strategy_transitions`` (see :func:`quant_engine.store.strategies.transition`).
"""

from __future__ import annotations

import enum

from quant_engine.store.errors import StoreInputError

__all__ = ["Status", "TRANSITIONS", "is_legal", "parse_status"]


class Status(str, enum.Enum):
    """A strategy's status; the value is what ``strategies.status`` stores."""

    CANDIDATE = "candidate"
    TESTING = "testing"
    FAILED = "failed"
    GRADUATED = "graduated"
    PROMOTED = "promoted"
    RETIRED = "retired"


TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.CANDIDATE: frozenset({Status.TESTING}),
    Status.TESTING: frozenset({Status.FAILED, Status.GRADUATED}),
    Status.FAILED: frozenset(),
    Status.GRADUATED: frozenset({Status.PROMOTED, Status.RETIRED}),
    Status.PROMOTED: frozenset({Status.RETIRED}),
    Status.RETIRED: frozenset(),
}
"""Allowed transitions: status -> the statuses it may move to."""


def parse_status(value: Status | str) -> Status:
    """The :class:`Status` named by ``value``; raises :class:`StoreInputError` otherwise."""
    if isinstance(value, Status):
        return value
    try:
        return Status(str(value).strip().lower())
    except ValueError:
        raise StoreInputError(
            f"unknown strategy status {value!r}; expected one of {', '.join(s.value for s in Status)}"
        ) from None


def is_legal(current: Status, requested: Status) -> bool:
    """Whether ``current -> requested`` is an allowed transition."""
    return requested in TRANSITIONS[current]
