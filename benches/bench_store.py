"""Benchmark: the research store on SQLite and PostgreSQL, against the naive ORM peer, in one run.

Cases, for each engine (SQLite file in a temp dir; PostgreSQL: a throw-away local cluster started
like the tests do, from ``/usr/lib/postgresql/*/bin``):

* ``record sweep``: :func:`record_trials` of one sweep of N trials (default 10,000) with T periods
  (default 2,000) of float64 returns each (160 MB), params and metrics, in one transaction.
  Target on SQLite: < 2 s.
* ``read returns``: :func:`returns_matrix` of that sweep back as a T x N matrix. Target < 0.5 s.
* ``failure_type_stats``: the view over M causal memories (default 1,000,000) across 20 missions.
* The naive peer: the same sweep through the SQLAlchemy ORM, one INSERT per trial row (its returns
  as a per-trial blob), and reading it back with one ORM object and one ``frombuffer`` per trial.
  It runs on a subset of the trials (``--naive-trials``, default 1,000) and is reported per trial,
  so the ratio column compares throughput (the table notes the extrapolation).

Counts and checksums are asserted before anything is printed. Medians of ``--repeat`` runs.

Run: ``python benches/bench_store.py [--trials N] [--periods T] [--memories M] [--engines sqlite,postgresql]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import numpy as np  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

from _harness import Bench  # noqa: E402
from quant_engine.store import (  # noqa: E402
    Store,
    add_strategy,
    failure_type_stats,
    open_store,
    record_trials,
    returns_matrix,
    trial_count,
)  # noqa: E402
from quant_engine.store.taxonomy import FAILURE_TYPES  # noqa: E402

SPEC = {
    "instruments": ["AAPL"],
    "params": {"fast": 10, "slow": 30},
    "entry_long": {
        "op": "gt",
        "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
    },
}
METRICS = ["sharpe", "sortino", "total_return", "max_drawdown", "trades"]


class _Base(DeclarativeBase):
    pass


class NaiveTrial(_Base):
    """The naive peer's row: one ORM object per trial, its returns as its own blob."""

    __tablename__ = "naive_trials"
    id: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    strategy_hash: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[str] = mapped_column(sa.Text)
    metrics: Mapped[str] = mapped_column(sa.Text)
    returns: Mapped[bytes] = mapped_column(sa.LargeBinary)


def _sweep_inputs(n: int, t: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(2, 200, (n, 2)).astype(np.float64),
        rng.normal(size=(n, len(METRICS))),
        rng.normal(0.0, 0.01, (t, n)),
    )


