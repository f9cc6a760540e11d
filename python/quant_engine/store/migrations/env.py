"""Alembic environment: runs on the connection that :mod:`quant_engine.store.migrate` hands over
(``config.attributes["connection"]``), inside that connection's transaction."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None, transaction_per_migration=False)
with context.begin_transaction():
    context.run_migrations()
