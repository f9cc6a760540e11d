"""Request parameters of the fake Theta Terminal: the plain-text rejection (vendor status code
and message) and the date/time parsers shared by its stock and option routes."""

from __future__ import annotations

import datetime as dt

__all__ = ["Reject", "parse_date", "parse_time_ms"]


class Reject(Exception):
    """A request answered with a vendor status code and a plain-text message."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status = status
        self.text = text


def parse_date(text: str) -> dt.date:
    """``YYYYMMDD`` or ``YYYY-MM-DD`` (473 otherwise)."""
    t = text.replace("-", "")
    if len(t) != 8 or not t.isdigit():
        raise Reject(473, f"Invalid date '{text}'. Expected YYYYMMDD or YYYY-MM-DD.")
    try:
        return dt.date(int(t[:4]), int(t[4:6]), int(t[6:]))
    except ValueError:
        raise Reject(473, f"Invalid date '{text}'.") from None


def parse_time_ms(text: str) -> int:
    """``HH:MM:SS[.SSS]`` as milliseconds of the day (473 otherwise)."""
    try:
        h, m, s = text.split(":")
        return (int(h) * 3600 + int(m) * 60) * 1000 + round(float(s) * 1000)
    except ValueError:
        raise Reject(473, f"Invalid time '{text}'. Expected HH:MM:SS[.SSS].") from None
