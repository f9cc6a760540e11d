"""Market data: the vendor clients (ThetaData, Massive), the Parquet catalog, replay, the
synthetic market (the embedded default) and the data router.

Heavy modules (``httpx``, the WebSocket transport) load on first use of their names.
"""

from __future__ import annotations

from typing import Any

from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket

__all__ = [
    "SyntheticMarket",
    "DEFAULT_SYMBOLS",
    "Catalog",
    "ReplayFeed",
    "DataRouter",
    "MarketData",
    "get_data_router",
    "ThetaDataClient",
    "AsyncThetaDataClient",
    "ThetaDataStream",
    "MassiveClient",
    "AsyncMassiveClient",
    "MassiveStream",
    "TerminalSupervisor",
    "FeedBatch",
    "EngineStatus",
    "FeedSettings",
]

_LAZY = {
    "Catalog": "quant_engine.feeds.catalog",
    "ReplayFeed": "quant_engine.feeds.replay",
    "DataRouter": "quant_engine.feeds.router",
    "MarketData": "quant_engine.feeds.router",
    "get_data_router": "quant_engine.feeds.router",
    "ThetaDataClient": "quant_engine.feeds.thetadata",
    "AsyncThetaDataClient": "quant_engine.feeds.thetadata",
    "ThetaDataStream": "quant_engine.feeds.thetadata",
    "MassiveClient": "quant_engine.feeds.massive",
    "AsyncMassiveClient": "quant_engine.feeds.massive",
    "MassiveStream": "quant_engine.feeds.massive",
    "TerminalSupervisor": "quant_engine.feeds.supervisor",
    "FeedBatch": "quant_engine.feeds.batches",
    "EngineStatus": "quant_engine.feeds.health",
    "FeedSettings": "quant_engine.feeds.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(module), name)
