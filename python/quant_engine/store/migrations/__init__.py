"""Alembic migrations of the research store, shipped inside the package and run
programmatically by :mod:`quant_engine.store.migrate` (no ``alembic.ini`` needed)."""
