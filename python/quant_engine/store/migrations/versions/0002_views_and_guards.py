"""The ``failure_type_stats`` view, append-only guards and blob storage settings.

* ``failure_type_stats``: per mission and failure type, over the causal memories that have not
  expired: ``count``, ``share`` (of the mission's active memories), ``recent_count`` (created in the
  last 30 days), ``prior_count`` (the 30 days before those) and ``trend = recent_count -
  prior_count`` (positive: the failure is becoming more frequent).
* Triggers that refuse UPDATE and DELETE on ``journal``, ``events`` and ``strategy_transitions``
  (append-only logs), and TRUNCATE on PostgreSQL.
* PostgreSQL: ``return_blobs.payload`` stored uncompressed out of line (float returns do not
  compress; trying costs time).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APPEND_ONLY = ("journal", "events", "strategy_transitions")
DAY = 86400.0
WINDOW = 30 * DAY

_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM now()) AS DOUBLE PRECISION)",
}


def _view_sql(now: str) -> str:
    return f"""
CREATE VIEW failure_type_stats AS
WITH active AS (
    SELECT mission_id, failure_type, created_at FROM causal_memories
    WHERE expires_at IS NULL OR expires_at > {now}
), counts AS (
    SELECT mission_id, failure_type, COUNT(*) AS count,
           SUM(CASE WHEN created_at >= {now} - {WINDOW} THEN 1 ELSE 0 END) AS recent_count,
           SUM(CASE WHEN created_at >= {now} - {2 * WINDOW} AND created_at < {now} - {WINDOW} THEN 1 ELSE 0 END)
               AS prior_count
    FROM active GROUP BY mission_id, failure_type
)
SELECT mission_id, failure_type, count,
       CAST(count AS DOUBLE PRECISION) / CAST(SUM(count) OVER (PARTITION BY mission_id) AS DOUBLE PRECISION) AS share,
       recent_count, prior_count, recent_count - prior_count AS trend
FROM counts
"""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # covering the view (no table lookups): 7x faster over 300k memories on SQLite
    op.create_index(
        "ix_causal_memories_stats", "causal_memories", ["mission_id", "failure_type", "created_at", "expires_at"]
    )
    op.execute(_view_sql(_NOW[dialect]))
    if dialect == "postgresql":
        op.execute("ALTER TABLE return_blobs ALTER COLUMN payload SET STORAGE EXTERNAL")
        op.execute(
            "CREATE FUNCTION qe_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION qe_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION qe_append_only()"
            )
    else:
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DROP VIEW failure_type_stats")
    op.drop_index("ix_causal_memories_stats", "causal_memories")
    if dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION qe_append_only()")
        op.execute("ALTER TABLE return_blobs ALTER COLUMN payload SET STORAGE EXTENDED")
    else:
        for table in APPEND_ONLY:
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{verb}")
