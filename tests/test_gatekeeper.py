"""The Gatekeeper: post-mortems store only detector-confirmed types, memories compile to machine
constraints that the strategy validator enforces by id, and memories retire."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from quant_engine.errors import ConstraintViolationError, InvalidArgumentError, StrategyValidationError
from quant_engine.research.gatekeeper import (
    PostMortemNote,
    conduct_post_mortem,
    get_swarm_constraints,
    review_memories,
)
from quant_engine.research.redteam.verdict import Verdict
from quant_engine.store import add_strategy, list_memories, open_store, transition
from quant_engine.strategy import compile_strategy, validate_strategy

RSI_DOC = {
    "instruments": ["SYN"],
    "entry_long": {"op": "lt", "left": {"op": "rsi", "n": 7}, "right": 30.0},
    "exit_long": {"op": "gt", "left": {"op": "rsi", "n": 7}, "right": 70.0},
}


def _verdict(strategy_hash: str, *types: str) -> Verdict:
    evidence = {
        "NOISE_FITTING": {"wnt_b.statistic": 0.31, "wnt_b.threshold": 0.01, "wnt_b.passed": 0.0},
        "INSUFFICIENT_EVIDENCE": {"trades.statistic": 4.0, "trades.threshold": 30.0, "trades.passed": 0.0},
        "COST_SENSITIVITY": {"breakeven_cost.statistic": 1.5, "breakeven_cost.threshold": 4.0,
                             "breakeven_cost.passed": 0.0},
    }  # fmt: skip
    return Verdict(
        strategy_hash=strategy_hash,
        family="f",
        seed=0,
        failure_types=tuple(types),  # type: ignore[arg-type]
        evidence={t: evidence[t] for t in types},  # type: ignore[misc]
    )


class Writer:
    """An LLM adapter's answer, fixed (the post-mortem only reads its note)."""

    def __init__(self, proposed: str | None) -> None:
        self.proposed = proposed

    def write_post_mortem(self, strategy: object, verdict: object) -> PostMortemNote:
        return PostMortemNote("RSI(7) mean reversion fitted noise.", self.proposed)


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_store(tmp_path / "s.sqlite") as s:
        yield s


def test_the_validator_hook_refuses_with_the_constraint_id_and_strategy_never_imports_research() -> None:
    def ban_rsi(strategy: object) -> None:
        raise ConstraintViolationError("X1.ban", "no rsi", "$.entry_long")

    strategy = compile_strategy(RSI_DOC).strategy
    validate_strategy(strategy)  # no checks: valid
    with pytest.raises(ConstraintViolationError) as err:
        compile_strategy(RSI_DOC, checks=[ban_rsi])
    assert err.value.constraint_id == "X1.ban" and err.value.path == "$.entry_long"
    assert isinstance(err.value, StrategyValidationError)
    import quant_engine.strategy as pkg

    sources = "".join(p.read_text() for p in Path(pkg.__file__).parent.glob("*.py"))
    assert "quant_engine.research" not in sources and "quant_engine.swarm" not in sources


def test_only_detector_confirmed_types_are_stored_and_an_unconfirmed_proposal_is_counted(store) -> None:  # type: ignore[no-untyped-def]
    cs = compile_strategy(RSI_DOC)
    pm = conduct_post_mortem(store, cs, _verdict(cs.hash, "NOISE_FITTING", "INSUFFICIENT_EVIDENCE"),
                             llm=Writer("OVERFITTING"), now=1000.0, ttl_days=1.0)  # fmt: skip
    assert pm.failure_types == ("NOISE_FITTING", "INSUFFICIENT_EVIDENCE")
    assert pm.proposed_type == "OVERFITTING" and not pm.proposal_confirmed
    assert pm.counts == {"confirmed": 2, "unconfirmed_proposals": 1}
    rows = list_memories(store)
    assert sorted(m.failure_type for m in rows) == ["INSUFFICIENT_EVIDENCE", "NOISE_FITTING"]
    noise = next(m for m in rows if m.failure_type == "NOISE_FITTING")
    assert noise.evidence["values"]["wnt_b.statistic"] == 0.31
    assert noise.evidence["concerns"]["kind"] == "banned_subtree"
    assert noise.evidence["narrative"].startswith("RSI(7)")
    assert noise.statistic == 0.31 and noise.threshold == 0.01
    assert noise.expires_at == pytest.approx(1000.0 + 86_400.0)
    assert "rsi" in noise.lesson and noise.strategy_hash == cs.hash

    pm2 = conduct_post_mortem(store, cs, _verdict(cs.hash, "NOISE_FITTING"), llm=Writer("noise_fitting"))
    assert pm2.proposal_confirmed and pm2.memories[0].evidence["proposed_by_llm"] is True


