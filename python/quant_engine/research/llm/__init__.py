"""The LLM client of the research loop (on the ``openai`` SDK, any OpenAI-compatible server).

Configured by ``QE_LLM_*`` environment variables (:mod:`~quant_engine.research.llm.settings`);
without them nothing fails at import and :func:`llm_status` says "not configured". The strategy
language's JSON Schema is imposed as ``response_format`` or, for servers without it (DeepSeek),
JSON mode plus the schema in the prompt. Requests retry with backoff honouring ``Retry-After``,
are refused beyond a mission's token and cost budget, and are recorded in the store
(``llm_requests``, never the key). :func:`propose_strategies` validates every answer and sends
invalid ones back with the validator's errors. ``docs/research-loop.md`` describes it all;
``quant-engine sandbox llm`` is a local OpenAI-compatible server to try it offline.
"""

from __future__ import annotations

from quant_engine.research.llm.budget import Budget, BudgetLimits, estimate_tokens
from quant_engine.research.llm.client import Completion, LLMClient, retry_after_seconds
from quant_engine.research.llm.prompts import PromptTemplate, prompt_template, template_names
from quant_engine.research.llm.propose import ProposalResult, propose_strategies, strategy_from_text
from quant_engine.research.llm.settings import (
    DEFAULT_PRICES,
    KNOWN_SERVERS,
    LLMSettings,
    LLMStatus,
    Price,
    llm_status,
    load_settings,
)

__all__ = [
    "LLMClient",
    "Completion",
    "LLMSettings",
    "LLMStatus",
    "Price",
    "KNOWN_SERVERS",
    "DEFAULT_PRICES",
    "load_settings",
    "llm_status",
    "Budget",
    "BudgetLimits",
    "estimate_tokens",
    "PromptTemplate",
    "prompt_template",
    "template_names",
    "ProposalResult",
    "propose_strategies",
    "strategy_from_text",
    "retry_after_seconds",
]
