"""A memory bound: estimate what a request needs before allocating it, and refuse it above a cap.

Requests whose size is known up front (a synthetic market of ``ticks_per_day x days x symbols``,
a catalog read whose row count the Parquet footers give) call :func:`check_memory` with an
estimate first; above the cap they raise :class:`~quant_engine.errors.ResourceLimitError`
(one line: the estimate, the cap, how to raise it) instead of growing until the kernel kills
the process.

The cap is ``QE_MEMORY_CAP``: a size (``8GiB``, ``512MB``, ``2e9`` bytes), a share of the
machine's memory (a bare number up to 1: ``0.5``), or ``off``. By default it is :data:`DEFAULT_FRACTION` of the
machine's memory: ``MemTotal`` from ``/proc/meminfo``, or the cgroup's memory limit when it is
lower (a container).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from quant_engine.errors import InvalidArgumentError, ResourceLimitError

__all__ = ["DEFAULT_FRACTION", "machine_memory", "memory_cap", "check_memory", "format_bytes"]

DEFAULT_FRACTION = 0.5
"""The default cap, as a share of the machine's memory."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "kib": 2**10,
    "m": 10**6,
    "mb": 10**6,
    "mib": 2**20,
    "g": 10**9,
    "gb": 10**9,
    "gib": 2**30,
    "t": 10**12,
    "tb": 10**12,
    "tib": 2**40,
}
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")
_CGROUP_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


def format_bytes(n: float) -> str:
    """``n`` bytes in binary units (``1.5 GiB``)."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _meminfo_total(path: str = "/proc/meminfo") -> int | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_limit() -> int | None:
    for name in _CGROUP_FILES:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            return int(text)
    return None


def machine_memory() -> int:
    """The memory this process may use: ``MemTotal``, or the cgroup limit when lower (bytes;
    8 GiB when neither can be read)."""
    known = [v for v in (_meminfo_total(), _cgroup_limit()) if v]
    return min(known) if known else 8 * 2**30


def memory_cap(value: str | None = None) -> int | None:
    """The cap in bytes from ``value`` (default: ``QE_MEMORY_CAP``), None when ``off``.

    Raises:
        InvalidArgumentError: the setting is neither a size, a fraction in (0, 1] nor ``off``.
    """
    raw = os.environ.get("QE_MEMORY_CAP", "") if value is None else value
    text = raw.strip().lower()
    if not text:
        return int(machine_memory() * DEFAULT_FRACTION)
    if text in ("off", "none", "unlimited"):
        return None
    m = _SIZE.match(text)
    if m is None or m.group(2) not in _UNITS:
        raise InvalidArgumentError(
            f"invalid QE_MEMORY_CAP: {raw!r} (expected a size such as 8GiB or 512MB, a fraction such as 0.5, or off)"
        )
    number = float(m.group(1))
    if number <= 0:
        raise InvalidArgumentError(f"invalid QE_MEMORY_CAP: {raw!r} (must be positive, or off)")
    if not m.group(2) and number <= 1.0:  # a bare number up to 1: a share of the machine
        return int(machine_memory() * number)
    return int(number * _UNITS[m.group(2)])


def check_memory(estimate: float, what: str) -> None:
    """Refuses ``what`` when its ``estimate`` (bytes) exceeds the cap.

    Raises:
        ResourceLimitError: with the estimate, the cap and how to raise it.
    """
    cap = memory_cap()
    if cap is not None and estimate > cap:
        raise ResourceLimitError(
            f"{what} needs about {format_bytes(estimate)} of memory, above the cap of {format_bytes(cap)}: "
            f"make the request smaller, or raise the cap with QE_MEMORY_CAP (e.g. QE_MEMORY_CAP=64GiB, "
            f"QE_MEMORY_CAP=0.9 of this machine's {format_bytes(machine_memory())}, or off)"
        )
