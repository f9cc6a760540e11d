"""Trading: strategies running on live (or replayed) bars through the core's trading stepper,
the same code ``backtest()`` drives (see ``docs/architecture.md``)."""

from quant_engine.trading.book import LiveBook
from quant_engine.trading.live import Bar, LiveStrategy

__all__ = ["Bar", "LiveBook", "LiveStrategy"]
