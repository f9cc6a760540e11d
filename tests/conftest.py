"""Shared pytest fixtures and constants."""

from __future__ import annotations

import os

import pytest

# Keep NumPy/OpenBLAS from spinning extra threads on a 2-core CI machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

T0 = 1_704_205_800 * 1_000_000_000
"""2024-01-02T14:30:00Z (09:30 New York), in ns: a convenient session open."""
SECOND = 1_000_000_000
MINUTE = 60 * SECOND


@pytest.fixture
def t0() -> int:
    """The session open 2024-01-02T14:30:00Z in ns."""
    return T0
