"""The Swarm: every child is valid or a counted refusal, bans bind, duplicates and correlated
candidates are dropped, every evaluation is a trial, user operators reach worker processes, and the
pool's audit finds and repairs a damaged store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import msgspec
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_engine.errors import StrategyValidationError
from quant_engine.research.gatekeeper import conduct_post_mortem, find_pattern, get_swarm_constraints
from quant_engine.research.redteam.verdict import Verdict
from quant_engine.store import get_strategy, list_strategies, open_store, parents, trial_count
from quant_engine.strategy import compile_strategy
from quant_engine.swarm import Grammar, ProcessExecutor, SerialExecutor, Swarm, SwarmConfig
from quant_engine.swarm.audit import audit_pool, repair_pool
from quant_engine.swarm.variation import crossover, jitter, mutate_operator, mutate_subtree
from swarm_support import SYN, Proposals, bars, ensure_operator

BARS = bars(3000)
CONFIG = SwarmConfig(population=24, backtest={"instruments": SYN}, min_fitness=-np.inf)


def _swarm(store, seed: int = 1, **kw):  # type: ignore[no-untyped-def]
    return Swarm(store, BARS, config=kw.pop("config", CONFIG), seed=seed, executor=SerialExecutor(), **kw)


def _balanced(c) -> None:  # type: ignore[no-untyped-def]
    made = sum(c.generated.values())
    assert made == c.no_site + c.invalid + sum(c.constraint_refused.values()) + c.duplicates + c.evaluated + c.errors
    assert c.evaluated == c.admitted + c.correlated + sum(c.screened.values())


@pytest.fixture
def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    with open_store(tmp_path / "s.sqlite") as s:
        yield s


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_variation_yields_valid_strategies_or_a_validation_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    g = Grammar(rng, ["SYN"])
    a, b = g.strategy(), g.strategy()
    for child in (a, mutate_subtree(a, g), mutate_operator(a, g), crossover(a, b, rng), jitter(a, rng)):
        if child is None:
            continue
        try:
            compile_strategy(msgspec.json.encode(child))
        except StrategyValidationError:
            pass  # counted by the Swarm as invalid; any other exception fails the test


def test_every_child_is_counted_once_and_every_evaluation_is_a_trial(store) -> None:  # type: ignore[no-untyped-def]
    with _swarm(store) as swarm:
        report = swarm.replenish_pool(10_000, generations=3)
    c = report.counts
    _balanced(c)
    assert c.evaluated > 0 and c.trials_recorded == c.evaluated == trial_count(store)
    assert set(c.generated) - {"random"}, "later generations vary parents"
    pool = {r.hash for r in list_strategies(store, status="candidate")}
    assert pool == set(report.admitted)
    failed = list_strategies(store, status="failed")
    assert len(pool) + len(failed) == c.evaluated
    children = [r.hash for r in failed + list_strategies(store, status="candidate") if parents(store, r.hash)]
    assert children, "lineage: varied children name their parents"
    for stage in ("generation", "validation", "signals", "fills", "ledger"):
        assert report.timings[stage] > 0


def test_a_second_run_with_the_same_seed_finds_its_children_duplicates_and_evaluates_only_new_ones(store) -> None:  # type: ignore[no-untyped-def]
    with _swarm(store, seed=5) as swarm:
        swarm.generation()
    before = {r.hash for r in list_strategies(store)}
    n = trial_count(store)
    with _swarm(store, seed=5) as again:
        admitted = again.generation()
        c = again.counts
    assert c.duplicates >= CONFIG.population  # the same random stream: the first children exist already
    assert trial_count(store) == n + c.evaluated
    assert not set(admitted) & before
    _balanced(c)


def test_a_candidate_whose_returns_match_a_pool_member_is_dropped_as_correlated(store) -> None:  # type: ignore[no-untyped-def]
    base = {"instruments": ["SYN"],
            "entry_long": {"op": "cross_above", "left": {"op": "ema", "x": "close", "n": 5},
                           "right": {"op": "sma", "x": "close", "n": 20}},
            "exit_long": {"op": "cross_below", "left": {"op": "ema", "x": "close", "n": 5},
                          "right": {"op": "sma", "x": "close", "n": 20}}}  # fmt: skip
    # the same signals written differently (an extra always-true clause): another hash
    twin = {**base, "entry_long": {"op": "and", "args": [base["entry_long"], {"op": "gt", "left": "close",
                                                                              "right": 0.001}]}}  # fmt: skip
    cfg = SwarmConfig(population=2, llm_share=1.0, backtest={"instruments": SYN}, min_fitness=-np.inf)
    with _swarm(store, config=cfg, llm=Proposals([base, twin])) as swarm:
        admitted = swarm.generation()
    assert swarm.counts.llm_proposed == 2 and swarm.counts.evaluated == 2
    assert swarm.counts.correlated == 1 and len(admitted) == 1
    _balanced(swarm.counts)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000))
def test_after_a_post_mortem_bans_a_pattern_no_candidate_containing_it_enters_the_pool(
    tmp_path: Path, seed: int
) -> None:
    with open_store(tmp_path / f"ban{seed}.sqlite") as store, _swarm(store, seed=seed) as swarm:
        swarm.generation()
        pool = list_strategies(store, status="candidate") + list_strategies(store, status="failed")
        victim = compile_strategy(pool[0].spec)
        verdict = Verdict(strategy_hash=victim.hash, family="f", seed=0, failure_types=("NOISE_FITTING",),  # type: ignore[arg-type]
                          evidence={"NOISE_FITTING": {"wnt_b.passed": 0.0}})  # type: ignore[dict-item]  # fmt: skip
        conduct_post_mortem(store, victim, verdict, spread=0.5)
        banned = get_swarm_constraints(store).banned[0]
        swarm._members.insert(0, swarm._members[0].__class__(victim.hash, victim.strategy, 1e9))  # the best parent
        before = {r.hash for r in list_strategies(store, status="candidate")}
        for _ in range(2):
            swarm.generation()
        after = [r for r in list_strategies(store, status="candidate") if r.hash not in before]
        for rec in after:
            assert find_pattern(compile_strategy(rec.spec).strategy, banned.pattern) is None, rec.spec
        assert swarm.counts.constraint_refused[banned.id] > 0  # the bans bound children of the victim
        _balanced(swarm.counts)


def test_user_operators_reach_worker_processes(store) -> None:  # type: ignore[no-untyped-def]
    ensure_operator()
    doc = {"instruments": ["SYN"],
           "entry_long": {"op": "gt", "left": "close",
                          "right": {"op": "call", "fn": "double_ema", "args": ["close"], "params": {"n": 10}}},
           "exit_long": {"op": "lt", "left": {"op": "rsi", "n": 5}, "right": 40.0}}  # fmt: skip
    cfg = SwarmConfig(population=4, llm_share=0.25, backtest={"instruments": SYN}, min_fitness=-np.inf)
    swarm = Swarm(store, BARS, config=cfg, seed=2, executor=ProcessExecutor(2), llm=Proposals([doc]))
    with swarm:
        swarm.generation()
    assert swarm.counts.errors == 0 and swarm.counts.llm_proposed == 1
    h = compile_strategy(doc).hash
    assert get_strategy(store, h) and trial_count(store, strategy_hash=h) == 1


def test_audit_finds_and_repair_fixes_a_damaged_store(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite"
    with open_store(path) as store, _swarm(store, seed=3) as swarm:
        swarm.generation()
        pool = list_strategies(store, status="candidate")
        failed = list_strategies(store, status="failed")
    assert len(pool) >= 4 and failed
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys=OFF")
    db.execute("UPDATE strategies SET spec = ? WHERE hash = ?", (pool[1].spec, pool[0].hash))  # duplicate
    bad = pool[2].document()
    bad["entry_long"] = {"op": "call", "fn": "not_registered_anywhere", "args": ["close"]}
    db.execute("UPDATE strategies SET spec = ? WHERE hash = ?", (msgspec.json.encode(bad).decode(), pool[2].hash))
    db.execute("UPDATE strategies SET updated_at = 0 WHERE hash = ?", (pool[3].hash,))  # stale
    gone = failed[0].hash  # a strategy deleted under its trials
    db.execute("DELETE FROM strategies WHERE hash = ?", (gone,))
    db.commit()
    db.close()
    with open_store(path) as store:
        report = audit_pool(store)
        kinds = {(f.kind, f.strategy_hash) for f in report.findings}
        assert ("duplicate", pool[0].hash) in kinds or ("duplicate", pool[1].hash) in kinds
        assert ("invalid", pool[2].hash) in kinds and ("stale", pool[3].hash) in kinds
        assert len(report.orphan_trials) == 1 and not report.healthy
        n_trials = trial_count(store)
        repair_pool(store, report)
        assert audit_pool(store).healthy
        assert trial_count(store) == n_trials - 1
        fixed = {r.hash for r in list_strategies(store, status="failed")}
        assert {pool[2].hash, pool[3].hash} <= fixed


def test_bulk_transitions_move_many_or_none(store) -> None:  # type: ignore[no-untyped-def]
    from quant_engine.store import IllegalTransitionError, add_strategy, transitions
    from quant_engine.store.strategies import insert_transitions

    docs = [{"instruments": ["SYN"], "entry_long": {"op": "gt", "left": {"op": "rsi", "n": n}, "right": 50.0}}
            for n in (5, 6)]  # fmt: skip
    a, b = (add_strategy(store, d).hash for d in docs)
    with store.write() as conn:
        assert insert_transitions(conn, [a, b], "testing", reasons=["x", "y"]) == 2
    with pytest.raises(IllegalTransitionError), store.write() as conn:
        insert_transitions(conn, [a, b], "promoted", reasons=["x", "y"])
    assert {get_strategy(store, h).status for h in (a, b)} == {"testing"}
    assert [t.reason for t in transitions(store, b)] == ["recorded", "y"]
