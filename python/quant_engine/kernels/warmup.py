"""Compiles every Numba kernel the package's entry points use, so their on-disk cache is warm.

Run once after installing (``scripts/bootstrap.sh`` does, for ``make run`` and ``make test``)::

    python -m quant_engine.kernels.warmup        # or: quant-engine warmup

Each group runs the public entry point on a tiny input, so exactly the specializations that
production calls use are compiled (the same argument types, layouts and read-only flags), and
nothing is compiled that the entry points never call (the reference kernels that verify the Rust
core compile lazily, in the tests that use them). With a warm cache this takes about a second
(loading); with a cold one it prints the seconds each group spent compiling.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)

__all__ = ["GROUPS", "warmup", "main"]

_T0 = 1_704_205_800_000_000_000  # 2024-01-02 14:30 UTC
_MINUTE = 60_000_000_000
_DAY = 86_400_000_000_000


def _bars(symbols: Sequence[str], n: int, step: int) -> pa.Table:
    """A small deterministic bar table (a random walk per symbol) in the bar schema."""
    rng = np.random.default_rng(7)
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("open", "high", "low", "close", "volume")}
    for _ in symbols:
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.002, n)))
        open_ = np.concatenate([[100.0], close[:-1]])
        cols["open"].append(open_)
        cols["close"].append(close)
        cols["high"].append(np.maximum(open_, close) * 1.001)
        cols["low"].append(np.minimum(open_, close) * 0.999)
        cols["volume"].append(rng.integers(100, 10_000, n).astype(np.float64))
    start = np.tile(_T0 + step * np.arange(n, dtype=np.int64), len(symbols))
    table = {"symbol": pa.array(np.repeat(np.asarray(symbols), n).tolist()),
             "start": pa.array(start, pa.timestamp("ns", tz="UTC"))}  # fmt: skip
    table.update({k: np.concatenate(v) for k, v in cols.items()})
    return pa.table(table)


_SMA = {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}}
_SMA_SLOW = {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}}


def _strategy() -> None:
    """Backtest and sweep (plan evaluator, indicators, bar checks): one instrument and two, ATR
    stop and take-profit, shared and per-combination instructions."""
    from quant_engine.research import BacktestConfig, backtest, sweep

    doc = {
        "instruments": ["AAPL", "MSFT"],
        "timeframe": "1m",
        "entry_long": {"op": "cross_above", "left": _SMA, "right": _SMA_SLOW},
        "exit_long": {"op": "cross_below", "left": _SMA, "right": _SMA_SLOW},
        "stop_loss": {"kind": "atr", "n": 14, "mult": 2.0},
        "take_profit": {"kind": "percent", "value": 0.04},
        "sizing": {"kind": "fixed", "quantity": 10},
        "params": {"fast": 5, "slow": 20},
    }
    config = BacktestConfig(initial_cash=100_000.0)
    bars = _bars(["AAPL", "MSFT"], 300, _MINUTE)
    backtest(doc, bars, config)
    sweep(doc, {"fast": [3, 5], "slow": [10, 20]}, bars, config)
    one = dict(doc, instruments=["AAPL"])
    backtest(one, bars.filter(pa.compute.equal(bars.column("symbol"), "AAPL")), config)


def _trading() -> None:
    """Live runners (the step evaluator): ``on_bar``, ``on_bars`` and a book's ``on_close``."""
    from quant_engine.research import BacktestConfig
    from quant_engine.trading import Bar, LiveBook, LiveStrategy

    doc = {
        "instruments": ["AAPL"],
        "entry_long": {"op": "cross_above", "left": _SMA, "right": _SMA_SLOW},
        "exit_long": {"op": "cross_below", "left": _SMA, "right": _SMA_SLOW},
        "stop_loss": {"kind": "atr", "n": 14, "mult": 2.0},
        "params": {"fast": 5, "slow": 20},
    }
    bars = _bars(["AAPL", "MSFT"], 40, _MINUTE)
    config = BacktestConfig(initial_cash=100_000.0)
    live = LiveStrategy(doc, config)
    live.on_bars(bars.slice(0, 20))
    row = bars.slice(20, 1).to_pylist()[0]
    start_ns = int(bars.column("start").cast(pa.int64())[20].as_py())  # no pandas Timestamp at runtime
    live.on_bar(Bar(start_ns, row["open"], row["high"], row["low"], row["close"], row["volume"]))
    book = LiveBook.grid([doc], ["AAPL", "MSFT"], config)
    book.on_close(bars.take([0, 40]))


