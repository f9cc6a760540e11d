"""quant-engine: a performance-first quant research and paper-trading engine.

Data flows one way: feeds -> bars -> strategies -> risk -> fills -> journal. The hot paths live
in a Rust core (``quant_engine._core``) and in Numba kernels; this package is the orchestration
layer. Start with :mod:`quant_engine.bars` (ticks into time bars, rolling windows).
"""

from __future__ import annotations

import importlib
from typing import Any

from quant_engine._core import __version__
from quant_engine.errors import (
    BadDataError,
    InternalError,
    InvalidArgumentError,
    QuantEngineError,
    SchemaError,
    UnknownSymbolError,
)

SUBMODULES: tuple[str, ...] = (
    "bar_segments", "bars", "configs", "discovery", "errors", "execution", "feeds", "instruments", "kernels",
    "options", "regimes", "research", "risk", "sandbox", "schema", "strategy", "suggest", "times",
)  # fmt: skip
"""The public submodules: ``quant_engine.bars`` etc. work after ``import quant_engine`` alone, each
imported on first access (so ``import quant_engine`` stays fast)."""

__all__ = [
    "__version__",
    "QuantEngineError",
    "InvalidArgumentError",
    "SchemaError",
    "BadDataError",
    "UnknownSymbolError",
    "InternalError",
    *SUBMODULES,
]


def __getattr__(name: str) -> Any:
    """Imports a public submodule on first access (``quant_engine.bars``)."""
    if name in SUBMODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names, submodules included."""
    return sorted(set(globals()) | set(__all__))
