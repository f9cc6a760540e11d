"""Strategy proposals from an LLM: every answer is parsed and validated by the strategy validator;
an invalid one goes back with the validator's path-named error as a repair prompt (up to
``settings.repairs`` times), then is counted and dropped. A proposal is data: nothing an LLM
writes is ever executed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from quant_engine.errors import LLMBudgetError, LLMRequestError, LLMUnavailableError, StrategyValidationError
from quant_engine.research.llm.client import Completion, LLMClient
from quant_engine.research.llm.prompts import prompt_template
from quant_engine.strategy import Limits, Strategy, parse_strategy, strategy_hash, strategy_json_schema

__all__ = ["ProposalResult", "propose_strategies", "strategy_from_text"]

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(?P<body>.*?)\n?```\s*$", re.DOTALL)


@dataclass
class ProposalResult:
    """What :func:`propose_strategies` got.

    Attributes:
        strategies: the valid, distinct strategies (by canonical hash), in the order received.
        requested: how many were asked for.
        invalid: answers that failed validation (each repair attempt counts).
        repaired: strategies that became valid after one or more repair prompts.
        dropped: candidates still invalid after every repair.
        duplicates: valid strategies equal (canonical hash) to one already proposed.
        failed: candidates lost to a server that kept failing or refused the request.
        faults: transport faults retried or failed on, and invalid answers by kind
            (``rate_limited``, ``server_error``, ``timeout``, ``connection``, ``truncated``,
            ``malformed``, ``schema``, ``refused``).
        budget_exhausted: the mission's budget refused a request (no more were sent).
        requests: completions received; prompt_tokens / completion_tokens / cost: their usage.
        errors: the last validation error of each dropped candidate.
    """

    strategies: list[Strategy] = field(default_factory=list)
    requested: int = 0
    invalid: int = 0
    repaired: int = 0
    dropped: int = 0
    duplicates: int = 0
    failed: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    budget_exhausted: bool = False
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def hashes(self) -> list[str]:
        """The canonical hashes of :attr:`strategies`."""
        return [strategy_hash(s) for s in self.strategies]

    def _fault(self, kind: str) -> None:
        self.faults[kind] = self.faults.get(kind, 0) + 1

    def _usage(self, c: Completion) -> None:
        self.requests += 1
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens
        self.cost += c.cost
        for f in c.faults:
            self._fault(f)


def strategy_from_text(text: str, *, limits: Limits | None = None) -> Strategy:
    """Parses and validates an LLM's answer (one surrounding Markdown code fence is removed);
    raises :class:`StrategyValidationError` naming the path."""
    m = _FENCE.match(text)
    return parse_strategy(m["body"] if m else text.strip(), limits=limits)


def _example_text(examples: Sequence[Strategy | Mapping[str, Any] | str]) -> str:
    out = []
    for ex in examples:
        if isinstance(ex, str):
            out.append(ex.strip())
        elif isinstance(ex, Strategy):
            out.append(msgspec.json.encode(ex).decode())
        else:
            out.append(json.dumps(ex, separators=(",", ":")))
    return "\n".join(out) or "(none)"


def _kind(error: StrategyValidationError, truncated: bool) -> str:
    if truncated:
        return "truncated"
    return "malformed" if error.reason.startswith(("malformed JSON", "nesting is too deep")) else "schema"


def propose_strategies(
    n: int,
    *,
    client: LLMClient | None = None,
    mission: Any = None,
    constraints_text: str = "",
    examples: Sequence[Strategy | Mapping[str, Any] | str] = (),
    instruments: Sequence[str] = ("SPY",),
    timeframe: str = "5m",
    check: Callable[[Strategy], None] | None = None,
    limits: Limits | None = None,
) -> ProposalResult:
    """Asks the LLM for ``n`` strategies, one request each, validating and repairing every answer.

    Args:
        n: candidates to ask for.
        client: the LLM client (default :meth:`LLMClient.from_env`, which raises
            :class:`~quant_engine.errors.LLMNotConfiguredError` when no LLM is configured).
        mission: a :class:`~quant_engine.store.MissionRecord` or a mission id: its directive goes
            into the prompt and its budget pays (None: the default budget).
        constraints_text: the constraints as prompt text (from the Gatekeeper).
        examples: valid strategies shown as examples (documents, mappings or JSON text).
        instruments / timeframe: what the strategies should trade.
        check: an extra validator run after the strategy validator (e.g. the Gatekeeper's
            machine constraints); raises :class:`StrategyValidationError`, handled as invalid.
        limits: the validator's size limits.
    """
    client = client or LLMClient.from_env()
    mission_id, directive = _mission(client, mission)
    schema = strategy_json_schema()
    system, propose, repair = prompt_template("system"), prompt_template("propose"), prompt_template("repair")
    schema_text = ""
    if client.settings.structured_output == "json_object":
        schema_text = "\nThe JSON document must validate against this JSON Schema:\n" + json.dumps(schema) + "\n"
    result = ProposalResult(requested=n)
    seen: set[str] = set()
    for i in range(n):
        user = propose.render(
            instruments=", ".join(instruments),
            timeframe=timeframe,
            mission=directive or "(none)",
            constraints=constraints_text.strip() or "(none)",
            examples=_example_text(examples),
            schema=schema_text,
            index=i + 1,
            count=n,
        )
        messages = [{"role": "system", "content": system.text}, {"role": "user", "content": user}]
        try:
            strategy = _candidate(client, messages, propose, repair, schema, mission_id, check, limits, result)
        except LLMBudgetError:
            result.budget_exhausted = True
            break
        except LLMUnavailableError as exc:
            result.failed += 1
            for f in exc.faults or (exc.outcome,):
                result._fault(f)
            continue
        except LLMRequestError:
            result.failed += 1
            result._fault("refused")
            continue
        if strategy is None:
            continue
        h = strategy_hash(strategy)
        if h in seen:
            result.duplicates += 1
            continue
        seen.add(h)
        result.strategies.append(strategy)
    return result


def _mission(client: LLMClient, mission: Any) -> tuple[int | None, str]:
    if mission is None:
        return None, ""
    if isinstance(mission, int):
        if client.store is None:
            return mission, ""
        from quant_engine.store import get_mission

        mission = get_mission(client.store, mission)
    return int(mission.id), str(mission.directive)


def _candidate(
    client: LLMClient,
    messages: list[dict[str, str]],
    propose: Any,
    repair: Any,
    schema: dict[str, Any],
    mission_id: int | None,
    check: Callable[[Strategy], None] | None,
    limits: Limits | None,
    result: ProposalResult,
) -> Strategy | None:
    """One candidate: the first answer and up to ``repairs`` repairs; None when dropped."""
    template = propose
    for round_ in range(client.settings.repairs + 1):
        comp = client.complete(messages, template=template, mission_id=mission_id, schema=schema)
        result._usage(comp)
        try:
            if comp.truncated:
                raise StrategyValidationError(
                    "the answer was cut off at the token limit (finish_reason=length); write a shorter strategy"
                )
            strategy = strategy_from_text(comp.text, limits=limits)
            if check is not None:
                check(strategy)
        except StrategyValidationError as exc:
            result.invalid += 1
            result._fault(_kind(exc, comp.truncated))
            if round_ == client.settings.repairs:
                result.dropped += 1
                result.errors.append(str(exc))
                return None
            messages = [
                *messages,
                {"role": "assistant", "content": comp.text},
                {"role": "user", "content": repair.render(errors=f"- {exc}")},
            ]
            template = repair
            continue
        if round_ > 0:
            result.repaired += 1
        return strategy
    return None  # pragma: no cover - the loop returns
