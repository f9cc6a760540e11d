"""New York wall clock at the REST edge: vendor timestamps (ThetaData prints
``2024-01-02T09:30:00.011`` in America/New_York, with ``.SSS`` dropped on whole seconds) are
converted to UTC ns once, vectorized, and instants are turned into the vendor's date and
time-of-day parameters.

The conversion is the stream decoder's own (``rust/core/src/decode/nytime.rs``, through
``StreamDecoder.ny_wall_to_utc``): one rule for REST and stream. Ambiguous local times (the
repeated hour when DST ends) take the earlier instant; nonexistent ones (the spring-forward gap)
take the offset in force before the gap (PEP 495 ``fold=0``: 2024-03-10 02:30 is 07:30Z), as
``zoneinfo`` and ``quant_engine.times`` do."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine import _core
from quant_engine.schema import TIMESTAMP

__all__ = ["NY", "ny_wall_to_utc", "ny_windows", "ny_date_of", "utc_ns_of_ny"]

NY = ZoneInfo("America/New_York")
_NS = 1_000_000_000


def ny_wall_to_utc(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Naive New York timestamps (or ISO strings without offset) to ``timestamp[ns, UTC]``
    (nulls stay null)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.timestamp("ms"))
    local = pc.cast(pc.cast(values, pa.timestamp("ns")), pa.int64())
    filled = np.ascontiguousarray(pc.fill_null(local, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    utc = _core.StreamDecoder.ny_wall_to_utc(filled)
    return pa.array(utc, TIMESTAMP, mask=pc.is_null(local).to_numpy(zero_copy_only=False) if local.null_count else None)


def _ny(ts_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ns // _NS, NY).replace(microsecond=(ts_ns % _NS) // 1000)


def ny_date_of(ts_ns: int) -> dt.date:
    """The New York calendar date of a UTC instant."""
    return _ny(ts_ns).date()


def utc_ns_of_ny(day: dt.date, hh: int = 0, mm: int = 0, ss: int = 0) -> int:
    """UTC ns of a New York wall-clock time on ``day``."""
    local = dt.datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=NY)
    return int(local.timestamp()) * _NS


def _hms(t: dt.datetime) -> str:
    return f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}.{t.microsecond // 1000:03d}"


def ny_windows(start_ns: int, end_ns: int) -> list[tuple[str, str, str]]:
    """Splits ``[start, end)`` into per-day ``(YYYYMMDD, start_time, end_time)`` New York
    windows with inclusive millisecond times (the ThetaData convention)."""
    out: list[tuple[str, str, str]] = []
    if end_ns <= start_ns:
        return out
    last = end_ns - 1_000_000  # inclusive end at ms resolution
    day = ny_date_of(start_ns)
    while True:
        day_start = utc_ns_of_ny(day)
        day_end = utc_ns_of_ny(day + dt.timedelta(days=1))
        lo = max(start_ns, day_start)
        hi = min(last, day_end - 1_000_000)
        if lo <= hi:
            out.append((day.strftime("%Y%m%d"), _hms(_ny(lo)), _hms(_ny(hi))))
        if day_end > last:
            break
        day += dt.timedelta(days=1)
    return out
