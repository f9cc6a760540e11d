"""Options analytics: prices, Greeks to third order and implied volatility for whole chains.

* :func:`greeks`, :func:`price`, :func:`implied_vol`: Black-Scholes-Merton with a continuous
  dividend yield, or Black-76 (``model="black76"``, or :func:`black76_greeks` /
  :func:`black76_implied_vol`) over arrays of contracts; Numba kernels, no Python per contract.
* :func:`chain_greeks`, :func:`portfolio_greeks`, :func:`strikes_by_delta`: chain tables in,
  chain tables out.
* :class:`Units` and ``CONVENTIONS``: raw, per-day, per-vol-point units and the ThetaData
  convention for side-by-side comparison with vendor snapshots.

``docs/options.md`` is the reference (formulas, units, status codes, accuracy).
"""

from __future__ import annotations

from quant_engine.options.chain import (
    EXPIRY_CLOSE,
    chain_greeks,
    expiry_years,
    portfolio_greeks,
    strikes_by_delta,
)
from quant_engine.options.pricing import (
    ORDERS,
    STATUS_NAMES,
    black76_greeks,
    black76_implied_vol,
    greek_columns,
    greeks,
    implied_vol,
    price,
)
from quant_engine.options.units import CONVENTIONS, Units
from quant_engine.options.vendor import THETADATA_COLUMNS

__all__ = [
    "greeks",
    "price",
    "implied_vol",
    "black76_greeks",
    "black76_implied_vol",
    "greek_columns",
    "chain_greeks",
    "portfolio_greeks",
    "strikes_by_delta",
    "expiry_years",
    "Units",
    "CONVENTIONS",
    "ORDERS",
    "STATUS_NAMES",
    "THETADATA_COLUMNS",
    "EXPIRY_CLOSE",
]
