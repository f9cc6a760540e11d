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
        raise InvalidArgumentError(
            f"{name}: expected a number or an array of numbers, got {type(value).__name__}"
        ) from None
    if out.ndim > 1:
        raise InvalidArgumentError(f"{name}: expected a scalar or a 1-d array, got shape {out.shape}")
    return out


def as_call_flags(right: Any, name: str = "right") -> np.ndarray:
    """Option rights as ``uint8`` (1 = call, 0 = put), vectorized whatever the form.

    Accepts ``"call"``/``"put"``/``"C"``/``"P"`` (any case, surrounding blanks ignored) as a
    scalar, a NumPy string/bytes/object array (what a DataFrame column gives), a sequence, or an
    Arrow string or dictionary array (only the dictionary is normalized); or booleans
    (``True`` = call). No Python loop runs per row.
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
        if arr.dtype.kind in "US":
            return _numpy_flags(arr.reshape(-1) if arr.ndim else arr, name)
        if arr.dtype.kind == "O" or isinstance(right, Sequence):
            try:
                arrow = (
                    pa.array(arr.reshape(-1), type=pa.string(), from_pandas=True)
                    if arr.ndim
                    else pa.array([arr.item()], pa.string())
                )
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                raise InvalidArgumentError(f"{name}: expected strings ('call'/'put') or booleans") from None
            flags = _arrow_flags(arrow, name)
            return flags if arr.ndim else flags.reshape(())
        raise InvalidArgumentError(f"{name}: expected strings ('call'/'put') or booleans, got dtype {arr.dtype}")
    if isinstance(arrow, pa.ChunkedArray):
        arrow = arrow.combine_chunks() if arrow.num_chunks != 1 else arrow.chunk(0)
    return _arrow_flags(arrow, name)


def _numpy_flags(arr: np.ndarray, name: str) -> np.ndarray:
    """Call flags of a NumPy ``U``/``S`` array, on its code points (an ``n x width`` integer
    view): ASCII letters lowered with arithmetic, each row compared with the accepted words;
    blank-padded values go through NumPy's ``strip`` first."""
    arr = np.ascontiguousarray(arr)
    unit = np.uint32 if arr.dtype.kind == "U" else np.uint8
    width = arr.dtype.itemsize // np.dtype(unit).itemsize
    if arr.size == 0 or width == 0:
        return np.zeros(arr.shape, np.uint8)
    code: Any = arr.view(unit).reshape(arr.size, width)
    if ((code == 32) | ((code >= 9) & (code <= 13))).any():
        return _numpy_flags(np.strings.strip(arr), name)
    low = code | (((code >= 65) & (code <= 90)).view(np.uint8) * np.uint8(32)).astype(unit)

    longest = max(len(w) for w in (*_CALLS, *_PUTS))
    too_long = (low[:, longest:] != 0).any(axis=1) if width > longest else np.zeros(arr.size, bool)

    def matches(words: tuple[str, ...]) -> np.ndarray:
        hit = np.zeros(arr.size, bool)
        for w in words:
            if len(w) <= width:  # column by column: a strided pass per character, no row reduction
                eq = ~too_long
                for j in range(min(width, longest)):
                    eq &= low[:, j] == (ord(w[j]) if j < len(w) else 0)
                hit |= eq
        return hit

    is_call, is_put = matches(_CALLS), matches(_PUTS)
    bad = ~(is_call | is_put)
    if bad.any():
        example = [v.decode(errors="replace") if isinstance(v, bytes) else v for v in arr.reshape(-1)[bad][:3].tolist()]
        raise InvalidArgumentError(f"{name}: {int(bad.sum())} value(s) are not 'call'/'put'/'C'/'P', e.g. {example}")
    return is_call.astype(np.uint8).reshape(arr.shape)


def _arrow_flags(arrow: pa.Array, name: str) -> np.ndarray:
    """Call flags of an Arrow boolean, string or dictionary array (a dictionary's values are
    normalized once, then gathered by index)."""
    if pa.types.is_dictionary(arrow.type):
        if arrow.null_count:
            raise InvalidArgumentError(f"{name}: {arrow.null_count} null value(s)")
        values = _arrow_flags(arrow.dictionary, name) if len(arrow.dictionary) else np.zeros(0, np.uint8)
        indices = np.asarray(arrow.indices.to_numpy(zero_copy_only=False))
        return values[indices]
    if is_string_like(arrow.type):
        arrow = pc.cast(arrow, pa.string())
    if pa.types.is_boolean(arrow.type):
        if arrow.null_count:
            raise InvalidArgumentError(f"{name}: {arrow.null_count} null value(s)")
        return np.asarray(arrow.to_numpy(zero_copy_only=False), dtype=np.uint8)
    if not pa.types.is_string(arrow.type):
        raise SchemaError(f"{name}: expected strings ('call'/'put') or booleans, got {arrow.type}")
    if len(arrow) > 64:
        one_char = _one_byte_strings(arrow)
        if one_char is not None:  # "C"/"P": the value bytes themselves, compared as code points
            return _numpy_flags(one_char, name)
        return _arrow_flags(pc.dictionary_encode(arrow), name)
    low = pc.utf8_lower(pc.utf8_trim_whitespace(arrow))
    is_call = pc.is_in(low, value_set=pa.array(_CALLS))
    is_put = pc.is_in(low, value_set=pa.array(_PUTS))
    bad = pc.invert(pc.or_(is_call, is_put)).fill_null(True)
    n_bad = pc.sum(pc.cast(bad, pa.int64())).as_py() or 0
    if n_bad:
        example = arrow.filter(bad).slice(0, 3).to_pylist()
        raise InvalidArgumentError(f"{name}: {n_bad} value(s) are not 'call'/'put'/'C'/'P', e.g. {example}")
    return np.asarray(is_call.to_numpy(zero_copy_only=False), dtype=np.uint8)


def _one_byte_strings(arrow: pa.Array) -> np.ndarray | None:
    """The values of a null-free Arrow ``string`` array whose values are all one byte long, as a
    NumPy ``S1`` array read from its buffers (no copy per value); None otherwise."""
    if arrow.null_count or not pa.types.is_string(arrow.type):
        return None
    buffers = arrow.buffers()
    offsets = np.frombuffer(buffers[1], np.int32)[arrow.offset : arrow.offset + len(arrow) + 1]
    if offsets[-1] - offsets[0] != len(arrow) or not (np.diff(offsets) == 1).all():
        return None
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return data[offsets[0] : offsets[-1]].view("S1")


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
    for a in arrays.values():
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
