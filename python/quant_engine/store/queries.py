"""What the statistics read from the ledger: trial counts, the returns matrix of a population of
trials, and its pairwise correlations (VALIDATION.md sections 1 and 2).

A population is chosen by any of ``family``, ``strategy_hash``, ``batch_id`` and ``mission_id``
(all given filters apply). The returns matrix is assembled per blob with vectorized NumPy
indexing: no Python work per trial.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.blobs import CODEC, decode_block
from quant_engine.store.errors import CorruptBlobError, StoreInputError
from quant_engine.store.store import Store, from_json

__all__ = [
    "ReturnsMatrix",
    "TrialRecord",
    "trial_count",
    "trial_counts",
    "returns_matrix",
    "returns_correlation",
    "list_trials",
]


@dataclass(frozen=True)
class ReturnsMatrix:
    """Per-period returns of a population: ``values[t, j]`` is trial ``trial_ids[j]``'s return in
    period t (T x N float64, read-only when it is a view of one blob)."""

    values: np.ndarray
    trial_ids: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N)."""
        return (int(self.values.shape[0]), int(self.values.shape[1]))


@dataclass(frozen=True)
class TrialRecord:
    """A row of ``trials`` with its JSON columns decoded and its strategy's family."""

    id: int
    batch_id: int
    seq: int
    strategy_hash: str
    family: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    snapshot_id: int | None
    config_hash: str
    engine_version: str
    wall_time_s: float
    has_returns: bool
    created_at: float


def _filters(
    q: Any, *, family: str | None, strategy_hash: str | None, batch_id: int | None, mission_id: int | None
) -> Any:
    t = S.trials
    if family is not None or mission_id is not None:
        q = q.join(S.strategies, S.strategies.c.hash == t.c.strategy_hash)
    if family is not None:
        q = q.where(S.strategies.c.family == family)
    if mission_id is not None:
        q = q.join(S.trial_batches, S.trial_batches.c.id == t.c.batch_id).where(
            sa.or_(S.trial_batches.c.mission_id == mission_id, S.strategies.c.mission_id == mission_id)
        )
    if strategy_hash is not None:
        q = q.where(t.c.strategy_hash == strategy_hash)
    if batch_id is not None:
        q = q.where(t.c.batch_id == batch_id)
    return q


def trial_count(
    store: Store,
    *,
    family: str | None = None,
    strategy_hash: str | None = None,
    batch_id: int | None = None,
    mission_id: int | None = None,
) -> int:
    """How many trials were recorded (all, or those of a family / strategy / batch / mission):
    the N of the Deflated Sharpe Ratio counts every one."""
    q = _filters(
        sa.select(sa.func.count()).select_from(S.trials),
        family=family,
        strategy_hash=strategy_hash,
        batch_id=batch_id,
        mission_id=mission_id,
    )
    with store.read() as conn:
        return int(conn.execute(q).scalar_one())


def trial_counts(store: Store) -> dict[str, int]:
    """Trial count per family (families with no trial are omitted)."""
    q = (
        sa.select(S.strategies.c.family, sa.func.count())
        .select_from(S.trials.join(S.strategies, S.strategies.c.hash == S.trials.c.strategy_hash))
        .group_by(S.strategies.c.family)
        .order_by(S.strategies.c.family)
    )
    with store.read() as conn:
        return {str(f): int(c) for f, c in conn.execute(q)}


def _fetch_blobs(conn: sa.Connection, ids: list[int]) -> dict[int, tuple[bytes, int, int, int, str]]:
    """Blob payloads by id (binary transfer on PostgreSQL, incremental blob I/O on SQLite)."""
    out: dict[int, tuple[bytes, int, int, int, str]] = {}
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        with raw.cursor(binary=True) as cur:
            cur.execute(
                "SELECT id, payload, crc32, n_periods, n_columns, codec FROM return_blobs WHERE id = ANY(%s)", (ids,)
            )
            for bid, payload, crc, t, n, codec in cur:
                out[int(bid)] = (bytes(payload), int(crc), int(t), int(n), str(codec))
        return out
    b = S.return_blobs
    q = sa.select(b.c.id, b.c.crc32, b.c.n_periods, b.c.n_columns, b.c.codec).where(b.c.id.in_(ids))
    for bid, crc, t, n, codec in conn.execute(q).all():
        # incremental blob I/O reads the pages straight into one buffer: about twice as fast as a SELECT
        with raw.blobopen("return_blobs", "payload", int(bid), readonly=True) as blob:
            out[int(bid)] = (blob.read(), int(crc), int(t), int(n), str(codec))
    return out


