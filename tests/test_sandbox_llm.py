"""The fake OpenAI-compatible LLM server (``quant-engine sandbox llm``): OpenAI's wire format as
the ``openai`` SDK parses it, seeded strategies that validate, banned operators mostly avoided,
each fault on demand, auth, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai.types import Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from llm_support import KEY, fake_llm  # noqa: F401
from quant_engine.errors import StrategyValidationError
from quant_engine.sandbox import SandboxProcess
from quant_engine.sandbox.llm import FakeLLM
from quant_engine.sandbox.llm_faults import LLMFaultPlan
from quant_engine.sandbox.llm_strategies import StrategyWriter, banned_operators, operators_used
from quant_engine.strategy import parse_strategy

MSG = [{"role": "user", "content": "Write one strategy as a JSON document.\nInstruments: AAPL, MSFT"}]


def _sdk(server: FakeLLM, key: str = KEY, **kw: Any) -> Any:
    return openai.OpenAI(base_url=server.base_url, api_key=key, max_retries=0, **kw)


def test_the_sdk_parses_every_answer_with_its_own_types(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm()
    sdk = _sdk(server)
    models = sdk.models.list()
    assert [m.id for m in models.data] == [server.model] and isinstance(models.data[0], Model)
    assert sdk.models.retrieve(server.model).owned_by == "quant-engine-sandbox"
    resp = sdk.chat.completions.create(model=server.model, messages=MSG, response_format={"type": "json_object"})
    assert isinstance(resp, ChatCompletion) and resp.object == "chat.completion" and resp.id.startswith("chatcmpl-")
    choice = resp.choices[0]
    assert choice.index == 0 and choice.message.role == "assistant" and choice.finish_reason == "stop"
    assert resp.usage is not None and resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    doc = parse_strategy(choice.message.content or "")
    assert doc.instruments == ["AAPL", "MSFT"]  # the prompt's instruments
    # the raw wire format, field by field
    raw = httpx.post(
        f"{server.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": server.model, "messages": MSG, "max_tokens": 2000},
    ).json()
    assert set(raw) >= {"id", "object", "created", "model", "choices", "usage"} and isinstance(raw["created"], int)
    assert set(raw["choices"][0]) >= {"index", "message", "finish_reason"}
    assert set(raw["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}


def test_streaming_sends_chat_completion_chunks(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm()
    stream = _sdk(server).chat.completions.create(
        model=server.model, messages=MSG, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert all(isinstance(c, ChatCompletionChunk) and c.object == "chat.completion.chunk" for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    text = text.removeprefix("```json\n").removesuffix("\n```")
    parse_strategy(text)


def test_answers_are_seeded() -> None:
    prompts = ["Instruments: SPY"] * 5
    a, b, c = StrategyWriter(5), StrategyWriter(5), StrategyWriter(6)
    docs_a = [a.valid(p) for p in prompts]
    assert docs_a == [b.valid(p) for p in prompts] and docs_a != [c.valid(p) for p in prompts]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_strategy_written_validates_and_every_broken_one_is_refused(seed: int) -> None:
    w = StrategyWriter(seed)
    for _ in range(300):
        parse_strategy(w.valid("Instruments: QQQ"))
    for make in (w.invalid, w.malformed):
        for _ in range(100):
            with pytest.raises(StrategyValidationError):
                parse_strategy(make() if make is w.invalid else make())


def test_banned_operators_are_avoided_as_a_weak_model_would() -> None:
    prompt = "Constraints:\n- Do not use rsi or macd (OVERFITTING, memory 3)\n- avoid `min`; keep trades short"
    assert banned_operators(prompt) == {"rsi", "macd", "min"}  # "or" is English unless quoted
    free, bound = StrategyWriter(1), StrategyWriter(1)
    base = sum(bool(operators_used(free.valid("")) & {"rsi", "macd"}) for _ in range(2000))
    broke = sum(bool(operators_used(bound.valid(prompt)) & {"rsi", "macd"}) for _ in range(2000))
    assert base > 400  # the operators are common without the ban
    assert 0 < broke < 0.2 * base  # mostly obeyed, sometimes not (obedience 0.9)


def test_auth_model_and_request_checks(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm(json_schema=False)
    with pytest.raises(openai.AuthenticationError) as auth:
        _sdk(server, key="sk-wrong").chat.completions.create(model=server.model, messages=MSG)
    assert auth.value.code == "invalid_api_key" and "sk-wrong" not in str(auth.value)
    assert httpx.get(f"{server.base_url}/models").status_code == 401  # no key at all
    sdk = _sdk(server)
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        sdk.chat.completions.create(model="gpt-9", messages=MSG)
    with pytest.raises(openai.BadRequestError, match="must contain the word 'json'"):
        sdk.chat.completions.create(
            model=server.model, messages=[{"role": "user", "content": "hi"}], response_format={"type": "json_object"}
        )
    schema_format = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}}
    with pytest.raises(openai.BadRequestError, match="unavailable"):  # as DeepSeek
        sdk.chat.completions.create(model=server.model, messages=MSG, response_format=schema_format)
    with pytest.raises(openai.BadRequestError, match="messages"):
        sdk.chat.completions.create(model=server.model, messages=[])
    assert server.snapshot()["unauthorized"] == 2 and server.snapshot()["bad_requests"] == 4


def test_each_fault_on_demand(fake_llm: Callable[..., FakeLLM]) -> None:
    server = fake_llm(
        sequence=["429", "500", "timeout", "malformed", "invalid", "truncated", "ok"], retry_after=3, slow_seconds=2.0
    )
    sdk = _sdk(server, timeout=0.6)

    def ask() -> ChatCompletion:
        return sdk.chat.completions.create(model=server.model, messages=MSG, response_format={"type": "json_object"})

    with pytest.raises(openai.RateLimitError) as limited:
        ask()
    assert limited.value.response.headers["retry-after"] == "3"
    assert limited.value.response.headers["retry-after-ms"] == "3000"
    with pytest.raises(openai.InternalServerError):
        ask()
    t = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        ask()
    assert time.monotonic() - t < 1.5  # the server is slow (2 s), the client gave up at 0.6 s
    with pytest.raises(StrategyValidationError, match="malformed JSON"):
        parse_strategy(ask().choices[0].message.content or "")
    invalid = ask().choices[0].message.content or ""
    json.loads(invalid)  # well-formed JSON ...
    with pytest.raises(StrategyValidationError):  # ... that breaks the schema
        parse_strategy(invalid)
    cut = ask()
    assert cut.choices[0].finish_reason == "length"
    with pytest.raises(StrategyValidationError):
        parse_strategy(cut.choices[0].message.content or "")
    parse_strategy(ask().choices[0].message.content or "")
    assert server.faults.injected == {
        f: 1 for f in ("429", "500", "timeout", "malformed", "invalid", "truncated", "ok")
    }


def test_random_faults_are_seeded_and_changed_on_command(fake_llm: Callable[..., FakeLLM]) -> None:
    draws = []
    for _ in range(2):
        plan = LLMFaultPlan(probabilities={"429": 0.2, "invalid": 0.3}, seed=4)
        draws.append([plan.next() for _ in range(200)])
    assert draws[0] == draws[1] and 25 < draws[0].count("429") < 60 and 40 < draws[0].count("invalid") < 90
    server = fake_llm()
    url = server.base_url.removesuffix("/v1") + "/_sandbox/faults"
    assert httpx.post(url, json={"sequence": ["nope"]}).status_code == 400
    assert httpx.post(url, json={"probabilities": {"500": 2.0}}).status_code == 400
    assert httpx.post(url, json={"sequence": ["500"]}).json()["sequence"] == ["500"]
    with pytest.raises(openai.InternalServerError):
        _sdk(server).chat.completions.create(model=server.model, messages=MSG)


def test_the_command_starts_the_server() -> None:
    with SandboxProcess(["llm", "--port", "0", "--api-key", KEY, "--seed", "3"]) as proc:
        base = proc.info["base_url"]
        assert proc.info["model"] == "sandbox-strategist" and base.startswith("http://127.0.0.1:")
        sdk: Any = openai.OpenAI(base_url=base, api_key=KEY, max_retries=0)
        resp = sdk.chat.completions.create(
            model="sandbox-strategist", messages=MSG, response_format={"type": "json_object"}
        )
        parse_strategy(resp.choices[0].message.content)
    bad = subprocess.run(
        [sys.executable, "-m", "quant_engine.cli", "sandbox", "llm", "--faults", '{"sequence": ["boom"]}'],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown LLM fault 'boom'" in bad.stderr and "Traceback" not in bad.stderr
