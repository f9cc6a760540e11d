"""The LLM client against the fake OpenAI-compatible server on 127.0.0.1: settings, retries that
honour Retry-After, budgets, the validation and repair loop, and the request log in the store
(never the key)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from llm_support import KEY, client_for, fake_llm, store  # noqa: F401
from quant_engine.errors import (
    InvalidArgumentError,
    LLMBudgetError,
    LLMNotConfiguredError,
    LLMRequestError,
    LLMUnavailableError,
    StrategyValidationError,
)
from quant_engine.feeds.retry import Backoff
from quant_engine.research.llm import (
    Budget,
    BudgetLimits,
    LLMClient,
    Price,
    llm_status,
    load_settings,
    prompt_template,
    propose_strategies,
    retry_after_seconds,
    strategy_from_text,
)
from quant_engine.sandbox.llm import FakeLLM
from quant_engine.sandbox.llm_strategies import operators_used
from quant_engine.store import (
    EXCERPT_CHARS,
    Store,
    StoreInputError,
    create_mission,
    list_llm_requests,
    llm_usage,
    record_llm_request,
)
from quant_engine.store import schema as S
from quant_engine.strategy import Strategy, strategy_hash

PROPOSE = prompt_template("propose")
MSG = [{"role": "user", "content": "Write one strategy as a JSON document."}]


# -- settings -----------------------------------------------------------------------------------


def test_without_configuration_the_llm_is_not_configured_and_nothing_fails_at_import() -> None:
    assert load_settings({}) is None
    status = llm_status({})
    assert not status.configured and "not configured" in status.reason
    with pytest.raises(LLMNotConfiguredError, match="not configured"):
        LLMClient.from_env({})
    with pytest.raises(LLMNotConfiguredError, match="QE_LLM_TIMEOUT"):
        load_settings({"QE_LLM_BASE_URL": "http://x:1/v1", "QE_LLM_MODEL": "m", "QE_LLM_TIMEOUT": "soon"})
    assert not llm_status({"QE_LLM_BASE_URL": "ftp://x"}).configured
    with pytest.raises(LLMNotConfiguredError, match="QE_LLM_MODEL"):
        load_settings({"QE_LLM_BASE_URL": "https://llm.example.org/v1"})  # unknown server: no default model


def test_structured_output_defaults_per_known_server_and_settings_from_env() -> None:
    deepseek = load_settings({"QE_LLM_BASE_URL": "https://api.deepseek.com/v1", "QE_LLM_API_KEY": "sk-1"})
    openai_ = load_settings({"QE_LLM_BASE_URL": "https://api.openai.com/v1"})
    other = load_settings({"QE_LLM_BASE_URL": "https://llm.example.org/v1", "QE_LLM_MODEL": "m"})
    forced = load_settings(
        {"QE_LLM_BASE_URL": "https://api.deepseek.com", "QE_LLM_STRUCTURED_OUTPUT": "json_schema"}, timeout=3.0
    )
    assert deepseek is not None and (deepseek.structured_output, deepseek.model) == ("json_object", "deepseek-chat")
    assert openai_ is not None and openai_.structured_output == "json_schema"
    assert other is not None and other.structured_output == "json_object"
    assert forced is not None and forced.structured_output == "json_schema" and forced.timeout == 3.0
    assert "sk-1" not in repr(deepseek)
    priced = load_settings(
        {"QE_LLM_BASE_URL": "http://127.0.0.1:1/v1", "QE_LLM_PRICES": '{"sandbox-strategist": [1.0, 2.0]}'}
    )
    assert priced is not None and priced.price() == Price(1.0, 2.0) and priced.price().cost(1_000_000, 500_000) == 2.0
    with pytest.raises(LLMNotConfiguredError, match="QE_LLM_PRICES"):
        load_settings({"QE_LLM_BASE_URL": "http://127.0.0.1:1/v1", "QE_LLM_PRICES": "[1, 2]"})


def test_retry_after_headers() -> None:
    assert retry_after_seconds({"retry-after": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "0.5", "retry-after-ms": "250"}) == 0.25
    assert retry_after_seconds({"retry-after": "nonsense"}) is None and retry_after_seconds({}) is None
    assert (
        retry_after_seconds({"retry-after": "nan"}) is None and retry_after_seconds({"retry-after-ms": "inf"}) is None
    )
    assert retry_after_seconds({"retry-after-ms": "x", "retry-after": "-3"}) == 0.0
    date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    wait = retry_after_seconds({"retry-after": date})
    assert wait is not None and 25 < wait <= 31


# -- the happy path and the request log -------------------------------------------------------------


def _stored_bytes(tmp_path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("store.sqlite"))


def test_proposals_are_validated_strategies_and_every_request_is_recorded_without_the_key(
    fake_llm: Callable[..., FakeLLM], store: Store, tmp_path: Path
) -> None:
    server = fake_llm()
    client = client_for(server, store)
    result = propose_strategies(3, client=client, instruments=("AAPL",), constraints_text="- keep it simple")
    assert len(result.strategies) == 3 and all(isinstance(s, Strategy) for s in result.strategies)
    assert all(s.instruments == ["AAPL"] for s in result.strategies)
    assert (result.invalid, result.repaired, result.dropped, result.failed, result.faults) == (0, 0, 0, 0, {})
    rows = list_llm_requests(store)
    assert [r.outcome for r in rows] == ["ok"] * 3 and [r.attempts for r in rows] == [1, 1, 1]
    assert {r.template_version for r in rows} == {PROPOSE.version_id} and PROPOSE.version_id.startswith("propose.v1+")
    assert {(r.model, r.base_url, r.response_format) for r in rows} == {(server.model, server.base_url, "json_schema")}
    assert sum(r.prompt_tokens for r in rows) == result.prompt_tokens > 0
    assert sum(r.completion_tokens for r in rows) == result.completion_tokens > 0
    assert all(len(r.prompt_excerpt) <= EXCERPT_CHARS and len(r.prompt_hash) == 64 for r in rows)
    assert rows[0].response_excerpt is not None and '"instruments"' in rows[0].response_excerpt
    assert llm_usage(store, None).requests == 3
    store.close()
    assert KEY.encode() not in _stored_bytes(tmp_path)


def test_the_log_keeps_a_hash_and_a_capped_excerpt_and_no_credentials_of_the_url(store: Store) -> None:
    prompt, response = "p" * 10_000 + "END", "r" * 5_000
    rid = record_llm_request(
        store,
        mission_id=None,
        base_url="https://user:secret@llm.example.org:8443/v1?api_key=secret#x",
        model="m",
        template="propose",
        template_version="propose.v1+00000000",
        response_format="json_object",
        outcome="ok",
        attempts=1,
        prompt=prompt,
        response=response,
    )
    (row,) = list_llm_requests(store)
    assert row.id == rid and row.base_url == "https://llm.example.org:8443/v1"
    assert len(row.prompt_excerpt) == EXCERPT_CHARS and row.prompt_hash == hashlib.sha256(prompt.encode()).hexdigest()
    assert row.response_excerpt is not None and len(row.response_excerpt) == EXCERPT_CHARS
    assert row.response_hash == hashlib.sha256(response.encode()).hexdigest()
    with pytest.raises(StoreInputError, match="outcome"):
        record_llm_request(
            store, mission_id=None, base_url="http://x", model="m", template="t", template_version="v",
            response_format="text", outcome="fine", attempts=1, prompt="p",
        )  # fmt: skip


def test_a_refused_key_is_recorded_redacted(fake_llm: Callable[..., FakeLLM], store: Store, tmp_path: Path) -> None:
    server = fake_llm(api_key="sk-the-server-wants-another-key")
    client = client_for(server, store)
    with pytest.raises(LLMRequestError) as exc:
        client.complete(MSG, template=PROPOSE)
    assert exc.value.status == 401 and KEY not in str(exc.value)
    (row,) = list_llm_requests(store)
    assert (row.outcome, row.http_status, row.attempts) == ("refused", 401, 1)
    store.close()
    assert KEY.encode() not in _stored_bytes(tmp_path)


# -- retries ----------------------------------------------------------------------------------------


def test_transient_faults_are_retried_counted_and_recovered(fake_llm: Callable[..., FakeLLM], store: Store) -> None:
    server = fake_llm(sequence=["429", "500", "timeout", "ok"], retry_after=0.05, slow_seconds=2.0)
    client = client_for(server, store, timeout=1.0, max_retries=3)
    comp = client.complete(MSG, template=PROPOSE)
    assert comp.attempts == 4 and comp.faults == ("rate_limited", "server_error", "timeout")
    (row,) = list_llm_requests(store)
    assert (row.outcome, row.attempts, row.http_status) == ("ok", 4, 200)
    assert row.latency_s >= 1.0  # the timed-out attempt is in the latency


def test_faults_that_persist_fail_after_every_retry(fake_llm: Callable[..., FakeLLM], store: Store) -> None:
    server = fake_llm(sequence=["500", "500", "500"])
    client = client_for(server, store, max_retries=2)
    with pytest.raises(LLMUnavailableError) as exc:
        client.complete(MSG, template=PROPOSE)
    assert (exc.value.outcome, exc.value.attempts, exc.value.faults) == ("server_error", 3, ("server_error",) * 3)
    assert server.snapshot()["server_errors"] == 3  # every attempt reached the server: no hidden SDK retries
    (row,) = list_llm_requests(store)
    assert (row.outcome, row.attempts, row.http_status, row.prompt_tokens) == ("server_error", 3, 500, 0)


def test_connection_errors_are_retried_then_fail(store: Store) -> None:
    settings = load_settings(
        {"QE_LLM_BASE_URL": "http://127.0.0.1:9/v1", "QE_LLM_MODEL": "m"},
        max_retries=2,
        backoff=Backoff(initial=0.01, maximum=0.02),
    )
    assert settings is not None
    with pytest.raises(LLMUnavailableError) as exc:
        LLMClient(settings, store=store).complete(MSG, template=PROPOSE)
    assert exc.value.faults == ("connection",) * 3
    assert list_llm_requests(store)[0].outcome == "connection"


def test_retry_after_is_honoured(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm(sequence=["429", "ok", "500", "ok"], retry_after=0.8)
    client = client_for(server, backoff=Backoff(initial=0.01, maximum=0.01))
    t = time.monotonic()
    client.complete(MSG, template=PROPOSE)
    waited_429 = time.monotonic() - t
    t = time.monotonic()
    client.complete(MSG, template=PROPOSE)  # a 500 without Retry-After: the 10 ms backoff
    waited_500 = time.monotonic() - t
    assert 0.8 <= waited_429 < 3.0 and waited_500 < 0.5


def test_a_retry_after_beyond_the_cap_fails_at_once(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm(sequence=["429"], retry_after=30)
    client = client_for(server, max_retry_after=5.0)
    t = time.monotonic()
    with pytest.raises(LLMUnavailableError, match="Retry-After 30 s exceeds 5 s"):
        client.complete(MSG, template=PROPOSE)
    assert time.monotonic() - t < 2.0


# -- budgets ----------------------------------------------------------------------------------------


def test_a_request_beyond_the_budget_is_refused_before_it_is_sent(
    fake_llm: Callable[..., FakeLLM], store: Store
) -> None:
    server = fake_llm()
    client = client_for(server, store, budget_tokens=1000)
    with pytest.raises(LLMBudgetError) as exc:
        client.complete(MSG, template=PROPOSE)
    assert exc.value.needed_tokens > 1000 and exc.value.remaining_tokens == 1000
    assert server.snapshot().get("requests", 0) == 0
    (row,) = list_llm_requests(store)
    assert (row.outcome, row.attempts, row.prompt_tokens) == ("budget", 0, 0)


def test_a_mission_budget_stops_a_generation_and_survives_a_restart(
    fake_llm: Callable[..., FakeLLM], store: Store
) -> None:
    server = fake_llm()
    probe = propose_strategies(1, client=client_for(server))  # what one candidate costs, without a store
    worst = probe.prompt_tokens + 2 * 2048  # the reservation: estimate + completion cap, with margin
    mission = create_mission(store, "m1", "mean reversion on liquid ETFs", budget={"llm_tokens": 2 * worst})
    client = client_for(server, store)
    result = propose_strategies(5, client=client, mission=mission)
    assert result.budget_exhausted and 1 <= len(result.strategies) < 5
    used = llm_usage(store, mission.id)
    assert used.tokens == result.prompt_tokens + result.completion_tokens <= 2 * worst
    sent = server.snapshot()["requests"]
    again = propose_strategies(5, client=client_for(server, store), mission=mission.id)  # a new process, same store
    assert again.budget_exhausted and len(again.strategies) == 0 and server.snapshot()["requests"] == sent
    assert "mean reversion on liquid ETFs" in server.prompts[-1]
    budget_rows = [r for r in list_llm_requests(store, mission_id=mission.id) if r.outcome == "budget"]
    assert len(budget_rows) == 2


def test_a_cost_budget(fake_llm: Callable[..., FakeLLM], store: Store) -> None:
    server = fake_llm()
    client = client_for(server, store, prices={server.model: Price(100.0, 100.0)}, budget_cost=5.0)
    result = propose_strategies(10, client=client)
    assert result.budget_exhausted and result.cost <= 5.0 and len(result.strategies) >= 1
    with store.read() as conn:
        total = conn.execute(sa.select(sa.func.sum(S.llm_requests.c.cost))).scalar()
    assert total == pytest.approx(result.cost) and 0 < total <= 5.0


# -- validation and repair --------------------------------------------------------------------------


def test_an_invalid_strategy_is_sent_back_with_the_validators_error_then_accepted(
    fake_llm: Callable[..., FakeLLM], store: Store
) -> None:
    server = fake_llm(sequence=["invalid", "ok"])
    result = propose_strategies(1, client=client_for(server, store))
    assert (len(result.strategies), result.invalid, result.repaired, result.dropped) == (1, 1, 1, 0)
    assert result.faults == {"schema": 1}
    repair_prompt = server.prompts[1]
    assert "The strategy you wrote is invalid" in repair_prompt and "- at `$" in repair_prompt
    rows = list_llm_requests(store)
    assert [r.template for r in rows] == ["propose", "repair"]
    assert rows[1].template_version == prompt_template("repair").version_id


@pytest.mark.parametrize("repairs", [1, 2])
def test_a_strategy_still_invalid_after_the_repairs_is_dropped(fake_llm: Callable[..., FakeLLM], repairs: int) -> None:
    server = fake_llm(sequence=["invalid", "malformed", "invalid", "ok"])
    result = propose_strategies(1, client=client_for(server, repairs=repairs))
    assert (len(result.strategies), result.invalid, result.dropped, result.requests) == (0, repairs + 1, 1, repairs + 1)
    assert len(result.errors) == 1 and "at `$" in result.errors[0]


def test_truncated_and_malformed_answers_are_counted_and_repaired(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm(sequence=["truncated", "ok", "malformed", "ok"])
    result = propose_strategies(2, client=client_for(server))
    assert len(result.strategies) == 2 and result.repaired == 2
    assert result.faults == {"truncated": 1, "malformed": 1}
    assert "cut off at the token limit" in server.prompts[1]


def test_an_extra_check_refuses_like_the_validator(fake_llm: Callable[..., FakeLLM]) -> None:
    def no_rsi(strategy: Strategy) -> None:
        if "rsi" in operators_used(msgspec.to_builtins(strategy)):
            raise StrategyValidationError("constraint c-7 bans rsi", "$.entry_long")

    server = fake_llm(seed=3)
    result = propose_strategies(12, client=client_for(server), check=no_rsi)
    for s in result.strategies:
        no_rsi(s)
    repairs = sum(("constraint c-7 bans rsi" in p) for p in server.prompts)
    assert repairs > 0 and result.invalid == repairs + result.dropped


def test_json_mode_puts_the_schema_in_the_prompt(fake_llm: Callable[..., FakeLLM], store: Store) -> None:
    server = fake_llm(json_schema=False)  # as DeepSeek: no json_schema response format
    refused = client_for(server, store)
    with pytest.raises(LLMRequestError, match="unavailable"):
        refused.complete(MSG, template=PROPOSE, schema={"type": "object"})
    client = client_for(server, store, structured_output="json_object")
    result = propose_strategies(2, client=client)
    assert len(result.strategies) == 2 and '"$defs"' in server.prompts[-1]
    assert [r.response_format for r in list_llm_requests(store)] == ["json_schema", "json_object", "json_object"]


# -- a whole generation through faults ------------------------------------------------------------


def test_a_generation_through_random_faults_counts_every_fault_and_loses_nothing(
    fake_llm: Callable[..., FakeLLM], store: Store
) -> None:
    probabilities = {"429": 0.1, "500": 0.1, "timeout": 0.05, "malformed": 0.1, "invalid": 0.1, "truncated": 0.05}
    server = fake_llm(probabilities=probabilities, retry_after=0.01, slow_seconds=2.0, seed=5)
    client = client_for(server, store, timeout=1.0, max_retries=3)
    n = 30
    result = propose_strategies(n, client=client)
    injected = server.faults.injected
    assert len(result.strategies) + result.dropped + result.failed + result.duplicates == n
    assert len({strategy_hash(s) for s in result.strategies}) == len(result.strategies)
    for fault, kind in (("429", "rate_limited"), ("500", "server_error"), ("timeout", "timeout")):
        assert result.faults.get(kind, 0) == injected.get(fault, 0)
    for fault, kind in (("malformed", "malformed"), ("invalid", "schema"), ("truncated", "truncated")):
        assert result.faults.get(kind, 0) == injected.get(fault, 0)
    assert sum(injected.values()) > n and result.invalid > 0 and result.repaired > 0
    rows = list_llm_requests(store)
    assert sum(r.outcome in ("ok", "length") for r in rows) == result.requests
    assert sum(r.attempts for r in rows) == sum(injected.values())  # every attempt recorded, none twice


# -- parsers and the budget under concurrency -------------------------------------------------------

_JSON = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=300), _JSON.map(json.dumps), _JSON.map(lambda v: f"```json\n{json.dumps(v)}\n```")))
def test_any_answer_is_a_strategy_or_a_path_named_error(text: str) -> None:
    try:
        strategy_from_text(text)
    except StrategyValidationError as exc:
        assert exc.path.startswith("$")


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["retry-after", "retry-after-ms", "x"]), st.text(max_size=40), max_size=3))
def test_retry_after_never_raises_and_is_never_negative(headers: dict[str, str]) -> None:
    wait = retry_after_seconds(headers)
    assert wait is None or wait >= 0


def test_concurrent_reservations_never_overrun_the_budget() -> None:
    budget = Budget(BudgetLimits(tokens=10_000, cost=None), mission_id=3, used_tokens=1_000)
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            try:
                budget.reserve(700, 0.0)
            except LLMBudgetError as exc:
                assert exc.mission_id == 3 and exc.needed_tokens == 700
                continue
            with lock:
                granted.append(700)
            budget.settle(700, 0.0, 500, 0.0)  # the real usage is smaller than the worst case

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert budget.used_tokens == 1_000 + 500 * len(granted) <= 10_000
    assert budget.remaining() == (10_000 - budget.used_tokens, None) and budget.remaining()[0] < 700  # type: ignore[operator]


def test_a_mission_budget_that_is_not_a_number_is_a_clear_error(fake_llm: Callable[..., FakeLLM], store: Store) -> None:
    mission = create_mission(store, "bad", "d", budget={"llm_tokens": "lots"})
    with pytest.raises(InvalidArgumentError, match="llm_tokens"):
        client_for(fake_llm(), store).budget(mission.id)
