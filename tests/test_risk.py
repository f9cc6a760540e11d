"""Pre-trade risk from Python: reason codes and numbers, modes, snapshot/restore, sizing, and the
properties of the issue (no accepted order breaks a limit; validate == validate_batch; sizing
within max contracts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import InvalidArgumentError, SchemaError, UnknownSymbolError
from quant_engine.risk import DECISION_SCHEMA, REASONS, KindLimits, RiskEngine, RiskLimits, SymbolLimits

T0 = 1_704_205_800 * 1_000_000_000
SEC = 1_000_000_000
SYMBOLS = ["AAPL", "ESZ24", "SPY   240621C00500000", "SPX"]
TICK = {"AAPL": 0.01, "ESZ24": 0.25, "SPY   240621C00500000": 0.01, "SPX": 0.01}


def test_reason_codes_are_stable() -> None:
    assert REASONS[:3] == ("accepted", "halted", "kill_switch")
    assert REASONS.index("max_position") == 15
    assert REASONS.index("rate_limit") == 18
    assert len(set(REASONS)) == len(REASONS)


def test_each_check_names_its_numbers() -> None:
    r = RiskEngine()
    d = r.validate("ES", "buy", 11, 4500.0, ts=T0)
    assert (d.accepted, d.reason, d.value, d.limit) == (False, "max_order_quantity", 11.0, 10.0)
    assert not d and "max_order_quantity" in d.message
    d = r.validate("O:SPY240621C00500000", "buy", 51, 1.0, ts=T0)
    assert (d.reason, d.value, d.limit) == ("max_order_quantity", 51.0, 50.0)
    assert r.validate("ES", "buy", 1, 4500.1, order_type="limit", ts=T0).reason == "off_tick_grid"
    assert r.validate("ES", "buy", 1.5, 4500.0, ts=T0).reason == "off_lot_grid"
    assert r.validate("ES", "buy", 0, 4500.0, ts=T0).reason == "invalid_quantity"
    assert r.validate("ES", "buy", 1, float("nan"), ts=T0).reason == "invalid_price"
    assert r.validate("SPX", "buy", 1, 4500.0, ts=T0).reason == "not_tradable"
    unknown = r.validate("NOPE", "buy", 1, 10.0, ts=T0)
    assert unknown.reason == "unknown_instrument" and unknown.value is None
    assert r.validate("ES", -1, 1, 4500.0, ts=T0)
    with pytest.raises(InvalidArgumentError):
        r.validate("ES", "hold", 1, 4500.0)
    with pytest.raises(InvalidArgumentError):
        r.validate("ES", "buy", 1, 4500.0, order_type="stop")
    with pytest.raises(UnknownSymbolError):
        r.on_mark("NOPE", 1.0)


def test_open_orders_fills_cancels_and_limits() -> None:
    limits = RiskLimits(symbols={"ES": SymbolLimits(max_position=2)}, max_gross_exposure=1_000_000)
    r = RiskEngine(limits, cash=500_000)
    assert r.validate("ESZ24", "buy", 2, 4000.0, ts=T0)
    assert r.position("ESZ24")["open_buy"] == 2
    d = r.validate("ESZ24", "buy", 1, 4000.0, ts=T0)
    assert (d.reason, d.value, d.limit) == ("max_position", 3.0, 2.0)
    r.on_cancel("ESZ24", "buy", 1)
    realized = r.on_fill("ESZ24", "buy", 1, 4000.0, fees=2.5, ts=T0)
    assert realized == 0.0 and r.position("ESZ24")["quantity"] == 1
    assert r.state()["fees"] == 2.5
    # Gross: 1 ES at 4000 = 200k; 3,000 AAPL at 300 = 900k more breaks 1M.
    d = r.validate("AAPL", "buy", 3000, 300.0, ts=T0)
    assert d.reason == "max_gross_exposure" and d.value == pytest.approx(1_100_000) and d.limit == 1_000_000
    positions = r.positions()
    assert set(positions.column_names) >= {"symbol", "quantity", "avg_price", "open_buy", "open_sell", "realized"}


def test_modes_kill_switch_and_snapshot_restore(tmp_path: Path) -> None:
    limits = RiskLimits(max_daily_loss=5_000, max_drawdown=0.02, max_orders_per_window=10)
    r = RiskEngine(limits, cash=1_000_000)
    r.on_fill("ES", "buy", 2, 4000.0, ts=T0)
    r.on_mark("ES", 3940.0)  # -6,000: daily loss -> reducing
    assert r.mode == "reducing" and r.state()["trigger"] == "daily_loss"
    assert r.validate("ES", "buy", 1, 3940.0, ts=T0).reason == "reducing_mode"
    assert r.validate("ES", "sell", 1, 3940.0, ts=T0, commit=False)
    r.on_mark("ES", 3790.0)  # -21,000 = 2.1% drawdown -> halted
    assert r.mode == "halted"
    d = r.validate("ES", "sell", 1, 3790.0, ts=T0)
    assert (d.reason, d.limit) == ("halted", 0.02)
    path = tmp_path / "risk.json"
    r.save(path)
    back = RiskEngine.load(path, limits)
    assert back.mode == "halted" and back.state()["trigger"] == "drawdown"
    assert back.position("ES")["quantity"] == 2 and back.equity == r.equity
    assert back.snapshot() == r.snapshot()
    back.resume()
    assert back.mode == "active"
    back.kill()
    assert back.killed and back.validate("ES", "sell", 1, 3790.0, ts=T0).reason == "kill_switch"
    restored = RiskEngine(limits, snapshot=back.snapshot())
    assert restored.killed
    with pytest.raises(InvalidArgumentError):
        RiskEngine(limits, snapshot="{not json")


def test_rate_limit_and_reduce_only() -> None:
    r = RiskEngine(RiskLimits(max_orders_per_window=3, rate_window_ns=SEC))
    for k in range(3):
        assert r.validate("AAPL", "buy", 1, 100.0, ts=T0 + k)
    d = r.validate("AAPL", "buy", 1, 100.0, ts=T0 + 5)
    assert (d.reason, d.value, d.limit) == ("rate_limit", 3.0, 3.0)
    assert r.validate("AAPL", "buy", 1, 100.0, ts=T0 + SEC)
    assert r.validate("AAPL", "buy", 1, 100.0, ts=T0 + 2 * SEC, reduce_only=True).reason == "reduce_only"


def test_sizing() -> None:
    r = RiskEngine(cash=1_000_000)
    s = r.size_order("ES", "buy", 4000.0, risk_fraction=0.01, stop_distance=20.0, ts=T0)
    assert (s.quantity, s.raw, s.accepted) == (10.0, 10.0, True)
    s = r.size_order("ES", "buy", 4000.0, risk_fraction=0.05, stop_distance=20.0, ts=T0)
    assert (s.quantity, s.binding) == (10.0, "max_order_quantity")
    s = r.size_order("ES", "buy", 4000.0, notional=500_000, ts=T0)
    assert s.quantity == 2.0
    s = r.size_order("O:SPY240621C00500000", "buy", 2.0, risk_fraction=0.0001, stop_distance=1.5, ts=T0)
    assert (s.quantity, s.reason, bool(s)) == (0.0, "size_rounds_to_zero", False)
    with pytest.raises(InvalidArgumentError):
        r.size_order("ES", "buy", 4000.0, notional=1.0, quantity=1.0)


def test_limits_from_file_and_validation(tmp_path: Path) -> None:
    path = tmp_path / "risk.toml"
    path.write_text(
        """
