"""A seeded synthetic market: realistic intraday trades, quotes and option chains for offline
runs, the local vendor servers and tests.

The embedded default data source: everything in quant-engine runs without a vendor subscription.
For a given seed and parameters the output is identical on every machine (NumPy's PCG64, one
independent stream per ``(seed, symbol, day)``).

Model, per symbol and session day (sessions are weekdays from ``session`` open to close in
``tz``; exchange holidays are not modelled):

* **Events** (quote updates; about half of them are also trades) arrive following the intraday
  *volume smile*: intensity proportional to ``1 + 3 (2u - 1)^2`` over the session fraction
  ``u`` (busy open and close, quiet midday). Each day has a random activity level.
* **Efficient price**: log-returns per event with **stochastic volatility** (an
  Ornstein-Uhlenbeck log-vol factor), scaled so the daily volatility is ``annual_vol/sqrt(252)``
  times a day factor; **regime switches**: a two-state Markov chain over the session's minutes
  (calm / volatile, the volatile regime multiplies volatility by ``volatile_mult`` and widens
  spreads); rare **jumps** (about two per day, three quarters of a day's volatility each).
* **Quotes**: bid/ask around the efficient price, on the ``tick_size`` grid, half-spread
  ``max(tick, price * spread_bps/1e4 * regime factor * (0.75 + |N(0, 0.5)|))``, sizes in round
  lots. **Trades** print at the ask (buyer-initiated) or at the bid with equal probability
  (bid-ask bounce), sizes mixing odd and round lots.
* **Sequences**: per symbol unique, increasing, not consecutive; exchange and condition codes.

**Planted signal** (``signal_symbols``, strength ``signal_strength`` = phi): the session's
1-minute log-returns of the *efficient* price follow an MA(1), ``r[k+1] = e[k+1] + phi*e[k]``,
where ``e[k]`` is minute k's innovation (its noise and jump returns); minutes are counted from
the session open. Lag-1 autocorrelation of those minute returns is ``phi / (1 + phi^2)``
(about 0.099 for phi = 0.1), so a 1-minute momentum rule has a small true edge on those symbols
and none elsewhere: the research loop can be tested for power as well as for false
discoveries. :meth:`SyntheticMarket.planted` describes it as data.

**Option chains** (:meth:`SyntheticMarket.option_chain`): European Black-Scholes-Merton prices
and Greeks (:mod:`quant_engine.options`) from the underlying's mid at the snapshot time, time
to expiry in ACT/365 years up to the expiration's 16:00 New York close, a volatility smile
``iv = v0 (1 - 0.8 m + 1.5 m^2)`` in log-moneyness ``m = ln(K/S)`` with ``v0`` the symbol's
annual vol times the day factor, and quotes around the model price on the option tick grid.
**Option histories** (:meth:`SyntheticMarket.option_quotes`, :meth:`~SyntheticMarket.option_trades`):
the same pricing at every quote update of the underlying, so a contract's quote in force at a
chain's snapshot instant is the chain's quote (:mod:`quant_engine.feeds.synthetic_options`).
"""

from __future__ import annotations

import datetime as dt
import math
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds.synthetic_options import (
    NS_PER_YEAR,
    OptionDay,
    expiry_close_ns,
    model_prices,
    quote_around,
    simulate_option_day,
    smile_vol,
)
from quant_engine.memory import check_memory
from quant_engine.schema import TIMESTAMP, TRADE_SCHEMA, VENDOR_QUOTE_SCHEMA

__all__ = ["SyntheticMarket", "DEFAULT_SYMBOLS", "bsm_price_greeks", "synthetic_bars"]

DEFAULT_SYMBOLS: tuple[str, ...] = (
    "AAPL",
    "MSFT",
    "NVDA",
    "AMZN",
    "GOOGL",
    "META",
    "TSLA",
    "JPM",
    "XOM",
    "SPY",
)

_EXCHANGES = np.array([1, 2, 3, 4, 7, 10, 11, 12, 17, 19, 57], dtype=np.int32)
_EXCHANGE_P = np.array([6, 3, 2, 2, 14, 8, 4, 10, 3, 6, 42], dtype=np.float64)
_EXCHANGE_P /= _EXCHANGE_P.sum()


