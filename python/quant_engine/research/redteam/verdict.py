"""The Red Team's verdict on one strategy: every test's outcome, the failure types its detectors
raised with their evidence, and what could not be computed (VALIDATION.md §6).

A :class:`Verdict` is a frozen :class:`msgspec.Struct` that round-trips through plain JSON
(:meth:`Verdict.to_dict` / :meth:`Verdict.from_dict`): every number is a finite float or ``None``
(``None`` = not computed; NaN and infinities never reach the document).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.redteam.results import FailureType, StatResult

__all__ = ["TestOutcome", "Verdict", "finite", "outcome_from_result", "VERDICT_SCHEMA"]

VERDICT_SCHEMA = 1
"""Version of the verdict document (``Verdict.schema``)."""


def finite(x: Any) -> float | None:
    """``x`` as a float, or ``None`` when it is missing or not finite (NaN, infinity)."""
    if x is None or isinstance(x, bool):
        return None if x is None else float(x)
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


class TestOutcome(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One test of the battery.

    Attributes:
        name: the test (``"dsr"``, ``"pbo"``, ``"wnt_b"``, ``"capacity"``, ...).
        statistic: the gated value (``None`` when not computed or not finite).
        threshold: the gate it is compared with (``None`` for a descriptive test).
        p_value: the test's p-value where it has one.
        passed: ``True`` only when computed and inside the gate (a descriptive test: computed).
        gated: whether the verdict's ``passed`` depends on it (descriptive tests are reported only).
        feeds: the failure types a failure of this test is evidence for.
        reason: why it could not be computed (``None`` when it was).
        note: a caveat on a computed result (e.g. "no store: N = 1").
        details: further values (the detector's evidence), finite floats or ``None``.
        null: the null distribution's statistics, for the report's histogram (null tests only).
        seconds: wall time of the test.
    """

    __test__ = False  # not a pytest class

    name: str
    statistic: float | None
    threshold: float | None
    p_value: float | None = None
    passed: bool
    gated: bool = True
    feeds: tuple[FailureType, ...] = ()
    reason: str | None = None
    note: str | None = None
    details: dict[str, float | None] = {}
    null: tuple[float, ...] | None = None
    seconds: float = 0.0

    @property
    def computable(self) -> bool:
        """Whether the test was computed (no ``reason``)."""
        return self.reason is None


def outcome_from_result(
    res: StatResult,
    *,
    name: str | None = None,
    details: Mapping[str, Any] | None = None,
    note: str | None = None,
    null: Any = None,
) -> TestOutcome:
    """A :class:`TestOutcome` from a statistics result; ``details`` default to the result's extra
    numeric fields (those beyond :class:`StatResult`'s)."""
    base = set(StatResult.__struct_fields__)
    if details is None:
        details = {
            k: getattr(res, k)
            for k in res.__struct_fields__
            if k not in base and isinstance(getattr(res, k), (int, float)) and not isinstance(getattr(res, k), bool)
        }
    nulls = None if null is None else tuple(float(v) for v in null if math.isfinite(float(v)))
    return TestOutcome(
        name=name or res.name,
        statistic=finite(res.statistic),
        threshold=finite(res.threshold),
        p_value=finite(res.p_value),
        passed=bool(res.passed) and res.reason is None,
        feeds=tuple(res.feeds),
        reason=res.reason,
        note=note,
        details={str(k): finite(v) for k, v in details.items()},
        null=nulls,
    )


class Verdict(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The Red Team's verdict on one strategy (``RedTeam(config).examine(...)``).

    Attributes:
        schema: :data:`VERDICT_SCHEMA`.
        strategy_hash: the strategy's identity (``strategy_hash``).
        family: the population its ledger statistics count (the store's family, else the template hash).
        seed: the seed every resampling derived from (same seed, same verdict).
        config: the thresholds and backtest configuration used (plain JSON).
        n_periods: return periods examined; ``n_trials``: trials of the family in the ledger.
        tests: every test's outcome, in battery order.
        passed: all gated tests computed and passed (a test not computed never passes).
        failure_types: the failure types raised by their detectors, in taxonomy order.
        evidence: per raised failure type, the detector's values (``"<test>.<value>"`` -> number).
        not_computable: the gated tests that could not be computed (each has a ``reason``).
        not_applicable: failure types this verdict cannot decide, with why (EXECUTION_DIVERGENCE:
            decided in paper trading).
        timings: seconds per stage (``backtest``, each test, ``total``).
    """

    schema: int = VERDICT_SCHEMA
    strategy_hash: str
    family: str
    seed: int
    config: dict[str, Any] = {}
    n_periods: int = 0
    n_trials: int = 0
    tests: tuple[TestOutcome, ...] = ()
    passed: bool = False
    failure_types: tuple[FailureType, ...] = ()
    evidence: dict[FailureType, dict[str, float | None]] = {}
    not_computable: tuple[str, ...] = ()
    not_applicable: dict[FailureType, str] = {}
    timings: dict[str, float] = {}

    def test(self, name: str) -> TestOutcome:
        """The outcome of the test called ``name`` (``KeyError`` if the battery had none)."""
        for t in self.tests:
            if t.name == name:
                return t
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The verdict as plain JSON-compatible builtins (``json.dumps`` works on it)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    def to_json(self) -> bytes:
        """The verdict document as JSON bytes."""
        return msgspec.json.encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        """A verdict from :meth:`to_dict`'s output (or its parsed JSON); bad documents raise
        :class:`~quant_engine.errors.InvalidArgumentError`."""
        try:
            return msgspec.convert(dict(data), cls)
        except msgspec.ValidationError as exc:
            raise InvalidArgumentError(f"invalid verdict document: {exc}") from None
