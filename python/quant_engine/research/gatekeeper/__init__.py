"""The Gatekeeper: learns from failed strategies and turns the lessons into machine constraints.

* :func:`conduct_post_mortem` (:mod:`.post_mortem`): the Red Team's detectors decide a failure's
  types; each becomes a causal memory (type, detector values, lesson, the subtree or parameters it
  concerns, an expiry). An optional LLM writes the narrative; its proposed type is stored only
  when a detector confirms it.
* :func:`get_swarm_constraints` (:mod:`.compile`): active memories compile into
  :class:`Constraints` (banned subtrees with parameter ranges, minimum trades, minimum holding
  period, cost floor, family budgets) plus a prompt text. ``Constraints.check`` plugs into the
  strategy validator (``compile_strategy(doc, checks=[c.check])``) and refuses a candidate with
  the constraint's id before any backtest.
* :func:`review_memories`: retires memories the evidence no longer supports.

``docs/research-loop.md`` describes the loop.
"""

from __future__ import annotations

from quant_engine.research.gatekeeper.compile import Review, compile_constraints, get_swarm_constraints, review_memories
from quant_engine.research.gatekeeper.constraints import BannedSubtree, Bound, Constraints, FamilyBudget
from quant_engine.research.gatekeeper.patterns import find_pattern, generalize, matches, node_json, shape_family
from quant_engine.research.gatekeeper.post_mortem import (
    CONCERNS,
    DEFAULT_TTL_DAYS,
    PostMortem,
    PostMortemNote,
    PostMortemWriter,
    conduct_post_mortem,
)

__all__ = [
    "conduct_post_mortem",
    "get_swarm_constraints",
    "compile_constraints",
    "review_memories",
    "Review",
    "PostMortem",
    "PostMortemNote",
    "PostMortemWriter",
    "Constraints",
    "BannedSubtree",
    "Bound",
    "FamilyBudget",
    "CONCERNS",
    "DEFAULT_TTL_DAYS",
    "find_pattern",
    "generalize",
    "matches",
    "node_json",
    "shape_family",
]
