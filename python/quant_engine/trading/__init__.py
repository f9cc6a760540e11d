"""Trading: strategies running on live (or replayed) bars through the core's trading stepper,
the same code ``backtest()`` drives (see ``docs/architecture.md``), and the shadow trader that
paper-trades the promoted strategies (``docs/shadow.md``; import it from
:mod:`quant_engine.trading.shadow`, it pulls in the store)."""

from quant_engine.trading.book import LiveBook
from quant_engine.trading.live import Bar, LiveStrategy

__all__ = ["Bar", "LiveBook", "LiveStrategy"]