def returns_matrix(
    store: Store,
    *,
    family: str | None = None,
    strategy_hash: str | None = None,
    batch_id: int | None = None,
    mission_id: int | None = None,
) -> ReturnsMatrix:
    """The T x N returns matrix of the population's trials that stored returns, columns in trial
    id order. Raises :class:`StoreInputError` when they have different period counts (select
    one snapshot or batch) and :class:`CorruptBlobError` for a damaged blob."""
    t = S.trials
    q = _filters(
        sa.select(t.c.id, t.c.blob_id, t.c.blob_column),
        family=family,
        strategy_hash=strategy_hash,
        batch_id=batch_id,
        mission_id=mission_id,
    )
    q = q.where(t.c.blob_id.is_not(None)).order_by(t.c.id)
    with store.read() as conn:
        refs = np.array([tuple(r) for r in conn.execute(q).all()], dtype=np.int64).reshape(-1, 3)
        if refs.shape[0] == 0:
            return ReturnsMatrix(np.zeros((0, 0)), np.zeros(0, np.int64))
        blob_ids = np.unique(refs[:, 1])
        blobs = _fetch_blobs(conn, blob_ids.tolist())
    periods = {v[2] for v in blobs.values()}
    if len(periods) != 1:
        raise StoreInputError(
            f"the selected trials have different period counts {sorted(periods)}: select one snapshot or batch"
        )
    n_periods = periods.pop()
    decoded: dict[int, np.ndarray] = {}
    for bid, (payload, crc, tp, n, codec) in blobs.items():
        if codec != CODEC:
            raise CorruptBlobError(f"returns blob {bid} has unknown codec {codec!r}")
        decoded[bid] = decode_block(payload, crc, tp, n)
    ids, blob_of, col = refs[:, 0], refs[:, 1], refs[:, 2]
    if len(decoded) == 1:
        only = next(iter(decoded.values()))
        if col.size == only.shape[1] and np.array_equal(col, np.arange(col.size)):
            return ReturnsMatrix(only, ids)  # the whole blob in order: a zero-copy view
    out = np.empty((n_periods, ids.size), np.float64)
    order = np.argsort(blob_of, kind="stable")
    bounds = np.flatnonzero(np.diff(blob_of[order])) + 1
    for group in np.split(order, bounds):  # one step per blob, vectorized over its trials
        block = decoded[int(blob_of[group[0]])]
        cols = col[group]
        if int(cols.max()) >= block.shape[1] or int(cols.min()) < 0:
            raise CorruptBlobError(f"a trial points outside returns blob {int(blob_of[group[0]])}")
        if _is_run(group) and _is_run(cols):  # consecutive trials, consecutive columns: a slice copy
            out[:, group[0] : group[-1] + 1] = block[:, cols[0] : cols[-1] + 1]
        else:
            out[:, group] = block[:, cols]
    return ReturnsMatrix(out, ids)


def _is_run(a: np.ndarray) -> bool:
    """Whether ``a`` is ``a[0], a[0] + 1, ...``."""
    return bool(a.size == 0 or (a[-1] - a[0] == a.size - 1 and np.all(np.diff(a) == 1)))


def returns_correlation(
    store: Store,
    *,
    family: str | None = None,
    strategy_hash: str | None = None,
    batch_id: int | None = None,
    mission_id: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pairwise Pearson correlation (N x N) of the population's trial returns and the trial ids
    (rows/columns order); a constant series has NaN correlations."""
    m = returns_matrix(store, family=family, strategy_hash=strategy_hash, batch_id=batch_id, mission_id=mission_id)
    if m.values.shape[1] == 0:
        return np.zeros((0, 0)), m.trial_ids
    x = m.values - m.values.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", x, x))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (x.T @ x) / np.outer(norms, norms)
    return corr, m.trial_ids


def list_trials(
    store: Store,
    *,
    family: str | None = None,
    strategy_hash: str | None = None,
    batch_id: int | None = None,
    mission_id: int | None = None,
    limit: int | None = 100,
) -> list[TrialRecord]:
    """Trials, newest first, with decoded params and metrics."""
    t = S.trials
    cols = [
        t.c.id,
        t.c.batch_id,
        t.c.seq,
        t.c.strategy_hash,
        S.strategies.c.family,
        t.c.params,
        t.c.metrics,
        t.c.snapshot_id,
        t.c.config_hash,
        t.c.engine_version,
        t.c.wall_time_s,
        t.c.blob_id,
        t.c.created_at,
    ]
    q = sa.select(*cols).select_from(t.join(S.strategies, S.strategies.c.hash == t.c.strategy_hash))
    q = _filters(q, family=None, strategy_hash=strategy_hash, batch_id=batch_id, mission_id=None)
    if family is not None:
        q = q.where(S.strategies.c.family == family)
    if mission_id is not None:
        q = q.join(S.trial_batches, S.trial_batches.c.id == t.c.batch_id).where(
            sa.or_(S.trial_batches.c.mission_id == mission_id, S.strategies.c.mission_id == mission_id)
        )
    q = q.order_by(t.c.id.desc())
    if limit is not None:
        q = q.limit(limit)
    with store.read() as conn:
        rows = conn.execute(q).all()
    return [
        TrialRecord(
            int(r.id),
            int(r.batch_id),
            int(r.seq),
            r.strategy_hash,
            r.family,
            from_json(r.params),
            from_json(r.metrics),
            None if r.snapshot_id is None else int(r.snapshot_id),
            r.config_hash,
            r.engine_version,
            float(r.wall_time_s),
            r.blob_id is not None,
            float(r.created_at),
        )
        for r in rows
    ]
