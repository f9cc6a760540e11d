"""The research store against SQLite and a real PostgreSQL server: strategies, the ledger,
missions, causal memories, the journal, the outbox, exports and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from quant_engine.errors import StrategyValidationError
from quant_engine.store import (
    FAILURE_TYPES,
    CorruptBlobError,
    EventCursor,
    FailureType,
    IllegalTransitionError,
    Memory,
    Store,
    StoreInputError,
    UnknownFailureTypeError,
    UnknownRecordError,
    UnknownStrategyError,
    add_strategy,
    append,
    create_mission,
    export_parquet,
    failure_type_stats,
    find_mission,
    find_strategy,
    get_strategy,
    list_memories,
    list_strategies,
    list_trials,
    parents,
    read_events,
    read_journal,
    record_memories,
    record_memory,
    record_trials,
    register_snapshot,
    returns_correlation,
    returns_matrix,
    transition,
    transitions,
    trial_count,
    trial_counts,
    update_mission,
)
from quant_engine.store import schema as S
from quant_engine.store.strategies import template_identity
from quant_engine.strategy import canonical_json, compile_strategy
from store_support import SPEC, pg_server, spec, store, store_url  # noqa: F401

DAY = 86400.0


def _counts(store: Store) -> dict[str, int]:
    with store.read() as conn:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for name, t in S.TABLES.items()
        }


def _sweep(
    store: Store, strategy: str, n: int, t: int | None = 50, seed: int = 0, **kw: object
) -> tuple[np.ndarray | None, object]:
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, (t, n)) if t else None
    batch = record_trials(
        store,
        strategy,
        params=rng.integers(2, 50, (n, 2)).astype(float),
        param_names=["fast", "slow"],
        metrics=rng.normal(size=(n, 2)),
        metric_names=["sharpe", "total_return"],
        returns=r,
        config_hash="c" * 64,
        **kw,
    )
    return r, batch


# ---------------------------------------------------------------- strategies and lifecycle


def test_strategy_is_recorded_canonical_with_its_hash_and_history(store: Store) -> None:
    rec = add_strategy(store, json.dumps(SPEC), family="sma", origin="search", actor="swarm")
    cs = compile_strategy(SPEC)
    assert rec.hash == cs.hash and rec.template_hash == template_identity(cs)
    assert rec.spec == canonical_json(cs.strategy, bind=False).decode()
    assert compile_strategy(rec.spec).hash == rec.hash  # the stored spec recompiles to the same identity
    assert rec.status == "candidate" and rec.family == "sma" and rec.origin == "search"
    again = add_strategy(store, {**SPEC, "name": "renamed, same identity"})
    assert again.hash == rec.hash and len(list_strategies(store)) == 1
    hist = transitions(store, rec.hash)
    assert [(h.from_status, h.to_status, h.actor) for h in hist] == [(None, "candidate", "swarm")]
    assert [e.kind for e in read_events(store)] == ["strategy.created"]
    assert find_strategy(store, rec.hash[:8]).hash == rec.hash


def test_family_defaults_to_the_template_hash(store: Store) -> None:
    a = add_strategy(store, spec(5, 20))
    b = add_strategy(store, spec(8, 40))
    assert a.hash != b.hash and a.family == b.family == a.template_hash


def test_lifecycle_records_every_transition_and_refuses_illegal_ones(store: Store) -> None:
    h = add_strategy(store, SPEC).hash
    transition(store, h, "testing", reason="red team", actor="gatekeeper")
    transition(store, h, "graduated", reason="DSR 0.97", actor="gatekeeper")
    with pytest.raises(IllegalTransitionError) as err:
        transition(store, h, "testing")
    assert err.value.current == "graduated" and err.value.requested == "testing"
    transition(store, h, "promoted", actor="ceo")
    transition(store, h, "retired", reason="left its band", actor="shadow")
    with pytest.raises(IllegalTransitionError):
        transition(store, h, "promoted")
    hist = [(t.from_status, t.to_status) for t in transitions(store, h)]
    assert hist == [
        (None, "candidate"),
        ("candidate", "testing"),
        ("testing", "graduated"),
        ("graduated", "promoted"),
        ("promoted", "retired"),
    ]
    assert get_strategy(store, h).status == "retired"
    status_events = [e.payload for e in read_events(store) if e.kind == "strategy.status"]
    assert [(p["from"], p["to"]) for p in status_events] == hist[1:]
    with pytest.raises(UnknownStrategyError):
        transition(store, "0" * 64, "testing")
    with pytest.raises(StoreInputError):
        transition(store, h, "sideways")


def test_lineage(store: Store) -> None:
    a = add_strategy(store, spec(5, 20)).hash
    b = add_strategy(store, spec(6, 20)).hash
    child = add_strategy(store, spec(7, 20), parents=[a, b], origin="llm").hash
    assert parents(store, child) == sorted([a, b])
    before = _counts(store)
    with pytest.raises(UnknownStrategyError):
        add_strategy(store, spec(9, 20), parents=["f" * 64])
    assert _counts(store) == before


def test_bad_spec_and_bad_origin_write_nothing(store: Store) -> None:
    before = _counts(store)
    with pytest.raises(StrategyValidationError):
        add_strategy(store, {**SPEC, "entry_long": {"op": "nope"}})
    with pytest.raises(StoreInputError):
        add_strategy(store, SPEC, origin="oracle")
    with pytest.raises(StrategyValidationError):
        record_trials(store, {**SPEC, "params": {"fast": -3, "slow": 30}}, params=[{}], metrics=[{}], config_hash="c")
    assert _counts(store) == before


# ---------------------------------------------------------------- the ledger


def test_record_trials_and_read_back_the_matrix(store: Store) -> None:
    h = add_strategy(store, SPEC, family="sma").hash
    r1, b1 = _sweep(store, h, 40, seed=1)
    r2, b2 = _sweep(store, h, 25, seed=2)
    _sweep(store, h, 10, t=None, seed=3)  # metrics only
    assert (
        trial_count(store) == 75 and trial_count(store, family="sma") == 75 and trial_count(store, batch_id=b2.id) == 25
    )  # type: ignore[attr-defined]
    assert trial_counts(store) == {"sma": 75}
    m = returns_matrix(store, family="sma")
    assert m.shape == (50, 65)
    np.testing.assert_array_equal(m.values, np.hstack([r1, r2]))  # type: ignore[list-item]
    assert np.all(np.diff(m.trial_ids) > 0)
    one = returns_matrix(store, batch_id=b2.id)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(one.values, r2)  # type: ignore[arg-type]
    corr, ids = returns_correlation(store, family="sma")
    np.testing.assert_allclose(corr, np.corrcoef(np.hstack([r1, r2]), rowvar=False), atol=1e-12)  # type: ignore[list-item]
    trials = list_trials(store, batch_id=b1.id, limit=None)  # type: ignore[attr-defined]
    assert len(trials) == 40 and all(t.has_returns and t.family == "sma" for t in trials)
    assert {t.seq for t in trials} == set(range(40)) and set(trials[0].params) == {"fast", "slow"}
    ev = [e for e in read_events(store) if e.kind == "trials.recorded"]
    assert [e.payload["n_trials"] for e in ev] == [40, 25, 10]


def test_returns_split_over_several_blobs_read_back_exactly(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import quant_engine.store.blobs as blobs

    monkeypatch.setattr(blobs, "BLOB_BYTES", 8 * 30 * 7)  # 7 trials per blob
    h = add_strategy(store, SPEC).hash
    rng = np.random.default_rng(5)
    r = rng.normal(size=(30, 50))
    batch = record_trials(
        store, h, params=[{"fast": i} for i in range(50)], metrics=[{"sharpe": 0.1}] * 50, returns=r, config_hash="x"
    )
    assert len(batch.blob_ids) == 8
    np.testing.assert_array_equal(returns_matrix(store, strategy_hash=h).values, r)


def test_returns_from_an_arrow_table(store: Store) -> None:
    import pyarrow as pa

    h = add_strategy(store, SPEC).hash
    r = np.random.default_rng(6).normal(size=(20, 3))
    record_trials(
        store,
        h,
        params=[{}] * 3,
        metrics=pa.table({"sharpe": [1.0, 2.0, 3.0]}),
        returns=pa.table({f"t{j}": r[:, j] for j in range(3)}),
        config_hash="x",
    )
    np.testing.assert_array_equal(returns_matrix(store).values, r)


def test_populations_with_different_period_counts_are_refused(store: Store) -> None:
    h = add_strategy(store, SPEC).hash
    _sweep(store, h, 3, t=20)
    _sweep(store, h, 3, t=30)
    with pytest.raises(StoreInputError, match="period"):
        returns_matrix(store, strategy_hash=h)


def test_bad_trials_write_nothing(store: Store) -> None:
    h = add_strategy(store, SPEC).hash
    before = _counts(store)
    with pytest.raises(UnknownStrategyError):
        _sweep(store, "a" * 64, 5)
    with pytest.raises(StoreInputError):
        record_trials(store, h, params=[{}] * 3, metrics=[{}] * 2, config_hash="x")
    with pytest.raises(StoreInputError):
        record_trials(store, h, params=[{}] * 3, metrics=[{}] * 3, returns=np.zeros((10, 4)), config_hash="x")
    with pytest.raises(StoreInputError):
        record_trials(store, h, params=[], metrics=[], config_hash="x")
    with pytest.raises(UnknownRecordError):
        _sweep(store, h, 5, snapshot_id=12345)
    with pytest.raises(UnknownRecordError):
        _sweep(store, h, 5, mission_id=999)
    assert _counts(store) == before


def test_a_corrupt_returns_blob_is_a_typed_error(store: Store) -> None:
    h = add_strategy(store, SPEC).hash
    _, batch = _sweep(store, h, 4, t=16)
    blob_id = batch.blob_ids[0]  # type: ignore[attr-defined]
    with store.engine.begin() as conn:
        payload = bytearray(
            conn.execute(sa.select(S.return_blobs.c.payload).where(S.return_blobs.c.id == blob_id)).scalar_one()
        )
        payload[100] ^= 0x40  # one flipped bit
        conn.execute(sa.update(S.return_blobs).where(S.return_blobs.c.id == blob_id).values(payload=bytes(payload)))
    with pytest.raises(CorruptBlobError, match="CRC"):
        returns_matrix(store, strategy_hash=h)
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(S.return_blobs).where(S.return_blobs.c.id == blob_id).values(payload=bytes(payload[:-8]))
        )
    with pytest.raises(CorruptBlobError, match="bytes"):
        returns_matrix(store, strategy_hash=h)


def test_snapshots_are_identified_by_content(store: Store) -> None:
    args = {"content_hash": "e" * 64, "source": "massive", "symbols": ["MSFT", "AAPL"], "interval": "1m", "n_bars": 100}
    a = register_snapshot(store, **args, segment="train")  # type: ignore[arg-type]
    assert register_snapshot(store, **args, segment="train") == a  # type: ignore[arg-type]
    b = register_snapshot(store, **args, segment="holdout")  # type: ignore[arg-type]
    assert b != a
    with pytest.raises(StoreInputError):
        register_snapshot(store, **args, segment="future")  # type: ignore[arg-type]
    h = add_strategy(store, SPEC).hash
    _sweep(store, h, 3, snapshot_id=a)
    assert {t.snapshot_id for t in list_trials(store)} == {a}


def test_backtest_and_sweep_record_every_trial(store: Store) -> None:
    from bar_factory import random_bars
    from quant_engine.research import backtest, sweep

    bars = random_bars(400, seed=3)
    doc = spec(symbol="AAA")
    config = {"allow_unlisted_equities": True}  # the random bars' ticker "AAA" is not a listed equity
    res = backtest(doc, bars, config, ledger=store)
    sw = sweep(doc, {"fast": [5, 10, 15], "slow": [30, 40]}, bars, config, ledger=store)
    cs = compile_strategy(doc)
    assert trial_count(store, strategy_hash=cs.hash) == 1 + len(sw) == 7
    m = returns_matrix(store, strategy_hash=cs.hash)
    assert m.shape == (400, 7)  # the backtest's returns, then every swept combination's
    np.testing.assert_array_equal(m.values[:, 0], res.returns.column("return").to_numpy())
    assert sw.returns is not None  # a ledger keeps the sweep's returns by default
    np.testing.assert_array_equal(m.values[:, 1:], sw.returns)
    trials = sorted(list_trials(store, limit=None), key=lambda t: t.id)
    assert trials[0].metrics["sharpe"] == pytest.approx(res.metrics["sharpe"], nan_ok=True) and trials[0].params == {
        "fast": 10,
        "slow": 30,
    }
    swept = sorted((t.params["fast"], t.params["slow"], t.metrics["sharpe"]) for t in trials[1:])
    expected = sorted(
        zip(
            sw.table.column("fast").to_pylist(),
            sw.table.column("slow").to_pylist(),
            sw.table.column("sharpe").to_pylist(),
        )
    )
    assert [s[:2] for s in swept] == [e[:2] for e in expected]
    np.testing.assert_allclose([s[2] for s in swept], [e[2] for e in expected])
    assert len({t.snapshot_id for t in trials}) == 1  # both runs saw the same bars: one snapshot
    assert len({t.config_hash for t in trials}) == 1


# ---------------------------------------------------------------- missions and memories


def test_missions(store: Store) -> None:
    m = create_mission(
        store, "intraday-mr", "find mean reversion in large caps", scope={"symbols": ["AAPL"]}, budget={"trials": 1000}
    )
    assert find_mission(store, "intraday-mr").id == m.id == find_mission(store, str(m.id)).id
    with pytest.raises(StoreInputError):
        create_mission(store, "intraday-mr", "again")
    u = update_mission(store, m.id, status="paused", progress={"trials": 10})
    u = update_mission(store, m.id, progress={"graduated": 1})
    assert u.status == "paused" and u.progress == {"trials": 10, "graduated": 1}
    with pytest.raises(StoreInputError):
        update_mission(store, m.id, status="exploded")
    with pytest.raises(UnknownRecordError):
        update_mission(store, 4242, status="paused")
    assert [e.kind for e in read_events(store)] == ["mission.created", "mission.updated", "mission.updated"]


def test_memories_and_failure_type_stats(store: Store) -> None:
    from quant_engine.store.store import now

    m = create_mission(store, "m1", "d").id
    h = add_strategy(store, SPEC, mission_id=m).hash
    t = now()
    mems = (
        [
            Memory(
                "OVERFITTING",
                "dsr",
                strategy_hash=h,
                mission_id=m,
                statistic=0.4,
                threshold=0.95,
                created_at=t - 1 * DAY,
            )
        ]
        * 3
        + [Memory(FailureType.OVERFITTING, "pbo", mission_id=m, created_at=t - 40 * DAY)] * 1
        + [Memory("cost_sensitivity", "breakeven", mission_id=m, created_at=t - 45 * DAY)] * 2
        + [
            Memory("NOISE_FITTING", "wnt-b", mission_id=m, created_at=t - 2 * DAY, expires_at=t - DAY)
        ]  # expired: not counted
        + [Memory("LOOKAHEAD_BIAS", "prefix", created_at=t - 3 * DAY)]  # no mission
    )
    assert record_memories(store, mems) == 8
    rows = {(r["mission_id"], r["failure_type"]): r for r in failure_type_stats(store)}
    over, cost = rows[(m, "OVERFITTING")], rows[(m, "COST_SENSITIVITY")]
    assert (over["count"], over["recent_count"], over["prior_count"], over["trend"]) == (4, 3, 1, 2)
    assert (cost["count"], cost["recent_count"], cost["prior_count"], cost["trend"]) == (2, 0, 2, -2)
    assert over["share"] == pytest.approx(4 / 6) and cost["share"] == pytest.approx(2 / 6)
    assert (m, "NOISE_FITTING") not in rows
    assert rows[(None, "LOOKAHEAD_BIAS")]["share"] == pytest.approx(1.0)
    assert len(failure_type_stats(store, mission_id=m)) == 2
    assert (
        len(list_memories(store, mission_id=m)) == 7 and len(list_memories(store, mission_id=m, active_only=True)) == 6
    )
    got = list_memories(store, failure_type="overfitting", strategy_hash=h)
    assert len(got) == 3 and got[0].statistic == 0.4 and got[0].detector == "dsr"


def test_taxonomy_is_the_eleven_types(store: Store) -> None:
    assert len(FAILURE_TYPES) == 11 and len(set(FAILURE_TYPES)) == 11
    before = _counts(store)
    with pytest.raises(UnknownFailureTypeError):
        record_memories(store, [Memory("OVERFITTING", "dsr"), Memory("BAD_LUCK", "none")])
    with pytest.raises(UnknownStrategyError):
        record_memory(store, "OVERFITTING", "dsr", strategy_hash="b" * 64)
    assert _counts(store) == before
    with pytest.raises(sa.exc.IntegrityError), store.engine.begin() as conn:  # the database refuses it too
        conn.execute(
            sa.insert(S.causal_memories).values(
                failure_type="BAD_LUCK", detector="x", evidence="{}", lesson="", created_at=0.0
            )
        )


# ---------------------------------------------------------------- journal and outbox


def test_journal_is_append_only_and_emits_events(store: Store) -> None:
    add_strategy(store, SPEC)  # a row in strategy_transitions (and an event)
    a = append(store, "order", "paper", {"side": "buy", "qty": 10}, symbol="AAPL", ts_ns=1)
    b = append(store, "fill", "paper", {"price": 101.5, "qty": 10}, symbol="AAPL", ts_ns=2)
    append(store, "account", "paper", {"equity": 1e6}, ts_ns=3)
    entries = read_journal(store, account="paper")
    assert [e.id for e in entries][:2] == [a, b] and entries[1].payload == {"price": 101.5, "qty": 10}
    assert [e.kind for e in read_events(store)] == [
        "strategy.created",
        "journal.order",
        "journal.fill",
        "journal.account",
    ]
    with pytest.raises(StoreInputError):
        append(store, "rumour", "paper", {}, ts_ns=4)
    for stmt in (
        sa.update(S.journal).values(account="x"),
        sa.delete(S.journal),
        sa.delete(S.events),
        sa.delete(S.strategy_transitions),
    ):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
            conn.execute(stmt)
    assert len(read_journal(store)) == 3


def test_event_cursor_resumes_without_missing_or_repeating(store_url: str) -> None:
    from quant_engine.store import open_store

    s = open_store(store_url)
    for i in range(7):
        append(s, "fill", "paper", {"i": i}, ts_ns=i)
    c = EventCursor(s, "scribe")
    first = c.poll(3)
    assert [e.payload["i"] for e in first] == [0, 1, 2]
    assert [e.id for e in c.poll(3)] == [e.id for e in first]  # not acknowledged: delivered again
    c.ack(first[-1].id)
    s.close()
    s2 = open_store(store_url)  # a restart
    c2 = EventCursor(s2, "scribe")
    assert c2.position == first[-1].id
    seen = [e.payload["i"] for e in first]
    append(s2, "fill", "paper", {"i": 7}, ts_ns=7)
    while batch := c2.poll(2):
        seen += [e.payload["i"] for e in batch]
        c2.ack(batch[-1].id)
    assert seen == list(range(8))
    c2.ack(first[0].id)  # an old id: no-op
    assert c2.position == max(e.id for e in read_events(s2, limit=100))
    with pytest.raises(StoreInputError):
        c2.ack(10_000)
    late = EventCursor(s2, "dashboard", start="end")
    assert late.poll() == []
    assert len(EventCursor(s2, "api").poll(100)) == 8  # another consumer has its own cursor
    s2.close()


def test_event_ids_increase(store: Store) -> None:
    h = add_strategy(store, SPEC).hash
    _sweep(store, h, 3)
    transition(store, h, "testing")
    ids = [e.id for e in read_events(store)]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 3


# ---------------------------------------------------------------- exports


def test_export_every_table_to_parquet(store: Store, tmp_path: Path) -> None:
    h = add_strategy(store, SPEC, family="sma").hash
    _sweep(store, h, 5, t=10)
    record_memory(store, "OVERFITTING", "dsr", strategy_hash=h)
    for name in S.TABLES:
        n = export_parquet(store, name, tmp_path / f"{name}.parquet")
        table = pq.read_table(tmp_path / f"{name}.parquet")
        assert table.num_rows == n and table.column_names == [c.name for c in S.TABLES[name].columns]
    trials = pq.read_table(tmp_path / "trials.parquet")
    assert trials.num_rows == 5 and trials.column("strategy_hash").to_pylist() == [h] * 5
    assert pq.read_table(tmp_path / "failure_type_stats.parquet").column("count").to_pylist() == [1]
    with pytest.raises(StoreInputError):
        export_parquet(store, "passwords", tmp_path / "x.parquet")
