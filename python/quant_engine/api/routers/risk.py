"""``/risk/validate`` and ``/risk/size``: the Rust risk engine over HTTP, on a fresh engine per
request (the limits and starting cash come with the request; nothing is kept between requests)."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Request
from msgspec import Meta
from starlette.responses import Response

from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.state import run_sync
from quant_engine.risk import RiskLimits

__all__ = ["router", "OrderBody", "ValidateRequest", "DecisionBody", "SizeRequest", "SizeBody"]

router = APIRouter(prefix="/risk", tags=["risk"])

Positive = Annotated[float, Meta(gt=0, le=1e15)]
Cash = Annotated[float, Meta(gt=0, le=1e15)]


class OrderBody(msgspec.Struct, forbid_unknown_fields=True):
    """An order to check (``price``: the limit price, or the reference price of a market order)."""

    symbol: Annotated[str, Meta(min_length=1, max_length=64)]
    side: Literal["buy", "sell"]
    quantity: Positive
    price: Positive
    order_type: Literal["market", "limit"] = "market"
    reduce_only: bool = False


class ValidateRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Orders checked in sequence (an accepted order counts as open for the next ones) against
    ``limits`` (``quant_engine.risk.RiskLimits``, ``docs/risk.md``; the defaults when omitted)."""

    orders: Annotated[list[OrderBody], Meta(min_length=1, max_length=10_000)]
    limits: RiskLimits | None = None
    cash: Cash = 1_000_000.0


class DecisionBody(msgspec.Struct):
    """A risk decision: accepted or the reason code, the value that broke the limit, the limit."""

    accepted: bool
    reason: str
    value: float | None
    limit: float | None
    message: str


class SizeRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``size_order``: size by ``risk_fraction`` of equity over ``stop_distance``, by ``notional``
    or a ``quantity``, capped by the limits (``docs/risk.md``)."""

    symbol: Annotated[str, Meta(min_length=1, max_length=64)]
    side: Literal["buy", "sell"]
    price: Positive
    risk_fraction: Annotated[float, Meta(gt=0, le=1)] | None = None
    stop_distance: Positive | None = None
    notional: Positive | None = None
    quantity: Positive | None = None
    order_type: Literal["market", "limit"] = "market"
    limits: RiskLimits | None = None
    cash: Cash = 1_000_000.0


class SizeBody(msgspec.Struct):
    """The size: ``quantity`` after rounding and caps, ``raw`` before, the ``binding`` rule, and
    the risk decision on the sized order (null where the engine could not size: see
    ``decision.reason``)."""

    quantity: float | None
    raw: float | None
    binding: str
    decision: DecisionBody


def _finite(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _decision(d: Any) -> DecisionBody:
    finite = _finite
    return DecisionBody(bool(d.accepted), str(d.reason), finite(d.value), finite(d.limit), str(d.message))


def _engine(limits: RiskLimits | None, cash: float) -> Any:
    from quant_engine.risk import RiskEngine

    return RiskEngine(limits, cash=cash)


def _validate(body: ValidateRequest) -> list[DecisionBody]:
    engine = _engine(body.limits, body.cash)
    return [_decision(engine.validate(o.symbol, o.side, o.quantity, o.price, order_type=o.order_type, reduce_only=o.reduce_only))
            for o in body.orders]  # fmt: skip


def _size(body: SizeRequest) -> SizeBody:
    engine = _engine(body.limits, body.cash)
    r = engine.size_order(body.symbol, body.side, body.price, risk_fraction=body.risk_fraction, stop_distance=body.stop_distance,
                          notional=body.notional, quantity=body.quantity, order_type=body.order_type)  # fmt: skip
    return SizeBody(_finite(r.quantity), _finite(r.raw), str(r.binding), _decision(r.decision))


@router.post(
    "/validate",
    summary="Check orders against risk limits",
    **operation(body=ValidateRequest, response=list[DecisionBody]),
)
async def validate(request: Request) -> Response:
    """One decision per order, in order (``quant_engine.risk.RiskEngine.validate``). Bad limits or
    an unknown symbol: 422."""
    body = await read_body(request, ValidateRequest)
    return reply(await run_sync(_validate, body))


@router.post("/size", summary="Size an order", **operation(body=SizeRequest, response=SizeBody))
async def size(request: Request) -> Response:
    """``quant_engine.risk.RiskEngine.size_order`` on a fresh engine."""
    body = await read_body(request, SizeRequest)
    return reply(await run_sync(_size, body))
