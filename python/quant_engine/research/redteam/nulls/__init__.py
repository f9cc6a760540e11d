"""The Red Team's expensive tests: the strategy re-run on altered data (VALIDATION.md §4, §6).

* :func:`white_noise_a` (WNT-A): synthetic markets without edge, fitting included; feeds
  LOOKAHEAD_BIAS.
* :func:`white_noise_b` (WNT-B): the real data with returns permuted or block-bootstrapped;
  feeds NOISE_FITTING.
* :func:`perturbation`: +-20% of every constant and window; feeds PARAMETER_INSTABILITY.
* :func:`lag_collapse`: the Sharpe with one extra bar of signal delay; evidence for
  LOOKAHEAD_BIAS.

Null markets are generated in parallel Numba kernels (:mod:`quant_engine.kernels.null_markets`),
the strategy's signals for many markets come from one plan evaluation, and fills run through the
Rust sweep loop (:mod:`._engine`).
"""

from __future__ import annotations

from quant_engine.research.redteam.nulls.lag import lag_collapse
from quant_engine.research.redteam.nulls.perturb import perturbation
from quant_engine.research.redteam.nulls.results import (
    LagCollapseResult,
    NullMarketsResult,
    PerturbationResult,
    WhiteNoiseBResult,
)
from quant_engine.research.redteam.nulls.wnt_a import white_noise_a
from quant_engine.research.redteam.nulls.wnt_b import white_noise_b

__all__ = [
    "white_noise_a",
    "white_noise_b",
    "perturbation",
    "lag_collapse",
    "NullMarketsResult",
    "WhiteNoiseBResult",
    "PerturbationResult",
    "LagCollapseResult",
]
