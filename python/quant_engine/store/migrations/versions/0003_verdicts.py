"""Red Team verdicts (with the pre-registered expectation of a graduate and its one holdout
evaluation) and factory calibrations.

Frozen: this file defines the tables as they were at revision 0003 (never import the live
``quant_engine.store.schema`` here; later changes are new revisions).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HASH = sa.String(64)
VERDICT_KINDS = ("examination", "graduation")


def upgrade() -> None:
    op.create_table(
        "calibrations",
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
    )
    quoted = ", ".join(f"'{v}'" for v in VERDICT_KINDS)
    op.create_table(
        "verdicts",
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
        sa.CheckConstraint(f"kind IN ({quoted})", name="ck_verdicts_kind"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_verdicts_strategy", "verdicts", ["strategy_hash", "kind", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_verdicts_strategy", table_name="verdicts")
    op.drop_table("verdicts")
    op.drop_table("calibrations")
