"""Machine constraints: what the Gatekeeper's causal memories compile to, and how they bind.

:class:`Constraints` holds banned subtrees (with parameter ranges), a minimum trade count, a
minimum holding period, a cost floor and family budgets, each with an id naming the memory that
imposed it (``M<memory id>.<kind>``), plus the prompt text an LLM generator is shown.

Two places enforce them, both by code:

* :meth:`Constraints.check` is a :data:`~quant_engine.strategy.StrategyCheck`: passed to the
  strategy validator (``compile_strategy(doc, checks=[constraints.check])``) it refuses a candidate
  that contains a banned subtree, a time stop shorter than the minimum holding period or a family
  whose budget is spent, with :class:`~quant_engine.errors.ConstraintViolationError` naming the
  constraint, before any backtest;
* :meth:`Constraints.screen` refuses an evaluated candidate with too few trades or too short a
  holding period (these need a backtest to know), and :meth:`Constraints.screening_config` raises
  the costs every screening backtest is charged to the cost floor (bps of slippage per side).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import msgspec

from quant_engine.errors import ConstraintViolationError
from quant_engine.execution import ExecutionConfig
from quant_engine.research.config import BacktestConfig
from quant_engine.research.gatekeeper.patterns import find_pattern, shape_family
from quant_engine.strategy import Strategy
from quant_engine.strategy import nodes as N

__all__ = ["BannedSubtree", "Bound", "FamilyBudget", "Constraints"]


class BannedSubtree(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A banned subtree or operator (see :mod:`~quant_engine.research.gatekeeper.patterns`).

    Attributes:
        id: the constraint id (``M<memory>.banned_subtree``).
        pattern: the node pattern (numeric leaves may be ``{"range": [lo, hi]}``).
        failure_type: the failure type it comes from.
    """

    id: str
    pattern: dict[str, Any]
    failure_type: str


class Bound(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A numeric floor (minimum trades, minimum holding bars, cost floor in bps) and its id."""

    id: str
    value: float
    failure_type: str


class FamilyBudget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """At most ``max_trials`` trials of a family (``used`` recorded so far)."""

    id: str
    family: str
    max_trials: int
    used: int
    failure_type: str

    @property
    def spent(self) -> bool:
        """Whether no trial is left."""
        return self.used >= self.max_trials


class Constraints(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The machine constraints of a mission (see the module doc).

    Attributes:
        banned: banned subtrees and operators.
        min_trades: the strongest minimum trade count, or None.
        min_holding_bars: the strongest minimum average holding period in bars, or None.
        cost_floor: the strongest cost floor (bps of slippage per side) screening backtests are
            charged, or None.
        family_budgets: family -> its budget.
        memory_ids: the memories these were compiled from.
        prompt: the constraints in words, for an LLM generator's prompt.
    """

    banned: tuple[BannedSubtree, ...] = ()
    min_trades: Bound | None = None
    min_holding_bars: Bound | None = None
    cost_floor: Bound | None = None
    family_budgets: dict[str, FamilyBudget] = {}
    memory_ids: tuple[int, ...] = ()
    prompt: str = ""

    def check(self, strategy: Strategy) -> None:
        """The validator hook: raises :class:`ConstraintViolationError` (with the constraint's
        id and the offending path) when ``strategy`` breaks a structural constraint."""
        for ban in self.banned:
            path = find_pattern(strategy, ban.pattern)
            if path is not None:
                raise ConstraintViolationError(
                    ban.id, f"contains a subtree banned after {ban.failure_type} ({_describe(ban.pattern)})", path
                )
        hold = self.min_holding_bars
        if hold is not None and isinstance(strategy.time_stop, int) and strategy.time_stop < hold.value:
            raise ConstraintViolationError(
                hold.id, f"time stop of {strategy.time_stop} bars is below the minimum holding of {hold.value:g}",
                "$.time_stop",
            )  # fmt: skip
        if self.family_budgets:
            budget = self.family_budgets.get(shape_family(strategy))
            if budget is not None and budget.spent:
                raise ConstraintViolationError(
                    budget.id, f"family {budget.family} has spent its budget of {budget.max_trials} trials", "$"
                )

    def screen(self, metrics: Mapping[str, float]) -> str | None:
        """The id of the first post-backtest constraint the metrics break (too few trades, too
        short an average holding period: ``exposure x periods / trades`` bars), else None."""
        trades = float(metrics.get("trades", 0.0))
        if self.min_trades is not None and not trades >= self.min_trades.value:
            return self.min_trades.id
        hold = self.min_holding_bars
        if hold is not None and trades > 0:
            held = float(metrics.get("exposure", 0.0)) * float(metrics.get("periods", 0.0)) / trades
            if not held >= hold.value:
                return hold.id
        return None

    def screening_config(self, config: BacktestConfig) -> BacktestConfig:
        """``config`` with the cost floor applied: fixed slippage raised to at least the floor
        (bps per side), so a screening backtest charges at least the costs a lesson demands."""
        execution = config.execution
        if self.cost_floor is None or not isinstance(execution, ExecutionConfig):
            return config
        if execution.slippage.fixed_bps >= self.cost_floor.value:
            return config
        slippage = msgspec.structs.replace(execution.slippage, fixed_bps=self.cost_floor.value)
        execution = msgspec.structs.replace(execution, slippage=slippage)
        return dataclasses.replace(config, execution=execution)

    def with_budget_use(self, family: str, n: int = 1) -> Constraints:
        """A copy with ``n`` more trials counted against ``family``'s budget (if it has one)."""
        budget = self.family_budgets.get(family)
        if budget is None:
            return self
        updated = msgspec.structs.replace(budget, used=budget.used + n)
        return msgspec.structs.replace(self, family_budgets={**self.family_budgets, family: updated})

    def ids(self) -> list[str]:
        """Every constraint id."""
        out = [b.id for b in self.banned]
        out += [b.id for b in (self.min_trades, self.min_holding_bars, self.cost_floor) if b is not None]
        return out + [b.id for b in self.family_budgets.values()]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON builtins."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def _describe(pattern: Any) -> str:
    """A short text of a pattern: its operators and ranges (``rsi(n in [2, 4])``)."""
    if isinstance(pattern, dict) and set(pattern) == {"range"}:
        lo, hi = pattern["range"]
        return f"[{lo:g}, {hi:g}]"
    if isinstance(pattern, dict):
        op = pattern.get("op", "?")
        if op == "call":
            return f"call {pattern.get('fn', '?')}"
        parts = [f"{k}={_describe(v)}" for k, v in pattern.items() if k != "op" and not isinstance(v, N.Node)]
        return f"{op}({', '.join(parts)})"
    if isinstance(pattern, list):
        return "[" + ", ".join(_describe(v) for v in pattern) + "]"
    return str(pattern)
