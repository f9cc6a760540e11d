"""The pre-registered expectation of a graduate: what paper trading should show.

At graduation the Red Team stores, beside the verdict, the per-bar return distribution the
strategy showed out of sample (its mean, standard deviation and higher moments) and the interval
of its Sharpe ratio. The shadow trader runs its sequential test (CUSUM) against ``mean`` and
``sd`` and retires a strategy that leaves the band; the operator sees ``sharpe_low`` ..
``sharpe_high`` beside the live Sharpe.

The Sharpe interval uses the asymptotic standard error of the per-period Sharpe ratio under
non-normal returns (Mertens 2002; Bailey & López de Prado 2012, eq. 2):
``se = sqrt((1 - g3*SR + (g4 - 1)/4 * SR^2) / (n - 1))``.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import msgspec
import numpy as np

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.redteam.statistics import sharpe_summary

__all__ = ["Expectation", "expectation_from_returns"]


class Expectation(msgspec.Struct, frozen=True, kw_only=True):
    """Per-bar net return statistics a graduate pre-registers for paper trading.

    ``mean``/``sd``/``g3``/``g4`` are per bar (``g4`` non-excess kurtosis); ``sharpe`` and the band
    ``sharpe_low``..``sharpe_high`` are annualized with ``periods_per_year``; ``confidence`` is the
    band's two-sided coverage; ``n_obs`` the bars it was estimated on; ``source`` the segment
    (``"holdout"``, ``"validation"``)."""

    mean: float
    sd: float
    g3: float
    g4: float
    sharpe: float
    sharpe_low: float
    sharpe_high: float
    confidence: float
    periods_per_year: float
    n_obs: int
    source: str

    def to_dict(self) -> dict[str, Any]:
        """The expectation as a JSON-ready dict (what the store keeps)."""
        return msgspec.to_builtins(self)

    @classmethod
    def from_dict(cls, document: Any) -> Expectation:
        """An expectation from :meth:`to_dict`'s output; raises :class:`InvalidArgumentError`."""
        try:
            return msgspec.convert(document, cls)
        except msgspec.ValidationError as exc:
            raise InvalidArgumentError(f"not an expectation document: {exc}") from None

    def contains_sharpe(self, annualized_sharpe: float) -> bool:
        """Whether an annualized Sharpe lies inside the band."""
        return self.sharpe_low <= annualized_sharpe <= self.sharpe_high


def expectation_from_returns(
    returns: Any, *, periods_per_year: float, source: str, confidence: float = 0.95
) -> Expectation:
    """The expectation of a per-bar net return series (raises :class:`InvalidArgumentError` when
    its moments cannot be computed: too few bars, non-finite values, constant returns)."""
    if not (math.isfinite(periods_per_year) and periods_per_year > 0):
        raise InvalidArgumentError(f"periods_per_year must be positive, got {periods_per_year!r}")
    if not 0.0 < confidence < 1.0:
        raise InvalidArgumentError(f"confidence must be in (0, 1), got {confidence!r}")
    r = np.asarray(returns, dtype=np.float64)
    s = sharpe_summary(r)
    if s.reason is not None:
        raise InvalidArgumentError(f"no expectation from these returns: {s.reason}")
    factor = 1.0 - s.g3 * s.sharpe + (s.g4 - 1.0) / 4.0 * s.sharpe**2
    se = math.sqrt(max(factor, 0.0) / (s.n - 1))
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    root = math.sqrt(periods_per_year)
    return Expectation(
        mean=s.mean,
        sd=s.sd,
        g3=s.g3,
        g4=s.g4,
        sharpe=s.sharpe * root,
        sharpe_low=(s.sharpe - z * se) * root,
        sharpe_high=(s.sharpe + z * se) * root,
        confidence=confidence,
        periods_per_year=float(periods_per_year),
        n_obs=s.n,
        source=source,
    )
