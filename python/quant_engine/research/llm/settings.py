"""Settings of the LLM client, read from ``QE_LLM_*`` environment variables.

Without ``QE_LLM_BASE_URL`` no LLM is configured: :func:`load_settings` returns None and
:func:`llm_status` says why, nothing fails at import. ``QE_LLM_MODEL`` is needed too, except for
the known servers that have a default model. ``QE_LLM_STRUCTURED_OUTPUT`` chooses how the
strategy schema is imposed: ``json_schema`` (``response_format`` with the schema: OpenAI, the
sandbox, vLLM ...) or ``json_object`` (JSON mode, the schema in the prompt: DeepSeek); ``auto``
(the default) picks by base URL (:data:`KNOWN_SERVERS`), ``json_object`` for unknown servers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from quant_engine.errors import LLMNotConfiguredError
from quant_engine.feeds.retry import Backoff

__all__ = ["Price", "LLMSettings", "LLMStatus", "KNOWN_SERVERS", "DEFAULT_PRICES", "load_settings", "llm_status"]

StructuredOutput = Literal["json_schema", "json_object"]


@dataclass(frozen=True)
class Price:
    """Price of a model in account currency (USD) per million prompt and completion tokens."""

    prompt: float
    completion: float

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """The cost of this usage."""
        return (prompt_tokens * self.prompt + completion_tokens * self.completion) / 1e6


KNOWN_SERVERS: dict[str, tuple[StructuredOutput, str]] = {
    "api.deepseek.com": ("json_object", "deepseek-chat"),
    "api.openai.com": ("json_schema", "gpt-4o-mini"),
    "127.0.0.1": ("json_schema", "sandbox-strategist"),
    "localhost": ("json_schema", "sandbox-strategist"),
}
"""Host -> (structured output capability, default model) of the servers known here."""

DEFAULT_PRICES: dict[str, Price] = {
    "deepseek-chat": Price(0.27, 1.10),
    "deepseek-reasoner": Price(0.55, 2.19),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4o": Price(2.50, 10.00),
    "sandbox-strategist": Price(0.0, 0.0),
}
"""Prices per million tokens used when ``QE_LLM_PRICES`` does not name the model (list prices
when written; set ``QE_LLM_PRICES`` for yours). An unknown model costs 0 unless priced."""


@dataclass(frozen=True)
class LLMSettings:
    """How the LLM client talks to its server.

    Attributes:
        base_url: the OpenAI-compatible API root (``https://api.deepseek.com/v1``).
        model: the model name.
        api_key: the bearer key (never logged, never stored).
        structured_output: ``json_schema`` or ``json_object`` (see the module doc).
        timeout: seconds per HTTP attempt.
        max_retries: retries after the first attempt on 429, 5xx, timeouts and connection errors.
        backoff: delays between retries when the server gives no ``Retry-After``.
        max_retry_after: longest ``Retry-After`` honoured (seconds); a longer one fails the request.
        repairs: how often an invalid strategy is sent back with the validator's errors (0-5).
        max_tokens: completion token cap per request.
        temperature: sampling temperature.
        prices: price per model (merged over :data:`DEFAULT_PRICES`).
        budget_tokens / budget_cost: the default budget of a mission that sets none (None: no limit).
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    structured_output: StructuredOutput = "json_object"
    timeout: float = 60.0
    max_retries: int = 4
    backoff: Backoff = Backoff(initial=0.5, maximum=20.0, retries=4)
    max_retry_after: float = 120.0
    repairs: int = 2
    max_tokens: int = 2048
    temperature: float = 0.7
    prices: Mapping[str, Price] = field(default_factory=dict)
    budget_tokens: int | None = None
    budget_cost: float | None = None

    def __post_init__(self) -> None:
        if urlsplit(self.base_url).scheme not in ("http", "https"):
            raise LLMNotConfiguredError(f"invalid QE_LLM_BASE_URL: {self.base_url!r} (expected http(s)://...)")
        if not self.model:
            raise LLMNotConfiguredError("QE_LLM_MODEL is empty")
        if self.structured_output not in ("json_schema", "json_object"):
            raise LLMNotConfiguredError(f"invalid QE_LLM_STRUCTURED_OUTPUT: {self.structured_output!r}")
        if not (self.timeout > 0 and self.max_retry_after >= 0 and self.max_retries >= 0 and self.max_tokens >= 1):
            raise LLMNotConfiguredError("timeout, max_tokens must be positive; max_retries, max_retry_after >= 0")
        if not 0 <= self.repairs <= 5:
            raise LLMNotConfiguredError(f"invalid QE_LLM_REPAIRS: {self.repairs} (expected 0 to 5)")
        for what, v in (("budget_tokens", self.budget_tokens), ("budget_cost", self.budget_cost)):
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise LLMNotConfiguredError(f"invalid {what}: {v} (expected >= 0)")

    def price(self, model: str | None = None) -> Price:
        """The price of ``model`` (default: this model); 0 when unknown."""
        name = model or self.model
        return self.prices.get(name) or DEFAULT_PRICES.get(name) or Price(0.0, 0.0)


@dataclass(frozen=True)
class LLMStatus:
    """Whether an LLM is configured, and why not."""

    configured: bool
    reason: str = ""
    settings: LLMSettings | None = None


def _num(e: Mapping[str, str], name: str, kind: type, default: Any) -> Any:
    text = e.get(name, "").strip()
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise LLMNotConfiguredError(f"invalid {name}: {text!r} (expected a {kind.__name__})") from None


def _prices(text: str) -> dict[str, Price]:
    try:
        raw = msgspec.json.decode(text.encode(), type=dict[str, tuple[float, float]])
    except msgspec.DecodeError as exc:
        raise LLMNotConfiguredError(
            f'invalid QE_LLM_PRICES: {exc} (expected {{"model": [prompt, completion]}} per million tokens)'
        ) from None
    return {m: Price(p, c) for m, (p, c) in raw.items()}


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> LLMSettings | None:
    """Settings from ``QE_LLM_BASE_URL``, ``QE_LLM_MODEL``, ``QE_LLM_API_KEY``,
    ``QE_LLM_STRUCTURED_OUTPUT`` (``auto``|``json_schema``|``json_object``), ``QE_LLM_TIMEOUT``,
    ``QE_LLM_MAX_RETRIES``, ``QE_LLM_REPAIRS``, ``QE_LLM_MAX_TOKENS``, ``QE_LLM_PRICES`` (JSON)
    and ``QE_LLM_BUDGET_TOKENS`` / ``QE_LLM_BUDGET_COST`` (``os.environ`` by default; keyword
    ``overrides`` win). None when no base URL is set; :class:`LLMNotConfiguredError` for an
    invalid value."""
    e = os.environ if env is None else env
    base_url = (overrides.pop("base_url", None) or e.get("QE_LLM_BASE_URL", "")).strip()
    if not base_url:
        return None
    host = urlsplit(base_url).hostname or ""
    known_format, known_model = KNOWN_SERVERS.get(host, ("json_object", ""))
    model = (overrides.pop("model", None) or e.get("QE_LLM_MODEL", "")).strip() or known_model
    if not model:
        raise LLMNotConfiguredError(f"QE_LLM_MODEL is not set (no default model for {host})")
    mode = e.get("QE_LLM_STRUCTURED_OUTPUT", "auto").strip().lower() or "auto"
    retries = _num(e, "QE_LLM_MAX_RETRIES", int, LLMSettings.max_retries)
    values: dict[str, Any] = {
        "base_url": base_url,
        "model": model,
        "api_key": e.get("QE_LLM_API_KEY") or None,
        "structured_output": known_format if mode == "auto" else mode,
        "timeout": _num(e, "QE_LLM_TIMEOUT", float, LLMSettings.timeout),
        "max_retries": retries,
        "backoff": Backoff(initial=0.5, maximum=20.0, retries=max(retries, 0)),
        "repairs": _num(e, "QE_LLM_REPAIRS", int, LLMSettings.repairs),
        "max_tokens": _num(e, "QE_LLM_MAX_TOKENS", int, LLMSettings.max_tokens),
        "prices": _prices(e["QE_LLM_PRICES"]) if e.get("QE_LLM_PRICES", "").strip() else {},
        "budget_tokens": _num(e, "QE_LLM_BUDGET_TOKENS", int, None),
        "budget_cost": _num(e, "QE_LLM_BUDGET_COST", float, None),
    }
    values.update(overrides)
    return LLMSettings(**values)


def llm_status(env: Mapping[str, str] | None = None) -> LLMStatus:
    """Whether an LLM is configured (never raises: an invalid setting is the reason)."""
    try:
        settings = load_settings(env)
    except LLMNotConfiguredError as exc:
        return LLMStatus(False, str(exc))
    if settings is None:
        return LLMStatus(False, "LLM not configured: set QE_LLM_BASE_URL (and QE_LLM_MODEL)")
    return LLMStatus(True, "", settings)
