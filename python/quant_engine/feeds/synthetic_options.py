"""Option quotes and trades of the synthetic market, per contract and session day, derived from
the underlying's simulated path (:class:`~quant_engine.feeds.synthetic.SyntheticMarket` calls
these; nothing here is per tick in Python).

Model, for one contract (root, expiration, strike, right) on one session day:

* **Model price** at every quote update of the underlying: European Black-Scholes-Merton
  (:func:`quant_engine.options.price`) at the underlying's midpoint, with time to expiry in
  ACT/365 years up to the expiration's close (16:00 New York, as
  :data:`quant_engine.options.EXPIRY_CLOSE`) and the chain's volatility smile
  ``iv = v0 (1 - 0.8 m + 1.5 m^2)``, ``m = ln(K/S)``, ``v0`` the underlying's annualized vol of
  the day (:func:`smile_vol`; the same surface as :meth:`SyntheticMarket.option_chain`).
* **Quotes** (:func:`quote_around`): on the option tick grid (0.01 under 3.00, else 0.05),
  ``bid = floor(price - h)``, ``ask = ceil(price + h)`` with ``h = max(tick, 2 % of the price)``,
  bid floored at 0 and ``ask >= bid + tick``. An update is published only when the bid or the
  ask changes (the NBBO of an option moves far less often than its underlying); sizes and
  exchanges are seeded draws.
* **Trades**: sparse (Poisson, about 60 a day at the money, fewer away from it), at uniform
  times after the first quote, printed at the bid or the ask of the quote in force (40 % each)
  or inside the spread (20 %), never at zero; sizes, exchanges, conditions and increasing
  sequences are seeded.

Deterministic for the market's seed: one independent random stream per (seed, contract, day).
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

__all__ = [
    "OptionDay",
    "NS_PER_YEAR",
    "expiry_close_ns",
    "smile_vol",
    "option_tick",
    "quote_around",
    "model_prices",
    "simulate_option_day",
]

NS_PER_YEAR = 365.0 * 86_400 * 1_000_000_000
"""Nanoseconds in an ACT/365 year."""

_EXCHANGES = np.array([1, 4, 5, 6, 7, 9, 22, 31, 42, 43, 47, 60, 65, 69], dtype=np.int32)
_CONDITIONS = np.array([18, 125, 130, 131], dtype=np.int32)
_CONDITION_P = np.array([0.55, 0.05, 0.3, 0.1])


@dataclass(frozen=True)
class OptionDay:
    """One contract's session: quote updates (``quote_ts`` ... ``ask_exchange``) and trades
    (``trade_ts`` ... ``condition``); timestamps are UTC ns, time-sorted."""

    quote_ts: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    bid_exchange: np.ndarray
    ask_exchange: np.ndarray
    trade_ts: np.ndarray
    price: np.ndarray
    size: np.ndarray
    sequence: np.ndarray
    exchange: np.ndarray
    condition: np.ndarray

    def quote_at(self, ts: np.ndarray) -> np.ndarray:
        """Index of the quote in force at each instant (``-1`` before the first quote)."""
        return np.searchsorted(self.quote_ts, np.asarray(ts, dtype=np.int64), "right") - 1


def expiry_close_ns(expiration: dt.date) -> int:
    """The expiration's close (16:00 New York) as UTC ns."""
    local = dt.datetime(expiration.year, expiration.month, expiration.day, 16, 0, tzinfo=ZoneInfo("America/New_York"))
    return int(local.timestamp()) * 1_000_000_000


def smile_vol(day_vol: float, strike: np.ndarray | float, spot: np.ndarray | float) -> np.ndarray:
    """The synthetic volatility smile: ``v0 (1 - 0.8 m + 1.5 m^2)`` with ``m = ln(K/S)`` and
    ``v0 = day_vol * sqrt(252)``."""
    m = np.log(np.asarray(strike, dtype=float) / np.asarray(spot, dtype=float))
    return np.asarray(day_vol * np.sqrt(252.0) * (1 - 0.8 * m + 1.5 * m * m), dtype=float)


def option_tick(price: np.ndarray) -> np.ndarray:
    """The option tick size: 0.01 under 3.00, else 0.05."""
    return np.where(np.asarray(price) < 3.0, 0.01, 0.05)