def test_a_verdict_about_another_strategy_is_refused(store) -> None:  # type: ignore[no-untyped-def]
    cs = compile_strategy(RSI_DOC)
    with pytest.raises(InvalidArgumentError, match="verdict is about"):
        conduct_post_mortem(store, cs, _verdict("0" * 64, "NOISE_FITTING"))
    assert list_memories(store) == []


def test_memories_compile_to_constraints_enforced_before_any_backtest(store) -> None:  # type: ignore[no-untyped-def]
    cs = compile_strategy(RSI_DOC)
    conduct_post_mortem(store, cs, _verdict(cs.hash, "NOISE_FITTING", "INSUFFICIENT_EVIDENCE", "COST_SENSITIVITY"))
    c = get_swarm_constraints(store)
    ids = {m.failure_type: m.id for m in list_memories(store)}
    assert c.banned[0].id == f"M{ids['NOISE_FITTING']}.banned_subtree"
    assert c.min_trades is not None and c.min_trades.value == 30.0
    assert c.cost_floor is not None and c.cost_floor.value == 4.0
    assert f"M{ids['NOISE_FITTING']}.banned_subtree" in c.prompt and "30 trades" in c.prompt

    near = {**RSI_DOC, "entry_long": {"op": "gt", "left": 31.0, "right": {"op": "rsi", "n": 8}}}  # same rule, swapped
    with pytest.raises(ConstraintViolationError) as err:
        compile_strategy(near, checks=[c.check])
    assert err.value.constraint_id == c.banned[0].id
    far = {**RSI_DOC, "entry_long": {"op": "lt", "left": {"op": "rsi", "n": 14}, "right": 30.0}}
    compile_strategy(far, checks=[c.check])  # outside the banned window range

    assert c.screen({"trades": 12.0}) == c.min_trades.id
    assert c.screen({"trades": 40.0, "exposure": 0.5, "periods": 1000.0}) is None
    from quant_engine.research.config import BacktestConfig

    assert c.screening_config(BacktestConfig()).execution.slippage.fixed_bps == 4.0  # type: ignore[union-attr]


def test_expired_and_other_missions_memories_do_not_bind(store) -> None:  # type: ignore[no-untyped-def]
    from quant_engine.store import create_mission

    mission = create_mission(store, "m1", directive="d").id
    cs = compile_strategy(RSI_DOC)
    conduct_post_mortem(store, cs, _verdict(cs.hash, "NOISE_FITTING"), mission=mission, now=time.time(), ttl_days=1)
    assert get_swarm_constraints(store, mission).banned
    assert not get_swarm_constraints(store, None).banned  # another mission's lesson
    assert not get_swarm_constraints(store, mission, at=time.time() + 2 * 86_400).banned  # expired


def test_a_graduate_containing_a_banned_subtree_retires_the_memory(store) -> None:  # type: ignore[no-untyped-def]
    cs = compile_strategy(RSI_DOC)
    conduct_post_mortem(store, cs, _verdict(cs.hash, "NOISE_FITTING"))
    assert get_swarm_constraints(store).banned
    assert review_memories(store).retired == {}
    twin = {**RSI_DOC, "exit_long": {"op": "gt", "left": {"op": "rsi", "n": 9}, "right": 65.0}}
    h = add_strategy(store, twin).hash
    transition(store, h, "testing")
    transition(store, h, "graduated")
    review = review_memories(store)
    assert len(review.retired) == 1
    assert not get_swarm_constraints(store).banned
