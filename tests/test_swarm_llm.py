"""The Swarm with the LLM as its second generator, through the fake OpenAI-compatible server on
127.0.0.1 with faults injected: every fault is counted, every proposal is validated, deduped and
evaluated like any child, and nothing is lost or recorded twice."""

from __future__ import annotations

import numpy as np

from llm_support import client_for, fake_llm, store  # noqa: F401
from quant_engine.research.gatekeeper import get_swarm_constraints
from quant_engine.store import list_llm_requests, trial_count
from quant_engine.swarm import SerialExecutor, Swarm, SwarmConfig
from quant_engine.swarm.llm_proposer import LLMProposer
from swarm_support import SYN, bars

FAULTS = {"429": 0.1, "500": 0.1, "malformed": 0.1, "invalid": 0.15, "truncated": 0.05}


def test_a_generation_through_the_fake_llm_with_faults(fake_llm, store) -> None:  # type: ignore[no-untyped-def]
    server = fake_llm(probabilities=FAULTS, seed=5)
    client = client_for(server, store=store)
    proposer = LLMProposer(client, instruments=["SYN"], timeframe="1m", check=get_swarm_constraints(store).check)
    config = SwarmConfig(population=12, llm_share=0.5, backtest={"instruments": SYN}, min_fitness=-np.inf)
    with Swarm(store, bars(3000), config=config, seed=3, executor=SerialExecutor(), llm=proposer) as swarm:
        report = swarm.replenish_pool(1000, generations=2)
    c = report.counts
    t = proposer.totals
    assert t["requested"] == 2 * 6 and c.llm_proposed == t["accepted"] > 0
    assert c.generated.get("llm", 0) == c.llm_proposed  # every accepted proposal entered the Swarm's books
    made = sum(c.generated.values())
    assert made == c.no_site + c.invalid + sum(c.constraint_refused.values()) + c.duplicates + c.evaluated + c.errors
    assert trial_count(store) == c.trials_recorded == c.evaluated  # each evaluation recorded exactly once
    injected = server.snapshot()["faults"]
    assert sum(injected.values()) > 0, "the plan injected faults"
    counted = {k.removeprefix("fault."): v for k, v in t.items() if k.startswith("fault.")}
    for fault, kind in (("429", "rate_limited"), ("500", "server_error"), ("malformed", "malformed")):
        assert counted.get(kind, 0) == injected.get(fault, 0), (fault, counted, injected)
    logged = list_llm_requests(store, limit=10_000)
    assert sum(r.attempts for r in logged) == server.snapshot()["requests"]  # no lost or uncounted attempt
    assert t["requests"] == sum(1 for r in logged if r.outcome in ("ok", "length"))  # completions received
    assert t["fault.truncated"] == sum(1 for r in logged if r.outcome == "length")
    assert t["prompt_tokens"] == sum(r.prompt_tokens for r in logged) > 0
