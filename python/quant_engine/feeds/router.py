"""The data router: one call for market data, routed to the engine that should answer it.

``get_market_data(symbol, asset_type, use_case, start, end, timeframe)``:

* ``use_case="discovery"`` (history, scans) goes to **Massive** ("the map"), ``"execution"``
  (what a live strategy trades on) to **ThetaData** ("the sniper"), when that engine is
  configured and not offline;
* otherwise, or when the engine fails (an exception, no data), the **catalog** answers;
* the result says which engine answered and why others did not.

``timeframe`` is ``"trades"`` (``"tick"``), ``"quotes"``, or a bar interval (``"1s"`` ..
``"1h"``, ``"1d"``). Results are ``pyarrow.Table``\\ s of the trade, vendor quote or bar schema.
``engines_status()`` reports every engine (``online | degraded | offline`` with the reason).
:func:`get_data_router` returns the process-wide router built from the ``QE_*`` settings.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

from quant_engine.errors import InvalidArgumentError, NoDataError, QuantEngineError
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.config import FeedSettings
from quant_engine.feeds.health import EngineStatus
from quant_engine.times import duration_ns, instant_ns

__all__ = ["DataRouter", "MarketData", "get_data_router", "reset_data_router", "check_data_engines_status"]

UseCase = Literal["discovery", "execution"]
_THETA_INTERVALS = {"1s", "5s", "10s", "15s", "30s", "1m", "5m", "10m", "15m", "30m", "1h"}
_STATUS_TTL = 5.0


@dataclass(frozen=True)
class MarketData:
    """A routed answer.

    Attributes:
        table: the data (trade, vendor quote or bar schema).
        engine: the engine that answered (``massive``, ``thetadata``, ``catalog``).
        timeframe: as requested.
        tried: ``(engine, reason)`` of every engine tried before (or skipped).
    """

    table: pa.Table
    engine: str
    timeframe: str
    tried: list[tuple[str, str]] = field(default_factory=list)


def _massive_span(timeframe: str) -> tuple[int, str]:
    ns = duration_ns(timeframe, "timeframe")
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if ns % (size * 1_000_000_000) == 0:
            return ns // (size * 1_000_000_000), unit
    raise InvalidArgumentError(f"invalid timeframe: {timeframe!r} is not a whole number of seconds")


class DataRouter:
    """Routes market-data requests (see the module docstring).

    Engines can be passed in (tests, custom setups); by default they are built from
    ``settings``: a :class:`~quant_engine.feeds.thetadata.ThetaDataClient` when ThetaData is
    enabled, a :class:`~quant_engine.feeds.massive.MassiveClient` when a key is set, and the
    :class:`~quant_engine.feeds.catalog.Catalog` always.
    """

    def __init__(
        self,
        settings: FeedSettings | None = None,
        *,
        catalog: Catalog | None = None,
        theta: Any = None,
        massive: Any = None,
    ) -> None:
        self.settings = settings or FeedSettings.from_env()
        s = self.settings
        self.catalog = catalog or Catalog(s.catalog_dir)
        if theta is None and s.theta_enabled:
            from quant_engine.feeds.thetadata import ThetaDataClient

            theta = ThetaDataClient(s.theta_base_url, timeout=s.http_timeout)
        if massive is None and s.massive_enabled:
            from quant_engine.feeds.massive import MassiveClient

            massive = MassiveClient(s.massive_api_key, s.massive_base_url, timeout=s.http_timeout)
        self.theta = theta
        self.massive = massive
        self._status_cache: dict[str, tuple[float, EngineStatus]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DataRouter(thetadata={self.theta is not None}, massive={self.massive is not None}, catalog={self.catalog!r})"

    # ------------------------------------------------------------------------------ health
    def status(self, engine: str, *, refresh: bool = False) -> EngineStatus:
        """The status of one engine (cached for a few seconds unless ``refresh``)."""
        now = time.monotonic()
        with self._lock:
            hit = self._status_cache.get(engine)
        if hit is not None and not refresh and now - hit[0] < _STATUS_TTL:
            return hit[1]
        if engine == "thetadata":
            st = (
                self.theta.status()
                if self.theta is not None
                else EngineStatus(
                    "thetadata",
                    "offline",
                    "not configured (set QE_THETA_BASE_URL or QE_THETA_ENABLED=1)",
                    configured=False,
                )
            )
        elif engine == "massive":
            st = (
                self.massive.status()
                if self.massive is not None
                else EngineStatus("massive", "offline", "not configured (set QE_MASSIVE_API_KEY)", configured=False)
            )
        elif engine == "catalog":
            st = self.catalog.status()
        else:
            raise InvalidArgumentError(f"unknown engine {engine!r} (thetadata, massive, catalog)")
        with self._lock:
            self._status_cache[engine] = (now, st)
        return st

    def engines_status(self, *, refresh: bool = False) -> dict[str, EngineStatus]:
        """Every engine's status."""
        return {e: self.status(e, refresh=refresh) for e in ("thetadata", "massive", "catalog")}

    # ------------------------------------------------------------------------------ routing
    def route(self, use_case: UseCase) -> list[str]:
        """The engines tried, in order, for a use case."""
        if use_case == "discovery":
            return ["massive", "catalog"]
        if use_case == "execution":
            return ["thetadata", "catalog"]
        raise InvalidArgumentError(f"invalid use_case: {use_case!r} (expected 'discovery' or 'execution')")

    def get_market_data(
        self,
        symbol: str,
        asset_type: str = "stock",
        use_case: UseCase = "discovery",
        start: Any = None,
        end: Any = None,
        timeframe: str = "1m",
    ) -> MarketData:
        """Market data of ``symbol`` in ``[start, end)`` (see the module docstring)."""
        if asset_type not in ("stock", "option", "index"):
            raise InvalidArgumentError(f"invalid asset_type: {asset_type!r} (stock, option or index)")
        if start is None or end is None:
            raise InvalidArgumentError("start and end are required")
        s, e = instant_ns(start, "start"), instant_ns(end, "end")
        if e <= s:
            raise InvalidArgumentError("invalid range: end must be after start")
        tf = {"tick": "trades", "trade": "trades", "quote": "quotes"}.get(timeframe, timeframe)
        if tf not in ("trades", "quotes"):
            duration_ns(tf, "timeframe")
        tried: list[tuple[str, str]] = []
        for engine in self.route(use_case):
            st = self.status(engine)
            if engine != "catalog" and not st.usable:
                tried.append((engine, f"{st.state}: {st.reason}"))
                continue
            try:
                table = self._fetch(engine, symbol, asset_type, s, e, tf)
            except (QuantEngineError, OSError) as exc:
                tried.append((engine, f"{type(exc).__name__}: {exc}"))
                continue
            if table.num_rows == 0:
                tried.append((engine, "no data"))
                continue
            meta = {b"quant_engine.engine": engine.encode(), b"quant_engine.timeframe": tf.encode()}
            return MarketData(
                table.replace_schema_metadata({**(table.schema.metadata or {}), **meta}), engine, tf, tried
            )
        raise NoDataError(
            f"no engine answered {symbol} {tf} {use_case}: " + "; ".join(f"{a}: {b}" for a, b in tried), vendor="router"
        )

    def _fetch(self, engine: str, symbol: str, asset_type: str, s: int, e: int, tf: str) -> pa.Table:
        if engine == "catalog":
            if tf in ("trades", "quotes"):
                return self.catalog.read(tf, symbol, s, e)
            return self.catalog.bars(symbol, s, e, tf)
        if engine == "massive":
            m = self.massive
            if tf == "trades":
                return m.trades(symbol, s, e)
            if tf == "quotes":
                return m.quotes(symbol, s, e)
            mult, span = _massive_span(tf)
            return m.aggregates(symbol, mult, span, s, e)
        t = self.theta
        if asset_type == "option":
            from quant_engine.feeds.thetadata import parse_option_symbol

            opt = parse_option_symbol(symbol)
            if opt is None:
                raise InvalidArgumentError(f"invalid option symbol {symbol!r} (expected e.g. AAPL240119C00190000)")
            root, exp, right, strike = opt
            kw = {"strike": strike / 1000.0, "right": "call" if right == "C" else "put"}
            if tf == "trades":
                return t.option_trades(root, exp, s, e, **kw)
            if tf == "quotes":
                return t.option_quotes(root, exp, s, e, **kw)
            raise InvalidArgumentError(
                "ThetaData serves option trades and quotes; use the catalog or Massive for option bars"
            )
        if tf == "trades":
            return t.stock_trades(symbol, s, e)
        if tf == "quotes":
            return t.stock_quotes(symbol, s, e)
        if tf not in _THETA_INTERVALS:
            raise InvalidArgumentError(f"ThetaData OHLC intervals are {sorted(_THETA_INTERVALS)}; {tf!r} is not one")
        return t.stock_ohlc(symbol, s, e, tf)


_ROUTER: DataRouter | None = None
_ROUTER_LOCK = threading.Lock()


def get_data_router() -> DataRouter:
    """The process-wide router, built from the ``QE_*`` environment on first use."""
    global _ROUTER
    with _ROUTER_LOCK:
        if _ROUTER is None:
            _ROUTER = DataRouter()
        return _ROUTER


def reset_data_router(router: DataRouter | None = None) -> None:
    """Replaces (or, with None, forgets) the process-wide router (after changing settings)."""
    global _ROUTER
    with _ROUTER_LOCK:
        _ROUTER = router


def check_data_engines_status() -> dict[str, dict[str, Any]]:
    """Every engine's status as plain dicts (the original quant-engine's name)."""
    return {k: v.to_dict() for k, v in get_data_router().engines_status(refresh=True).items()}
