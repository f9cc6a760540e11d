"""Option chain helpers: Greeks per contract from a chain table, portfolio Greeks aggregated
with contract multipliers, and strike picking by delta.

A *chain table* is any Arrow table (pyarrow, polars, a PyCapsule producer) with one row per
contract. Column names follow the ThetaData v3 snapshots, so a vendor snapshot can be passed as
is: ``strike``, ``right`` (``CALL``/``PUT``, ``C``/``P``, ...), ``expiration`` (date, timestamp or
``YYYY-MM-DD`` string) or ``expiry_years``, optionally ``underlying_price``, ``implied_vol``,
``bid``/``ask`` or ``price``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import InvalidArgumentError, SchemaError
from quant_engine.options.inputs import as_float_array, is_string_like
from quant_engine.options.pricing import greeks, implied_vol
from quant_engine.options.units import Units
from quant_engine.tables import as_table, require_columns
from quant_engine.times import instant_ns

__all__ = ["chain_greeks", "portfolio_greeks", "strikes_by_delta", "expiry_years", "EXPIRY_CLOSE"]

EXPIRY_CLOSE = ("16:00", "America/New_York")
"""Expiration dates are taken to expire at this local time (the US equity options close)."""
_NS_PER_YEAR = 365.0 * 86_400 * 1_000_000_000
_NOT_SUMMABLE = {"lambda", "d1", "d2", "status", "implied_vol", "iv_status", "expiry_years"}


def _table(chain: Any) -> pa.Table:
    return as_table(chain, what="the option chain")


def _require(table: pa.Table, name: str) -> pa.ChunkedArray:
    require_columns(table, (name,), what="the option chain")
    return table.column(name)


def expiry_years(expiration: Any, valuation: Any) -> np.ndarray:
    """Years (ACT/365) from ``valuation`` to each expiration.

    ``expiration`` is an Arrow/NumPy column of dates (expiring at ``EXPIRY_CLOSE``), timestamps
    (exact instants) or ``YYYY-MM-DD`` strings; ``valuation`` is any instant accepted by
    :func:`quant_engine.times.instant_ns`.
    """
    now = instant_ns(valuation, "valuation")
    col = expiration if isinstance(expiration, (pa.Array, pa.ChunkedArray)) else pa.array(expiration)
    if is_string_like(col.type):
        col = pc.cast(col, pa.string())
        try:
            col = pc.cast(pc.strptime(col, format="%Y-%m-%d", unit="s"), pa.date32())
        except pa.ArrowInvalid as exc:
            raise SchemaError(f"expiration: expected YYYY-MM-DD strings ({exc})") from None
    if pa.types.is_date(col.type):
        days = np.asarray(pc.cast(pc.cast(col, pa.date32()), pa.int32()).to_numpy(zero_copy_only=False), dtype=np.int64)
        hh, mm = (int(v) for v in EXPIRY_CLOSE[0].split(":"))
        zone = ZoneInfo(EXPIRY_CLOSE[1])
        uniq, inverse = np.unique(days, return_inverse=True)
        close = np.empty(uniq.size, dtype=np.int64)
        for j, d in enumerate(uniq):
            day = dt.date(1970, 1, 1) + dt.timedelta(days=int(d))
            local = dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=zone)
            close[j] = int(local.timestamp()) * 1_000_000_000
        ns = close[inverse]
    elif pa.types.is_timestamp(col.type):
        ns = np.asarray(
            pc.cast(pc.cast(col, pa.timestamp("ns", tz=col.type.tz)), pa.int64()).to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
    else:
        raise SchemaError(f"expiration: expected dates, timestamps or YYYY-MM-DD strings, got {col.type}")
    return (ns - now).astype(np.float64) / _NS_PER_YEAR


def _option_price(table: pa.Table, price: str) -> np.ndarray:
    if price == "mid":
        bid = as_float_array(_require(table, "bid"), "bid")
        ask = as_float_array(_require(table, "ask"), "ask")
        mid = 0.5 * (bid + ask)
        return np.where((bid >= 0) & (ask >= bid) & (ask > 0), mid, np.nan)
    return as_float_array(_require(table, price), price)


def chain_greeks(
    chain: Any,
    *,
    spot: Any = None,
    valuation: Any = None,
    rate: Any = 0.0,
    dividend_yield: Any = 0.0,
    vol: Any = None,
    price: str = "mid",
    solve_iv: bool = False,
    order: int | str = 2,
    model: str = "bsm",
    units: str | Units = "raw",
) -> pa.Table:
    """Greeks for every contract of a chain table: the chain's columns plus ``expiry_years``,
    ``implied_vol`` and ``iv_status`` (when solved here), ``model_price``, the Greek columns and
    ``status``.

    Args:
        chain: the chain table (see the module docstring for column names).
        spot: underlying price (scalar or array); default: the ``underlying_price`` column.
        valuation: the valuation instant, needed unless the chain has ``expiry_years``.
        rate, dividend_yield: scalars or arrays (see :func:`greeks`).
        vol: volatility (scalar or array); default: the ``implied_vol`` column if present,
            otherwise the implied volatility of the option price chosen by ``price``.
        price: ``"mid"`` (of ``bid``/``ask``; a crossed or empty quote gives NaN) or a column name.
        solve_iv: solve volatilities from ``price`` even when the chain has ``implied_vol``
            (the vendor's column is then replaced).
        order, model, units: as for :func:`greeks`.
    """
    table = _table(chain)
    if spot is None:
        spot = _require(table, "underlying_price")
    if "expiry_years" in table.column_names:
        years = as_float_array(table.column("expiry_years"), "expiry_years")
    else:
        if valuation is None:
            raise InvalidArgumentError("valuation is required when the chain has no 'expiry_years' column")
        years = expiry_years(_require(table, "expiration"), valuation)
    right = _require(table, "right")
    strike = _require(table, "strike")
    out = table.drop_columns([c for c in ("expiry_years",) if c in table.column_names])
    out = out.append_column("expiry_years", pa.array(years))
    iv_table = None
    if solve_iv and vol is not None:
        raise InvalidArgumentError("pass either vol or solve_iv=True, not both")
    if solve_iv:
        out = out.drop_columns([c for c in ("implied_vol", "iv_status") if c in out.column_names])
    if vol is None:
        if "implied_vol" in table.column_names and not solve_iv:
            vol = table.column("implied_vol")
        else:
            iv_table = implied_vol(
                _option_price(table, price), spot, strike, years, rate, dividend_yield, right, model=model
            )
            vol = iv_table.column("implied_vol")
            out = out.append_column("implied_vol", vol).append_column("iv_status", iv_table.column("status"))
    g = greeks(spot, strike, years, rate, dividend_yield, vol, right, order=order, model=model, units=units)
    for name in g.column_names:
        # The model value goes in ``model_price``: a ``price`` column of the chain (a market
        # price) is kept. Vendor Greek columns of the same names are replaced by ours.
        target = "model_price" if name == "price" else name
        if target in out.column_names:
            out = out.drop_columns([target])
        out = out.append_column(target, g.column(name))
    return out


def _group_ids(table: pa.Table, by: Sequence[str]) -> tuple[np.ndarray, pa.Table]:
    """Dense group ids for the key columns and the table of distinct keys (first occurrence)."""
    n = table.num_rows
    if not by:
        return np.zeros(n, np.int64), pa.table({})
    codes = np.zeros(n, np.int64)
    for name in by:
        enc = pc.dictionary_encode(_require(table, name)).combine_chunks()
        idx = np.asarray(enc.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64) + 1
        codes = codes * (len(enc.dictionary) + 1) + idx
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    keys = table.select(list(by)).take(pa.array(first))
    return inverse.astype(np.int64), keys


def portfolio_greeks(
    positions: Any,
    *,
    quantity: str = "quantity",
    multiplier: float | str = 100.0,
    by: Sequence[str] = (),
) -> pa.Table:
    """Aggregates position Greeks: ``sum(quantity * multiplier * greek)`` per group.

    ``positions`` is a table with a signed ``quantity`` column (contracts; negative = short) and
    Greek columns (e.g. the output of :func:`chain_greeks` joined with holdings). ``multiplier``
    is a number (100 for US equity options) or the name of a column (mixed instruments, e.g. 50
    for ES options). Every additive column is summed: ``price`` becomes ``market_value`` and
    ``model_price`` ``model_value``; lambda,
    d1 and d2 are not additive and are dropped. When a ``spot``/``underlying_price`` column is
    present, ``delta_dollars`` (delta * spot) and ``gamma_dollars`` (gamma * spot^2 / 100, the
    dollar delta change for a 1 % move) are added. Output: the ``by`` keys, ``positions`` (row
    count) and the sums.
    """
    table = _table(positions)
    qty = as_float_array(_require(table, quantity), quantity)
    mult = (
        as_float_array(_require(table, multiplier), multiplier)
        if isinstance(multiplier, str)
        else np.full(table.num_rows, float(multiplier))
    )
    weight = qty * mult
    group, keys = _group_ids(table, by)
    ngroups = int(group.max()) + 1 if group.size else 0
    spot_name = next((c for c in ("spot", "underlying_price") if c in table.column_names), None)
    sums: dict[str, np.ndarray] = {"positions": np.bincount(group, minlength=ngroups).astype(np.int64)}
    skip = set(by) | {quantity, "strike", "bid", "ask", "underlying_price", "spot", "multiplier"} | _NOT_SUMMABLE
    for name in table.column_names:
        col = table.column(name)
        if name in skip or not (pa.types.is_floating(col.type) or pa.types.is_integer(col.type)):
            continue
        values = as_float_array(col, name)
        out_name = {"price": "market_value", "model_price": "model_value"}.get(name, name)
        sums[out_name] = np.bincount(group, weights=weight * values, minlength=ngroups)
    if spot_name is not None:
        s = as_float_array(table.column(spot_name), spot_name)
        if "delta" in table.column_names:
            sums["delta_dollars"] = np.bincount(
                group, weights=weight * as_float_array(table.column("delta"), "delta") * s, minlength=ngroups
            )
        if "gamma" in table.column_names:
            g = as_float_array(table.column("gamma"), "gamma")
            sums["gamma_dollars"] = np.bincount(group, weights=weight * g * s * s / 100.0, minlength=ngroups)
    result = pa.table({name: pa.array(values) for name, values in sums.items()})
    for k, name in enumerate(keys.column_names):
        result = result.add_column(k, name, keys.column(name))
    return result


def strikes_by_delta(
    chain: Any,
    target: float | Sequence[float],
    *,
    by: Sequence[str] = ("expiration",),
    delta: str = "delta",
) -> pa.Table:
    """For each group (default: each expiration) and each target delta, the contract whose delta
    is closest to the target: positive targets pick among calls, negative ones among puts (e.g.
    ``[0.25, -0.25]`` for a 25-delta strangle). Contracts with a NaN delta are never picked.

    Returns the picked rows with ``target_delta`` and ``delta_error`` (picked - target) columns,
    ordered by group then target.
    """
    table = _table(chain)
    targets = [float(target)] if isinstance(target, (int, float)) else [float(t) for t in target]
    if not targets or any(not np.isfinite(t) or t == 0.0 or abs(t) > 1.0 for t in targets):
        raise InvalidArgumentError(f"invalid target delta(s) {targets} (expected non-zero values in [-1, 1])")
    d = as_float_array(_require(table, delta), delta)
    group, _ = _group_ids(table, list(by))
    picks: list[int] = []
    picked_targets: list[float] = []
    for t in targets:
        err = np.abs(d - t)
        eligible = np.isfinite(err) & ((d > 0) if t > 0 else (d < 0))
        err = np.where(eligible, err, np.inf)
        order = np.lexsort((err, group))
        first = np.ones(order.size, bool)
        first[1:] = group[order][1:] != group[order][:-1]
        chosen = order[first]
        chosen = chosen[np.isfinite(err[chosen])]
        picks.extend(int(i) for i in chosen)
        picked_targets.extend([t] * chosen.size)
    idx = np.array(picks, dtype=np.int64)
    tgt = np.array(picked_targets, dtype=np.float64)
    order = np.lexsort((np.arange(idx.size), group[idx] if idx.size else idx))
    idx, tgt = idx[order], tgt[order]
    out = table.take(pa.array(idx))
    out = out.append_column("target_delta", pa.array(tgt))
    return out.append_column("delta_error", pa.array(d[idx] - tgt))
