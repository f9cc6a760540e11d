"""The execution model and the ledger from Python: golden contracts, fill rules, the batch form
(conformance with single fills), the round-trip P&L identity, and risk + execution together."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import InvalidArgumentError, SchemaError, UnknownSymbolError
from quant_engine.execution import FILL_STATUSES, ExecutionConfig, ExecutionModel, FeeSchedule, Portfolio, Slippage
from quant_engine.instruments import InstrumentRegistry
from quant_engine.risk import RiskEngine

T0 = 1_704_205_800 * 1_000_000_000


def test_golden_es_round_trip_is_50_dollars_a_point() -> None:
    m = ExecutionModel()
    buy = m.fill_quote("ESZ24", "buy", 1, bid=4499.75, ask=4500.0, ts=T0)
    sell = m.fill_quote("ESZ24", "sell", 1, bid=4501.0, ask=4501.25, ts=T0)
    assert (buy.price, sell.price, buy.multiplier) == (4500.0, 4501.0, 50.0)
    book = Portfolio(cash=100_000)
    book.apply(buy)
    assert book.apply(sell) == 50.0
    assert book.equity == 100_050.0


def test_golden_spy_option_ten_cents_is_ten_dollars() -> None:
    m = ExecutionModel(ExecutionConfig(option_fees=FeeSchedule(per_unit=0.65, minimum=1.0)))
    buy = m.fill_quote("O:SPY240621C00500000", "buy", 1, bid=2.45, ask=2.50)
    sell = m.fill_quote("SPY   240621C00500000", "sell", 1, bid=2.60, ask=2.65)
    assert buy.fees == 1.0 and buy.multiplier == 100
    book = Portfolio(cash=10_000)
    book.apply(buy)
    assert book.apply(sell) == pytest.approx(10.0)
    assert book.equity == pytest.approx(10_000 + 10 - 2)


def test_fill_rules() -> None:
    m = ExecutionModel(ExecutionConfig(slippage=Slippage(fixed_bps=10.0, spread_fraction=0.5, impact_bps=100.0)))
    f = m.fill_quote("AAPL", "buy", 100, bid=99.9, ask=100.0, volume=10_000)
    slip = 100 * 10e-4 + 0.5 * 0.1 + 100 * 100e-4 * (100 / 10_000) ** 0.5
    assert f.price == pytest.approx(100 + slip) and f.base_price == 100.0
    assert f.slippage_cost == pytest.approx(slip * 100)
    # Limit orders: a touch is not a fill, a trade-through fills at the limit.
    plain = ExecutionModel()
    miss = plain.fill_bar("ES", "buy", 1, 4500, 4505, 4490, 4495, 1000, limit_price=4490.0)
    assert (miss.filled, miss.status, bool(miss)) == (False, "limit_not_reached", False)
    hit = plain.fill_bar("ES", "buy", 1, 4500, 4505, 4489.75, 4495, 1000, limit_price=4490.0)
    assert (hit.price, hit.slippage_cost) == (4490.0, 0.0)
    gap = plain.fill_bar("ES", "buy", 1, 4480, 4485, 4470, 4475, 1000, limit_price=4490.0)
    assert gap.price == 4480.0
    assert plain.fill_quote("SPX", "buy", 1, bid=1.0, ask=1.1).status == "not_tradable"
    assert plain.fill_quote("ES", "buy", 1, bid=None, ask=None).status == "invalid_market_data"
    with pytest.raises(UnknownSymbolError):
        plain.fill_quote("NOPE", "buy", 1, bid=1.0, ask=1.1)
    with pytest.raises(InvalidArgumentError):
        ExecutionModel(ExecutionConfig(slippage=Slippage(fixed_bps=-1)))
    with pytest.raises(InvalidArgumentError):
        ExecutionModel({"slippage": {"no_such": 1}})
    assert plain.config == ExecutionConfig()
    assert FILL_STATUSES[0] == "filled"


def test_fifo_average_cost_and_equity_curve() -> None:
    fills = [("buy", 1, 4000.0), ("buy", 1, 4100.0), ("sell", 1, 4200.0), ("sell", 1, 4050.0)]
    avg, fifo = Portfolio(cost_basis="average_cost"), Portfolio(cost_basis="fifo")
    ra = [avg.apply("ES", s, q, p) for s, q, p in fills]
    rf = [fifo.apply("ES", s, q, p) for s, q, p in fills]
    assert ra[2] == (4200 - 4050) * 50 and rf[2] == (4200 - 4000) * 50
    assert avg.realized == fifo.realized == (4200 + 4050 - 4000 - 4100) * 50
    book = Portfolio(cash=1_000_000)
    book.apply("ES", "buy", 2, 4000.0)
    book.mark("ES", 4010.0)
    book.record(T0)
    book.mark("ES", 3990.0)
    book.record(T0 + 60_000_000_000)
    curve = book.equity_curve()
    assert curve.column("equity").to_pylist() == [1_001_000.0, 999_000.0]
    assert book.positions().column("unrealized").to_pylist() == [-1000.0]
    assert book.position("ES")["lots"] == []
    with pytest.raises(InvalidArgumentError):
        book.apply(ExecutionModel().fill_bar("ES", "buy", 1, 4500, 4505, 4490, 4495, limit_price=4000.0))


@settings(max_examples=150, deadline=None)
@given(
    root=st.sampled_from(["ES", "ZN", "MNQ", "GC"]),
    q=st.integers(1, 50),
    e_ticks=st.integers(100, 100_000),
    x_ticks=st.integers(100, 100_000),
    slip_ticks=st.integers(0, 8),
    fee_quarters=st.integers(0, 40),
    basis=st.sampled_from(["average_cost", "fifo"]),
)
def test_round_trip_pnl_identity_is_exact(
    root: str, q: int, e_ticks: int, x_ticks: int, slip_ticks: int, fee_quarters: int, basis: str
) -> None:
    """(exit - entry) * qty * multiplier - fees - slippage, exactly (dyadic tick grids)."""
    inst = InstrumentRegistry().resolve(root)
    tick = 1 / 64 if root == "GC" else inst.tick_size  # a dyadic grid keeps every product exact
    entry, exit_, slip, fee = e_ticks * tick, x_ticks * tick, slip_ticks * tick, fee_quarters * 0.25
    m = inst.multiplier
    book = Portfolio(cash=1_000_000, cost_basis=basis)  # type: ignore[arg-type]
    book.apply(root, "buy", q, entry + slip, fees=fee, slippage_cost=slip * q * m)
    book.apply(root, "sell", q, exit_ - slip, fees=fee, slippage_cost=slip * q * m)
    expected = (exit_ - entry) * q * m - 2 * fee - 2 * slip * q * m
    assert book.realized - book.fees == expected
    assert book.equity - 1_000_000 == expected
    assert book.slippage == 2 * slip * q * m


def _bars(n: int, seed: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    o = np.round((4500 + np.cumsum(rng.normal(0, 2, n))) * 4) / 4
    h = o + rng.integers(0, 20, n) * 0.25
    lo = o - rng.integers(0, 20, n) * 0.25
    return pa.table(
        {
            "ts": pa.array(T0 + np.arange(n) * 60_000_000_000, pa.timestamp("ns", tz="UTC")),
            "open": o,
            "high": h,
            "low": lo,
            "close": o,
            "volume": rng.integers(0, 5000, n).astype(float),
        }
    )


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    rows=st.lists(
        st.tuples(
            st.sampled_from(["ES", "AAPL", "O:SPY240621C00500000", "SPX", "NOPE"]),
            st.sampled_from([1, -1]),
            st.integers(1, 30),
            st.one_of(st.none(), st.integers(17_000, 19_000)),
            st.integers(0, 19),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_fill_batch_equals_fill_bar(seed: int, rows: list[tuple[str, int, int, int | None, int]]) -> None:
    model = ExecutionModel(
        ExecutionConfig(
            slippage=Slippage(fixed_bps=1.0, spread_fraction=0.5, impact_bps=50.0, assumed_spread_bps=3.0),
            equity_fees=FeeSchedule(per_unit=0.005, minimum=1.0),
            future_fees=FeeSchedule(per_unit=2.25),
            option_fees=FeeSchedule(per_unit=0.65, bps=1.0),
            max_participation=0.5,
        )
    )
    bars = _bars(20, seed)
    orders = pa.table(
        {
            "symbol": [r[0] for r in rows],
            "side": pa.array([r[1] for r in rows], pa.int8()),
            "quantity": [float(r[2]) for r in rows],
            "limit_price": pa.array([None if r[3] is None else r[3] * 0.25 for r in rows], pa.float64()),
            "bar": [r[4] for r in rows],
        }
    )
    out = model.fill_batch(orders, bars).to_pylist()
    b = bars.to_pylist()
    for row, got in zip(rows, out):
        sym, side, q, lim, k = row
        if sym == "NOPE":
            assert got["status"] == "unknown_instrument"
            continue
        bar = b[k]
        f = model.fill_bar(
            sym,
            side,
            q,
            bar["open"],
            bar["high"],
            bar["low"],
            bar["close"],
            bar["volume"],
            limit_price=None if lim is None else lim * 0.25,
            ts=T0 + k * 60_000_000_000,
        )
        assert got["status"] == f.status
        if f.filled:
            for key in ("quantity", "price", "base_price", "fees", "slippage_cost", "multiplier"):
                assert got[key] == getattr(f, key), key
        else:
            assert got["price"] is None


def test_fill_batch_errors() -> None:
    m = ExecutionModel()
    with pytest.raises(SchemaError, match="'bar'"):
        m.fill_batch(pa.table({"symbol": ["ES"], "side": [1], "quantity": [1.0]}), _bars(3, 0))
    with pytest.raises(InvalidArgumentError, match="bar"):
        m.fill_batch(pa.table({"symbol": ["ES"], "side": [1], "quantity": [1.0], "bar": [7]}), _bars(3, 0))


def test_risk_execution_portfolio_together() -> None:
    """An order's life: sized, validated, filled by the model, applied to risk (which books the
    ledger); a rejected fill releases the open order."""
    risk = RiskEngine(cash=200_000)
    model = ExecutionModel(ExecutionConfig(future_fees=FeeSchedule(per_unit=2.0)))
    size = risk.size_order("ESZ24", "buy", 4500.0, risk_fraction=0.01, stop_distance=10.0, ts=T0)
    assert size.quantity == 4.0  # 200k * 1% / (10 * 50)
    assert risk.validate("ESZ24", "buy", size.quantity, 4500.0, ts=T0)
    fill = model.fill_bar("ESZ24", "buy", size.quantity, 4500.0, 4502.0, 4498.0, 4501.0, 10_000, ts=T0)
    risk.on_fill(fill)
    pos = risk.position("ESZ24")
    assert (pos["quantity"], pos["open_buy"]) == (4.0, 0.0)
    assert risk.state()["fees"] == 8.0
    assert risk.validate("ESZ24", "sell", 4, 4480.0, order_type="limit", ts=T0)
    miss = model.fill_bar("ESZ24", "sell", 4, 4470.0, 4475.0, 4465.0, 4470.0, limit_price=4480.0)
    assert not miss.filled
    risk.on_cancel("ESZ24", "sell", 4)
    assert risk.position("ESZ24")["open_sell"] == 0.0
    risk.on_mark("ESZ24", 4470.0)
    assert risk.state()["unrealized"] == pytest.approx((4470 - 4500) * 4 * 50)


def test_fill_arguments_are_read_alike_by_portfolio_and_risk() -> None:
    """`Portfolio.apply` and `RiskEngine.on_fill` take the same fill arguments (one parser):
    a filled `Fill`, or symbol, side, quantity, price; the same errors name each method."""
    model = ExecutionModel()
    filled = model.fill_bar("ESZ24", "buy", 2, 4500.0, 4502.0, 4498.0, 4501.0, 10_000, ts=T0)
    missed = model.fill_bar("ESZ24", "sell", 4, 4470.0, 4475.0, 4465.0, 4470.0, limit_price=4480.0)
    for name, target in (("apply", Portfolio(cash=1_000_000)), ("on_fill", RiskEngine(cash=1_000_000))):
        method = getattr(target, name)
        method(filled)
        method("ESZ24", "sell", 1.0, 4510.0, fees=2.0, ts=T0)
        with pytest.raises(InvalidArgumentError, match="rejected fill"):
            method(missed)
        with pytest.raises(InvalidArgumentError, match=rf"{name}\(symbol, side, quantity, price\) needs"):
            method("ESZ24", "buy", 1.0)
        with pytest.raises(InvalidArgumentError, match=rf"{name}\(fill\) or"):
            method(3.5)
        with pytest.raises(InvalidArgumentError, match="invalid side"):
            method("ESZ24", "up", 1.0, 4500.0)
        with pytest.raises(UnknownSymbolError):
            method("NOT A SYMBOL", "buy", 1.0, 4500.0)
        pos = target.position("ESZ24")
        assert pos["quantity"] == 1.0
