"""Test support for the LLM client: the fake OpenAI-compatible server started for real on
127.0.0.1 (a free port, in a background thread), and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quant_engine.feeds.retry import Backoff
from quant_engine.research.llm import LLMClient, load_settings
from quant_engine.sandbox.llm import FakeLLM
from quant_engine.sandbox.llm_faults import LLMFaultPlan
from quant_engine.store import Store, open_store

KEY = "sk-sandbox-test-0123456789abcdef"
"""The API key the fake servers of these tests accept (it must never reach the store)."""


@pytest.fixture
def fake_llm() -> Iterator[Callable[..., FakeLLM]]:
    """A factory: ``fake_llm(sequence=[...], probabilities={...}, retry_after=..., **server_kwargs)``
    starts a fake LLM server (with :data:`KEY`); all are stopped after the test."""
    started: list[FakeLLM] = []

    def make(
        *,
        sequence: list[str] | None = None,
        probabilities: dict[str, float] | None = None,
        retry_after: float = 0.2,
        slow_seconds: float = 1.0,
        seed: int = 11,
        **kwargs: Any,
    ) -> FakeLLM:
        plan = LLMFaultPlan(list(sequence or []), dict(probabilities or {}), retry_after, slow_seconds, seed)
        server = FakeLLM(seed=seed, api_key=kwargs.pop("api_key", KEY), faults=plan, **kwargs)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A fresh SQLite store file."""
    s = open_store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield s
    s.close()


def client_for(server: FakeLLM, store: Store | None = None, **overrides: Any) -> LLMClient:
    """A client of ``server`` as configured from the environment, with quick retries (settings
    in ``overrides`` win)."""
    env = {"QE_LLM_BASE_URL": server.base_url, "QE_LLM_API_KEY": KEY, "QE_LLM_MODEL": server.model}
    overrides.setdefault("timeout", 5.0)
    overrides.setdefault("backoff", Backoff(initial=0.01, maximum=0.05, retries=4))
    settings = load_settings(env, **overrides)
    assert settings is not None
    return LLMClient(settings, store=store)
