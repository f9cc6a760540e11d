"""The store's tables as SQLAlchemy Core metadata (the migrations create the same schema;
``tests/test_store_migrations.py`` checks that they agree).

Conventions: times are UTC Unix seconds (``DOUBLE``/``REAL`` columns named ``*_at``); bar times
are Unix nanoseconds (``*_ns``); structured values are JSON text; the identity of a strategy is
the 64-hex SHA-256 of its canonical form. ``docs/store.md`` describes every column.
"""

from __future__ import annotations

import sqlalchemy as sa

from quant_engine.store.lifecycle import Status
from quant_engine.store.taxonomy import FAILURE_TYPES

__all__ = [
    "metadata",
    "missions",
    "strategies",
    "strategy_lineage",
    "strategy_transitions",
    "data_snapshots",
    "trial_batches",
    "return_blobs",
    "trials",
    "causal_memories",
    "journal",
    "events",
    "event_cursors",
    "calibrations",
    "verdicts",
    "VERDICT_KINDS",
    "failure_type_stats",
    "llm_requests",
    "LLM_OUTCOMES",
    "JOURNAL_KINDS",
    "ORIGINS",
    "SEGMENTS",
    "MISSION_STATUSES",
    "ID",
    "TABLES",
]

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite."""

HASH = sa.String(64)
ORIGINS = ("search", "llm", "human")
SEGMENTS = ("train", "validation", "holdout", "full")
MISSION_STATUSES = ("active", "paused", "completed", "cancelled")
JOURNAL_KINDS = ("order", "fill", "position", "account")
VERDICT_KINDS = ("examination", "graduation")
STATUSES = tuple(s.value for s in Status)
LLM_OUTCOMES = (
    "ok", "length", "rate_limited", "server_error", "timeout", "connection", "refused", "budget", "error",
)  # fmt: skip


def _in(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


metadata = sa.MetaData()

missions = sa.Table(
    "missions",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("directive", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False, server_default="{}"),
    sa.Column("budget", sa.Text, nullable=False, server_default="{}"),
    sa.Column("status", sa.String(16), nullable=False, server_default="active"),
    sa.Column("progress", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    _in("status", MISSION_STATUSES, "ck_missions_status"),
)

strategies = sa.Table(
    "strategies",
    metadata,
    sa.Column("hash", HASH, primary_key=True),
    sa.Column("template_hash", HASH, nullable=False, index=True),
    sa.Column("family", sa.String(200), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False, server_default=""),
    sa.Column("spec", sa.Text, nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("mission_id", ID, sa.ForeignKey("missions.id"), nullable=True, index=True),
    sa.Column("status", sa.String(16), nullable=False, server_default="candidate"),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    _in("origin", ORIGINS, "ck_strategies_origin"),
    _in("status", STATUSES, "ck_strategies_status"),
)

strategy_lineage = sa.Table(
    "strategy_lineage",
    metadata,
    sa.Column("child_hash", HASH, sa.ForeignKey("strategies.hash"), primary_key=True),
    sa.Column("parent_hash", HASH, sa.ForeignKey("strategies.hash"), primary_key=True, index=True),
)

strategy_transitions = sa.Table(
    "strategy_transitions",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("strategy_hash", HASH, sa.ForeignKey("strategies.hash"), nullable=False, index=True),
    sa.Column("from_status", sa.String(16), nullable=True),
    sa.Column("to_status", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("actor", sa.String(200), nullable=False, server_default=""),
)

data_snapshots = sa.Table(
    "data_snapshots",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("content_hash", HASH, nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("symbols", sa.Text, nullable=False),
    sa.Column("interval", sa.String(32), nullable=False),
    sa.Column("start_ns", sa.BigInteger, nullable=True),
    sa.Column("end_ns", sa.BigInteger, nullable=True),
    sa.Column("segment", sa.String(16), nullable=False),
    sa.Column("n_bars", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("content_hash", "source", "interval", "segment", name="uq_data_snapshots_identity"),
    _in("segment", SEGMENTS, "ck_data_snapshots_segment"),
)

trial_batches = sa.Table(
    "trial_batches",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("strategy_hash", HASH, sa.ForeignKey("strategies.hash"), nullable=False, index=True),
    sa.Column("mission_id", ID, sa.ForeignKey("missions.id"), nullable=True),
    sa.Column("snapshot_id", ID, sa.ForeignKey("data_snapshots.id"), nullable=True),
    sa.Column("n_trials", sa.Integer, nullable=False),
    sa.Column("n_periods", sa.Integer, nullable=True),
    sa.Column("config_hash", HASH, nullable=False),
    sa.Column("engine_version", sa.String(64), nullable=False),
    sa.Column("wall_time_s", sa.Float, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

return_blobs = sa.Table(
    "return_blobs",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("batch_id", ID, sa.ForeignKey("trial_batches.id"), nullable=False, index=True),
    sa.Column("first_column", sa.Integer, nullable=False),
    sa.Column("n_columns", sa.Integer, nullable=False),
    sa.Column("n_periods", sa.Integer, nullable=False),
    sa.Column("codec", sa.String(32), nullable=False),
    sa.Column("crc32", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
)

trials = sa.Table(
    "trials",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("batch_id", ID, sa.ForeignKey("trial_batches.id"), nullable=False, index=True),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("strategy_hash", HASH, sa.ForeignKey("strategies.hash"), nullable=False, index=True),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("snapshot_id", ID, sa.ForeignKey("data_snapshots.id"), nullable=True),
    sa.Column("config_hash", HASH, nullable=False),
    sa.Column("engine_version", sa.String(64), nullable=False),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.Column("sharpe", sa.Float, nullable=True),
    sa.Column("wall_time_s", sa.Float, nullable=False),
    sa.Column("blob_id", ID, sa.ForeignKey("return_blobs.id"), nullable=True),
    sa.Column("blob_column", sa.Integer, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
)

causal_memories = sa.Table(
    "causal_memories",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("strategy_hash", HASH, sa.ForeignKey("strategies.hash"), nullable=True, index=True),
    sa.Column("mission_id", ID, sa.ForeignKey("missions.id"), nullable=True, index=True),
    sa.Column("failure_type", sa.String(32), nullable=False),
    sa.Column("detector", sa.String(200), nullable=False),
    sa.Column("statistic", sa.Float, nullable=True),
    sa.Column("threshold", sa.Float, nullable=True),
    sa.Column("evidence", sa.Text, nullable=False, server_default="{}"),
    sa.Column("lesson", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=True),
    _in("failure_type", FAILURE_TYPES, "ck_causal_memories_failure_type"),
    sa.Index("ix_causal_memories_stats", "mission_id", "failure_type", "created_at", "expires_at"),  # since 0002
)

journal = sa.Table(
    "journal",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("account", sa.String(200), nullable=False),
    sa.Column("symbol", sa.String(64), nullable=True),
    sa.Column("ts_ns", sa.BigInteger, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
    _in("kind", JOURNAL_KINDS, "ck_journal_kind"),
    sqlite_autoincrement=True,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(64), nullable=False, index=True),
    sa.Column("subject", sa.String(200), nullable=False, server_default=""),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sqlite_autoincrement=True,
)

event_cursors = sa.Table(
    "event_cursors",
    metadata,
    sa.Column("consumer", sa.String(200), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

calibrations = sa.Table(
    "calibrations",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("config", sa.Text, nullable=False, server_default="{}"),
    sa.Column("null_markets", sa.Integer, nullable=False),
    sa.Column("false_graduations", sa.Integer, nullable=False),
    sa.Column("false_graduation_rate", sa.Float, nullable=False),
    sa.Column("fgr_lower", sa.Float, nullable=False),
    sa.Column("fgr_upper", sa.Float, nullable=False),
    sa.Column("power", sa.Text, nullable=False, server_default="{}"),
    sa.Column("document", sa.Text, nullable=False, server_default="{}"),
    sa.Column("engine_version", sa.String(64), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sqlite_autoincrement=True,
)  # since 0003

verdicts = sa.Table(
    "verdicts",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("strategy_hash", HASH, sa.ForeignKey("strategies.hash"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("passed", sa.Boolean, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("failure_types", sa.Text, nullable=False, server_default="[]"),
    sa.Column("document", sa.Text, nullable=False),
    sa.Column("expectation", sa.Text, nullable=True),
    sa.Column("holdout", sa.Text, nullable=True),
    sa.Column("snapshot_id", ID, sa.ForeignKey("data_snapshots.id"), nullable=True),
    sa.Column("calibration_id", ID, sa.ForeignKey("calibrations.id"), nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    _in("kind", VERDICT_KINDS, "ck_verdicts_kind"),
    sa.Index("ix_verdicts_strategy", "strategy_hash", "kind", "created_at"),
    sqlite_autoincrement=True,
)  # since 0003

llm_requests = sa.Table(  # since 0004
    "llm_requests",
    metadata,
    sa.Column("id", ID, primary_key=True, autoincrement=True),
    sa.Column("mission_id", ID, sa.ForeignKey("missions.id"), nullable=True, index=True),
    sa.Column("base_url", sa.String(500), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("template", sa.String(100), nullable=False),
    sa.Column("template_version", sa.String(100), nullable=False),
    sa.Column("response_format", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("http_status", sa.Integer, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("latency_s", sa.Float, nullable=False),
    sa.Column("prompt_hash", HASH, nullable=False),
    sa.Column("prompt_excerpt", sa.Text, nullable=False),
    sa.Column("response_hash", HASH, nullable=True),
    sa.Column("response_excerpt", sa.Text, nullable=True),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    _in("outcome", LLM_OUTCOMES, "ck_llm_requests_outcome"),
)

failure_type_stats = sa.Table(
    "failure_type_stats",
    sa.MetaData(),  # a view (created by migration 0002), kept out of ``metadata``
    sa.Column("mission_id", ID),
    sa.Column("failure_type", sa.String(32)),
    sa.Column("count", sa.BigInteger),
    sa.Column("share", sa.Float),
    sa.Column("recent_count", sa.BigInteger),
    sa.Column("prior_count", sa.BigInteger),
    sa.Column("trend", sa.BigInteger),
)
"""The ``failure_type_stats`` view, for queries (see migration 0002 and docs/store.md)."""

TABLES: dict[str, sa.Table] = {t.name: t for t in metadata.sorted_tables}
TABLES["failure_type_stats"] = failure_type_stats
"""Every table and view by name (what :func:`quant_engine.store.export.export_parquet` accepts)."""
