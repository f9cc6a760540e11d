"""Per-period returns stored compactly: blobs of raw little-endian float64, many trials each.

A sweep's T x N float64 returns matrix is split into blobs of at most :data:`BLOB_BYTES` (a column
range ``[c0, c1)`` each, n = c1 - c0 trials; one blob for sweeps up to 256 MiB of returns). A blob
is the T x n block in row-major (C) order: ``T * n * 8`` bytes, period t's n returns at offset
``t * n * 8``. Its shape (``n_periods``, ``n_columns``) and a CRC-32 are stored beside it and
checked on every read. Encoding a C-contiguous matrix with one blob copies nothing; decoding is
``numpy.frombuffer`` (zero-copy), so no Python work happens per trial either way. Any reader
(DuckDB, polars, another language) can decode it from the documented layout.
"""

from __future__ import annotations

import sys
import zlib

import numpy as np
import pyarrow as pa

from quant_engine.store.errors import CorruptBlobError, StoreInputError

__all__ = ["CODEC", "BLOB_BYTES", "as_returns_matrix", "encode_block", "decode_block", "column_ranges"]

CODEC = "f64le-rowmajor-v1"
"""The blob format name stored in ``return_blobs.codec``."""

BLOB_BYTES = 256 * 1024 * 1024
"""Largest payload of one blob (a sweep's matrix is split by columns to stay under it; SQLite and
PostgreSQL both accept values up to about 1 GB)."""

_LE = np.dtype("<f8")


def as_returns_matrix(returns: object, n_trials: int) -> np.ndarray:
    """A T x N float64 matrix from a NumPy array or an Arrow table / record batch (one column per
    trial); raises :class:`StoreInputError` for a wrong shape or a non-numeric column."""
    if isinstance(returns, (pa.Table, pa.RecordBatch)):
        if returns.num_columns != n_trials:
            raise StoreInputError(f"returns have {returns.num_columns} columns but there are {n_trials} trials")
        try:
            cols = [
                np.asarray(c.to_numpy(zero_copy_only=False) if isinstance(c, pa.Array) else c.to_numpy(), np.float64)
                for c in returns.columns
            ]
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise StoreInputError(f"returns columns must be numeric: {exc}") from None
        matrix = np.stack(cols, axis=1) if cols else np.zeros((returns.num_rows, 0))
    else:
        try:
            matrix = np.asarray(returns, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise StoreInputError(f"returns must be a T x N float matrix: {exc}") from None
    if matrix.ndim == 1 and n_trials == 1:
        matrix = matrix.reshape(-1, 1)
    if matrix.ndim != 2 or matrix.shape[1] != n_trials:
        raise StoreInputError(f"returns must be T x N with N = {n_trials} trials, got shape {matrix.shape}")
    if matrix.shape[0] == 0:
        raise StoreInputError("returns have no periods")
    return matrix


def column_ranges(n_periods: int, n_trials: int, blob_bytes: int | None = None) -> list[tuple[int, int]]:
    """The ``[c0, c1)`` column ranges of the blobs of a T x N matrix (default size :data:`BLOB_BYTES`)."""
    per_blob = max(1, (blob_bytes or BLOB_BYTES) // (8 * n_periods))
    return [(c0, min(n_trials, c0 + per_blob)) for c0 in range(0, n_trials, per_blob)]


def encode_block(matrix: np.ndarray, c0: int, c1: int) -> tuple[memoryview, int]:
    """The payload of columns ``[c0, c1)`` of a T x N matrix (a view of ``matrix`` when that is
    already row-major little-endian and the block spans all columns) and its CRC-32."""
    block = np.ascontiguousarray(matrix[:, c0:c1], dtype=_LE)
    payload = memoryview(block).cast("B")  # type: ignore[arg-type]  # ndarray implements the buffer protocol
    return payload, zlib.crc32(payload)


def decode_block(payload: bytes | memoryview, crc32: int, n_periods: int, n_columns: int) -> np.ndarray:
    """The T x n matrix (read-only, zero-copy) stored in a blob; raises :class:`CorruptBlobError`
    when the length or the checksum is wrong."""
    if len(payload) != 8 * n_periods * n_columns:
        raise CorruptBlobError(f"returns blob has {len(payload)} bytes, expected {n_periods} x {n_columns} float64")
    if zlib.crc32(payload) != crc32:
        raise CorruptBlobError("returns blob fails its CRC-32 check")
    values = np.frombuffer(payload, dtype=_LE)
    if sys.byteorder != "little":  # pragma: no cover - big-endian hosts
        values = values.astype(np.float64)
    return values.reshape(n_periods, n_columns)
