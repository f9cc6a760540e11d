"""Two-sided CUSUM on a promoted strategy's per-bar returns, against its pre-registered expectation.

Each bar's net return ``r`` is standardized by the expectation stored at graduation,
``z = (r - mean) / sd``, and two cumulative sums run (Page 1954)::

    S_hi = max(0, S_hi + z - k)        S_lo = max(0, S_lo - z - k)

The strategy leaves its band when either passes ``h``. ``k`` (the reference value, in standard
deviations) is half the shift the test is tuned to detect; ``h`` (the decision interval) sets the
false-alarm rate. The defaults ``k = 0.5``, ``h = 8`` are tuned to a shift of one standard
deviation of the per-bar return (an execution divergence: fills, slippage or a data problem
moving every bar's return), with an in-control average run length (ARL0, bars to a false alarm
when returns follow the expectation) measured by :func:`run_lengths` in ``docs/shadow.md``. A
slow decay of a small edge (mean/sd of a few hundredths per bar) is a shift of that size: tune
``k`` to half of it and raise ``h`` (:func:`run_lengths` measures any choice).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numba as nb
import numpy as np

from quant_engine.errors import InvalidArgumentError

__all__ = ["CusumParams", "Cusum", "run_lengths"]


@dataclass(frozen=True)
class CusumParams:
    """The test's parameters: ``k`` reference value and ``h`` decision interval (both in standard
    deviations of the expected per-bar return); ``min_bars`` bars before an alarm counts."""

    k: float = 0.5
    h: float = 8.0
    min_bars: int = 1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k) and self.k >= 0.0):
            raise InvalidArgumentError(f"CUSUM k must be a finite value >= 0, got {self.k!r}")
        if not (math.isfinite(self.h) and self.h > 0.0):
            raise InvalidArgumentError(f"CUSUM h must be a finite value > 0, got {self.h!r}")
        if self.min_bars < 1:
            raise InvalidArgumentError(f"CUSUM min_bars must be >= 1, got {self.min_bars!r}")


@dataclass
class Cusum:
    """The running test of one strategy: ``update(r)`` takes a bar's return and says whether the
    strategy left its band (then ``side`` is ``"above"`` or ``"below"``)."""

    mean: float
    sd: float
    params: CusumParams = field(default_factory=CusumParams)
    hi: float = 0.0
    lo: float = 0.0
    bars: int = 0
    side: str | None = None
    alarm_bar: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.mean) and math.isfinite(self.sd) and self.sd > 0.0):
            raise InvalidArgumentError(f"an expectation needs a finite mean and sd > 0, got {self.mean}, {self.sd}")

    def update(self, r: float) -> bool:
        """Adds one bar's return; True once (the bar the test first leaves the band)."""
        if self.side is not None or not math.isfinite(r):
            return False
        z = (r - self.mean) / self.sd
        k = self.params.k
        self.hi = max(0.0, self.hi + z - k)
        self.lo = max(0.0, self.lo - z - k)
        self.bars += 1
        if self.bars < self.params.min_bars:
            return False
        if self.hi > self.params.h or self.lo > self.params.h:
            self.side = "above" if self.hi > self.params.h else "below"
            self.alarm_bar = self.bars
            return True
        return False

    def evidence(self) -> dict[str, Any]:
        """The statistic and its context (what the retirement and the causal memory record)."""
        return {
            "detector": "two-sided CUSUM",
            "k": self.params.k,
            "h": self.params.h,
            "s_hi": self.hi,
            "s_lo": self.lo,
            "bars": self.bars,
            "side": self.side,
            "expected_mean": self.mean,
            "expected_sd": self.sd,
        }


@nb.njit(cache=True, nogil=True)
def _run_lengths(seeds: np.ndarray, shift: float, scale: float, k: float, h: float, max_bars: int) -> np.ndarray:
    out = np.empty(seeds.shape[0], np.int64)
    for i in range(seeds.shape[0]):
        np.random.seed(seeds[i])
        hi = 0.0
        lo = 0.0
        n = max_bars
        for t in range(max_bars):
            z = shift + scale * np.random.standard_normal()
            hi = max(0.0, hi + z - k)
            lo = max(0.0, lo - z - k)
            if hi > h or lo > h:
                n = t + 1
                break
        out[i] = n
    return out


def run_lengths(
    params: CusumParams,
    *,
    shift: float = 0.0,
    scale: float = 1.0,
    paths: int = 2000,
    max_bars: int = 1_000_000,
    seed: int = 0,
) -> np.ndarray:
    """Bars to the first alarm on ``paths`` simulated paths of standardized returns drawn
    ``N(shift, scale^2)`` (``shift=0, scale=1``: in control, the mean is ARL0; ``shift=-m``: an
    edge of ``m`` sd gone). Paths without an alarm within ``max_bars`` count ``max_bars``. Numba,
    one compiled loop over all paths."""  # fmt: skip
    if paths < 1 or max_bars < 1:
        raise InvalidArgumentError("paths and max_bars must be >= 1")
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=paths, dtype=np.int64)
    return _run_lengths(seeds, float(shift), float(scale), float(params.k), float(params.h), int(max_bars))
