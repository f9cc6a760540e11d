"""Option history of the fake Theta Terminal: ``/v3/option/history/{trade,quote}`` and
``/v3/option/history/greeks/{first_order,second_order,third_order,all,implied_volatility}``
rows from the synthetic market (:meth:`SyntheticMarket.option_day`), in the vendor's column
names and order, and the option body shapes (CSV with the contract columns first, JSON grouped
by contract, NDJSON flat).

Vendor rules kept here (``shared/protocols.md`` A.2/A.3 and the vendor's OpenAPI examples):

* contracts: ``expiration`` required (``*`` = every listed expiration, refused with 473 on
  interval Greeks), ``strike`` in dollars or ``*`` (default), ``right`` ``call|put|both``
  (default both); a contract that is not listed gives 472;
* ``interval`` on quotes and Greeks: one row per interval boundary from ``start_time`` to
  ``end_time`` (inclusive) carrying the quote *in force* at that instant, stamped at the boundary
  (no ``.SSS``); before a contract's first quote of the day the row is all zeros (bid = ask = 0);
  ``tick``: every quote update;
* Greeks from the quote midpoint at each row: implied volatility solved at the underlying's
  midpoint in force at the row's instant and ACT/365 years to the expiration's 16:00 New York
  close, then :func:`quant_engine.options.greeks` in ThetaData units (theta per calendar day,
  the rest per 1.00 and per year); ``rate_value`` is a percent (default 4.0, the synthetic
  market's rate, whatever ``rate_type``), ``annual_dividend`` in dollars becomes the yield
  ``annual_dividend / underlying``; rows without a two-sided quote or whose midpoint has no
  implied volatility carry the vendor's sentinels (Greeks 0, ``implied_vol`` 0.25,
  ``iv_error`` 100, ``ultima`` -100; on ``implied_volatility`` every vol is 0).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.feeds.newyork import utc_ns_of_ny
from quant_engine.feeds.synthetic import SyntheticMarket
from quant_engine.feeds.synthetic_options import NS_PER_YEAR, OptionDay, expiry_close_ns
from quant_engine.feeds.thetadata import parse_option_symbol
from quant_engine.sandbox import encode
from quant_engine.sandbox.theta_params import Reject, parse_date

__all__ = ["Contract", "Group", "OptionHistory", "option_body", "GREEK_ENDPOINTS"]

GREEK_ENDPOINTS = ("first_order", "second_order", "third_order", "all", "implied_volatility")
"""The interval Greeks endpoints."""
_RIGHTS = {"call": ("CALL",), "put": ("PUT",), "both": ("CALL", "PUT")}
_MS = 1_000_000
_MAX_ROWS = 1_000_000
_DEFAULT_RATE_PCT = 4.0
_RATE_TYPES = {"sofr"} | {
    f"treasury_{t}" for t in ("m1", "m3", "m6", "y1", "y2", "y3", "y5", "y7", "y10", "y20", "y30")
}


@dataclass(frozen=True)
class Contract:
    """One listed option contract."""

    expiration: dt.date
    strike: float
    right: str  # CALL or PUT


Group = tuple[Contract, list[tuple[str, pa.Array]]]
"""One contract's rows: ``(contract, [(column name, string values), ...])``."""


def _strings(values: list[str]) -> pa.Array:
    return pa.array(values, pa.string())


