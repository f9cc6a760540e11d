"""quant-engine: a performance-first quant research and paper-trading engine.

Data flows one way: feeds -> bars -> strategies -> risk -> fills -> journal. The hot paths live
in a Rust core (``quant_engine._core``) and in Numba kernels; this package is the orchestration
layer. Start with :mod:`quant_engine.bars` (ticks into time bars, rolling windows).
"""

from __future__ import annotations

from quant_engine._core import __version__
from quant_engine.errors import (
    BadDataError,
    InternalError,
    InvalidArgumentError,
    QuantEngineError,
    SchemaError,
    UnknownSymbolError,
)

__all__ = [
    "__version__",
    "QuantEngineError",
    "InvalidArgumentError",
    "SchemaError",
    "BadDataError",
    "UnknownSymbolError",
    "InternalError",
]
