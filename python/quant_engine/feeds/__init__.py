"""Market data: the synthetic market (the embedded default), and later the vendor clients
(ThetaData, Massive), the Parquet catalog, replay and the data router."""

from __future__ import annotations

from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, SyntheticMarket

__all__ = ["SyntheticMarket", "DEFAULT_SYMBOLS"]
