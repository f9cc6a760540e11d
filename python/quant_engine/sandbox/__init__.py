"""Faithful local vendor servers: a fake Theta Terminal and a fake Massive that speak the
vendors' exact wire formats over real sockets, serve the synthetic market or the catalog, and
inject faults on command, and a fake OpenAI-compatible LLM that writes seeded strategies.
``quant-engine sandbox theta|massive|llm`` starts them, so the whole system can be tried without
a subscription; the tests use them on 127.0.0.1.
"""

from __future__ import annotations

from quant_engine.sandbox.faults import FaultPlan
from quant_engine.sandbox.market import SandboxMarket
from quant_engine.sandbox.server import SandboxProcess

__all__ = ["FaultPlan", "SandboxMarket", "SandboxProcess", "FakeThetaTerminal", "FakeMassive", "FakeLLM"]


def __getattr__(name: str) -> object:
    # The servers import starlette/uvicorn: load them only when asked for.
    if name == "FakeThetaTerminal":
        from quant_engine.sandbox.theta import FakeThetaTerminal

        return FakeThetaTerminal
    if name == "FakeMassive":
        from quant_engine.sandbox.massive import FakeMassive

        return FakeMassive
    if name == "FakeLLM":
        from quant_engine.sandbox.llm import FakeLLM

        return FakeLLM
    raise AttributeError(name)