def _options() -> None:
    """Greeks (every order), prices and implied volatilities."""
    from quant_engine.options import greeks, implied_vol, price

    spot = np.array([100.0, 105.0, 95.0])
    strike = np.array([100.0, 100.0, 100.0])
    expiry = np.array([0.5, 0.25, 1.0])
    greeks(spot, strike, expiry, 0.03, 0.01, 0.2, ["C", "P", "C"], order="all")
    p = price(spot, strike, expiry, 0.03, 0.01, 0.2, "call").column("price")
    implied_vol(p, spot, strike, expiry, 0.03, 0.01, "call")


def _regimes() -> None:
    """Regime features of intraday bars."""
    from quant_engine.regimes import classify

    classify(_bars(["AAA", "BBB"], 300, _MINUTE))


def _discovery() -> None:
    """The market scan of daily bars."""
    from quant_engine.discovery import scan

    scan(_bars(["AAA", "BBB", "CCC"], 260, _DAY))


GROUPS: dict[str, Callable[[], None]] = {
    "strategy": _strategy,
    "trading": _trading,
    "options": _options,
    "regimes": _regimes,
    "discovery": _discovery,
}
"""Kernel groups, each warmed by running its public entry point on a tiny input."""


def warmup(groups: Sequence[str] | None = None, *, out: Callable[[str], None] | None = None) -> dict[str, float]:
    """Compiles (or loads from the cache) the kernels of ``groups`` (default: all of
    :data:`GROUPS`); returns the seconds each group spent compiling (0.0 when cached). ``out``
    receives one progress line per group."""
    from quant_engine.kernels import compile_watch  # imports Numba: only when warming up

    timings: dict[str, float] = {}
    for name in groups or list(GROUPS):
        if name not in GROUPS:
            raise ValueError(f"unknown kernel group {name!r}; choose from {', '.join(GROUPS)}")
        c0, t0 = compile_watch.compile_seconds(), time.perf_counter()
        GROUPS[name]()
        timings[name] = compile_watch.compile_seconds() - c0
        if out is not None:
            state = f"compiled in {timings[name]:.1f} s" if timings[name] > 0 else "cached"
            out(f"  {name:<10} {state} ({time.perf_counter() - t0:.1f} s)")
    return timings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command-line options of ``warmup`` (shared by the module and ``quant-engine warmup``)."""
    parser.add_argument(
        "groups", nargs="*", metavar="GROUP", help=f"kernel groups to compile (default all: {', '.join(GROUPS)})"
    )
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")


def run(args: argparse.Namespace) -> int:
    """Runs the warm-up as parsed by :func:`add_arguments`; exit status 0 (2: unknown group)."""
    unknown = [g for g in args.groups if g not in GROUPS]
    if unknown:
        print(
            f"quant-engine warmup: error: unknown kernel group {unknown[0]!r}; choose from {', '.join(GROUPS)}",
            file=sys.stderr,
        )
        return 2
    os.environ.setdefault("QE_COMPILE_NOTICE", "0")  # this command announces each group itself
    out = None if args.quiet else (lambda line: print(line, flush=True))
    started = time.perf_counter()
    timings = warmup(args.groups or None, out=out)
    if not args.quiet:
        total = sum(timings.values())
        print(f"kernels ready: {total:.1f} s compiling, {time.perf_counter() - started:.1f} s in all")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m quant_engine.kernels.warmup [GROUP ...] [--quiet]``."""
    parser = argparse.ArgumentParser(
        prog="python -m quant_engine.kernels.warmup",
        description="Compiles the Numba kernels once (cached on disk) so first runs do not stall.",
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
