"""Seeded synthetic **daily** bars, with an optional planted signal of known strength.

The tick-level :class:`~quant_engine.feeds.synthetic.SyntheticMarket` is too heavy for years of
daily bars over many markets; the factory calibration (``quant-engine calibrate``) needs hundreds
of two-year daily markets, some with no edge and some with an edge of known size. This module
makes them. For a given seed and parameters the output is identical on every machine (NumPy's
PCG64, one stream per ``(seed, symbol)``).

**Model** (per symbol, weekdays from ``start``): daily log-returns ``r[t] = mu * s[t-1] + sigma * e[t]``
with ``e ~ N(0, 1)`` i.i.d. and ``sigma = annual_vol / sqrt(252)``. Bars have no overnight gap
(``open[t] = close[t-1]``), so an order filled at the next open earns exactly the following
close-to-close return. ``high``/``low`` extend ``max``/``min(open, close)`` by half-normal
excursions of ``sigma / 2``; volume is log-normal around ``1e6`` shares.

**Planted signal** (``planted_sharpe = S`` > 0; ``S = 0`` is the null market): ``s[t]`` is the
sign of ``SMA(close, fast)[t] - SMA(close, slow)[t]`` (0 until ``slow`` closes exist) and
``mu = S * sigma / sqrt(252)``. So the return stream available to the **long/short SMA-cross
family member with windows (fast, slow)**, holding ``s[t]`` from close t to close t+1, is
``s[t] * r[t+1] = mu + sigma * s[t] * e[t+1]``: mean ``mu``, standard deviation ``sigma``, an
annualized Sharpe of exactly ``S`` in log-returns before costs. Other members of the family earn
the part of it their sign agrees with; nothing else in the data is predictable. A strategy that
fills at the next open and reverses in two steps (the backtester's rule) loses a day of exposure
at each reversal and pays costs, so its measured Sharpe is somewhat below ``S``.
:func:`planted_description` says this as data.
"""

from __future__ import annotations

import datetime as dt
import math
import zlib
from collections.abc import Sequence
from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa

from quant_engine.errors import InvalidArgumentError
from quant_engine.schema import TIMESTAMP

__all__ = ["synthetic_daily_bars", "planted_description", "TRADING_DAYS"]

TRADING_DAYS = 252
_DAY_NS = 86_400_000_000_000
_CLOSE_UTC_NS = 21 * 3_600_000_000_000  # bars start at 21:00 UTC (a daily bar's time is its session's)


@nb.njit(cache=True, nogil=True)
def _planted_path(noise: np.ndarray, mu: float, fast: int, slow: int, p0: float) -> np.ndarray:  # pragma: no cover
    """Log-price path ``p[t] = p[t-1] + mu * s[t-1] + noise[t]`` with ``s`` the sign of the SMA
    cross of ``exp(p)`` (0 until ``slow`` closes exist); ``p[0] = p0 + noise[0]``."""
    n = noise.size
    p = np.empty(n)
    close = np.empty(n)
    sum_f = 0.0
    sum_s = 0.0
    prev = p0
    s = 0.0
    for t in range(n):
        p[t] = prev + mu * s + noise[t]
        prev = p[t]
        close[t] = math.exp(p[t])
        sum_f += close[t]
        sum_s += close[t]
        if t >= fast:
            sum_f -= close[t - fast]
        if t >= slow:
            sum_s -= close[t - slow]
        if t >= slow - 1:
            d = sum_f / fast - sum_s / slow
            s = 1.0 if d > 0.0 else (-1.0 if d < 0.0 else 0.0)
        else:
            s = 0.0
    return p


def _weekdays(start: str, n: int) -> np.ndarray:
    day = dt.date.fromisoformat(start)
    out: list[int] = []
    while len(out) < n:
        if day.weekday() < 5:
            out.append(int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 10**9)
        day += dt.timedelta(days=1)
    return np.asarray(out, dtype=np.int64) + _CLOSE_UTC_NS


