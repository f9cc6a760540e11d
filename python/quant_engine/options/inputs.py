"""Argument normalization for the option functions: scalars, sequences, NumPy arrays and Arrow
arrays (pyarrow, or any producer of the Arrow PyCapsule interface such as polars or arro3) become
contiguous ``float64`` arrays of one common length; option rights become a ``uint8`` call flag.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import InvalidArgumentError, SchemaError

__all__ = ["as_float_array", "as_call_flags", "broadcast", "frozen", "to_arrow", "is_string_like"]

_CALLS = ("c", "call")
_PUTS = ("p", "put")


def to_arrow(value: Any) -> pa.Array | pa.ChunkedArray | None:
    """``value`` as a pyarrow array when it is Arrow data (pyarrow or a PyCapsule producer)."""
    if isinstance(value, (pa.Array, pa.ChunkedArray)):
        return value
    if isinstance(value, np.ndarray) or np.isscalar(value):
        return None
    if hasattr(value, "__arrow_c_stream__"):
        return pa.chunked_array(value)
    if hasattr(value, "__arrow_c_array__"):
        return pa.array(value)
    return None


def as_float_array(value: Any, name: str) -> np.ndarray:
    """A 1-d (or 0-d for scalars) ``float64`` array; Arrow nulls become NaN."""
    arrow = to_arrow(value)
    if arrow is not None:
        if not (pa.types.is_integer(arrow.type) or pa.types.is_floating(arrow.type) or pa.types.is_decimal(arrow.type)):
            raise SchemaError(f"{name}: expected a numeric column, got {arrow.type}")
        arrow = pc.cast(arrow, pa.float64())
        if isinstance(arrow, pa.ChunkedArray):
            arrow = arrow.combine_chunks() if arrow.num_chunks != 1 else arrow.chunk(0)
        return np.asarray(arrow.fill_null(np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)
    try:
        out = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"{name}: expected a number or an array of numbers, got {type(value).__name__}") from None
    if out.ndim > 1:
        raise InvalidArgumentError(f"{name}: expected a scalar or a 1-d array, got shape {out.shape}")
    return out


def as_call_flags(right: Any, name: str = "right") -> np.ndarray:
    """Option rights as ``uint8`` (1 = call, 0 = put).

    Accepts ``"call"``/``"put"``/``"C"``/``"P"`` (any case) as a scalar or an array of strings,
    or booleans (``True`` = call).
    """
    if isinstance(right, str):
        low = right.strip().lower()
        if low in _CALLS:
            return np.ones((), np.uint8)
        if low in _PUTS:
            return np.zeros((), np.uint8)
        raise InvalidArgumentError(f"invalid {name} {right!r} (expected 'call', 'put', 'C' or 'P')")
    if isinstance(right, (bool, np.bool_)):
        return np.asarray(right, np.uint8)
    arrow = to_arrow(right)
    if arrow is None:
        arr = np.asarray(right)
        if arr.dtype == np.bool_:
            return arr.astype(np.uint8)
        if arr.dtype.kind in "UO" or isinstance(right, Sequence):
            arrow = pa.array(arr.tolist() if arr.dtype.kind == "O" else arr)
        else:
            raise InvalidArgumentError(f"{name}: expected strings ('call'/'put') or booleans, got dtype {arr.dtype}")
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks() if arrow.num_chunks != 1 else arrow.chunk(0)
    if pa.types.is_dictionary(arrow.type):
        arrow = arrow.dictionary_decode()
    if is_string_like(arrow.type):
        arrow = pc.cast(arrow, pa.string())
    if pa.types.is_boolean(arrow.type):
        if arrow.null_count:
            raise InvalidArgumentError(f"{name}: {arrow.null_count} null value(s)")
        return np.asarray(arrow.to_numpy(zero_copy_only=False), dtype=np.uint8)
    if not pa.types.is_string(arrow.type):
        raise SchemaError(f"{name}: expected strings ('call'/'put') or booleans, got {arrow.type}")
    low = pc.utf8_lower(pc.utf8_trim_whitespace(arrow))
    is_call = pc.is_in(low, value_set=pa.array(_CALLS))
    is_put = pc.is_in(low, value_set=pa.array(_PUTS))
    bad = pc.invert(pc.or_(is_call, is_put)).fill_null(True)
    n_bad = pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
    if n_bad:
        example = arrow.filter(bad).slice(0, 3).to_pylist()
        raise InvalidArgumentError(f"{name}: {n_bad} value(s) are not 'call'/'put'/'C'/'P', e.g. {example}")
    return np.asarray(is_call.to_numpy(zero_copy_only=False), dtype=np.uint8)


def is_string_like(dtype: pa.DataType) -> bool:
    """Whether ``dtype`` is an Arrow string type (utf8, large utf8 or utf8 view)."""
    view = getattr(pa.types, "is_string_view", None)
    return bool(pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or (view is not None and view(dtype)))


def frozen(a: np.ndarray) -> np.ndarray:
    """A read-only view of a C-contiguous array.

    Numba compiles one specialization per argument type, and a read-only array (what Arrow
    buffers give zero-copy) is a different type from a writable one: passing every kernel input
    read-only keeps one compiled (and cached) version instead of one per combination.
    """
    view = np.ascontiguousarray(a).view()
    view.flags.writeable = False
    return view


def broadcast(**arrays: np.ndarray) -> tuple[int, dict[str, np.ndarray]]:
    """Broadcasts 0-d and 1-d arrays to one length; returns (n, read-only contiguous arrays)."""
    n = 1
    for name, a in arrays.items():
        if a.ndim == 1 and a.shape[0] != 1:
            if n != 1 and a.shape[0] != n:
                lengths = {k: v.shape[0] for k, v in arrays.items() if v.ndim == 1}
                raise InvalidArgumentError(f"length mismatch: {lengths} (scalars broadcast)")
            n = a.shape[0]
    out = {}
    for name, a in arrays.items():
        if a.ndim == 1 and a.shape[0] == n:
            out[name] = frozen(a)
        else:
            out[name] = frozen(np.full(n, a.reshape(-1)[0] if a.size else np.nan, dtype=a.dtype))
    return n, out
