"""Anything table-like into Arrow: the one conversion every entry point taking tables uses.

Accepted inputs, in the order they are recognized:

* a ``pyarrow.Table`` (as it is) or ``pyarrow.RecordBatch``;
* a pandas ``DataFrame`` (its index is dropped);
* any Arrow producer: an object with ``__arrow_c_stream__`` or ``__arrow_c_array__`` (polars
  frames, ``pyarrow.RecordBatchReader``, arro3, nanoarrow ...);
* a mapping of column name to equal-length arrays or lists;
* a NumPy structured array (one column per field).

Anything else, and a mapping whose columns differ in length, is a
:class:`~quant_engine.errors.SchemaError` naming what was expected and what was given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from quant_engine.errors import SchemaError

__all__ = ["as_arrow", "as_table", "require_columns", "ACCEPTED"]

ACCEPTED = (
    "an Arrow table, record batch or stream, a pandas or polars DataFrame, a dict of equal-length columns "
    "or a NumPy structured array"
)
"""What :func:`as_table` accepts, as its error messages say it."""


def _is_pandas(obj: Any) -> bool:
    mod = type(obj).__module__
    return mod.startswith("pandas") and type(obj).__name__ == "DataFrame"


def _from_mapping(obj: Mapping[Any, Any], what: str) -> pa.Table:
    try:
        return pa.table({str(k): v for k, v in obj.items()})
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        lengths = {str(k): len(v) for k, v in obj.items() if hasattr(v, "__len__")}
        if len(set(lengths.values())) > 1:
            raise SchemaError(f"{what}: the columns have different lengths ({lengths})") from None
        raise SchemaError(f"{what}: cannot convert the columns to Arrow: {exc}") from None


def as_arrow(obj: Any, *, what: str = "table") -> Any:
    """``obj`` as Arrow: an Arrow producer (``__arrow_c_stream__`` / ``__arrow_c_array__``:
    pyarrow tables, batches and readers, polars frames ...) is returned as it is, so a stream is
    not read whole; other inputs (see the module doc) are converted to a ``pyarrow.Table``.
    ``what`` names the input in errors."""
    if isinstance(obj, (pa.Table, pa.RecordBatch)):
        return obj
    if _is_pandas(obj):
        return pa.Table.from_pandas(obj, preserve_index=False)
    if hasattr(obj, "__arrow_c_stream__") or hasattr(obj, "__arrow_c_array__"):
        return obj
    if isinstance(obj, Mapping):
        return _from_mapping(obj, what)
    if isinstance(obj, np.ndarray) and obj.dtype.names:
        return pa.table({name: np.ascontiguousarray(obj[name]) for name in obj.dtype.names})
    raise SchemaError(f"expected {what} as {ACCEPTED}, got {type(obj).__name__}")


def as_table(obj: Any, *, what: str = "table", required: Iterable[str] = ()) -> pa.Table:
    """``obj`` (see the module doc) as a ``pyarrow.Table``, with the ``required`` columns (a
    :class:`~quant_engine.errors.SchemaError` names the first missing one)."""
    out = as_arrow(obj, what=what)
    if isinstance(out, pa.RecordBatch):
        out = pa.Table.from_batches([out])
    elif not isinstance(out, pa.Table):
        try:
            out = pa.table(out)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
            raise SchemaError(f"expected {what} as {ACCEPTED}; reading {type(obj).__name__} failed: {exc}") from None
    require_columns(out, required, what=what)
    return out


def require_columns(table: pa.Table, required: Iterable[str], *, what: str = "table") -> None:
    """A :class:`~quant_engine.errors.SchemaError` naming the first of ``required`` that
    ``table`` lacks."""
    for name in required:
        if name not in table.column_names:
            raise SchemaError(f"{what}: no '{name}' column (columns: {table.column_names})")
