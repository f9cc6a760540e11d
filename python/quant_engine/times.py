"""Time conversions at the edge: instants and durations to integer nanoseconds.

Inside quant-engine every instant is UTC nanoseconds since the epoch (``int``), and every
duration is integer nanoseconds. These helpers accept the forms users naturally pass (strings,
``datetime``, ``timedelta``, pandas/NumPy scalars) and convert them once.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

import numpy as np

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError

__all__ = ["duration_ns", "instant_ns", "NS_PER_SECOND"]

NS_PER_SECOND = 1_000_000_000
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


def duration_ns(value: Any, name: str = "duration") -> int:
    """Converts ``"1m"``, ``"500ms"``, ``timedelta``, ``np.timedelta64`` or ``int`` (ns) to ns."""
    if isinstance(value, bool):
        raise InvalidArgumentError(f"invalid {name}: {value!r} is not a duration")
    if isinstance(value, np.timedelta64):  # before np.integer: timedelta64 subclasses it
        return int(value.astype("timedelta64[ns]").astype(np.int64))
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        try:
            return int(_core.parse_duration_ns(value))
        except InvalidArgumentError as exc:
            raise InvalidArgumentError(str(exc).replace("duration", name, 1)) from None
    if isinstance(value, _dt.timedelta):
        return (value.days * 86_400 + value.seconds) * NS_PER_SECOND + value.microseconds * 1_000
    to_ns = getattr(value, "value", None)  # pandas.Timedelta
    if isinstance(to_ns, (int, np.integer)):
        return int(to_ns)
    raise InvalidArgumentError(f"invalid {name}: {value!r} is not a duration")


def instant_ns(value: Any, name: str = "timestamp") -> int:
    """Converts an instant to UTC ns.

    Accepts ``int`` (ns), timezone-aware ``datetime`` (naive ones are taken as UTC),
    ``np.datetime64``, ``pandas.Timestamp`` and ISO-8601 strings.
    """
    if isinstance(value, bool):
        raise InvalidArgumentError(f"invalid {name}: {value!r} is not a timestamp")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, np.datetime64):
        return int(value.astype("datetime64[ns]").astype(np.int64))
    to_ns = getattr(value, "value", None)  # pandas.Timestamp
    if isinstance(to_ns, (int, np.integer)) and isinstance(value, _dt.datetime):
        return int(to_ns)
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidArgumentError(f"invalid {name}: {value!r} is not an ISO-8601 timestamp") from None
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=_dt.UTC)
        delta = value - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * NS_PER_SECOND + delta.microseconds * 1_000
    raise InvalidArgumentError(f"invalid {name}: {value!r} is not a timestamp")