def quote_around(price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around model prices on the tick grid (see the module docstring)."""
    p = np.asarray(price, dtype=float)
    tick = option_tick(p)
    half = np.maximum(tick, 0.02 * p)
    bid = np.maximum(np.floor((p - half) / tick + 1e-9) * tick, 0.0)
    ask = np.maximum(np.ceil((p + half) / tick - 1e-9) * tick, bid + tick)
    return np.round(bid, 2), np.round(ask, 2)


def model_prices(
    spot: np.ndarray | float,
    strike: np.ndarray | float,
    years: np.ndarray | float,
    vol: np.ndarray,
    is_call: np.ndarray | bool,
    rate: float,
) -> np.ndarray:
    """European BSM prices (no dividends; expiry floored at 1e-6 years and vol at 1e-4 so that
    expiring contracts still price)."""
    from quant_engine.options import price  # deferred: only option data needs the kernels

    t = np.maximum(np.asarray(years, dtype=float), 1e-6)
    v = np.maximum(np.asarray(vol, dtype=float), 1e-4)
    return np.asarray(price(spot, strike, t, rate, 0.0, v, is_call).column("price").to_numpy(), dtype=float)


def _rng(seed: int, contract: str, d_index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(contract.encode()), d_index + 1, 0x0F])


def simulate_option_day(
    *,
    seed: int,
    contract: str,
    d_index: int,
    ts: np.ndarray,
    underlying_mid: np.ndarray,
    day_vol: float,
    expiration: dt.date,
    strike: float,
    is_call: bool,
    rate: float,
) -> OptionDay:
    """One contract's quotes and trades on one session (see the module docstring).

    Args:
        seed: the market's seed.
        contract: the OSI-style contract symbol (names the random stream).
        d_index: the session's index in the market.
        ts: the underlying's quote-update instants (UTC ns, sorted).
        underlying_mid: the underlying's midpoint at each of them.
        day_vol: the underlying's daily volatility of the session.
        expiration, strike, is_call: the contract.
        rate: the continuously compounded rate of the model.
    """
    rng = _rng(seed, contract, d_index)
    years = (expiry_close_ns(expiration) - ts).astype(np.float64) / NS_PER_YEAR
    vol = smile_vol(day_vol, strike, underlying_mid)
    bid, ask = quote_around(model_prices(underlying_mid, strike, years, vol, is_call, rate))
    keep = np.ones(len(ts), dtype=bool)
    keep[1:] = (bid[1:] != bid[:-1]) | (ask[1:] != ask[:-1])
    q_ts, bid, ask = ts[keep], bid[keep], ask[keep]
    n = len(q_ts)
    bid_size = rng.geometric(0.12, n).astype(np.float64)
    ask_size = rng.geometric(0.12, n).astype(np.float64)
    bid_size[bid <= 0.0] = 0.0
    bid_exchange = rng.choice(_EXCHANGES, n)
    ask_exchange = rng.choice(_EXCHANGES, n)
    # Trades: sparse, more of them near the money.
    moneyness = abs(float(np.log(strike / underlying_mid[0]))) if len(underlying_mid) else 1.0
    lam = 60.0 * np.exp(-12.0 * moneyness) + 3.0
    n_trades = int(rng.poisson(lam)) if n else 0
    t_ns = np.sort(rng.integers(int(q_ts[0]), int(ts[-1]) + 1, n_trades)) if n_trades else np.zeros(0, np.int64)
    j = np.searchsorted(q_ts, t_ns, "right") - 1
    qb, qa = bid[j], ask[j]
    tick = option_tick(qa)
    side = rng.random(n_trades)
    inside = np.floor(((qb + qa) / 2) / tick + 1e-9) * tick
    inside = np.where((inside > qb) & (inside < qa), inside, qa)
    price = np.where(side < 0.4, qb, np.where(side < 0.8, qa, inside))
    price = np.round(np.where(price <= 0.0, qa, price), 2)
    size = rng.geometric(0.35, n_trades).astype(np.float64)
    sequence = d_index * 1_000_000_000 + 100 + np.cumsum(rng.geometric(0.02, n_trades)).astype(np.int64)
    exchange = rng.choice(_EXCHANGES, n_trades)
    condition = rng.choice(_CONDITIONS, n_trades, p=_CONDITION_P)
    return OptionDay(
        quote_ts=q_ts,
        bid=bid,
        ask=ask,
        bid_size=bid_size,
        ask_size=ask_size,
        bid_exchange=bid_exchange.astype(np.int32),
        ask_exchange=ask_exchange.astype(np.int32),
        trade_ts=t_ns.astype(np.int64),
        price=price,
        size=size,
        sequence=sequence,
        exchange=exchange.astype(np.int32),
        condition=condition.astype(np.int32),
    )