[risk]
max_daily_loss = 2500.0
[risk.future]
max_order_quantity = 4
max_position = 8
margin_rate = 0.05
[risk.symbols.ES]
max_position = 3
""",
        encoding="utf-8",
    )
    limits = RiskLimits.from_file(path)
    r = RiskEngine(path)
    assert r.limits == limits
    assert r.validate("NQ", "buy", 5, 15000.0, ts=T0).reason == "max_order_quantity"
    assert r.position("ES")["max_position"] == 3
    with pytest.raises(InvalidArgumentError):
        RiskLimits.from_mapping({"max_drawdown": "lots"})
    with pytest.raises(InvalidArgumentError):
        RiskEngine({"max_drawdown": 2.0})
    with pytest.raises(InvalidArgumentError):
        RiskLimits.from_mapping({"no_such_limit": 1})


def test_validate_batch_schema_and_inputs() -> None:
    r = RiskEngine()
    orders = pa.table(
        {
            "symbol": ["AAPL", "ES", "ES", "NOPE"],
            "side": ["buy", "sell", "b", "buy"],
            "quantity": [10.0, 11.0, 1.0, 1.0],
            "price": [100.0, 4500.0, 4500.1, 5.0],
            "order_type": ["market", "market", "limit", "market"],
            "ts": pa.array([T0] * 4, pa.timestamp("ns", tz="UTC")),
        }
    )
    out = r.validate_batch(orders)
    assert out.schema.equals(DECISION_SCHEMA)
    assert out.column("reason").to_pylist() == ["accepted", "max_order_quantity", "off_tick_grid", "unknown_instrument"]
    assert out.column("value").to_pylist() == [None, 11.0, 4500.1, None]
    assert out.column("limit").to_pylist() == [None, 10.0, 0.25, None]
    assert out.column("accepted").to_pylist() == [True, False, False, False]
    # pandas and polars inputs, no ts column (now), int sides.
    import pandas as pd
    import polars as pl

    df = pd.DataFrame({"symbol": ["AAPL"], "side": [1], "quantity": [1.0], "price": [100.0]})
    assert r.validate_batch(df).column("accepted").to_pylist() == [True]
    assert r.validate_batch(pl.DataFrame(df)).column("accepted").to_pylist() == [True]
    with pytest.raises(SchemaError, match="'price'"):
        r.validate_batch(pa.table({"symbol": ["AAPL"], "side": [1], "quantity": [1.0]}))
    with pytest.raises(SchemaError, match="order_type"):
        r.validate_batch(df.assign(order_type=["stop"]))
    empty = r.validate_batch(
        pa.table(
            {
                "symbol": pa.array([], pa.string()),
                "side": pa.array([], pa.int8()),
                "quantity": pa.array([], pa.float64()),
                "price": pa.array([], pa.float64()),
            }
        )
    )
    assert empty.num_rows == 0


order_st = st.tuples(
    st.sampled_from(SYMBOLS + ["NOPE"]),
    st.sampled_from([1, -1, 0]),
    st.one_of(st.integers(1, 30).map(float), st.floats(0.1, 5.0), st.just(float("nan"))),
    st.integers(1, 40_000),
    st.booleans(),
    st.integers(0, 400_000_000),
    st.booleans(),
)

limits_st = st.builds(
    lambda q, p, gross, rate, bp: RiskLimits(
        equity=KindLimits(max_order_quantity=q, max_position=p, margin_rate=1.0),
        option=KindLimits(max_order_quantity=q, max_position=p, margin_rate=1.0),
        future=KindLimits(max_order_quantity=q, max_position=p, margin_rate=0.1),
        max_gross_exposure=gross,
        max_orders_per_window=rate,
        check_buying_power=bp,
    ),
    st.integers(1, 20).map(float),
    st.integers(1, 40).map(float),
    st.one_of(st.none(), st.floats(1e5, 3e6)),
    st.one_of(st.none(), st.integers(1, 20)),
    st.booleans(),
)


def _orders(
    rows: list[tuple[str, int, float, int, bool, int, bool]], dictionary: bool
) -> tuple[pa.Table, list[float], list[int]]:
    ts, t = [], T0
    prices = []
    for sym, _, _, ticks, _, dt, _ in rows:
        t += dt
        ts.append(t)
        prices.append(ticks * TICK.get(sym, 0.01))
    syms = [r[0] for r in rows]
    sym_col = pa.array(syms).dictionary_encode() if dictionary else pa.array(syms, pa.string())
    table = pa.table(
        {
            "symbol": sym_col,
            "side": pa.array([r[1] for r in rows], pa.int8()),
            "quantity": [r[2] for r in rows],
            "price": prices,
            "ts": pa.array(ts, pa.int64()),
            "order_type": pa.array([int(r[4]) for r in rows], pa.int8()),
            "reduce_only": [r[6] for r in rows],
        }
    )
    return table, prices, ts


@settings(max_examples=200, deadline=None)
@given(
    limits=limits_st, rows=st.lists(order_st, min_size=1, max_size=80), commit=st.booleans(), dictionary=st.booleans()
)
def test_validate_equals_validate_batch(
    limits: RiskLimits, rows: list[tuple[str, int, float, int, bool, int, bool]], commit: bool, dictionary: bool
) -> None:
    table, prices, ts = _orders(rows, dictionary)
    batch_engine = RiskEngine(limits, cash=1_000_000)
    out = batch_engine.validate_batch(table, commit=commit)
    single = RiskEngine(limits, cash=1_000_000)
    for i, (sym, side, qty, _, limit, _, ro) in enumerate(rows):
        if side == 0:
            one = single.validate_batch(table.slice(i, 1), commit=commit)
            got = (one.column("reason")[0].as_py(), one.column("value")[0].as_py(), one.column("limit")[0].as_py())
        else:
            d = single.validate(
                sym,
                side,
                qty,
                prices[i],
                order_type="limit" if limit else "market",
                ts=ts[i],
                reduce_only=ro,
                commit=commit,
            )
            got = (d.reason, d.value, d.limit)
        want = (out.column("reason")[i].as_py(), out.column("value")[i].as_py(), out.column("limit")[i].as_py())
        assert got == want, (i, got, want)
    assert single.snapshot() == batch_engine.snapshot()
    assert single.state() == batch_engine.state()


@settings(max_examples=200, deadline=None)
@given(
    limits=limits_st,
    rows=st.lists(order_st, min_size=1, max_size=80),
    fills=st.lists(
        st.tuples(st.sampled_from(SYMBOLS[:3]), st.sampled_from(["buy", "sell"]), st.integers(1, 5)), max_size=5
    ),
)
def test_no_accepted_order_breaks_a_limit(
    limits: RiskLimits, rows: list[tuple[str, int, float, int, bool, int, bool]], fills: list[tuple[str, str, int]]
) -> None:
    r = RiskEngine(limits, cash=1_000_000)
    for sym, side, q in fills:
        r.on_fill(sym, side, q, 100.0 * TICK[sym] / 0.01, ts=T0)
    table, prices, ts = _orders(rows, dictionary=False)
    before = {s: r.position(s) for s in SYMBOLS[:3]}
    out = r.validate_batch(table)
    accepted = out.column("accepted").to_pylist()
    # Replay the accepted orders on the worst-case positions and check every limit held.
    worst = {s: (p["quantity"] + p["open_buy"], p["quantity"] - p["open_sell"]) for s, p in before.items()}
    times: list[int] = []
    for i, (sym, side, qty, _, limit, _, ro) in enumerate(rows):
        if not accepted[i]:
            continue
        # On the lot grid (lot 1 here) to the documented tolerance of 1e-6 of a step.
        assert sym in worst and side in (1, -1) and qty > 0 and abs(qty - round(qty)) <= 1e-6
        pos = r.position(sym)
        assert qty <= pos["max_order_quantity"]
        long_w, short_w = worst[sym]
        w_before = max(abs(long_w), abs(short_w))
        long_w, short_w = (long_w + qty, short_w) if side == 1 else (long_w, short_w - qty)
        w_after = max(abs(long_w), abs(short_w))
        if w_after > w_before:
            assert not ro
            assert w_after <= pos["max_position"]
        worst[sym] = (long_w, short_w)
        if limit:
            k = prices[i] / TICK[sym]
            assert abs(k - round(k)) < 1e-6
        times.append(ts[i])
        if limits.max_orders_per_window is not None:
            assert sum(1 for t in times if ts[i] - SEC < t <= ts[i]) <= limits.max_orders_per_window
    for s, (long_w, short_w) in worst.items():
        p = r.position(s)
        assert (p["quantity"] + p["open_buy"], p["quantity"] - p["open_sell"]) == pytest.approx((long_w, short_w))
    # Portfolio-wide limits, order by order (a batch is the same sequence, proven above): after
    # every accepted order that increases exposure, gross exposure and margin are within limits.
    r2 = RiskEngine(limits, cash=1_000_000)
    for sym, side, q in fills:
        r2.on_fill(sym, side, q, 100.0 * TICK[sym] / 0.01, ts=T0)
    for i, (sym, side, qty, _, limit, _, ro) in enumerate(rows):
        if side == 0:
            continue
        before = r2.position(sym) if sym in worst else None
        d = r2.validate(sym, side, qty, prices[i], order_type="limit" if limit else "market", ts=ts[i], reduce_only=ro)
        if not d or before is None:
            continue
        after = r2.position(sym)
        w = lambda p: max(abs(p["quantity"] + p["open_buy"]), abs(p["quantity"] - p["open_sell"]))  # noqa: E731
        if w(after) > w(before):
            state = r2.state()
            if limits.max_gross_exposure is not None:
                assert state["gross_exposure"] <= limits.max_gross_exposure * (1 + 1e-9)
            if limits.check_buying_power:
                assert state["margin_used"] <= state["equity"] * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(
    limits=limits_st,
    sym=st.sampled_from(SYMBOLS[:3]),
    side=st.sampled_from(["buy", "sell"]),
    ticks=st.integers(1, 40_000),
    frac=st.floats(1e-4, 0.2),
    stop=st.floats(0.01, 50.0),
    notional=st.floats(1.0, 5e6),
)
def test_sizing_never_exceeds_max_contracts(
    limits: RiskLimits, sym: str, side: str, ticks: int, frac: float, stop: float, notional: float
) -> None:
    r = RiskEngine(limits, cash=1_000_000)
    price = ticks * TICK[sym]
    max_q = r.position(sym)["max_order_quantity"]
    for kwargs in (
        {"risk_fraction": frac, "stop_distance": stop},
        {"notional": notional},
        {"quantity": notional / 1000},
    ):
        s = r.size_order(sym, side, price, ts=T0, **kwargs)  # type: ignore[arg-type]
        assert 0 <= s.quantity <= max_q and float(s.quantity).is_integer()
        if s.quantity > 0:
            assert r.validate(sym, side, s.quantity, price, ts=T0, commit=False)
        else:
            assert not s.accepted


def test_large_batch_matches_numpy_reference() -> None:
    """A 200k-order batch on generous limits: every row accepted except the ones a NumPy
    reference says break the per-order caps."""
    n = 200_000
    rng = np.random.default_rng(5)
    qty = rng.integers(1, 15, n).astype(np.float64)
    table = pa.table(
        {
            "symbol": pa.array(rng.choice(["AAPL", "ES"], n)).dictionary_encode(),
            "side": pa.array(np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)),
            "quantity": qty,
            "price": np.full(n, 100.0),
            "ts": T0 + np.arange(n, dtype=np.int64),
        }
    )
    limits = RiskLimits(
        equity=KindLimits(max_order_quantity=12, max_position=1e12),
        future=KindLimits(max_order_quantity=12, max_position=1e12, margin_rate=0.0),
    )
    out = RiskEngine(limits, cash=1e15).validate_batch(table)
    expected = qty <= 12
    assert np.array_equal(out.column("accepted").to_numpy(zero_copy_only=False), expected)


def test_chunked_input_keeps_rejection_numbers_aligned() -> None:
    """A table of several record batches: rejections in any chunk keep their row's numbers."""
    r1 = RiskEngine()
    first = pa.table(
        {"symbol": ["AAPL", "AAPL"], "side": [1, 1], "quantity": [1.0, 2.0], "price": [100.0, 100.0], "ts": [T0, T0]}
    )
    second = pa.table(
        {"symbol": ["ES", "AAPL"], "side": [1, 1], "quantity": [11.0, 1.0], "price": [4500.0, 100.0], "ts": [T0, T0]}
    )
    chunked = pa.concat_tables([first, second, first])
    assert chunked.column("quantity").num_chunks == 3
    out = r1.validate_batch(chunked)
    assert out.column("reason").to_pylist() == [
        "accepted",
        "accepted",
        "max_order_quantity",
        "accepted",
        "accepted",
        "accepted",
    ]
    assert out.column("value").to_pylist() == [None, None, 11.0, None, None, None]
    assert out.column("limit").to_pylist() == [None, None, 10.0, None, None, None]
    r2 = RiskEngine()
    out2 = r2.validate_batch(pa.concat_tables([second, first]))
    assert out2.column("value").to_pylist() == [11.0, None, None, None]
