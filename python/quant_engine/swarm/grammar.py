"""Random strategies from the grammar of the strategy language, typed by scale.

A numeric series has a *scale* (``price`` for prices and their averages, ``osc`` for 0..100
oscillators, ``unit`` for z-scores and %b, ``small`` for returns and distances, ``ratio`` for volume
ratios, ``diff`` for price differences around 0). Conditions only compare series of one scale, or
a series with a constant drawn from that scale's range, so random rules are meaningful (``rsi < 30``,
``ema(close, 12) crosses above sma(close, 40)``), not ``volume > rsi``. Mutation and crossover use
:func:`scale_of` to replace a subtree only with one of the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from quant_engine.strategy import Strategy
from quant_engine.strategy import nodes as N
from quant_engine.strategy.spec import EquityFraction, PercentStop

__all__ = ["GrammarConfig", "Grammar", "scale_of", "SCALES", "CONSTANT_RANGES"]

SCALES = ("price", "osc", "unit", "small", "ratio", "diff")
"""The scales of numeric series."""

CONSTANT_RANGES: dict[str, tuple[float, float]] = {
    "osc": (10.0, 90.0),
    "unit": (-2.5, 2.5),
    "small": (-0.005, 0.005),
    "ratio": (0.3, 3.0),
    "diff": (-0.5, 0.5),
}
"""The range constants are drawn from, per scale (``price`` is never compared with a constant)."""

_PRICE_FIELDS = ("close", "open", "high", "low")


@dataclass(frozen=True)
class GrammarConfig:
    """Bounds of random strategies.

    Attributes:
        min_window, max_window: window lengths drawn (log-uniform).
        max_depth: deepest condition nesting (``and``/``or``/``not`` levels).
        p_short: probability of a short side as well.
        p_exit_rule: probability of an exit rule (else a time stop ends each trade).
        p_stop: probability of a percent stop-loss.
        max_time_stop: the longest time stop drawn.
    """

    min_window: int = 2
    max_window: int = 200
    max_depth: int = 2
    p_short: float = 0.3
    p_exit_rule: float = 0.8
    p_stop: float = 0.3
    max_time_stop: int = 240


def scale_of(node: Any) -> str | None:
    """The scale of a numeric series (None for a condition or an unknown shape)."""
    if isinstance(node, str):
        return "ratio" if node == "volume" else "price"
    if isinstance(node, bool):
        return None
    if isinstance(node, float | int):
        return "const"
    if isinstance(node, (N.Sma, N.Ema, N.Wma, N.RollingMin, N.RollingMax, N.Lag)):
        return scale_of(node.x)
    if isinstance(node, N.Bollinger):
        return {"percent_b": "unit", "width": "small"}.get(node.band, "price")
    if isinstance(node, N.Rsi):
        return "osc"
    if isinstance(node, N.ZScore):
        return "unit"
    if isinstance(node, (N.Returns, N.RealizedVol, N.VwapDistance)):
        return "small"
    if isinstance(node, N.VolumeRatio):
        return "ratio"
    if isinstance(node, (N.Macd, N.Sub)):
        return "diff"
    if isinstance(node, N.Atr):
        return "diff"
    return None


class Grammar:
    """Draws random series, conditions and strategies (see the module doc)."""

    def __init__(self, rng: np.random.Generator, instruments: list[str], *, config: GrammarConfig | None = None,
                 timeframe: str = "1m") -> None:  # fmt: skip
        self.rng = rng
        self.instruments = list(instruments)
        self.config = config or GrammarConfig()
        self.timeframe = timeframe

    def window(self) -> int:
        """A window length, log-uniform in the configured range."""
        lo, hi = np.log(self.config.min_window), np.log(self.config.max_window)
        return int(round(float(np.exp(self.rng.uniform(lo, hi)))))

    def constant(self, scale: str) -> float:
        """A constant of ``scale``'s range (rounded to 4 significant digits)."""
        lo, hi = CONSTANT_RANGES[scale]
        return float(f"{self.rng.uniform(lo, hi):.4g}")

    def _pick(self, options: list[Any]) -> Any:
        return options[int(self.rng.integers(len(options)))]

    def series(self, scale: str) -> Any:
        """A random numeric series of ``scale``."""
        w = self.window
        if scale == "price":
            field = self._pick(list(_PRICE_FIELDS))
            kind = self._pick(["sma", "ema", "wma", "field", "rolling_max", "rolling_min", "bollinger", "lag"])
            if kind == "field":
                return field
            if kind == "bollinger":
                return N.Bollinger(x="close", n=max(2, w()), k=float(f"{self.rng.uniform(1.0, 3.0):.3g}"),
                                   band=self._pick(["upper", "lower", "middle"]))  # fmt: skip
            if kind == "lag":
                return N.Lag(x=field, n=int(self.rng.integers(1, 10)))
            cls = {"sma": N.Sma, "ema": N.Ema, "wma": N.Wma, "rolling_max": N.RollingMax, "rolling_min": N.RollingMin}
            return cls[kind](x=field, n=w())
        if scale == "osc":
            return N.Rsi(n=max(2, w()))
        if scale == "unit":
            if self.rng.random() < 0.5:
                return N.ZScore(x=self._pick(["close", "volume"]), n=max(2, w()))
            return N.Bollinger(x="close", n=max(2, w()), k=2.0, band="percent_b")
        if scale == "small":
            kind = self._pick(["returns", "vwap_distance", "realized_vol"])
            if kind == "returns":
                return N.Returns(n=max(1, w() // 4))
            if kind == "vwap_distance":
                return N.VwapDistance(n=max(2, w()))
            return N.RealizedVol(n=max(2, w()))
        if scale == "ratio":
            return N.VolumeRatio(n=max(2, w()))
        fast, slow = sorted(self.rng.choice(np.arange(2, self.config.max_window), 2, replace=False).tolist())
        if self.rng.random() < 0.5:
            return N.Macd(fast=int(fast), slow=int(slow), signal=max(2, w() // 4), output="hist")
        return N.Sub(left=N.Ema(x="close", n=int(fast)), right=N.Ema(x="close", n=int(slow)))

    def comparison(self) -> Any:
        """A random comparison or cross of two series of one scale, or a series and a constant."""
        scale = self._pick(list(SCALES))
        left = self.series(scale)
        if scale == "price" or self.rng.random() < 0.25 and scale != "osc":
            right = self.series(scale)
            if scale == "price" and left == right:
                right = N.Sma(x="close", n=self.window())
        else:
            right = self.constant("diff" if scale == "diff" else scale)
        cls = self._pick([N.Gt, N.Lt, N.CrossAbove, N.CrossBelow, N.Gt, N.Lt])
        return cls(left=left, right=right)

    def condition(self, depth: int = 0) -> Any:
        """A random condition: a comparison, or ``and``/``or``/``not`` of conditions."""
        if depth >= self.config.max_depth or self.rng.random() < 0.55:
            return self.comparison()
        kind = self._pick(["and", "and", "or", "not"])
        if kind == "not":
            return N.Not(x=self.comparison())
        cls = N.And if kind == "and" else N.Or
        return cls(args=[self.condition(depth + 1) for _ in range(int(self.rng.integers(2, 4)))])

    def strategy(self) -> Strategy:
        """A random complete strategy over the instruments."""
        cfg = self.config
        short = self.rng.random() < cfg.p_short
        exits = self.rng.random() < cfg.p_exit_rule
        return Strategy(
            instruments=self.instruments,
            timeframe=self.timeframe,
            entry_long=self.condition(),
            exit_long=self.condition() if exits else None,
            entry_short=self.condition() if short else None,
            exit_short=self.condition() if short and exits else None,
            stop_loss=PercentStop(value=float(f"{self.rng.uniform(0.002, 0.05):.3g}")) if self.rng.random() < cfg.p_stop else None,
            time_stop=None if exits else int(self.rng.integers(5, cfg.max_time_stop)),
            sizing=EquityFraction(fraction=1.0),
        )  # fmt: skip