def _symbol_seed(seed: int, symbol: str, day: int) -> np.random.Generator:
    """An independent, reproducible stream per (seed, symbol, day); day -1 is the set-up stream."""
    return np.random.default_rng([seed, zlib.crc32(symbol.encode()), day + 1])


def _smile_quantiles(u: np.ndarray) -> np.ndarray:
    """Inverse CDF of the intraday intensity ``1 + 3(2x-1)^2`` on [0, 1]."""
    grid = np.linspace(0.0, 1.0, 2049)
    cdf = (grid + ((2 * grid - 1) ** 3 + 1) / 2) / 2
    return np.interp(u, cdf, grid)


def bsm_price_greeks(
    spot: np.ndarray | float,
    strike: np.ndarray,
    years: np.ndarray | float,
    vol: np.ndarray,
    is_call: np.ndarray,
    rate: float = 0.04,
) -> dict[str, np.ndarray]:
    """European Black-Scholes-Merton price, delta, gamma, theta (per day) and vega (per vol
    point) of each contract, from :func:`quant_engine.options.greeks` (no dividends; expiry
    floored at 1e-6 years and vol at 1e-4 so expiring contracts still price)."""
    from quant_engine.options import greeks  # deferred: only option chains need the kernels

    t = np.maximum(np.asarray(years, dtype=float), 1e-6)
    v = np.maximum(np.asarray(vol, dtype=float), 1e-4)
    table = greeks(spot, strike, t, rate, 0.0, v, np.asarray(is_call, dtype=bool), order=2, units="trader")
    return {name: table.column(name).to_numpy() for name in ("price", "delta", "gamma", "theta", "vega")}


@dataclass
class _Day:
    """One symbol's session: events (quotes) and which of them are trades."""

    ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    bid_exchange: np.ndarray
    ask_exchange: np.ndarray
    is_trade: np.ndarray
    trade_price: np.ndarray
    trade_size: np.ndarray
    sequence: np.ndarray
    exchange: np.ndarray
    condition: np.ndarray
    mid_close: float
    day_vol: float


