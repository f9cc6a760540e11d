"""The ``llm_requests`` table: every request of the LLM client and its usage.

One row per logical request (its retries counted in ``attempts``): the mission, the server's base
URL (without credentials), the model, the prompt template and its version, the response format,
the outcome, the token usage, the cost and the latency. Prompts and responses are stored as a
SHA-256 and an excerpt capped at 2,000 characters; the API key is never stored.

Frozen: the table is defined here as it was at revision 0004 (never import the live
``quant_engine.store.schema``).

Revision ID: 0004
Revises: 0003 (verdicts and calibrations)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
HASH = sa.String(64)
OUTCOMES = ("ok", "length", "rate_limited", "server_error", "timeout", "connection", "refused", "budget", "error")


def upgrade() -> None:
    quoted = ", ".join(f"'{v}'" for v in OUTCOMES)
    op.create_table(
        "llm_requests",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("mission_id", ID, sa.ForeignKey("missions.id"), nullable=True),
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
        sa.CheckConstraint(f"outcome IN ({quoted})", name="ck_llm_requests_outcome"),
    )
    op.create_index("ix_llm_requests_mission_id", "llm_requests", ["mission_id"])


def downgrade() -> None:
    op.drop_index("ix_llm_requests_mission_id", "llm_requests")
    op.drop_table("llm_requests")