class OptionHistory:
    """Option rows of one synthetic market (listings cached per root)."""

    def __init__(self, market: SyntheticMarket) -> None:
        self.market = market
        self._listing: dict[str, list[Contract]] = {}
        self._sessions = [(d, *market.session_bounds(d)) for d in market.session_days()]

    # ------------------------------------------------------------------ contracts
    def listing(self, root: str) -> list[Contract]:
        """The listed contracts of ``root``: the chain of the market's first session."""
        if root not in self._listing:
            chain = self.market.option_chain(root)
            self._listing[root] = [
                Contract(e, float(k), r)
                for e, k, r in zip(
                    chain.column("expiration").to_pylist(),
                    chain.column("strike").to_pylist(),
                    chain.column("right").to_pylist(),
                )
            ]
        return self._listing[root]

    def contracts(self, root: str, q: dict[str, str], *, star_expiration: bool) -> list[Contract]:
        """The contracts a request selects (473 for bad parameters, 472 when none is listed)."""
        exp = q.get("expiration")
        if not exp:
            raise Reject(473, "Missing required parameter 'expiration'.")
        if exp == "*" and not star_expiration:
            raise Reject(473, "expiration '*' is not allowed for interval greeks; request one expiration.")
        right = q.get("right", "both").lower()
        if right not in _RIGHTS:
            raise Reject(473, f"Invalid right '{q['right']}'. Expected call, put or both.")
        strike_s = q.get("strike", "*")
        strike = None
        if strike_s != "*":
            try:
                strike = float(strike_s)
            except ValueError:
                raise Reject(473, f"Invalid strike '{strike_s}'. Expected dollars (220.000) or *.") from None
        expiration = None if exp == "*" else parse_date(exp)
        out = [
            c
            for c in self.listing(root)
            if (expiration is None or c.expiration == expiration)
            and (strike is None or abs(c.strike - strike) < 5e-4)
            and c.right in _RIGHTS[right]
        ]
        if not out:
            raise Reject(472, "NO_DATA: no such contract is listed.")
        return sorted(out, key=lambda c: (c.expiration, c.strike, c.right))

    def _day(self, root: str, c: Contract, day: dt.date) -> OptionDay | None:
        if day > c.expiration:
            return None
        return self.market.option_day(root, c.expiration, c.strike, c.right, day)

    @staticmethod
    def _instants(day: dt.date, t0: int, t1: int, ivl_ms: int) -> np.ndarray:
        base = utc_ns_of_ny(day)
        return base + np.arange(t0, t1 + 1, ivl_ms, dtype=np.int64) * _MS

    def _rows_at(self, o: OptionDay, day: dt.date, t0: int, t1: int, ivl_ms: int) -> tuple[np.ndarray, np.ndarray]:
        """``(instants, quote index or -1)`` of the rows of one contract-day."""
        if ivl_ms == 0:
            base = utc_ns_of_ny(day)
            lo = np.searchsorted(o.quote_ts, base + t0 * _MS, "left")
            hi = np.searchsorted(o.quote_ts, base + t1 * _MS + _MS - 1, "right")
            idx = np.arange(lo, hi)
            return o.quote_ts[idx], idx
        at = self._instants(day, t0, t1, ivl_ms)
        return at, o.quote_at(at)

    def _check_size(self, n: int) -> None:
        if n > _MAX_ROWS:
            raise Reject(570, "LARGE_REQUEST: over a million rows; split the request.")

    # ------------------------------------------------------------------ trades and quotes
    def trades(self, root: str, contracts: list[Contract], days: list[dt.date], t0: int, t1: int) -> list[Group]:
        """Trade rows per contract: ``timestamp,sequence,ext_condition1..4,condition,size,exchange,price``."""
        groups: list[Group] = []
        total = 0
        for c in contracts:
            parts = []
            for d in days:
                o = self._day(root, c, d)
                if o is None:
                    continue
                base = utc_ns_of_ny(d)
                lo = np.searchsorted(o.trade_ts, base + t0 * _MS, "left")
                hi = np.searchsorted(o.trade_ts, base + t1 * _MS + _MS - 1, "right")
                parts.append((o, np.arange(lo, hi)))
            n = sum(len(r) for _, r in parts)
            if not n:
                continue
            total += n
            self._check_size(total)

            def cat(name: str, parts: list[tuple[OptionDay, np.ndarray]] = parts) -> np.ndarray:
                return np.concatenate([getattr(o, name)[r] for o, r in parts])

            ext = _strings(["255"] * n)
            groups.append(
                (
                    c,
                    [
                        ("timestamp", encode.ny_wall_strings(pa.array(cat("trade_ts"), pa.int64()))),
                        ("sequence", encode.number_strings(pa.array(cat("sequence")))),
                        ("ext_condition1", ext),
                        ("ext_condition2", ext),
                        ("ext_condition3", ext),
                        ("ext_condition4", ext),
                        ("condition", encode.number_strings(pa.array(cat("condition")))),
                        ("size", encode.number_strings(pa.array(cat("size").astype(np.int64)))),
                        ("exchange", encode.number_strings(pa.array(cat("exchange")))),
                        ("price", encode.decimal_strings(cat("price"), 2)),
                    ],
                )
            )
        return groups

    def _quote_parts(
        self, root: str, c: Contract, days: list[dt.date], t0: int, t1: int, ivl_ms: int
    ) -> dict[str, np.ndarray] | None:
        """The quote in force at each row of one contract (zeros where none is) and the
        underlying's midpoint then."""
        cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("ts", "spot", "bid", "ask", "bid_size", "ask_size", "bid_exchange", "ask_exchange")
        }
        for d in days:
            o = self._day(root, c, d)
            if o is None:
                continue
            at, idx = self._rows_at(o, d, t0, t1, ivl_ms)
            ok = idx >= 0
            j = np.where(ok, idx, 0)
            cols["ts"].append(at)
            cols["spot"].append(self.market.underlying_mid(root, d, at))
            for name in ("bid", "ask", "bid_size", "ask_size", "bid_exchange", "ask_exchange"):
                src = getattr(o, name)
                cols[name].append(np.where(ok, src[j] if len(src) else 0, 0))
        if not cols["ts"] or not sum(len(a) for a in cols["ts"]):
            return None
        return {k: np.concatenate(v) for k, v in cols.items()}

    def quotes(
        self, root: str, contracts: list[Contract], days: list[dt.date], t0: int, t1: int, ivl_ms: int
    ) -> list[Group]:
        """Quote rows per contract: ``timestamp,bid_size,bid_exchange,bid,bid_condition,ask_size,
        ask_exchange,ask,ask_condition``."""
        groups: list[Group] = []
        total = 0
        for c in contracts:
            p = self._quote_parts(root, c, days, t0, t1, ivl_ms)
            if p is None:
                continue
            n = len(p["ts"])
            total += n
            self._check_size(total)
            cond = pa.array(np.where(p["bid"] > 0, "50", "0").tolist(), pa.string())
            groups.append(
                (
                    c,
                    [
                        ("timestamp", encode.ny_wall_strings(pa.array(p["ts"], pa.int64()))),
                        ("bid_size", encode.number_strings(pa.array(p["bid_size"].astype(np.int64)))),
                        ("bid_exchange", encode.number_strings(pa.array(p["bid_exchange"].astype(np.int64)))),
                        ("bid", encode.decimal_strings(p["bid"], 2)),
                        ("bid_condition", cond),
                        ("ask_size", encode.number_strings(pa.array(p["ask_size"].astype(np.int64)))),
                        ("ask_exchange", encode.number_strings(pa.array(p["ask_exchange"].astype(np.int64)))),
                        ("ask", encode.decimal_strings(p["ask"], 2)),
                        ("ask_condition", cond),
                    ],
                )
            )
        return groups

    # ------------------------------------------------------------------ greeks
    @staticmethod
    def rate(q: dict[str, str]) -> float:
        """The rate of a Greeks request (``rate_value`` in percent; 473 on bad values)."""
        rate_type = q.get("rate_type", "sofr").lower()
        if rate_type not in _RATE_TYPES:
            raise Reject(473, f"Invalid rate_type '{rate_type}'. Expected sofr or treasury_m1 ... treasury_y30.")
        try:
            return float(q.get("rate_value", _DEFAULT_RATE_PCT)) / 100.0
        except ValueError:
            raise Reject(473, f"Invalid rate_value '{q['rate_value']}' (a percent, e.g. 5.33).") from None

    def greeks(
        self,
        root: str,
        contracts: list[Contract],
        days: list[dt.date],
        t0: int,
        t1: int,
        ivl_ms: int,
        endpoint: str,
        q: dict[str, str],
    ) -> list[Group]:
        """Greeks rows per contract for one of :data:`GREEK_ENDPOINTS`."""
        from quant_engine.options import THETADATA_COLUMNS, greeks, implied_vol

        rate = self.rate(q)
        try:
            dividend = float(q.get("annual_dividend", "0"))
        except ValueError:
            raise Reject(473, f"Invalid annual_dividend '{q['annual_dividend']}'.") from None
        if q.get("version", "latest") not in ("latest", "1"):
            raise Reject(473, f"Invalid version '{q['version']}'. Expected latest or 1.")
        groups: list[Group] = []
        total = 0
        for c in contracts:
            p = self._quote_parts(root, c, days, t0, t1, ivl_ms)
            if p is None:
                continue
            ts, bid, ask = p["ts"], p["bid"], p["ask"]
            n = len(ts)
            total += n
            self._check_size(total)
            spot = p["spot"]
            years = (expiry_close_ns(c.expiration) - ts).astype(np.float64) / NS_PER_YEAR
            yld = dividend / spot
            mid = (bid + ask) / 2
            quoted = ask > 0
            call = c.right == "CALL"
            iv_t = implied_vol(np.where(quoted, mid, np.nan), spot, c.strike, years, rate, yld, call)
            iv = iv_t.column("implied_vol").to_numpy(zero_copy_only=False)
            good = quoted & np.isfinite(iv)
            g = greeks(spot, c.strike, years, rate, yld, np.where(good, iv, 0.25), call, order="all", units="thetadata")
            iv_error = np.where(good, g.column("price").to_numpy() / np.where(mid > 0, mid, 1.0) - 1.0, 100.0)

            def col(name: str) -> pa.Array:
                v = np.nan_to_num(g.column(name).to_numpy(), nan=0.0, posinf=0.0, neginf=0.0)  # noqa: B023
                v = np.where(good, v, -100.0 if name == "ultima" else 0.0)  # noqa: B023
                return encode.decimal_strings(v, 4)

            ts_s = encode.ny_wall_strings(pa.array(ts, pa.int64()))
            tail = [
                ("iv_error", encode.decimal_strings(iv_error, 4)),
                ("underlying_timestamp", ts_s),
                ("underlying_price", encode.decimal_strings(spot, 2)),
            ]
            if endpoint == "implied_volatility":

                def side_iv(price: np.ndarray) -> pa.Array:
                    t = implied_vol(np.where(price > 0, price, np.nan), spot, c.strike, years, rate, yld, call)  # noqa: B023
                    return encode.decimal_strings(
                        np.nan_to_num(t.column("implied_vol").to_numpy(zero_copy_only=False), nan=0.0), 4
                    )

                body = [
                    ("timestamp", ts_s),
                    ("bid", encode.decimal_strings(bid, 2)),
                    ("bid_implied_vol", side_iv(bid)),
                    ("midpoint", encode.decimal_strings(mid, 2)),
                    ("implied_vol", encode.decimal_strings(np.where(good, iv, 0.0), 4)),
                    ("ask", encode.decimal_strings(ask, 2)),
                    ("ask_implied_vol", side_iv(ask)),
                ]
            else:
                body = [
                    ("timestamp", ts_s),
                    ("bid", encode.decimal_strings(bid, 2)),
                    ("ask", encode.decimal_strings(ask, 2)),
                ]
                body += [(name, col(name)) for name in THETADATA_COLUMNS[endpoint]]
                body.append(("implied_vol", encode.decimal_strings(np.where(good, iv, 0.25), 4)))
            groups.append((c, body + tail))
        return groups

    # ------------------------------------------------------------------ stream
    def stream_messages(self, kind: str, symbol: str, after_ns: int, until_ns: int) -> pa.Array | None:
        """The stream messages (``TRADE`` or ``QUOTE`` JSON, the vendor's shape with an
        ``OPTION`` contract: expiration ``YYYYMMDD``, strike in tenths of a cent) of a listed
        OSI-style contract's events with ``after_ns < ts <= until_ns``; None if there are none."""
        parsed = parse_option_symbol(symbol)
        if parsed is None or parsed[0] not in self.market.symbols:
            return None
        root, exp_s, right, strike_tenths = parsed
        expiration = dt.date(int(exp_s[:4]), int(exp_s[4:6]), int(exp_s[6:]))
        c = Contract(expiration, strike_tenths / 1000.0, "CALL" if right == "C" else "PUT")
        if c not in self.listing(root):
            return None
        parts = []
        for d, open_ns, close_ns in self._sessions:
            if close_ns <= after_ns or open_ns > until_ns or d > expiration:
                continue
            o = self.market.option_day(root, expiration, c.strike, c.right, d)
            ts = o.trade_ts if kind == "trades" else o.quote_ts
            rows = np.arange(np.searchsorted(ts, after_ns, "right"), np.searchsorted(ts, until_ns, "right"))
            if len(rows):
                parts.append(self._messages(kind, o, rows, root, exp_s, right, strike_tenths))
        return pa.concat_arrays(parts) if parts else None

    @staticmethod
    def _messages(
        kind: str, o: OptionDay, rows: np.ndarray, root: str, exp_s: str, right: str, strike_tenths: int
    ) -> pa.Array:
        n = len(rows)

        def lit(text: str) -> pa.Array:
            return pa.array([text] * n, pa.string())

        def num(values: np.ndarray) -> pa.Array:
            return pc.cast(pa.array(values), pa.string())

        contract = f'"contract":{{"security_type":"OPTION","root":"{root}","expiration":{exp_s},"strike":{strike_tenths},"right":"{right}"}}'
        if kind == "trades":
            date, ms = encode.ny_date_ms(pa.array(o.trade_ts[rows], pa.int64()))
            return pc.binary_join_element_wise(
                lit('{"header":{"type":"TRADE","status":"CONNECTED"},' + contract + ',"trade":{"ms_of_day":'),
                pc.cast(ms, pa.string()),
                lit(',"sequence":'),
                num(o.sequence[rows]),
                lit(',"size":'),
                num(o.size[rows].astype(np.int64)),
                lit(',"condition":'),
                num(o.condition[rows]),
                lit(',"price":'),
                num(o.price[rows]),
                lit(',"exchange":'),
                num(o.exchange[rows]),
                lit(',"date":'),
                pc.cast(date, pa.string()),
                lit("}}"),
                "",
            )
        date, ms = encode.ny_date_ms(pa.array(o.quote_ts[rows], pa.int64()))
        return pc.binary_join_element_wise(
            lit('{"header":{"status":"CONNECTED","type":"QUOTE"},' + contract + ',"quote":{"ms_of_day":'),
            pc.cast(ms, pa.string()),
            lit(',"bid_size":'),
            num(o.bid_size[rows].astype(np.int64)),
            lit(',"bid_exchange":'),
            num(o.bid_exchange[rows]),
            lit(',"bid":'),
            num(o.bid[rows]),
            lit(',"bid_condition":50,"ask_size":'),
            num(o.ask_size[rows].astype(np.int64)),
            lit(',"ask_exchange":'),
            num(o.ask_exchange[rows]),
            lit(',"ask":'),
            num(o.ask[rows]),
            lit(',"ask_condition":50,"date":'),
            pc.cast(date, pa.string()),
            lit("}}"),
            "",
        )