@dataclass
class SyntheticMarket:
    """Deterministic synthetic trades and quotes for ``symbols`` over ``days`` weekday sessions
    (see the module docstring for the model).

    Attributes:
        seed: the random seed (same seed and parameters, same data).
        symbols: the symbols to simulate.
        start: the first calendar date (``YYYY-MM-DD``); weekends are skipped.
        days: number of sessions.
        ticks_per_day: average trades per symbol per session (quotes: about as many again).
        annual_vol: average annualized volatility.
        session: local open and close times.
        tz: the exchange time zone.
        tick_size: price grid.
        spread_bps: typical half-spread in basis points of the price.
        volatile_mult: volatility multiplier of the volatile regime.
        signal_symbols: symbols that carry the planted MA(1) minute-return component.
        signal_strength: its coefficient phi.
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
    spread_bps: float = 1.0
    volatile_mult: float = 2.5
    signal_symbols: Sequence[str] = ()
    signal_strength: float = 0.1

    def __post_init__(self) -> None:
        if not self.symbols:
            raise InvalidArgumentError("invalid symbols: at least one symbol is needed")
        if len(set(self.symbols)) != len(self.symbols):
            raise InvalidArgumentError("invalid symbols: duplicates")
        if self.days < 1 or self.ticks_per_day < 1:
            raise InvalidArgumentError("invalid days/ticks_per_day: both must be >= 1")
        if not (0.0 < self.annual_vol < 5.0):
            raise InvalidArgumentError(f"invalid annual_vol: {self.annual_vol} (expected 0 < vol < 5)")
        if not (-0.9 < self.signal_strength < 0.9):
            raise InvalidArgumentError(f"invalid signal_strength: {self.signal_strength} (expected |phi| < 0.9)")
        unknown = set(self.signal_symbols) - set(self.symbols)
        if unknown:
            raise InvalidArgumentError(f"invalid signal_symbols: {sorted(unknown)} are not in symbols")
        self.symbols = list(self.symbols)
        self.signal_symbols = list(self.signal_symbols)
        check_memory(
            self.memory_estimate(None),
            f"a synthetic market of {self.ticks_per_day:,} ticks per day x {len(self.symbols)} symbols",
        )
        self._cache: dict[tuple[str, int], _Day] = {}
        self._closes: dict[tuple[str, int], float] = {}
        self._lock = threading.RLock()
        self._simulations = 0
        self._days = self._compute_session_days()
        self._bounds = [self.session_bounds(d) for d in self._days]
        self._option_cache: dict[tuple[str, int], OptionDay] = {}

    # ------------------------------------------------------------------------ calendar
    def session_days(self) -> list[dt.date]:
        """The session dates (weekdays from ``start``)."""
        return list(self._days)

    def _compute_session_days(self) -> list[dt.date]:
        day = dt.date.fromisoformat(self.start)
        out: list[dt.date] = []
        while len(out) < self.days:
            if day.weekday() < 5:
                out.append(day)
            day += dt.timedelta(days=1)
        return out

    def session_bounds(self, day: dt.date) -> tuple[int, int]:
        """Open and close of a session day as UTC ns."""
        zone = ZoneInfo(self.tz)
        bounds = []
        for hhmm in self.session:
            h, m = (int(x) for x in hhmm.split(":"))
            local = dt.datetime(day.year, day.month, day.day, h, m, tzinfo=zone)
            bounds.append(int(local.timestamp()) * 1_000_000_000)
        return bounds[0], bounds[1]

    _session_bounds_ns = session_bounds

    def start_price(self, symbol: str) -> float:
        """The reproducible opening price of ``symbol`` on the first day."""
        rng = _symbol_seed(self.seed, symbol, -1)
        return float(np.round(rng.uniform(20.0, 400.0), 2))

    def planted(self) -> dict[str, Any]:
        """What is planted, as data: the model, its parameters and the expected lag-1
        autocorrelation of 1-minute efficient-price returns, per symbol."""
        phi = self.signal_strength
        return {
            "model": "MA(1) in session-aligned 1-minute efficient-price log-returns: r[k+1] = e[k+1] + phi*e[k]",
            "phi": phi,
            "symbols": list(self.signal_symbols),
            "lag1_autocorrelation": {
                s: (phi / (1 + phi * phi) if s in self.signal_symbols else 0.0) for s in self.symbols
            },
            "bar_interval": "1m",
            "origin": f"{self.session[0]} {self.tz}",
        }

    def memory_estimate(self, output: str | None) -> float:
        """Bytes needed (an upper estimate): simulating one symbol-day (about 300 bytes per
        tick), the cache of recent days (130 bytes per tick, up to 4 days per symbol), plus the
        whole table when ``output`` (``"ticks"``, ``"trades"`` or ``"quotes"``) is materialized
        (60 bytes per trade, 120 per tick of quotes, with the merge's copies)."""
        per_day = self.ticks_per_day * 1.2  # the day's activity level varies
        cache = min(self.days, 4) * len(self.symbols) * per_day * 130
        total = 0.0
        if output is not None:
            total = self.days * len(self.symbols) * per_day * (120 if output == "quotes" else 60)
        return per_day * 300 + cache + total

    def _check_output(self, output: str) -> None:
        what = f"{output} of a synthetic market ({self.ticks_per_day:,} ticks per day x {self.days} days x {len(self.symbols)} symbols)"
        check_memory(self.memory_estimate(output), what)

    # ------------------------------------------------------------------------ simulation
    def _day(self, symbol: str, d_index: int) -> _Day:
        """One symbol's session ``d_index`` (cached, a few days per symbol).

        A day opens at the previous day's closing midpoint: closes are kept for every day
        simulated (one float each, never evicted), so walking forward from the newest known
        close simulates each day once, whatever the order of requests and cache evictions
        (linear in days; ``_simulations`` counts the day simulations)."""
        key = (symbol, d_index)
        cached = self._cache.get(key)  # one lookup: another thread may clear the cache meanwhile
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
            first = d_index
            while first > 0 and (symbol, first - 1) not in self._closes:
                first -= 1
            out: _Day | None = None
            for k in range(first, d_index + 1):  # days before d_index are simulated once, for their close
                s0 = self.start_price(symbol) if k == 0 else self._closes[(symbol, k - 1)]
                open_ns, close_ns = self._bounds[k]
                out = self._simulate(symbol, k, open_ns, close_ns, s0)
                self._simulations += 1
                self._closes[(symbol, k)] = out.mid_close
            assert out is not None
            if len(self._cache) >= 4 * len(self.symbols):
                self._cache.pop(next(iter(self._cache)))  # oldest first: sequential walks keep their previous day
            self._cache[key] = out
            return out

    def _simulate(self, symbol: str, d_index: int, open_ns: int, close_ns: int, s0: float) -> _Day:
        rng = _symbol_seed(self.seed, symbol, d_index)
        activity = np.exp(rng.normal(0.0, 0.3))
        n_trades = max(1, int(rng.poisson(self.ticks_per_day * activity)))
        n = 2 * n_trades
        u = np.sort(_smile_quantiles(rng.random(n)))
        ts = open_ns + (u * (close_ns - open_ns)).astype(np.int64)
        # Regimes: a two-state Markov chain over the session's minutes.
        n_min = max(1, int((close_ns - open_ns) // 60_000_000_000))
        minute = np.minimum((ts - open_ns) // 60_000_000_000, n_min - 1)
        flips = rng.random(n_min)
        regime = np.empty(n_min, dtype=np.int8)
        state = 0
        for k in range(n_min):  # 390 steps: cheap
            p = 0.02 if state == 0 else 0.08
            if flips[k] < p:
                state = 1 - state
            regime[k] = state
        mult = np.where(regime[minute] == 1, self.volatile_mult, 1.0)
        # Stochastic volatility: OU log-vol on the event clock (closed form per block).
        day_vol = self.annual_vol / np.sqrt(252.0) * np.exp(rng.normal(0.0, 0.2))
        kappa = min(5.0 / n, 0.5)
        decay = 1.0 - kappa
        shocks = rng.normal(0.0, 0.35 * np.sqrt(2 * kappa), n)
        h = np.empty(n)
        level = 0.0
        for b in range(0, n, 4096):
            s = shocks[b : b + 4096]
            powers = decay ** np.arange(1, len(s) + 1)
            h[b : b + 4096] = powers * (level + np.cumsum(s / powers))
            level = h[b + len(s) - 1]
        norm = np.sqrt(np.mean(mult**2))
        sigma = day_vol / np.sqrt(n) * np.exp(h - 0.5 * 0.35**2) * mult / norm
        r = rng.standard_normal(n) * sigma
        jumps = rng.random(n) < 2.0 / n
        r[jumps] += rng.normal(0.0, 3.0 * day_vol / 4.0, int(jumps.sum()))
        if symbol in self.signal_symbols and self.signal_strength:
            innov = np.bincount(minute, weights=r, minlength=n_min)
            count = np.bincount(minute, minlength=n_min)
            drift = np.zeros(n_min)
            drift[1:] = self.signal_strength * innov[:-1]
            per_event = np.where(count > 0, drift / np.maximum(count, 1), 0.0)
            r = r + per_event[minute]
        mid = s0 * np.exp(np.cumsum(r))
        tick = self.tick_size
        half = np.maximum(tick, mid * self.spread_bps / 1e4 * np.sqrt(mult) * (0.75 + np.abs(rng.normal(0, 0.5, n))))
        bid = np.maximum(np.floor((mid - half) / tick + 1e-9) * tick, tick)
        ask = np.maximum(np.ceil((mid + half) / tick - 1e-9) * tick, bid + tick)
        bid, ask = np.round(bid, 10), np.round(ask, 10)
        bid_size = 100.0 * rng.geometric(0.3, n)
        ask_size = 100.0 * rng.geometric(0.3, n)
        bx = rng.choice(_EXCHANGES, n, p=_EXCHANGE_P)
        ax = rng.choice(_EXCHANGES, n, p=_EXCHANGE_P)
        is_trade = rng.random(n) < 0.5
        is_trade[-1] = True
        buy = rng.random(n) < 0.5
        trade_price = np.where(buy, ask, bid)
        odd = rng.random(n) < 0.6
        trade_size = np.where(odd, rng.geometric(0.05, n), 100 * rng.geometric(0.5, n)).astype(np.float64)
        nt = int(is_trade.sum())
        sequence = d_index * 10_000_000_000 + 1000 + np.cumsum(rng.geometric(0.4, nt)).astype(np.int64)
        exchange = rng.choice(_EXCHANGES, nt, p=_EXCHANGE_P)
        condition = np.where(
            rng.random(nt) < 0.9, 0, rng.choice(np.array([12, 14, 37, 41], dtype=np.int32), nt)
        ).astype(np.int32)
        return _Day(
            ts=ts,
            bid=bid,
            ask=ask,
            bid_size=bid_size,
            ask_size=ask_size,
            bid_exchange=bx.astype(np.int32),
            ask_exchange=ax.astype(np.int32),
            is_trade=is_trade,
            trade_price=trade_price[is_trade],
            trade_size=trade_size[is_trade],
            sequence=sequence,
            exchange=exchange.astype(np.int32),
            condition=condition,
            mid_close=float(mid[-1]),
            day_vol=float(day_vol),
        )

    # ------------------------------------------------------------------------ outputs
    def _merge(self, d_index: int, columns: str, symbols: Sequence[str] | None = None) -> pa.RecordBatch:
        syms = list(symbols) if symbols is not None else list(self.symbols)
        names = pa.array(syms, pa.string())
        parts = []
        for code, sym in enumerate(syms):
            d = self._day(sym, d_index)
            if columns == "trades":
                parts.append((d.ts[d.is_trade], code, d))
            else:
                parts.append((d.ts, code, d))
        ts = np.concatenate([p[0] for p in parts])
        order = np.argsort(ts, kind="stable")
        codes = np.concatenate([np.full(len(p[0]), p[1], np.int32) for p in parts])[order]
        sym_col = names.take(pa.array(codes))

        def cat(name: str) -> np.ndarray:
            return np.concatenate([getattr(p[2], name) for p in parts])[order]

        if columns == "ticks":
            return pa.record_batch(
                {
                    "ts": pa.array(ts[order], TIMESTAMP),
                    "symbol": sym_col,
                    "price": cat("trade_price"),
                    "size": cat("trade_size"),
                }
            )
        if columns == "trades":
            return pa.record_batch(
                [
                    pa.array(ts[order], TIMESTAMP),
                    sym_col,
                    cat("trade_price"),
                    cat("trade_size"),
                    pa.array(cat("sequence")),
                    pa.array(cat("exchange")),
                    pa.array(cat("condition")),
                ],
                schema=TRADE_SCHEMA,
            )
        return pa.record_batch(
            [
                pa.array(ts[order], TIMESTAMP),
                sym_col,
                cat("bid"),
                cat("ask"),
                cat("bid_size"),
                cat("ask_size"),
                pa.array(cat("bid_exchange")),
                pa.array(cat("ask_exchange")),
            ],
            schema=VENDOR_QUOTE_SCHEMA,
        )

    def ticks(self) -> pa.Table:
        """All trades, sorted by time (ties keep symbol order), as an Arrow table with
        ``ts`` (timestamp[ns, UTC]), ``symbol`` (string), ``price``, ``size``.

        Raises:
            ResourceLimitError: the table would not fit under the memory cap (``QE_MEMORY_CAP``)."""
        self._check_output("ticks")
        return pa.Table.from_batches(list(self.day_batches()))

    def day_batches(self) -> Iterator[pa.RecordBatch]:
        """One record batch of ``ts, symbol, price, size`` per session day (all symbols,
        time-sorted)."""
        for d in range(self.days):
            b = self._merge(d, "trades")
            yield pa.record_batch(b.columns[:4], names=["ts", "symbol", "price", "size"])

    def tick_batches(self, batch_size: int = 10_000) -> Iterator[pa.RecordBatch]:
        """The ticks as a live-like stream of record batches of ``batch_size`` ticks."""
        if batch_size < 1:
            raise InvalidArgumentError(f"invalid batch_size: {batch_size}")
        for day in self.day_batches():
            for off in range(0, day.num_rows, batch_size):
                yield day.slice(off, batch_size)

    def trades(self, symbols: Sequence[str] | None = None) -> pa.Table:
        """All trades with the full trade schema (``sequence``, ``exchange``, ``condition``)
        (``ResourceLimitError`` above the memory cap)."""
        self._check_output("trades")
        return pa.Table.from_batches([self._merge(d, "trades", symbols) for d in range(self.days)], schema=TRADE_SCHEMA)

    def quotes(self, symbols: Sequence[str] | None = None) -> pa.Table:
        """All quote updates (vendor quote schema), time-sorted (``ResourceLimitError`` above the
        memory cap)."""
        self._check_output("quotes")
        return pa.Table.from_batches(
            [self._merge(d, "quotes", symbols) for d in range(self.days)], schema=VENDOR_QUOTE_SCHEMA
        )

    def option_chain(
        self,
        symbol: str,
        at: Any = None,
        *,
        expirations: Sequence[str] | None = None,
        n_strikes: int = 11,
        strike_step: float | None = None,
        rate: float = 0.04,
    ) -> pa.Table:
        """A consistently priced option chain of ``symbol`` at instant ``at`` (default: the first
        session's close). Expirations default to the next four Fridays; strikes are centred on
        the spot. Columns: ``symbol`` (OSI style), ``underlying``, ``expiration`` (date),
        ``strike``, ``right`` (CALL/PUT), ``bid``, ``ask``, ``mid``, ``implied_vol``, ``delta``,
        ``gamma``, ``theta`` (per day), ``vega`` (per vol point), ``underlying_price``, ``ts``."""
        from quant_engine.times import instant_ns

        if symbol not in self.symbols:
            raise InvalidArgumentError(f"invalid symbol: {symbol!r} is not simulated")
        days = self.session_days()
        t_ns = self.session_bounds(days[0])[1] - 1 if at is None else instant_ns(at, "at")
        d_index = max(
            0, min(len(days) - 1, int(np.searchsorted([self.session_bounds(d)[0] for d in days], t_ns, "right")) - 1)
        )
        day = self._day(symbol, d_index)
        i = max(0, int(np.searchsorted(day.ts, t_ns, "right")) - 1)
        spot = float((day.bid[i] + day.ask[i]) / 2)
        today = days[d_index]
        if expirations is None:
            fri = today + dt.timedelta(days=(4 - today.weekday()) % 7 or 7)
            exps = [fri + dt.timedelta(weeks=w) for w in range(4)]
        else:
            exps = [dt.date.fromisoformat(e if "-" in e else f"{e[:4]}-{e[4:6]}-{e[6:]}") for e in expirations]
        step = strike_step or float(10 ** math.floor(math.log10(max(spot, 1.0))) / (2 if spot < 250 else 1) / 10)
        step = max(step, 0.5)
        centre = round(spot / step) * step
        strikes = centre + step * (np.arange(n_strikes) - n_strikes // 2)
        strikes = strikes[strikes > 0]
        rows_exp, rows_k, rows_call = [], [], []
        for e in exps:
            for k in strikes:
                for call in (True, False):
                    rows_exp.append(e)
                    rows_k.append(float(k))
                    rows_call.append(call)
        k_arr = np.array(rows_k)
        is_call = np.array(rows_call)
        quote_ns = int(day.ts[i])
        years = (np.array([expiry_close_ns(e) for e in rows_exp]) - quote_ns) / NS_PER_YEAR
        iv = smile_vol(day.day_vol, k_arr, spot)
        g = bsm_price_greeks(spot, k_arr, years, iv, is_call, rate)
        bid, ask = quote_around(model_prices(spot, k_arr, years, iv, is_call, rate))
        osi = [
            f"{symbol}{e.strftime('%y%m%d')}{'C' if c else 'P'}{round(k * 1000):08d}"
            for e, k, c in zip(rows_exp, rows_k, rows_call)
        ]
        n = len(osi)
        return pa.table(
            {
                "symbol": pa.array(osi, pa.string()),
                "underlying": pa.array([symbol] * n, pa.string()),
                "expiration": pa.array(rows_exp, pa.date32()),
                "strike": k_arr,
                "right": pa.array(["CALL" if c else "PUT" for c in rows_call], pa.string()),
                "bid": bid,
                "ask": ask,
                "mid": (bid + ask) / 2,
                "implied_vol": iv,
                "delta": g["delta"],
                "gamma": g["gamma"],
                "theta": g["theta"],
                "vega": g["vega"],
                "underlying_price": np.full(n, spot),
                "ts": pa.array(np.full(n, quote_ns), TIMESTAMP),
            }
        )

    # ------------------------------------------------------------------------ option histories
    def session_index(self, day: dt.date) -> int:
        """The index of a session date (``InvalidArgumentError`` if it is not a session)."""
        try:
            return self.session_days().index(day)
        except ValueError:
            raise InvalidArgumentError(f"invalid day: {day} is not a session of this market") from None

    def underlying_mid(self, symbol: str, day: dt.date, ts: np.ndarray) -> np.ndarray:
        """The underlying's midpoint in force at each instant of one session (the session's first
        quote before it opens)."""
        d = self._day(symbol, self.session_index(day))
        i = np.maximum(np.searchsorted(d.ts, np.asarray(ts, dtype=np.int64), "right") - 1, 0)
        return np.asarray((d.bid[i] + d.ask[i]) / 2, dtype=float)

    def option_day(
        self, symbol: str, expiration: dt.date, strike: float, right: str, day: dt.date, *, rate: float = 0.04
    ) -> OptionDay:
        """One contract's quote updates and trades over one session (cached per contract and
        day; see :mod:`quant_engine.feeds.synthetic_options`). ``right`` is ``CALL``/``PUT``
        (or ``C``/``P``). A contract past its expiration has no data."""
        if symbol not in self.symbols:
            raise InvalidArgumentError(f"invalid symbol: {symbol!r} is not simulated")
        r = right.strip().upper()[:1]
        if r not in ("C", "P") or not strike > 0:
            raise InvalidArgumentError(f"invalid contract: strike {strike!r}, right {right!r}")
        d_index = self.session_index(day)
        contract = f"{symbol}{expiration.strftime('%y%m%d')}{r}{round(strike * 1000):08d}"
        key = (f"{contract}@{rate!r}", d_index)
        cached = self._option_cache.get(key)
        if cached is not None:
            return cached
        d = self._day(symbol, d_index)
        ts = d.ts if day <= expiration else d.ts[:0]
        out = simulate_option_day(
            seed=self.seed,
            contract=contract,
            d_index=d_index,
            ts=ts,
            underlying_mid=(d.bid[: len(ts)] + d.ask[: len(ts)]) / 2,
            day_vol=d.day_vol,
            expiration=expiration,
            strike=float(strike),
            is_call=r == "C",
            rate=rate,
        )
        if len(self._option_cache) >= 512:
            self._option_cache.clear()
        self._option_cache[key] = out
        return out

    def option_quotes(self, symbol: str, expiration: dt.date, strike: float, right: str, day: dt.date) -> pa.Table:
        """One contract's quote updates over a session (vendor quote schema; ``symbol`` is the
        OSI-style contract symbol)."""
        o = self.option_day(symbol, expiration, strike, right, day)
        osi = f"{symbol}{expiration.strftime('%y%m%d')}{right.strip().upper()[0]}{round(strike * 1000):08d}"
        sym = pa.repeat(pa.scalar(osi, pa.string()), len(o.quote_ts))
        return pa.Table.from_arrays(
            [
                pa.array(o.quote_ts, TIMESTAMP),
                sym,
                pa.array(o.bid),
                pa.array(o.ask),
                pa.array(o.bid_size),
                pa.array(o.ask_size),
                pa.array(o.bid_exchange),
                pa.array(o.ask_exchange),
            ],
            schema=VENDOR_QUOTE_SCHEMA,
        )

    def option_trades(self, symbol: str, expiration: dt.date, strike: float, right: str, day: dt.date) -> pa.Table:
        """One contract's trades over a session (trade schema; OSI-style ``symbol``)."""
        o = self.option_day(symbol, expiration, strike, right, day)
        osi = f"{symbol}{expiration.strftime('%y%m%d')}{right.strip().upper()[0]}{round(strike * 1000):08d}"
        sym = pa.repeat(pa.scalar(osi, pa.string()), len(o.trade_ts))
        return pa.Table.from_arrays(
            [
                pa.array(o.trade_ts, TIMESTAMP),
                sym,
                pa.array(o.price),
                pa.array(o.size),
                pa.array(o.sequence),
                pa.array(o.exchange),
                pa.array(o.condition),
            ],
            schema=TRADE_SCHEMA,
        )


def synthetic_bars(
    symbols: Sequence[str],
    timeframe: str,
    *,
    seed: int = 7,
    start: str = "2024-01-02",
    days: int = 5,
    ticks_per_day: int = 50_000,
) -> pa.Table:
    """Bars of ``timeframe`` aggregated from the seeded synthetic market's trades (what the
    ``backtest`` and ``redteam`` commands and the API's jobs run on by default). Raises
    :class:`~quant_engine.errors.ResourceLimitError` when the ticks would not fit the memory cap."""
    from quant_engine.bars import aggregate_ticks

    market = SyntheticMarket(seed=seed, symbols=list(symbols), start=start, days=days, ticks_per_day=ticks_per_day)
    return aggregate_ticks(market.ticks(), timeframe)
