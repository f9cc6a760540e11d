"""The trial ledger: every backtest recorded, a whole sweep in one transaction.

:func:`record_trials` writes a ``trial_batches`` row, one ``trials`` row per trial (bulk:
``executemany`` on SQLite, ``COPY`` on PostgreSQL), the per-period returns as Arrow IPC blobs
(:mod:`quant_engine.store.blobs`) when given, and one ``trials.recorded`` event, all in one
transaction: readers see the whole sweep or none of it. :func:`record_run` is the hook that
``research.backtest()`` and ``research.sweep()`` call with ``ledger=``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from quant_engine.store import schema as S
from quant_engine.store.blobs import CODEC, as_returns_matrix, column_ranges, encode_block
from quant_engine.store.errors import StoreInputError, UnknownRecordError
from quant_engine.store.events import emit
from quant_engine.store.store import Store, now, to_json
from quant_engine.store.strategies import insert_strategy, require_mission, require_strategy
from quant_engine.strategy import CompiledStrategy, compile_strategy

__all__ = [
    "TrialBatch",
    "record_trials",
    "insert_trials",
    "register_snapshot",
    "bars_content_hash",
    "record_run",
    "engine_version",
]

_TRIAL_COLUMNS = (
    "batch_id",
    "seq",
    "strategy_hash",
    "params",
    "snapshot_id",
    "config_hash",
    "engine_version",
    "metrics",
    "sharpe",
    "wall_time_s",
    "blob_id",
    "blob_column",
    "created_at",
)


@dataclass(frozen=True)
class TrialBatch:
    """A recorded sweep: ``trials`` rows ``(batch_id, seq)`` for ``seq`` in ``range(n_trials)``."""

    id: int
    strategy_hash: str
    n_trials: int
    n_periods: int | None
    blob_ids: tuple[int, ...]


def engine_version() -> str:
    """The running quant-engine version (stored with every trial)."""
    from quant_engine import __version__

    return str(__version__)


def _json_rows(value: Any, names: Sequence[str] | None, what: str) -> list[str]:
    """One JSON object per trial from a list of mappings, an Arrow table, a dict of columns or
    a matrix with ``names``."""
    if isinstance(value, np.ndarray):
        if value.ndim != 2 or names is None or len(names) != value.shape[1]:
            raise StoreInputError(f"{what} as a matrix needs shape (N, len({what}_names)) and the names")
        keys = list(names)
        return [to_json(dict(zip(keys, row))) for row in value.astype(np.float64).tolist()]
    if isinstance(value, (pa.Table, pa.RecordBatch)):
        return [to_json(r) for r in value.to_pylist()]
    if isinstance(value, Mapping):
        return [to_json(r) for r in pa.table({k: np.asarray(v) for k, v in value.items()}).to_pylist()]
    if isinstance(value, Sequence) and all(isinstance(r, Mapping) for r in value):
        return [to_json(dict(r)) for r in value]
    raise StoreInputError(f"{what} must be a list of mappings, a table, a dict of columns or a matrix with names")


def _sharpe(metrics: Any, metric_names: Sequence[str] | None, n: int) -> list[float | None]:
    if isinstance(metrics, np.ndarray) and metric_names is not None and "sharpe" in metric_names:
        col = metrics[:, list(metric_names).index("sharpe")].astype(np.float64)
        return [None if not np.isfinite(v) else float(v) for v in col.tolist()]
    if isinstance(metrics, (pa.Table, pa.RecordBatch)) and "sharpe" in metrics.schema.names:
        col = np.asarray(metrics.column("sharpe").to_numpy(zero_copy_only=False), np.float64)
        return [None if not np.isfinite(v) else float(v) for v in col.tolist()]
    if isinstance(metrics, Sequence) and not isinstance(metrics, (str, bytes)):
        out: list[float | None] = []
        for r in metrics:
            v = r.get("sharpe") if isinstance(r, Mapping) else None
            out.append(float(v) if isinstance(v, (int, float)) and np.isfinite(v) else None)
        return out
    return [None] * n


def record_trials(
    store: Store,
    strategy: str | Any,
    *,
    params: Any,
    metrics: Any,
    returns: Any = None,
    param_names: Sequence[str] | None = None,
    metric_names: Sequence[str] | None = None,
    config_hash: str,
    snapshot_id: int | None = None,
    mission_id: int | None = None,
    wall_time_s: float = 0.0,
    version: str | None = None,
    family: str | None = None,
    origin: str = "search",
) -> TrialBatch:
    """Records a sweep of N trials of one strategy in one transaction.

    Args:
        strategy: the hash of a recorded strategy, or a spec / ``CompiledStrategy`` (recorded in
            the same transaction if new, with ``family`` and ``origin``).
        params, metrics: per trial, as a list of N mappings, an Arrow table, a dict of columns, or
            an (N, k) matrix with ``param_names`` / ``metric_names``.
        returns: optional T x N float64 per-period net returns (NumPy, or an Arrow table with one
            column per trial); without it only metrics are stored.
        config_hash: identity of the run configuration (e.g. SHA-256 of its JSON).
        snapshot_id: the data snapshot (:func:`register_snapshot`), mission_id: the mission.
        wall_time_s: the sweep's wall time (each trial stores its share).

    Raises :class:`UnknownStrategyError` / :class:`UnknownRecordError` for unknown references,
    :class:`StoreInputError` for inconsistent shapes, and the strategy language's
    ``StrategyValidationError`` for an invalid spec; nothing is written then.
    """
    cs = (
        None
        if isinstance(strategy, str)
        else (strategy if isinstance(strategy, CompiledStrategy) else compile_strategy(strategy))
    )
    with store.write() as conn:
        if cs is not None:
            strategy_hash = insert_strategy(conn, cs, family=family, origin=origin, mission_id=mission_id).hash
        else:
            strategy_hash = strategy
            require_strategy(conn, strategy_hash)
        return insert_trials(
            conn, strategy_hash, params=params, metrics=metrics, returns=returns, param_names=param_names,
            metric_names=metric_names, config_hash=config_hash, snapshot_id=snapshot_id, mission_id=mission_id,
            wall_time_s=wall_time_s, version=version,
        )  # fmt: skip


def insert_trials(
    conn: sa.Connection,
    strategy_hash: str,
    *,
    params: Any,
    metrics: Any,
    returns: Any = None,
    param_names: Sequence[str] | None = None,
    metric_names: Sequence[str] | None = None,
    config_hash: str,
    snapshot_id: int | None = None,
    mission_id: int | None = None,
    wall_time_s: float = 0.0,
    version: str | None = None,
) -> TrialBatch:
    """:func:`record_trials` inside the caller's write transaction, for a strategy already
    recorded in it (the Swarm records a whole generation in one transaction this way)."""
    param_rows = _json_rows(params, param_names, "params")
    n = len(param_rows)
    if n == 0:
        raise StoreInputError("a sweep has at least one trial")
    metric_rows = _json_rows(metrics, metric_names, "metrics")
    if len(metric_rows) != n:
        raise StoreInputError(f"{len(metric_rows)} metric rows for {n} trials")
    if not isinstance(config_hash, str) or not 0 < len(config_hash) <= 64:
        raise StoreInputError("config_hash must be a non-empty string of at most 64 characters")
    if not np.isfinite(wall_time_s) or wall_time_s < 0:
        raise StoreInputError("wall_time_s must be finite and >= 0")
    matrix = None if returns is None else as_returns_matrix(returns, n)
    sharpe = _sharpe(metrics, metric_names, n)
    version = version or engine_version()
    t = now()
    require_mission(conn, mission_id)
    _require_snapshot(conn, snapshot_id)
    batch = sa.insert(S.trial_batches).values(
        strategy_hash=strategy_hash, mission_id=mission_id, snapshot_id=snapshot_id, n_trials=n,
        n_periods=None if matrix is None else matrix.shape[0], config_hash=config_hash, engine_version=version,
        wall_time_s=float(wall_time_s), created_at=t,
    )  # fmt: skip
    batch_id = int(conn.execute(batch).inserted_primary_key[0])  # type: ignore[index]
    blob_ids, blob_of, blob_col = _insert_blobs(conn, batch_id, matrix, n)
    per_trial = float(wall_time_s) / n
    rows = [
        (batch_id, i, strategy_hash, param_rows[i], snapshot_id, config_hash, version, metric_rows[i], sharpe[i],
         per_trial, blob_of[i], blob_col[i], t)
        for i in range(n)
    ]  # fmt: skip
    _bulk_insert_trials(conn, rows)
    payload = {"batch_id": batch_id, "strategy_hash": strategy_hash, "n_trials": n, "mission_id": mission_id,
               "n_periods": None if matrix is None else matrix.shape[0], "snapshot_id": snapshot_id}  # fmt: skip
    emit(conn, "trials.recorded", strategy_hash, payload)
    return TrialBatch(batch_id, strategy_hash, n, None if matrix is None else int(matrix.shape[0]), tuple(blob_ids))


def _insert_blobs(
    conn: sa.Connection, batch_id: int, matrix: np.ndarray | None, n: int
) -> tuple[list[int], list[int | None], list[int | None]]:
    """Writes a sweep's returns blobs; returns their ids and each trial's (blob id, column)."""
    if matrix is None:
        return [], [None] * n, [None] * n
    blob_ids: list[int] = []
    blob_of: list[int | None] = []
    blob_col: list[int | None] = []
    for c0, c1 in column_ranges(matrix.shape[0], n):
        payload, crc = encode_block(matrix, c0, c1)
        values = {"batch_id": batch_id, "first_column": c0, "n_columns": c1 - c0, "n_periods": matrix.shape[0]}
        res = conn.execute(sa.insert(S.return_blobs).values(**values, codec=CODEC, crc32=crc, payload=payload))
        blob_id = int(res.inserted_primary_key[0])  # type: ignore[index]
        blob_ids.append(blob_id)
        blob_of += [blob_id] * (c1 - c0)
        blob_col += list(range(c1 - c0))
    return blob_ids, blob_of, blob_col


def _bulk_insert_trials(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    cols = ", ".join(_TRIAL_COLUMNS)
    if conn.dialect.name == "postgresql":
        raw: Any = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY trials ({cols}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join("?" for _ in _TRIAL_COLUMNS)
        conn.exec_driver_sql(f"INSERT INTO trials ({cols}) VALUES ({marks})", rows)


def _require_snapshot(conn: sa.Connection, snapshot_id: int | None) -> None:
    if (
        snapshot_id is not None
        and conn.execute(sa.select(S.data_snapshots.c.id).where(S.data_snapshots.c.id == snapshot_id)).first() is None
    ):
        raise UnknownRecordError(f"unknown data snapshot {snapshot_id!r}")


def register_snapshot(
    store: Store,
    *,
    content_hash: str,
    source: str,
    symbols: Sequence[str],
    interval: str,
    n_bars: int,
    start_ns: int | None = None,
    end_ns: int | None = None,
    segment: str = "full",
) -> int:
    """The id of the data snapshot with this identity (content hash, source, interval, segment),
    recorded if new. ``segment`` is train, validation, holdout or full."""
    if segment not in S.SEGMENTS:
        raise StoreInputError(f"segment must be one of {', '.join(S.SEGMENTS)}, not {segment!r}")
    if len(content_hash) != 64:
        raise StoreInputError("content_hash is a 64-hex SHA-256")
    from quant_engine.store.store import insert_or_ignore

    key = {"content_hash": content_hash, "source": source, "interval": interval, "segment": segment}
    with store.write() as conn:
        insert_or_ignore(
            conn,
            S.data_snapshots,
            {
                **key,
                "symbols": to_json(sorted(symbols)),
                "n_bars": int(n_bars),
                "start_ns": start_ns,
                "end_ns": end_ns,
                "created_at": now(),
            },
        )
        q = sa.select(S.data_snapshots.c.id).where(*(S.data_snapshots.c[k] == v for k, v in key.items()))
        return int(conn.execute(q).scalar_one())


def bars_content_hash(bars: Any) -> str:
    """SHA-256 of prepared bars (``BarArrays``): symbols, offsets and every OHLCV array."""
    h = hashlib.sha256()
    h.update(to_json(list(bars.symbols)).encode())
    for name in ("offsets", "start", "open", "high", "low", "close", "volume"):
        h.update(np.ascontiguousarray(getattr(bars, name)).view(np.uint8).data)
    return h.hexdigest()


def record_run(
    store: Store,
    cs: CompiledStrategy,
    bars: Any,
    *,
    grid: np.ndarray,
    metric_names: Sequence[str],
    metrics: np.ndarray,
    config_json: str,
    wall_time_s: float,
    returns: Any = None,
    source: str = "backtest",
) -> TrialBatch:
    """The ``ledger=`` hook of ``research.backtest()`` / ``research.sweep()``: records the run's
    bars as a data snapshot and every grid row as a trial (returns when given)."""
    start = np.asarray(bars.start)
    snapshot = register_snapshot(
        store,
        content_hash=bars_content_hash(bars),
        source=source,
        symbols=list(bars.symbols),
        interval=cs.strategy.timeframe,
        n_bars=int(start.size),
        start_ns=int(start.min()) if start.size else None,
        end_ns=int(start.max()) if start.size else None,
    )
    return record_trials(
        store,
        cs,
        params=np.asarray(grid, np.float64).reshape(len(grid), -1),
        param_names=cs.params,
        metrics=np.asarray(metrics, np.float64),
        metric_names=list(metric_names),
        returns=returns,
        config_hash=hashlib.sha256(config_json.encode()).hexdigest(),
        snapshot_id=snapshot,
        wall_time_s=wall_time_s,
    )
