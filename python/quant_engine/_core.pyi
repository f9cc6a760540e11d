"""Typed mirror of the Rust extension module ``quant_engine._core`` (checked by mypy.stubtest)."""

from collections.abc import Callable
from typing import Any, final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from typing_extensions import Self, disjoint_base

__all__ = [
    "METRIC_NAMES",
    "backtest_run",
    "backtest_sweep",
    "MAX_TS",
    "MIN_TS",
    "MultiSymbolBuffer",
    "REJECT_REASONS",
    "StreamBuffer",
    "TickAggregator",
    "__version__",
    "_debug_panic",
    "parse_duration_ns",
    "performance_metrics",
]

__version__: str
MIN_TS: int
MAX_TS: int
REJECT_REASONS: list[str]
METRIC_NAMES: list[str]

def _debug_panic(message: str) -> None: ...
def parse_duration_ns(text: str) -> int: ...
def backtest_run(
    ts: npt.NDArray[np.int64],
    open: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
    offsets: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    symbols: list[str],
    signals: npt.NDArray[np.uint8],
    stop_distance: npt.NDArray[np.float64] | None,
    take_distance: npt.NDArray[np.float64] | None,
    stop_kind: int,
    stop_value: float,
    take_kind: int,
    take_value: float,
    time_stop: int,
    sizing_kind: int,
    sizing_value: float,
    config_json: str,
    periods_per_year: float,
) -> dict[str, Any]: ...
def backtest_sweep(
    ts: npt.NDArray[np.int64],
    open: npt.NDArray[np.float64],
    high: npt.NDArray[np.float64],
    low: npt.NDArray[np.float64],
    close: npt.NDArray[np.float64],
    volume: npt.NDArray[np.float64],
    offsets: npt.NDArray[np.int64],
    order: npt.NDArray[np.int64],
    symbols: list[str],
    signals: npt.NDArray[np.uint8],
    stop_distance: npt.NDArray[np.float64] | None,
    take_distance: npt.NDArray[np.float64] | None,
    stop_kind: int,
    stop_values: npt.NDArray[np.float64],
    take_kind: int,
    take_values: npt.NDArray[np.float64],
    time_stops: npt.NDArray[np.int64],
    sizing_kind: int,
    sizing_values: npt.NDArray[np.float64],
    config_json: str,
    periods_per_year: float,
    threads: int,
) -> npt.NDArray[np.float64]: ...
def performance_metrics(
    returns: npt.NDArray[np.float64],
    periods_per_year: float,
    timestamps: npt.NDArray[np.int64] | None = None,
    in_market: npt.NDArray[np.bool_] | None = None,
    trade_pnl: npt.NDArray[np.float64] | None = None,
) -> dict[str, float]: ...

@disjoint_base
class StreamBuffer:
    def __new__(
        cls,
        symbol: str,
        interval: int | str = "1m",
        capacity: int = 500,
        min_bars: int = 50,
        lateness: int | str = "0s",
        origin: int | str | None = None,
        fill_gaps: bool = False,
        on_bar: Callable[[pa.Table], Any] | None = None,
    ) -> Self: ...
    def push(self, ticks: Any, price: float | None = None, size: float | None = None) -> pa.Table: ...
    def push_arrays(
        self,
        ts: npt.NDArray[np.int64],
        price: npt.NDArray[np.float64],
        size: npt.NDArray[np.float64],
    ) -> pa.Table: ...
    def advance(self, ts: int) -> pa.Table: ...
    def flush(self) -> pa.Table: ...
    def bars(self) -> pa.Table: ...
    def warmup(self, bars: Any) -> dict[str, int]: ...
    @property
    def is_ready(self) -> bool: ...
    def warmup_requirement(self) -> int: ...
    def current_bar(self) -> dict[str, Any] | None: ...
    def stats(self) -> dict[str, Any]: ...
    def memory_bytes(self) -> int: ...
    @property
    def symbol(self) -> str: ...
    @property
    def interval_ns(self) -> int: ...
    @property
    def lateness_ns(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def min_bars(self) -> int: ...
    def __len__(self) -> int: ...
    def _debug_panic(self) -> None: ...

@disjoint_base
class MultiSymbolBuffer:
    def __new__(
        cls,
        symbols: list[str] | None = None,
        interval: int | str = "1m",
        capacity: int = 500,
        min_bars: int = 50,
        lateness: int | str = "0s",
        origin: int | str | None = None,
        fill_gaps: bool = False,
        on_bar: Callable[[pa.Table], Any] | None = None,
    ) -> Self: ...
    def push(self, ticks: Any) -> pa.Table: ...
    def push_tick(self, symbol: str, ts: int, price: float, size: float) -> pa.Table: ...
    def advance(self, ts: int) -> pa.Table: ...
    def flush(self) -> pa.Table: ...
    def bars(self, symbol: str) -> pa.Table: ...
    def snapshot(self, symbols: list[str] | None = None) -> pa.Table: ...
    def warmup(self, bars: Any, symbol: str | None = None) -> dict[str, Any]: ...
    def is_ready(self, symbol: str) -> bool: ...
    def ready_symbols(self) -> list[str]: ...
    def warmup_requirement(self, symbol: str | None = None) -> Any: ...
    def current_bar(self, symbol: str) -> dict[str, Any] | None: ...
    def stats(self, symbol: str | None = None) -> dict[str, Any]: ...
    def symbols(self) -> list[str]: ...
    def memory_bytes(self) -> int: ...
    @property
    def interval_ns(self) -> int: ...
    @property
    def lateness_ns(self) -> int: ...
    @property
    def capacity(self) -> int: ...
    @property
    def min_bars(self) -> int: ...
    def __len__(self) -> int: ...
    def __contains__(self, key: str, /) -> bool: ...

@final
class TickAggregator:
    def __new__(
        cls,
        interval: int | str = "1m",
        origin: int | str | None = None,
        fill_gaps: bool = False,
        symbols: list[str] | None = None,
    ) -> Self: ...
    def push(self, ticks: Any) -> None: ...
    def finish(self) -> pa.Table: ...
    def stats(self) -> dict[str, Any]: ...
