"""The Gatekeeper's post-mortem with an LLM narrative through the fake OpenAI-compatible server:
the LLM's proposed type is stored only when a detector raised it; faults and undecodable notes
leave the post-mortem whole (the detectors decide) and are counted."""

from __future__ import annotations

from typing import Any

from llm_support import client_for, fake_llm, store  # noqa: F401
from quant_engine.research.gatekeeper import conduct_post_mortem
from quant_engine.research.llm.post_mortem import LLMPostMortemWriter
from quant_engine.research.redteam.verdict import Verdict
from quant_engine.store import add_strategy, list_llm_requests, list_memories
from quant_engine.strategy import compile_strategy
from swarm_support import SYN  # noqa: F401

DOC: dict[str, Any] = {
    "instruments": ["SPY"],
    "timeframe": "1d",
    "entry_long": {"op": "lt", "left": {"op": "rsi", "x": "close", "n": 14}, "right": 30},
    "exit_long": {"op": "gt", "left": {"op": "rsi", "x": "close", "n": 14}, "right": 55},
}


def _verdict(cs: Any, types: list[str]) -> Verdict:
    evidence = {t: {"wnt_b.p_value": 0.4} for t in types}
    tests = [{"name": "wnt_b", "statistic": 0.4, "threshold": 0.01, "p_value": 0.4, "passed": False, "gated": True,
              "feeds": types, "reason": None, "note": None, "details": {}, "null": None, "seconds": 0.0}]  # fmt: skip
    return Verdict.from_dict({"strategy_hash": cs.hash, "family": "rsi", "seed": 0, "config": {}, "n_periods": 500,
                              "n_trials": 1, "tests": tests, "passed": False, "failure_types": types,
                              "evidence": evidence, "not_computable": [], "not_applicable": {}, "timings": {}})  # fmt: skip


def test_the_llm_narrates_and_only_a_confirmed_proposal_is_marked(fake_llm, store) -> None:  # type: ignore[no-untyped-def]
    server = fake_llm(seed=2)
    writer = LLMPostMortemWriter(client_for(server, store=store))
    cs = compile_strategy(DOC)
    add_strategy(store, cs)
    pm = conduct_post_mortem(store, cs, _verdict(cs, ["NOISE_FITTING"]), llm=writer)
    assert pm.failure_types == ("NOISE_FITTING",) and pm.narrative
    memories = list_memories(store, strategy_hash=cs.hash)
    assert len(memories) == 1 and memories[0].evidence["narrative"] == pm.narrative
    assert pm.proposal_confirmed == (pm.proposed_type == "NOISE_FITTING")
    assert memories[0].evidence.get("proposed_by_llm", False) == pm.proposal_confirmed
    assert writer.counts["written"] == 1
    assert [r.template_version.split("+")[0] for r in list_llm_requests(store)] == ["postmortem.v1"]


def test_an_unconfirmed_proposal_is_not_stored_as_a_type(fake_llm, store) -> None:  # type: ignore[no-untyped-def]
    server = fake_llm(seed=0)
    writer = LLMPostMortemWriter(client_for(server, store=store))
    cs = compile_strategy(DOC)
    proposals = []
    for seed in range(12):  # the fake names a type the detectors did not raise about 1 time in 5
        server.writer.rng.seed(seed)
        pm = conduct_post_mortem(store, cs, _verdict(cs, ["COST_SENSITIVITY"]), llm=writer)
        proposals.append(pm.proposed_type)
        assert pm.failure_types == ("COST_SENSITIVITY",)
        assert pm.proposal_confirmed == (pm.proposed_type == "COST_SENSITIVITY")
    assert any(p != "COST_SENSITIVITY" for p in proposals), "the weak model proposed something unconfirmed"
    stored = {m.failure_type for m in list_memories(store, strategy_hash=cs.hash, limit=None)}
    assert stored == {"COST_SENSITIVITY"}  # a proposal alone never becomes a memory


def test_faults_and_bad_notes_leave_the_post_mortem_whole(fake_llm, store) -> None:  # type: ignore[no-untyped-def]
    server = fake_llm(sequence=["invalid", "ok", "malformed", "malformed", "500", "500", "500", "500", "500"])
    writer = LLMPostMortemWriter(client_for(server, store=store))
    cs = compile_strategy(DOC)
    first = conduct_post_mortem(store, cs, _verdict(cs, ["OVERFITTING"]), llm=writer)
    assert first.narrative and writer.counts["repaired"] == 1  # an undecodable note is sent back once
    second = conduct_post_mortem(store, cs, _verdict(cs, ["OVERFITTING"]), llm=writer)
    assert second.narrative == "" and writer.counts["empty"] == 1  # twice undecodable: no note
    third = conduct_post_mortem(store, cs, _verdict(cs, ["OVERFITTING"]), llm=writer)
    assert third.narrative == "" and writer.counts["failed"] == 1  # the server kept failing
    assert len(list_memories(store, strategy_hash=cs.hash)) == 3  # the detectors decided every time