def planted_description(planted_sharpe: float, fast: int, slow: int, annual_vol: float) -> dict[str, Any]:
    """What :func:`synthetic_daily_bars` plants, as data."""
    sigma = annual_vol / math.sqrt(TRADING_DAYS)
    return {
        "model": "r[t] = mu * sign(SMA(close, fast) - SMA(close, slow))[t-1] + sigma * e[t], e ~ N(0, 1)",
        "annualized_sharpe": planted_sharpe,
        "family": "long/short SMA cross",
        "fast": fast,
        "slow": slow,
        "sigma_per_day": sigma,
        "mu_per_day": planted_sharpe * sigma / math.sqrt(TRADING_DAYS),
        "null": planted_sharpe == 0.0,
    }


def synthetic_daily_bars(
    symbols: Sequence[str] = ("SYN",),
    *,
    years: float = 2.0,
    seed: int = 0,
    start: str = "2020-01-06",
    annual_vol: float = 0.2,
    planted_sharpe: float = 0.0,
    fast: int = 2,
    slow: int = 10,
) -> pa.Table:
    """Daily bars (``symbol, start, open, high, low, close, volume, vwap, trades``) of
    ``round(years * 252)`` weekdays per symbol; see the module documentation for the model and
    the planted signal (``planted_sharpe`` annualized, on every symbol; 0: no edge). Raises
    :class:`InvalidArgumentError` for bad arguments."""
    if not symbols or len(set(symbols)) != len(symbols):
        raise InvalidArgumentError("invalid symbols: give at least one, without duplicates")
    n = int(round(years * TRADING_DAYS))
    if not (math.isfinite(years) and n >= 2):
        raise InvalidArgumentError(f"invalid years: {years!r} (at least two bars)")
    if not (math.isfinite(annual_vol) and 0.0 < annual_vol < 5.0):
        raise InvalidArgumentError(f"invalid annual_vol: {annual_vol!r} (0 < vol < 5)")
    if not (math.isfinite(planted_sharpe) and 0.0 <= planted_sharpe <= 20.0):
        raise InvalidArgumentError(f"invalid planted_sharpe: {planted_sharpe!r} (0 <= S <= 20)")
    if not 1 <= fast < slow:
        raise InvalidArgumentError(f"invalid windows: need 1 <= fast < slow, got {fast}, {slow}")
    sigma = annual_vol / math.sqrt(TRADING_DAYS)
    mu = planted_sharpe * sigma / math.sqrt(TRADING_DAYS)
    times = _weekdays(start, n)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    for sym in symbols:
        rng = np.random.default_rng([int(seed), zlib.crc32(sym.encode())])
        p0 = math.log(rng.uniform(20.0, 400.0))
        noise = rng.standard_normal(n) * sigma
        logp = _planted_path(noise, mu, fast, slow, p0)
        close = np.exp(logp)
        opens = np.concatenate([[math.exp(p0)], close[:-1]])
        up = np.abs(rng.standard_normal(n)) * sigma / 2
        down = np.abs(rng.standard_normal(n)) * sigma / 2
        cols["open"].append(opens)
        cols["close"].append(close)
        cols["high"].append(np.maximum(opens, close) * np.exp(up))
        cols["low"].append(np.minimum(opens, close) * np.exp(-down))
        cols["volume"].append(np.round(1e6 * np.exp(rng.normal(0.0, 0.3, n))))
    o, c = np.concatenate(cols["open"]), np.concatenate(cols["close"])
    h, lo = np.concatenate(cols["high"]), np.concatenate(cols["low"])
    return pa.table(
        {
            "symbol": pa.array(np.repeat(np.asarray(list(symbols), dtype=object), n), pa.string()),
            "start": pa.array(np.tile(times, len(symbols)), TIMESTAMP),
            "open": o,
            "high": h,
            "low": lo,
            "close": c,
            "volume": np.concatenate(cols["volume"]),
            "vwap": (h + lo + c) / 3.0,
            "trades": np.full(o.size, 1000, np.int64),
        }
    )
