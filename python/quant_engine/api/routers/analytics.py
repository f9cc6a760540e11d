"""``/regimes`` and ``/discovery`` (the original quant-engine's paths) over router or synthetic bars."""

from __future__ import annotations

import math
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from quant_engine.api.bodies import DiscoveryBody, RegimeRow, RegimesBody
from quant_engine.api.io import operation, reply
from quant_engine.api.market_bars import Source, load_bars, parse_symbols
from quant_engine.api.state import app_state, run_sync
from quant_engine.api.tables import json_rows

__all__ = ["router"]

router = APIRouter(tags=["analytics"])

Symbols = Annotated[str, Query(min_length=1, max_length=1000, description="comma-separated symbols")]
Days = Annotated[int, Query(ge=1, le=30, description="synthetic market: sessions simulated")]
Seed = Annotated[int, Query(ge=0, le=2**31 - 1, description="synthetic market: random seed")]
When = Annotated[str | None, Query(max_length=64, description="router: ISO-8601 instant or UTC nanoseconds")]
Timeframe = Annotated[str, Query(min_length=1, max_length=16, description="bar interval (1m .. 1d)")]


def _finite(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and not math.isfinite(x)) else float(x)


def _latest_regimes(bars: pa.Table) -> list[RegimeRow]:
    from quant_engine.kernels.regimes import FEATURES
    from quant_engine.regimes import classify

    labelled = classify(bars)
    if labelled.num_rows == 0:
        return []
    symbols = pc.cast(labelled.column("symbol"), pa.string()).to_pylist()
    last = [i for i in range(len(symbols)) if i + 1 == len(symbols) or symbols[i + 1] != symbols[i]]
    rows = labelled.take(pa.array(last))
    out = []
    for r in json_rows(rows):
        out.append(RegimeRow(str(r["symbol"]), int(r["start"]), float(r["close"]), str(r["regime"]), str(r["character"]),
                             {name: _finite(r.get(name)) for name in FEATURES}))  # fmt: skip
    return out


@router.get("/regimes", summary="The current market regime of each symbol", **operation(response=RegimesBody))
async def regimes(
    request: Request,
    symbols: Symbols = "SPY,AAPL,MSFT",
    source: Source = "synthetic",
    timeframe: Timeframe = "30m",
    start: When = None,
    end: When = None,
    days: Days = 10,
    seed: Seed = 7,
) -> Response:
    """Classifies every bar (``quant_engine.regimes.classify``: trend up/down or range, calm or
    volatile; momentum, random walk or mean reverting) and returns each symbol's latest label
    (``warmup`` while its history is too short)."""
    state = app_state(request)
    wanted = parse_symbols(symbols)
    bars = await run_sync(
        load_bars, state.router, source, wanted, timeframe, start=start, end=end, days=days, seed=seed
    )
    rows = await run_sync(_latest_regimes, bars)
    return reply(RegimesBody(source, timeframe, bars.num_rows, rows))


def _scan(bars: pa.Table, **kwargs: Any) -> DiscoveryBody:
    from quant_engine.discovery import scan

    table = scan(bars, **kwargs)
    meta = table.schema.metadata or {}
    rows = json_rows(table)
    asof = int(rows[0]["start"]) if rows else None
    return DiscoveryBody(
        "", asof, rows, int(meta.get(b"excluded_no_bar_at_asof", b"0")), int(meta.get(b"excluded_short_history", b"0"))
    )


@router.get(
    "/discovery", summary="What is unusual today: a ranked scan of daily bars", **operation(response=DiscoveryBody)
)
async def discovery(
    request: Request,
    symbols: Symbols = "AAPL,MSFT,NVDA,AMZN,GOOGL,META,TSLA,JPM,XOM,SPY",
    source: Source = "synthetic",
    start: When = None,
    end: When = None,
    days: Annotated[int, Query(ge=7, le=60, description="synthetic market: sessions simulated")] = 30,
    seed: Seed = 7,
    lookback: Annotated[int, Query(ge=5, le=252)] = 20,
    z_threshold: Annotated[float, Query(gt=0, le=100)] = 2.0,
    rank_by: Annotated[str, Query(pattern="^(score|gainers|losers|volume|gaps|volatility)$")] = "score",
    top: Annotated[int, Query(ge=1, le=1000)] = 50,
    signals_only: bool = False,
) -> Response:
    """Ranks every symbol's latest daily bar against its own history
    (``quant_engine.discovery.scan``: gainers, losers, gaps, unusual volume, new highs and lows,
    volatility expansion). Symbols with fewer than ``lookback + 1`` earlier bars are counted in
    ``excluded_short_history``."""
    state = app_state(request)
    wanted = parse_symbols(symbols)
    bars = await run_sync(load_bars, state.router, source, wanted, "1d", start=start, end=end, days=days, seed=seed)
    body = await run_sync(
        _scan, bars, lookback=lookback, z_threshold=z_threshold, rank_by=rank_by, top=top, signals_only=signals_only
    )
    body.source = source
    return reply(body)
