"""``/options/greeks`` and ``/options/implied_vol`` for a posted chain (``quant_engine.options``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import pyarrow as pa
from fastapi import APIRouter, Request
from msgspec import Meta
from starlette.responses import Response

from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.state import run_sync
from quant_engine.api.tables import json_columns

__all__ = ["router", "Contract", "GreeksRequest", "ImpliedVolRequest", "ColumnsBody"]

router = APIRouter(prefix="/options", tags=["options"])

Positive = Annotated[float, Meta(gt=0, le=1e12)]
Rate = Annotated[float, Meta(ge=-1, le=1)]


class Contract(msgspec.Struct, forbid_unknown_fields=True):
    """One European option: strike, right, years to expiry, and its market price (needed to solve
    an implied volatility)."""

    strike: Positive
    right: Literal["call", "put", "C", "P"]
    expiry_years: Annotated[float, Meta(gt=0, le=100)]
    price: Annotated[float, Meta(ge=0, le=1e12)] | None = None


class GreeksRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Greeks of every contract at ``spot``: with ``vol`` (annualized) given, or solved from each
    contract's ``price``."""

    contracts: Annotated[list[Contract], Meta(min_length=1, max_length=100_000)]
    spot: Positive
    vol: Annotated[float, Meta(gt=0, le=20)] | None = None
    rate: Rate = 0.0
    dividend_yield: Rate = 0.0
    order: Literal[1, 2, 3] = 2
    model: Literal["bsm", "black76"] = "bsm"


class ImpliedVolRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Implied volatilities of the contracts' prices (every contract needs ``price``)."""

    contracts: Annotated[list[Contract], Meta(min_length=1, max_length=100_000)]
    spot: Positive
    rate: Rate = 0.0
    dividend_yield: Rate = 0.0
    model: Literal["bsm", "black76"] = "bsm"


class ColumnsBody(msgspec.Struct):
    """Result columns, one value per contract in request order (NaN as null; ``status`` says why a
    value is missing)."""

    rows: int
    columns: dict[str, list[Any]]


def _chain(contracts: list[Contract], need_price: bool) -> pa.Table:
    from quant_engine.errors import InvalidArgumentError

    prices = [c.price for c in contracts]
    if need_price and any(p is None for p in prices):
        missing = next(i for i, p in enumerate(prices) if p is None)
        raise InvalidArgumentError(f"contracts[{missing}] has no price: give every contract a price, or pass vol")
    columns: dict[str, Any] = {
        "strike": pa.array([c.strike for c in contracts], pa.float64()),
        "right": pa.array([c.right for c in contracts], pa.string()),
        "expiry_years": pa.array([c.expiry_years for c in contracts], pa.float64()),
    }
    if need_price:
        columns["price"] = pa.array(prices, pa.float64())
    return pa.table(columns)


def _greeks(body: GreeksRequest) -> ColumnsBody:
    from quant_engine.options import chain_greeks

    table = _chain(body.contracts, need_price=body.vol is None)
    out = chain_greeks(table, spot=body.spot, rate=body.rate, dividend_yield=body.dividend_yield, vol=body.vol, price="price",
                       order=body.order, model=body.model)  # fmt: skip
    return ColumnsBody(out.num_rows, json_columns(out))


def _implied_vol(body: ImpliedVolRequest) -> ColumnsBody:
    from quant_engine.options import implied_vol

    table = _chain(body.contracts, need_price=True)
    out = implied_vol(table.column("price"), body.spot, table.column("strike"), table.column("expiry_years"), body.rate,
                      body.dividend_yield, table.column("right"), model=body.model)  # fmt: skip
    return ColumnsBody(out.num_rows, json_columns(out))


@router.post("/greeks", summary="Greeks of a posted chain", **operation(body=GreeksRequest, response=ColumnsBody))
async def greeks(request: Request) -> Response:
    """``quant_engine.options.chain_greeks``: the contracts' columns, ``implied_vol`` and
    ``iv_status`` (when solved), ``model_price``, the Greeks of the requested order and ``status``."""
    body = await read_body(request, GreeksRequest)
    return reply(await run_sync(_greeks, body))


@router.post(
    "/implied_vol",
    summary="Implied volatilities of a posted chain",
    **operation(body=ImpliedVolRequest, response=ColumnsBody),
)
async def implied_vol(request: Request) -> Response:
    """``quant_engine.options.implied_vol``: ``implied_vol`` (null unless ``status`` is ``ok``) and
    ``status`` (``ok``, ``below_intrinsic``, ``above_upper_bound``, ``no_time_value``,
    ``invalid_input``, ``no_convergence``)."""
    body = await read_body(request, ImpliedVolRequest)
    return reply(await run_sync(_implied_vol, body))
