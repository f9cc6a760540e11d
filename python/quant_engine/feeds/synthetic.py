"""A seeded synthetic market: realistic intraday trade ticks for offline runs and tests.

The embedded default data source: everything in quant-engine runs without a vendor subscription.
For a given seed and parameters the output is identical on every machine (NumPy's PCG64).

Model, per symbol and session day:

* tick arrivals follow the intraday "volume smile": intensity proportional to
  ``1 + 3 (2u - 1)^2`` over the session fraction ``u`` (busy open and close, quiet midday);
* log-returns per tick have stochastic volatility (an Ornstein-Uhlenbeck log-vol factor) scaled
  so that the daily volatility matches ``annual_vol / sqrt(252)``, plus rare jumps;
* prices are rounded to the symbol's tick size; sizes mix odd lots and round lots.

Sessions are weekdays (exchange holidays are not modelled) from ``session`` open to close in
``tz``.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from quant_engine.errors import InvalidArgumentError
from quant_engine.schema import TIMESTAMP

__all__ = ["SyntheticMarket", "DEFAULT_SYMBOLS"]

DEFAULT_SYMBOLS: tuple[str, ...] = (
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "XOM", "SPY",
)


def _symbol_seed(seed: int, symbol: str, day: int) -> np.random.Generator:
    """An independent, reproducible stream per (seed, symbol, day); day -1 is the set-up stream."""
    return np.random.default_rng([seed, zlib.crc32(symbol.encode()), day + 1])


def _smile_quantiles(u: np.ndarray) -> np.ndarray:
    """Inverse CDF of the intraday intensity ``1 + 3(2x-1)^2`` on [0, 1]."""
    grid = np.linspace(0.0, 1.0, 2049)
    cdf = (grid + ((2 * grid - 1) ** 3 + 1) / 2) / 2
    return np.interp(u, cdf, grid)


@dataclass
class SyntheticMarket:
    """Deterministic synthetic trade ticks for ``symbols`` over ``days`` weekday sessions.

    Attributes:
        seed: the random seed (same seed and parameters, same ticks).
        symbols: the symbols to simulate.
        start: the first calendar date (``YYYY-MM-DD``); weekends are skipped.
        days: number of sessions.
        ticks_per_day: average ticks per symbol per session.
        annual_vol: average annualized volatility.
        session: local open and close times.
        tz: the exchange time zone.
        tick_size: price grid.
    """

    seed: int = 7
    symbols: Sequence[str] = field(default_factory=lambda: list(DEFAULT_SYMBOLS))
    start: str = "2024-01-02"
    days: int = 1
    ticks_per_day: int = 100_000
    annual_vol: float = 0.25
    session: tuple[str, str] = ("09:30", "16:00")
    tz: str = "America/New_York"
    tick_size: float = 0.01

    def __post_init__(self) -> None:
        if not self.symbols:
            raise InvalidArgumentError("invalid symbols: at least one symbol is needed")
        if len(set(self.symbols)) != len(self.symbols):
            raise InvalidArgumentError("invalid symbols: duplicates")
        if self.days < 1 or self.ticks_per_day < 1:
            raise InvalidArgumentError("invalid days/ticks_per_day: both must be >= 1")
        if not (0.0 < self.annual_vol < 5.0):
            raise InvalidArgumentError(f"invalid annual_vol: {self.annual_vol} (expected 0 < vol < 5)")
        self.symbols = list(self.symbols)

    def session_days(self) -> list[dt.date]:
        """The session dates (weekdays from ``start``)."""
        day = dt.date.fromisoformat(self.start)
        out: list[dt.date] = []
        while len(out) < self.days:
            if day.weekday() < 5:
                out.append(day)
            day += dt.timedelta(days=1)
        return out

    def _session_bounds_ns(self, day: dt.date) -> tuple[int, int]:
        zone = ZoneInfo(self.tz)
        bounds = []
        for hhmm in self.session:
            h, m = (int(x) for x in hhmm.split(":"))
            local = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=zone)
            bounds.append(int(local.timestamp()) * 1_000_000_000)
        return bounds[0], bounds[1]

    def start_price(self, symbol: str) -> float:
        """The reproducible opening price of ``symbol`` on the first day."""
        rng = _symbol_seed(self.seed, symbol, -1)
        return float(np.round(rng.uniform(20.0, 400.0), 2))

    def _symbol_day(
        self, symbol: str, day_index: int, open_ns: int, close_ns: int, s0: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = _symbol_seed(self.seed, symbol, day_index)
        activity = np.exp(rng.normal(0.0, 0.3))
        n = max(1, int(rng.poisson(self.ticks_per_day * activity)))
        u = np.sort(_smile_quantiles(rng.random(n)))
        ts = open_ns + (u * (close_ns - open_ns)).astype(np.int64)
        # Stochastic volatility: OU log-vol on the tick clock.
        daily_vol = self.annual_vol / np.sqrt(252.0) * np.exp(rng.normal(0.0, 0.2))
        # h_t = decay * h_{t-1} + shock_t, evaluated in closed form per block (vectorized);
        # kappa * block <= 5 keeps decay**block far from underflow.
        kappa = min(5.0 / n, 0.5)
        decay = 1.0 - kappa
        shocks = rng.normal(0.0, 0.35 * np.sqrt(2 * kappa), n)
        h = np.empty(n)
        level = 0.0
        block = 4096
        for b in range(0, n, block):
            s = shocks[b : b + block]
            powers = decay ** np.arange(1, len(s) + 1)
            h[b : b + block] = powers * (level + np.cumsum(s / powers))
            level = h[b + len(s) - 1]
        sigma = daily_vol / np.sqrt(n) * np.exp(h - 0.5 * 0.35**2)
        r = rng.standard_normal(n) * sigma
        jumps = rng.random(n) < 2.0 / n
        r[jumps] += rng.normal(0.0, 3.0 * daily_vol / 4.0, int(jumps.sum()))
        price = s0 * np.exp(np.cumsum(r))
        price = np.maximum(np.round(price / self.tick_size) * self.tick_size, self.tick_size)
        odd = rng.random(n) < 0.6
        size = np.where(odd, rng.geometric(0.05, n), 100 * rng.geometric(0.5, n)).astype(np.float64)
        return ts, np.round(price, 10), size

    def ticks(self) -> pa.Table:
        """All ticks, sorted by time (ties keep symbol order), as an Arrow table with
        ``ts`` (timestamp[ns, UTC]), ``symbol`` (dictionary), ``price``, ``size``."""
        return pa.Table.from_batches(list(self.day_batches()))

    def day_batches(self) -> Iterator[pa.RecordBatch]:
        """One record batch per session day (all symbols, time-sorted)."""
        last = {s: self.start_price(s) for s in self.symbols}
        dictionary = pa.array(self.symbols, pa.string())
        for d_index, day in enumerate(self.session_days()):
            open_ns, close_ns = self._session_bounds_ns(day)
            parts = []
            for code, sym in enumerate(self.symbols):
                ts, price, size = self._symbol_day(sym, d_index, open_ns, close_ns, last[sym])
                last[sym] = float(price[-1])
                parts.append((ts, np.full(len(ts), code, np.int32), price, size))
            ts = np.concatenate([p[0] for p in parts])
            order = np.argsort(ts, kind="stable")
            codes = np.concatenate([p[1] for p in parts])[order]
            yield pa.record_batch(
                {
                    "ts": pa.array(ts[order], TIMESTAMP),
                    "symbol": pa.DictionaryArray.from_arrays(pa.array(codes), dictionary),
                    "price": np.concatenate([p[2] for p in parts])[order],
                    "size": np.concatenate([p[3] for p in parts])[order],
                }
            )

    def tick_batches(self, batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        """The ticks as a live-like stream of record batches of ``batch_size`` ticks."""
        if batch_size < 1:
            raise InvalidArgumentError(f"invalid batch_size: {batch_size}")
        for day in self.day_batches():
            for off in range(0, day.num_rows, batch_size):
                yield day.slice(off, batch_size)
