"""The LLM client: one chat completion at a time on the ``openai`` SDK, with retries, a budget per
mission and a record of every request in the store.

The SDK's own retries are off (``max_retries=0``): :meth:`LLMClient.complete` retries 429, 5xx,
timeouts and connection errors itself, waiting what ``Retry-After`` (or ``retry-after-ms``) asks,
else an exponential backoff with jitter, so that every attempt is counted and recorded. Other
statuses (400, 401, 404 ...) fail at once with :class:`~quant_engine.errors.LLMRequestError`.
"""

from __future__ import annotations

import email.utils
import json
import math
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import openai

from quant_engine.errors import (
    InvalidArgumentError,
    LLMBudgetError,
    LLMNotConfiguredError,
    LLMRequestError,
    LLMUnavailableError,
)
from quant_engine.research.llm.budget import Budget, BudgetLimits, estimate_tokens
from quant_engine.research.llm.prompts import PromptTemplate
from quant_engine.research.llm.settings import LLMSettings, load_settings

__all__ = ["Completion", "LLMClient", "retry_after_seconds"]

Message = Mapping[str, str]


@dataclass(frozen=True)
class Completion:
    """One answered request.

    Attributes:
        text: the message content (may be empty).
        finish_reason: ``stop``, ``length`` (truncated) ...
        prompt_tokens / completion_tokens: the usage the server reported (estimated if it did not).
        cost: what the usage cost at the model's price.
        attempts: HTTP attempts made (1 = no retry).
        faults: the failure of each retried attempt (``rate_limited``, ``server_error`` ...).
        latency_s: seconds from the first attempt to the answer, waits included.
        request_id: the row in the store's ``llm_requests`` (None without a store).
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    cost: float
    attempts: int
    faults: tuple[str, ...]
    latency_s: float
    request_id: int | None

    @property
    def truncated(self) -> bool:
        """Whether the answer was cut at the token cap."""
        return self.finish_reason == "length"


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """The wait a response asks for: ``retry-after-ms``, else ``Retry-After`` in seconds or as an
    HTTP date; None when absent or unreadable."""
    if not headers:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name) or "nan") / scale
        except ValueError:
            continue
        if math.isfinite(seconds):  # "nan" and "inf" are unreadable, not waits
            return max(seconds, 0.0)
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _prompt_text(messages: Sequence[Message]) -> str:
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in messages)


class LLMClient:
    """Chat completions against an OpenAI-compatible server (see the module doc).

    Args:
        settings: the server, model, key, retries and budgets.
        store: where requests are recorded and mission budgets are read (None: not recorded).
    """

    def __init__(self, settings: LLMSettings, *, store: Any = None) -> None:
        self.settings = settings
        self.store = store
        self._sdk = openai.OpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or "none",
            timeout=settings.timeout,
            max_retries=0,
        )
        self._budgets: dict[int | None, Budget] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, store: Any = None, **overrides: Any) -> LLMClient:
        """A client from the ``QE_LLM_*`` variables; :class:`LLMNotConfiguredError` when unset."""
        settings = load_settings(env, **overrides)
        if settings is None:
            raise LLMNotConfiguredError("LLM not configured: set QE_LLM_BASE_URL (and QE_LLM_MODEL)")
        return cls(settings, store=store)

    def close(self) -> None:
        """Closes the HTTP connections."""
        self._sdk.close()

    def __enter__(self) -> LLMClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def budget(self, mission_id: int | None = None) -> Budget:
        """The running budget of a mission: limits from the mission's ``budget`` (``llm_tokens``,
        ``llm_cost``) in the store, else the settings' defaults; usage so far from the store."""
        with self._lock:
            b = self._budgets.get(mission_id)
            if b is None:
                b = self._budgets[mission_id] = self._load_budget(mission_id)
            return b

    def _load_budget(self, mission_id: int | None) -> Budget:
        limits = BudgetLimits(self.settings.budget_tokens, self.settings.budget_cost)
        used_tokens, used_cost = 0, 0.0
        if self.store is not None:
            from quant_engine.store import get_mission, llm_usage

            if mission_id is not None:
                spec = get_mission(self.store, mission_id).budget
                try:
                    limits = BudgetLimits(
                        int(spec["llm_tokens"]) if "llm_tokens" in spec else limits.tokens,
                        float(spec["llm_cost"]) if "llm_cost" in spec else limits.cost,
                    )
                except (TypeError, ValueError):
                    raise InvalidArgumentError(
                        f"mission {mission_id}: budget llm_tokens / llm_cost must be numbers, got {spec!r}"
                    ) from None
            usage = llm_usage(self.store, mission_id)
            used_tokens, used_cost = usage.tokens, usage.cost
        return Budget(limits, mission_id=mission_id, used_tokens=used_tokens, used_cost=used_cost)

    def response_format(self, schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """The ``response_format`` sent with ``schema`` under this client's capability setting."""
        if schema is None:
            return None
        if self.settings.structured_output == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": "strategy", "schema": dict(schema), "strict": False}}
        return {"type": "json_object"}

    def complete(
        self,
        messages: Sequence[Message],
        *,
        template: PromptTemplate,
        mission_id: int | None = None,
        schema: Mapping[str, Any] | None = None,
    ) -> Completion:
        """Sends one chat completion (retrying as the module doc says) and records it.

        Args:
            messages: ``{"role", "content"}`` dicts.
            template: the prompt template the last message was made from (recorded by version).
            mission_id: whose budget pays (None: the default budget).
            schema: a JSON Schema the answer must follow (``response_format`` per the settings).

        Raises:
            LLMBudgetError: the request's worst case exceeds the remaining budget (not sent).
            LLMUnavailableError: 429/5xx/timeouts/connection errors through every retry.
            LLMRequestError: the server refused the request (no retry).
        """
        s = self.settings
        fmt = self.response_format(schema)
        prompt = _prompt_text(messages)
        est_prompt = estimate_tokens(prompt) + (estimate_tokens(json.dumps(schema)) if fmt and schema else 0)
        price = s.price()
        worst_tokens, worst_cost = est_prompt + s.max_tokens, price.cost(est_prompt, s.max_tokens)
        record = _Recorder(self, mission_id, template, "text" if fmt is None else fmt["type"], prompt)
        budget = self.budget(mission_id)
        try:
            budget.reserve(worst_tokens, worst_cost)
        except LLMBudgetError as exc:
            record("budget", 0, error=str(exc))
            raise
        used_tokens, used_cost = 0, 0.0
        try:
            completion = self._attempts(messages, fmt, record, est_prompt)
            used_tokens = completion.prompt_tokens + completion.completion_tokens
            used_cost = completion.cost
            return completion
        finally:
            budget.settle(worst_tokens, worst_cost, used_tokens, used_cost)

    def _attempts(
        self, messages: Sequence[Message], fmt: dict[str, Any] | None, record: _Recorder, est_prompt: int
    ) -> Completion:
        s = self.settings
        extra: dict[str, Any] = {} if fmt is None else {"response_format": fmt}
        faults: list[str] = []
        t0 = time.monotonic()
        while True:
            attempt = len(faults) + 1
            wait: float | None = None
            status: int | None = None
            try:
                resp = self._sdk.chat.completions.create(
                    model=s.model,
                    messages=[dict(m) for m in messages],  # type: ignore[misc]
                    max_tokens=s.max_tokens,
                    temperature=s.temperature,
                    **extra,
                )
                break
            except openai.RateLimitError as exc:
                outcome, status, wait = "rate_limited", 429, retry_after_seconds(exc.response.headers)
            except openai.InternalServerError as exc:
                outcome, status, wait = "server_error", exc.status_code, retry_after_seconds(exc.response.headers)
            except openai.APITimeoutError:
                outcome = "timeout"
            except openai.APIConnectionError:
                outcome = "connection"
            except openai.APIStatusError as exc:
                msg = self._redact(f"the LLM server refused the request ({exc.status_code}): {exc.message}")
                record("refused", attempt, http_status=exc.status_code, error=msg, latency=time.monotonic() - t0)
                raise LLMRequestError(msg, status=exc.status_code) from None
            except openai.APIError as exc:  # an answer the SDK cannot read
                msg = self._redact(f"unreadable answer from the LLM server: {exc}")
                record("error", attempt, error=msg, latency=time.monotonic() - t0)
                raise LLMRequestError(msg) from None
            faults.append(outcome)
            too_long = wait is not None and wait > s.max_retry_after
            if attempt > s.max_retries or too_long:
                why = f"Retry-After {wait:g} s exceeds {s.max_retry_after:g} s" if too_long else f"{attempt} attempts"
                msg = f"LLM server unavailable ({outcome}, {why}): {s.base_url}"
                record(outcome, attempt, http_status=status, error=msg, latency=time.monotonic() - t0)
                raise LLMUnavailableError(msg, outcome=outcome, attempts=attempt, faults=tuple(faults))
            time.sleep(wait if wait is not None else s.backoff.delay(attempt - 1))
        latency = time.monotonic() - t0
        choice = resp.choices[0] if resp.choices else None
        text = (choice.message.content if choice is not None else None) or ""
        finish = (choice.finish_reason if choice is not None else None) or "stop"
        usage = resp.usage
        p_tok = usage.prompt_tokens if usage is not None else est_prompt
        c_tok = usage.completion_tokens if usage is not None else estimate_tokens(text)
        cost = s.price().cost(p_tok, c_tok)
        outcome = "length" if finish == "length" else "ok"
        rid = record(
            outcome, attempt, http_status=200, response=text, tokens=(p_tok, c_tok), cost=cost, latency=latency
        )
        return Completion(text, finish, p_tok, c_tok, cost, attempt, tuple(faults), latency, rid)

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        return text.replace(key, "***") if key else text


class _Recorder:
    """Writes one request's row (if the client has a store); returns its id."""

    def __init__(self, client: LLMClient, mission_id: int | None, template: PromptTemplate, fmt: str, prompt: str):
        self.client, self.mission_id, self.template, self.fmt, self.prompt = client, mission_id, template, fmt, prompt

    def __call__(
        self,
        outcome: str,
        attempts: int,
        *,
        http_status: int | None = None,
        response: str | None = None,
        tokens: tuple[int, int] = (0, 0),
        cost: float = 0.0,
        latency: float = 0.0,
        error: str = "",
    ) -> int | None:
        c = self.client
        if c.store is None:
            return None
        from quant_engine.store import record_llm_request

        return record_llm_request(
            c.store,
            mission_id=self.mission_id,
            base_url=c.settings.base_url,
            model=c.settings.model,
            template=self.template.name,
            template_version=self.template.version_id,
            response_format=self.fmt,
            outcome=outcome,
            attempts=attempts,
            prompt=c._redact(self.prompt),
            response=None if response is None else c._redact(response),
            http_status=http_status,
            prompt_tokens=tokens[0],
            completion_tokens=tokens[1],
            cost=cost,
            latency_s=latency,
            error=c._redact(error),
        )