def _insert_memories(store: Store, m: int) -> int:
    """Bulk-loads m causal memories (setup, not timed); returns how many are active."""
    rng = np.random.default_rng(7)
    from quant_engine.store import create_mission

    missions = [create_mission(store, f"bench-{i}-{time.time_ns()}", "benchmark").id for i in range(20)]
    now = time.time()
    created = now - rng.uniform(0, 90 * 86400, m)
    expires = np.where(rng.random(m) < 0.1, now - 1.0, np.nan)
    types = rng.integers(0, len(FAILURE_TYPES), m)
    mids = np.array(missions)[rng.integers(0, 20, m)]
    rows = [
        (
            int(mids[i]),
            FAILURE_TYPES[types[i]],
            "bench",
            0.5,
            0.95,
            "{}",
            "",
            float(created[i]),
            None if np.isnan(expires[i]) else float(expires[i]),
        )
        for i in range(m)
    ]
    cols = "mission_id, failure_type, detector, statistic, threshold, evidence, lesson, created_at, expires_at"
    with store.write() as conn:
        if store.dialect == "postgresql":
            raw = conn.connection.driver_connection
            with raw.cursor() as cur, cur.copy(f"COPY causal_memories ({cols}) FROM STDIN") as copy:  # type: ignore[union-attr]
                for r in rows:
                    copy.write_row(r)
        else:
            conn.exec_driver_sql(f"INSERT INTO causal_memories ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)  # type: ignore[arg-type]
    return int(np.isnan(expires).sum())


def _naive_record(store: Store, strategy_hash: str, params: np.ndarray, metrics: np.ndarray, r: np.ndarray) -> None:
    import json

    with Session(store.engine) as session:
        for j in range(params.shape[0]):  # one INSERT per row
            session.add(
                NaiveTrial(
                    strategy_hash=strategy_hash,
                    params=json.dumps({"fast": params[j, 0], "slow": params[j, 1]}),
                    metrics=json.dumps(dict(zip(METRICS, metrics[j].tolist()))),
                    returns=r[:, j].tobytes(),
                )
            )
            session.flush()
        session.commit()


def _naive_read(store: Store, first_id: int, n: int, t: int) -> np.ndarray:
    out = np.empty((t, n))
    with Session(store.engine) as session:
        rows = session.scalars(
            sa.select(NaiveTrial).where(NaiveTrial.id >= first_id).order_by(NaiveTrial.id).limit(n)
        ).all()
        for j, row in enumerate(rows):  # Python per trial
            out[:, j] = np.frombuffer(row.returns, np.float64)
    return out


def run_engine(bench: Bench, engine: str, url: str, args: argparse.Namespace) -> None:
    n, t, repeat = args.trials, args.periods, args.repeat
    store = open_store(url)
    h = add_strategy(store, SPEC, family="bench").hash
    params, metrics, r = _sweep_inputs(n, t, 1)
    kw = {
        "params": params,
        "param_names": ["fast", "slow"],
        "metrics": metrics,
        "metric_names": METRICS,
        "config_hash": "b" * 64,
    }

    batches: list[int] = []
    bench.case(
        f"{engine}: record sweep {n:,} x {t:,}",
        n_items=n,
        baseline="quant-engine",
        target="SQLite < 2 s" if engine == "sqlite" else "",
    )
    bench.time(
        "quant-engine", lambda: batches.append(record_trials(store, h, returns=r, **kw).id), repeat=repeat, warmup=1
    )
    assert trial_count(store, family="bench") == n * (repeat + 1) == n * len(batches)
    last = batches[-1]

    back = returns_matrix(store, batch_id=last)
    assert back.shape == (t, n) and np.array_equal(back.values, r), "read-back mismatch"
    checksum = float(r.sum())

    NaiveTrial.__table__.create(store.engine, checkfirst=True)  # type: ignore[attr-defined]
    k = min(args.naive_trials, n)
    with store.engine.connect() as conn:
        first = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(NaiveTrial.id), 0))).scalar_one()) + 1
    bench.time(
        "naive ORM, 1 INSERT/row",
        lambda: _naive_record(store, h, params[:k], metrics[:k], r[:, :k]),
        repeat=1,
        warmup=0,
        n_items=k,
        note=f"{k:,} trials, extrapolated x{n / k:.0f}",
    )
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(NaiveTrial)).scalar_one() == k

    bench.case(f"{engine}: read returns {t:,} x {n:,}", n_items=n, baseline="quant-engine", target="< 0.5 s")
    bench.time("quant-engine", lambda: returns_matrix(store, batch_id=last), repeat=repeat, warmup=1)
    naive = _naive_read(store, first, k, t)
    assert (
        np.array_equal(naive, r[:, :k])
        and abs(float(returns_matrix(store, batch_id=last).values.sum()) - checksum) < 1e-6
    )
    bench.time(
        "naive ORM, object/row",
        lambda: _naive_read(store, first, k, t),
        repeat=repeat,
        warmup=0,
        n_items=k,
        note=f"{k:,} trials, extrapolated x{n / k:.0f}",
    )

    active = _insert_memories(store, args.memories)
    rows = failure_type_stats(store)
    assert sum(r_["count"] for r_ in rows) == active and len(rows) == 20 * len(FAILURE_TYPES)
    assert all(
        abs(sum(x["share"] for x in rows if x["mission_id"] == m) - 1.0) < 1e-9 for m in {x["mission_id"] for x in rows}
    )
    bench.case(
        f"{engine}: failure_type_stats, {args.memories:,} memories", n_items=args.memories, baseline="quant-engine"
    )
    bench.time("quant-engine (view)", lambda: failure_type_stats(store), repeat=repeat, warmup=1)
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--periods", type=int, default=2_000)
    parser.add_argument("--memories", type=int, default=1_000_000)
    parser.add_argument("--naive-trials", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engines", default="sqlite,postgresql")
    args = parser.parse_args()
    bench = Bench("store", items_label="trials")
    with tempfile.TemporaryDirectory(prefix="qe-bench-store-") as tmp:
        for engine in args.engines.split(","):
            if engine == "sqlite":
                run_engine(bench, engine, f"sqlite:///{Path(tmp) / 'bench.sqlite'}", args)
            elif engine == "postgresql":
                from store_support import PostgresServer

                server = PostgresServer()
                try:
                    run_engine(bench, engine, server.create_database(), args)
                finally:
                    server.stop()
            else:
                raise SystemExit(f"unknown engine {engine!r}")
    bench.report()


if __name__ == "__main__":
    main()
