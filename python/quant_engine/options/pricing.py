"""Option prices, Greeks to third order and implied volatility over whole arrays of contracts.

Models: ``"bsm"`` (Black-Scholes-Merton with a continuous dividend yield; ``spot`` is the
underlying's price) and ``"black76"`` (options on futures; ``spot`` is the futures price and
``dividend_yield`` is ignored). European exercise. Inputs are scalars, sequences, NumPy arrays or
Arrow arrays of one common length (scalars broadcast); outputs are ``pyarrow.Table`` objects,
one row per contract, in input order. Bad contracts never raise by default: their values are
NaN and the ``status`` column says why (``strict=True`` raises :class:`BadDataError` instead).
Units: see :mod:`quant_engine.options.units`; ``docs/options.md`` is the reference.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
import pyarrow as pa

from quant_engine.errors import BadDataError, InvalidArgumentError
from quant_engine.kernels.greeks import COLUMNS, LEVEL_ROWS, greeks_kernel, price_kernel
from quant_engine.kernels.implied_vol import STATUS_NAMES, implied_vol_kernel
from quant_engine.options.inputs import as_call_flags, as_float_array, broadcast
from quant_engine.options.units import Units, resolve_units

__all__ = [
    "greeks",
    "price",
    "implied_vol",
    "black76_greeks",
    "black76_implied_vol",
    "greek_columns",
    "STATUS_NAMES",
    "ORDERS",
]

ORDERS: dict[str, int] = {"first": 1, "second": 2, "third": 3, "all": 4}
"""Greek orders by name: each includes the lower ones; ``"all"`` adds d1, d2, dual_delta and
dual_gamma."""
_STATUS_TYPE = pa.dictionary(pa.int8(), pa.string())
_STATUS_DICT = pa.array(STATUS_NAMES, pa.string())
_MODELS = ("bsm", "black76")
_CHUNK_BLOCKS = 8
"""Blocks handed to a thread at a time (dynamic scheduling): on a shared machine a thread whose
core is busy takes fewer blocks instead of making the whole call wait for its static half."""


def _level(order: int | str) -> int:
    if isinstance(order, str):
        if order in ORDERS:
            return ORDERS[order]
    elif isinstance(order, (int, np.integer)) and not isinstance(order, bool) and 1 <= order <= 3:
        return int(order)
    raise InvalidArgumentError(f"invalid order {order!r} (expected 1, 2, 3, 'first', 'second', 'third' or 'all')")


def greek_columns(order: int | str = 2, model: str = "bsm") -> tuple[str, ...]:
    """The value columns :func:`greeks` returns for ``order`` and ``model`` (before ``status``)."""
    cols = COLUMNS[: LEVEL_ROWS[_level(order)]]
    return tuple(c for c in cols if not (model == "black76" and c == "epsilon"))


def _check_model(model: str) -> bool:
    if model not in _MODELS:
        raise InvalidArgumentError(f"invalid model {model!r} (expected 'bsm' or 'black76')")
    return model == "black76"


def _status_column(codes: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(codes.view(np.int8)), _STATUS_DICT)


def _raise_if_strict(strict: bool, codes: np.ndarray, what: str) -> None:
    if not strict:
        return
    bad = codes != 0
    if bad.any():
        counts = np.bincount(codes[bad], minlength=len(STATUS_NAMES))
        reasons = {STATUS_NAMES[i]: int(c) for i, c in enumerate(counts) if c}
        first = int(np.flatnonzero(bad)[0])
        raise BadDataError(
            f"{what}: {int(bad.sum())} of {codes.size} contracts rejected {reasons}; first at index {first}"
        )


IMPLAUSIBLE_VOL = 5.0
"""Volatilities above this (500 % a year) get status ``implausible_vol``: the row is computed,
but the value was most likely a percentage given for a fraction (20 for 0.20)."""
IMPLAUSIBLE_RATE = 1.0
"""Rates and dividend yields above this in magnitude (100 % a year) get ``implausible_rate``."""
_IMPLAUSIBLE_VOL = STATUS_NAMES.index("implausible_vol")
_IMPLAUSIBLE_RATE = STATUS_NAMES.index("implausible_rate")
_SCALAR_RULES: dict[str, tuple[str, bool]] = {
    "spot": ("a positive, finite price", True),
    "strike": ("a positive, finite price", True),
    "expiry": ("a positive, finite time in years", True),
    "vol": ("a positive, finite annualized volatility (0.2 for 20 %)", True),
    "rate": ("a finite rate (0.05 for 5 %)", False),
    "dividend": ("a finite yield (0.01 for 1 %)", False),
    "price": ("a finite option price", False),
}
_ARG_NAMES = {"expiry": "expiry_years", "dividend": "dividend_yield", "price": "option_price"}


def _check_scalars(arrays: dict[str, np.ndarray]) -> None:
    """A scalar argument broadcast over arrays of contracts that makes every one of them invalid
    is a typed error, not a table of ``invalid_input`` rows. (A single contract given only as
    scalars keeps its per-row status.)"""
    if all(a.ndim == 0 for a in arrays.values()):
        return
    for key, (rule, positive) in _SCALAR_RULES.items():
        a = arrays.get(key)
        if a is None or a.ndim != 0:
            continue
        v = float(a)
        if not np.isfinite(v) or (positive and v <= 0.0):
            raise InvalidArgumentError(
                f"{_ARG_NAMES.get(key, key)} = {v:g} is invalid for every contract: expected {rule}"
            )


def _flag_implausible(status: np.ndarray, a: dict[str, np.ndarray]) -> None:
    """Marks computed rows whose inputs look like percentages given for fractions."""
    ok = status == 0
    if "vol" in a:
        status[ok & (a["vol"] > IMPLAUSIBLE_VOL)] = _IMPLAUSIBLE_VOL
    rate_bad = (np.abs(a["rate"]) > IMPLAUSIBLE_RATE) | (np.abs(a["dividend"]) > IMPLAUSIBLE_RATE)
    status[(status == 0) & rate_bad] = _IMPLAUSIBLE_RATE


def _inputs(
    spot: Any, strike: Any, expiry_years: Any, rate: Any, dividend_yield: Any, right: Any, **extra: Any
) -> tuple[int, dict[str, np.ndarray]]:
    arrays = {
        "spot": as_float_array(spot, "spot"),
        "strike": as_float_array(strike, "strike"),
        "expiry": as_float_array(expiry_years, "expiry_years"),
        "rate": as_float_array(rate, "rate"),
        "dividend": as_float_array(dividend_yield, "dividend_yield"),
        "is_call": as_call_flags(right),
    }
    for name, value in extra.items():
        arrays[name] = as_float_array(value, name)
    _check_scalars(arrays)
    return broadcast(**arrays)


def greeks(
    spot: Any,
    strike: Any,
    expiry_years: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    vol: Any = 0.2,
    right: Any = "call",
    *,
    order: int | str = 2,
    model: str = "bsm",
    units: str | Units = "raw",
    strict: bool = False,
) -> pa.Table:
    """Price and Greeks of European options, one row per contract.

    Args:
        spot: underlying price (the futures price for ``model="black76"``).
        strike: strike price.
        expiry_years: time to expiry in years (ACT/365 calendar time is the usual choice).
        rate: continuously compounded risk-free rate (0.05 = 5 %).
        dividend_yield: continuous dividend yield (ignored by Black-76).
        vol: annualized volatility (0.20 = 20 %).
        right: ``"call"``/``"put"``/``"C"``/``"P"`` or booleans (True = call), scalar or array.
        order: 1 or ``"first"`` (price, delta, vega, theta, rho, epsilon, lambda), 2 or
            ``"second"`` (+ gamma, vanna, charm, vomma, veta, vera), 3 or ``"third"`` (+ speed,
            zomma, color, ultima), ``"all"`` (+ d1, d2, dual_delta, dual_gamma).
        model: ``"bsm"`` or ``"black76"`` (Black-76 has no epsilon column; its rho holds the
            futures price fixed).
        units: ``"raw"``, ``"thetadata"``, ``"trader"`` or a :class:`Units` value.
        strict: raise :class:`BadDataError` if any contract is invalid, instead of NaN rows.

    Returns:
        A ``pyarrow.Table`` with the value columns (``float64``) and ``status`` (dictionary:
        ``ok``, ``invalid_input`` (values NaN), or ``implausible_vol`` / ``implausible_rate``
        (values computed; a volatility above 5 or a rate or yield above 1 in magnitude, most
        likely a percentage given for a fraction).

    Raises:
        InvalidArgumentError: a scalar argument, broadcast over arrays of contracts, that is
            invalid for every one of them (``vol=-0.2``).
    """
    black76 = _check_model(model)
    level = _level(order)
    unit = resolve_units(units)
    n, a = _inputs(spot, strike, expiry_years, rate, dividend_yield, right, vol=vol)
    rows = LEVEL_ROWS[level]
    out = np.empty((rows, n), dtype=np.float64)
    status = np.empty(n, dtype=np.uint8)
    with nb.parallel_chunksize(_CHUNK_BLOCKS):
        greeks_kernel(
            a["spot"],
            a["strike"],
            a["expiry"],
            a["rate"],
            a["dividend"],
            a["vol"],
            a["is_call"],
            black76,
            level,
            out,
            status,
        )
    _flag_implausible(status, a)
    _raise_if_strict(strict, status, "greeks")
    names: list[str] = []
    columns: list[pa.Array] = []
    for k, name in enumerate(COLUMNS[:rows]):
        if black76 and name == "epsilon":
            continue
        factor = unit.scale(name)
        if factor != 1.0:
            out[k] *= factor
        names.append(name)
        columns.append(pa.array(out[k]))
    names.append("status")
    columns.append(_status_column(status))
    return pa.Table.from_arrays(columns, names=names)


def black76_greeks(
    futures: Any,
    strike: Any,
    expiry_years: Any,
    rate: Any = 0.0,
    vol: Any = 0.2,
    right: Any = "call",
    *,
    order: int | str = 2,
    units: str | Units = "raw",
    strict: bool = False,
) -> pa.Table:
    """Black-76 (options on futures) price and Greeks: :func:`greeks` with ``model="black76"``."""
    return greeks(
        futures, strike, expiry_years, rate, 0.0, vol, right, order=order, model="black76", units=units, strict=strict
    )


def price(
    spot: Any,
    strike: Any,
    expiry_years: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    vol: Any = 0.2,
    right: Any = "call",
    *,
    model: str = "bsm",
    strict: bool = False,
) -> pa.Table:
    """Prices only (the cheapest path, for whole chains or simulated scenarios).

    Returns:
        A ``pyarrow.Table`` with ``price`` (NaN for invalid contracts) and ``status``.
    """
    black76 = _check_model(model)
    n, a = _inputs(spot, strike, expiry_years, rate, dividend_yield, right, vol=vol)
    out = np.empty(n, dtype=np.float64)
    with nb.parallel_chunksize(_CHUNK_BLOCKS * 512):
        price_kernel(
            a["spot"], a["strike"], a["expiry"], a["rate"], a["dividend"], a["vol"], a["is_call"], black76, out
        )
    status = np.where(np.isnan(out), np.uint8(4), np.uint8(0)).astype(np.uint8)
    _flag_implausible(status, a)
    _raise_if_strict(strict, status, "price")
    return pa.Table.from_arrays([pa.array(out), _status_column(status)], names=["price", "status"])


def implied_vol(
    option_price: Any,
    spot: Any,
    strike: Any,
    expiry_years: Any,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    right: Any = "call",
    *,
    model: str = "bsm",
    strict: bool = False,
) -> pa.Table:
    """Implied volatility of European option prices, to about 1e-15 relative on well-conditioned
    inputs (see ``docs/options.md`` for the accuracy statement and the method).

    Returns:
        A ``pyarrow.Table`` with ``implied_vol`` (``float64``, annualized; NaN unless the status
        is ``ok``) and ``status`` (dictionary: ``ok``, ``below_intrinsic``, ``above_upper_bound``,
        ``no_time_value``, ``invalid_input``, ``no_convergence``).
    """
    black76 = _check_model(model)
    n, a = _inputs(spot, strike, expiry_years, rate, dividend_yield, right, price=option_price)
    vol = np.empty(n, dtype=np.float64)
    status = np.empty(n, dtype=np.uint8)
    with nb.parallel_chunksize(2 * _CHUNK_BLOCKS):
        implied_vol_kernel(
            a["price"],
            a["spot"],
            a["strike"],
            a["expiry"],
            a["rate"],
            a["dividend"],
            a["is_call"],
            black76,
            vol,
            status,
        )
    _raise_if_strict(strict, status, "implied_vol")
    return pa.Table.from_arrays([pa.array(vol), _status_column(status)], names=["implied_vol", "status"])


def black76_implied_vol(
    option_price: Any,
    futures: Any,
    strike: Any,
    expiry_years: Any,
    rate: Any = 0.0,
    right: Any = "call",
    *,
    strict: bool = False,
) -> pa.Table:
    """Black-76 implied volatility: :func:`implied_vol` with ``model="black76"``."""
    return implied_vol(option_price, futures, strike, expiry_years, rate, 0.0, right, model="black76", strict=strict)
