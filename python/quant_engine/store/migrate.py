"""Schema migrations, run programmatically from the Alembic scripts shipped in
``quant_engine/store/migrations`` (no ``alembic.ini`` at run time).

Opening a store checks its revision inside one write transaction (an advisory lock on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite, so concurrent openers upgrade once): an empty database is created
at the newest revision, an older one is upgraded (logged on ``quant_engine.store``), and one whose
revision this version does not know (written by a newer quant-engine) is refused with
:class:`~quant_engine.store.errors.StoreVersionError`.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from quant_engine.store.engine import WRITE
from quant_engine.store.errors import StoreVersionError

__all__ = ["MIGRATIONS_DIR", "head_revision", "known_revisions", "current_revision", "ensure_schema", "SchemaState"]

log = logging.getLogger("quant_engine.store")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The Alembic script directory inside the installed package."""

MIGRATION_LOCK = 0x51455354  # "QEST": the PostgreSQL advisory lock serializing migrations


def _config(connection: sa.Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@functools.cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head_revision() -> str:
    """The newest schema revision this version of quant-engine knows."""
    head = _script().get_current_head()
    assert head is not None
    return head


def known_revisions() -> list[str]:
    """Every schema revision this version knows, oldest first."""
    return [rev.revision for rev in reversed(list(_script().walk_revisions()))]


def current_revision(connection: sa.Connection) -> str | None:
    """The store's schema revision (None: no quant-engine schema yet)."""
    return MigrationContext.configure(connection).get_current_revision()


@dataclass(frozen=True)
class SchemaState:
    """What :func:`ensure_schema` found and did."""

    before: str | None
    after: str | None
    head: str

    @property
    def upgraded(self) -> bool:
        """Whether the schema changed."""
        return self.before != self.after


def ensure_schema(engine: sa.Engine, *, upgrade: bool = True, target: str = "head") -> SchemaState:
    """Checks the store's revision and, when ``upgrade``, brings it to ``target`` (default the
    newest) in one transaction. Raises :class:`StoreVersionError` for an unknown (newer) revision,
    or for an older one when ``upgrade`` is false."""
    head = head_revision()
    with engine.connect().execution_options(**{WRITE: True}) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        before = current_revision(conn)
        if before is not None and before not in known_revisions():
            raise StoreVersionError(
                f"the store at {engine.url.render_as_string()} is at schema revision {before!r}, written by a newer "
                f"quant-engine (this version knows up to {head!r}); upgrade quant-engine to open it"
            )
        wanted = head if target == "head" else target
        if before == wanted or (target == "head" and before == head):
            return SchemaState(before, before, head)
        if not upgrade:
            raise StoreVersionError(
                f"the store at {engine.url.render_as_string()} is at schema revision {before!r}, this version needs "
                f"{head!r}: run `quant-engine store upgrade`"
            )
        if before is None:
            log.info("creating the store schema at %s (revision %s)", engine.url.render_as_string(), wanted)
        else:
            log.warning(
                "upgrading the store at %s from schema revision %s to %s", engine.url.render_as_string(), before, wanted
            )
        command.upgrade(_config(conn), target)
        after = current_revision(conn)
    log.info("store at %s now at schema revision %s", engine.url.render_as_string(), after)
    return SchemaState(before, after, head)