def option_body(root: str, groups: list[Group], fmt: str) -> tuple[int, bytes, str]:
    """The response body of option rows: CSV (``symbol,expiration,strike,right`` then the data
    columns, CRLF), NDJSON (flat, contract fields inline) or JSON grouped by contract
    (``{"response":[{"contract":{...},"data":[...]}]}``)."""
    if not groups:
        raise Reject(472, "NO_DATA: no data for the requested contracts and window.")
    names = [n for n, _ in groups[0][1]]
    quoted = {"timestamp", "underlying_timestamp", "symbol", "expiration", "right"}
    if fmt == "json":
        parts = []
        for c, cols in groups:
            head = f'{{"symbol":{json.dumps(root)},"strike":{c.strike:.3f},"right":"{c.right}","expiration":"{c.expiration.isoformat()}"}}'
            rows = encode.json_rows([(n, a, n in quoted) for n, a in cols])
            parts.append('{"contract":' + head + ',"data":[' + ",".join(rows.to_pylist()) + "]}")
        return 200, ('{"response":[' + ",".join(parts) + "]}").encode(), "application/json"
    contract_cols: list[list[pa.Array]] = [[], [], [], []]
    data_cols: list[list[pa.Array]] = [[] for _ in names]
    for c, cols in groups:
        n = len(cols[0][1])
        for k, value in enumerate((root, c.expiration.isoformat(), f"{c.strike:.3f}", c.right)):
            contract_cols[k].append(_strings([value] * n))
        for k, (_, a) in enumerate(cols):
            data_cols[k].append(a)
    heads = ["symbol", "expiration", "strike", "right"]
    merged = [(h, pa.concat_arrays(p)) for h, p in zip(heads, contract_cols)]
    merged += [(n, pa.concat_arrays([x.cast(pa.string()) for x in p])) for n, p in zip(names, data_cols)]
    if fmt == "csv":
        return 200, encode.csv_body(merged), "text/csv"
    if fmt == "ndjson":
        return (
            200,
            encode.ndjson_body(encode.json_rows([(n, a, n in quoted) for n, a in merged])),
            "application/x-ndjson",
        )
    cells = "".join(f"<th>{n}</th>" for n in names)
    return 200, f"<table><tr>{cells}</tr></table>".encode(), "text/html"
