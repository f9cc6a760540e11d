"""validate_batch on batches large enough for the chunked kernel (several 512-order chunks,
rate windows of 64+ orders that do and do not trip, positions from fills, every rejection
reason a batch can produce): it must agree exactly with per-order ``validate`` calls and with
an independent Numba implementation of the same rules (a peer in the style of
``benches/bench_risk.py``, with quant-engine's reason codes)."""

from __future__ import annotations

import math

import numba as nb
import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.instruments import resolve
from quant_engine.risk import REASONS, KindLimits, RiskEngine, RiskLimits

T0 = 1_704_205_800 * 1_000_000_000
SYMBOLS = ["AAPL", "SPY", "MSFT", "QQQ", "ES", "NQ", "SPY   240621C00500000", "SPX"]
INSTS = [resolve(s) for s in SYMBOLS]
TRADABLE = np.array([i.kind != "index" for i in INSTS])
MULT = np.array([i.multiplier for i in INSTS])
TICK = np.array([i.tick_size for i in INSTS])
LOT = np.array([i.lot_size for i in INSTS])
FIXED_MARGIN = np.array([math.nan if i.initial_margin is None else i.initial_margin for i in INSTS])
BASE_TICKS = np.round(np.where(MULT >= 20, 4500.0, np.where(MULT >= 100, 5.0, 150.0)) / TICK)
CODE = {name: k for k, name in enumerate(REASONS)}
CASH = 2_000_000.0


@nb.njit(nogil=True, cache=True)
def numba_reference(  # type: ignore[no-untyped-def]
    inst,
    side,
    qty,
    price,
    ts,
    is_limit,
    tradable,
    mult,
    lot,
    tick,
    max_qty,
    max_notional,
    max_pos,
    m_fixed,
    m_factor,
    position,
    last_price,
    max_gross,
    check_bp,
    equity,
    cap,
    window,
    codes,
    reason,
):
    """The checks in reason order with the engine's state rules; `codes` holds the reason
    numbers (accepted, unknown, not_tradable, side, ts, qty, lot, price, tick, max_qty,
    max_notional, max_position, gross, buying_power, rate)."""
    m = mult.shape[0]
    ob = np.zeros(m)
    os_ = np.zeros(m)
    expo = np.zeros(m)
    marg = np.zeros(m)
    for k in range(m):
        w = abs(position[k])
        if not np.isnan(last_price[k]) and w != 0.0:
            expo[k] = w * last_price[k] * mult[k]
            marg[k] = w * (m_fixed[k] + last_price[k] * m_factor[k])
    gross = 0.0
    margin = 0.0
    for k in range(m):
        gross += expo[k]
    for k in range(m):
        margin += marg[k]
    ring = np.zeros(max(cap, 1), dtype=np.int64)
    head = 0
    count = 0
    for i in range(inst.shape[0]):
        k = inst[i]
        q = qty[i]
        p = price[i]
        s = side[i]
        t = ts[i]
        if k < 0 or k >= m:
            reason[i] = codes[1]
            continue
        if not tradable[k]:
            reason[i] = codes[2]
            continue
        if s != 1 and s != -1:
            reason[i] = codes[3]
            continue
        if t < 315_532_800_000_000_000 or t >= 7_258_118_400_000_000_000:
            reason[i] = codes[4]
            continue
        if not (q > 0.0 and q <= 1.7976931348623157e308):
            reason[i] = codes[5]
            continue
        kq = q * (1.0 / lot[k])
        if abs(kq - np.round(kq)) > 1e-6:
            reason[i] = codes[6]
            continue
        if not (p > 0.0 and p <= 1.7976931348623157e308):
            reason[i] = codes[7]
            continue
        kp = p * (1.0 / tick[k])
        if is_limit[i] and abs(kp - np.round(kp)) > 1e-6:
            reason[i] = codes[8]
            continue
        if q > max_qty[k]:
            reason[i] = codes[9]
            continue
        if q * p * mult[k] > max_notional[k]:
            reason[i] = codes[10]
            continue
        lb = position[k] + ob[k]
        sb = position[k] - os_[k]
        wb = max(abs(lb), abs(sb))
        if s == 1:
            wa = max(abs(lb + q), abs(sb - 0.0))
        else:
            wa = max(abs(lb + 0.0), abs(sb - q))
        e = wa * p * mult[k]
        mg = wa * (m_fixed[k] + p * m_factor[k])
        g = gross + (e - expo[k])
        mt = margin + (mg - marg[k])
        if wa > wb:
            if wa > max_pos[k]:
                reason[i] = codes[11]
                continue
            if g > max_gross:
                reason[i] = codes[12]
                continue
            if check_bp and mt > equity:
                reason[i] = codes[13]
                continue
        if cap > 0 and count == cap and t - ring[head] < window:
            reason[i] = codes[14]
            continue
        reason[i] = codes[0]
        if s == 1:
            ob[k] += q
        else:
            os_[k] += q
        expo[k] = e
        marg[k] = mg
        gross = g
        margin = mt
        if cap > 0:
            if count < cap:
                ring[(head + count) % cap] = t
                count += 1
            else:
                ring[head] = t
                head = (head + 1) % cap
    return reason


REF_CODES = np.array(
    [
        CODE[c]
        for c in (
            "accepted",
            "unknown_instrument",
            "not_tradable",
            "invalid_side",
            "invalid_timestamp",
            "invalid_quantity",
            "off_lot_grid",
            "invalid_price",
            "off_tick_grid",
            "max_order_quantity",
            "max_order_notional",
            "max_position",
            "max_gross_exposure",
            "buying_power",
            "rate_limit",
        )
    ],
    dtype=np.uint8,
)

setup_st = st.fixed_dictionaries(
    {
        "max_qty": st.integers(1, 15),
        "max_pos": st.integers(20, 2000),
        "notional": st.one_of(st.none(), st.floats(1e4, 5e6)),
        "gross": st.one_of(st.none(), st.floats(1e6, 1e9)),
        "rate": st.one_of(st.none(), st.integers(64, 300)),
        "window_ms": st.integers(1, 800),
        "bp": st.booleans(),
        "fills": st.lists(st.tuples(st.integers(0, 6), st.sampled_from([1, -1]), st.integers(1, 6)), max_size=6),
        "n": st.integers(64, 1600),
        "seed": st.integers(0, 2**32 - 1),
        "dictionary": st.booleans(),
        "limits_col": st.booleans(),
    }
)


def _limits(s: dict) -> RiskLimits:  # type: ignore[type-arg]
    kind = {
        "max_order_quantity": float(s["max_qty"]),
        "max_position": float(s["max_pos"]),
        "max_order_notional": s["notional"],
    }
    return RiskLimits(
        equity=KindLimits(**kind, margin_rate=1.0),
        option=KindLimits(**kind, margin_rate=1.0),
        future=KindLimits(**kind, margin_rate=0.1),
        max_gross_exposure=s["gross"],
        max_orders_per_window=s["rate"],
        rate_window_ns=s["window_ms"] * 1_000_000,
        check_buying_power=s["bp"],
    )


def _orders(s: dict) -> dict[str, np.ndarray]:  # type: ignore[type-arg]
    rng = np.random.default_rng(s["seed"])
    n = s["n"]
    # Index len(SYMBOLS) is a symbol that does not resolve (unknown_instrument).
    inst = rng.choice(len(SYMBOLS) + 1, n, p=[0.15] * 6 + [0.05, 0.02, 0.03])
    side = rng.choice(np.array([1, -1, 0, 2], np.int8), n, p=[0.47, 0.47, 0.03, 0.03])
    qty = rng.integers(1, s["max_qty"] + 2, n).astype(np.float64)
    odd = rng.random(n)
    qty[odd < 0.02] = 0.5
    qty[(odd >= 0.02) & (odd < 0.03)] = np.nan
    qty[(odd >= 0.03) & (odd < 0.04)] = -1.0
    qty[(odd >= 0.04) & (odd < 0.05)] = np.inf
    tick = np.append(TICK, 0.01)[inst]
    price = np.round(np.append(BASE_TICKS, 100.0)[inst] * rng.uniform(0.5, 1.5, n)) * tick
    odd = rng.random(n)
    price[odd < 0.03] += tick[odd < 0.03] * 0.37
    price[(odd >= 0.03) & (odd < 0.04)] = 0.0
    price[(odd >= 0.04) & (odd < 0.05)] = np.nan
    ts = T0 + np.cumsum(rng.integers(0, 2_000_000, n))
    ts[rng.random(n) < 0.01] = 5
    is_limit = rng.random(n) < 0.5
    return {
        "inst": inst.astype(np.int32),
        "side": side,
        "qty": qty,
        "price": price,
        "ts": ts.astype(np.int64),
        "limit": is_limit,
    }


def _table(o: dict[str, np.ndarray], s: dict) -> pa.Table:  # type: ignore[type-arg]
    syms = pa.array(np.array([*SYMBOLS, "NOT A SYMBOL"], dtype=object)[o["inst"]], pa.string())
    cols = {
        "symbol": syms.dictionary_encode() if s["dictionary"] else syms,
        "side": pa.array(o["side"], pa.int8()),
        "quantity": o["qty"],
        "price": o["price"],
        "ts": pa.array(o["ts"], pa.int64()),
    }
    if s["limits_col"]:
        cols["order_type"] = pa.array(o["limit"].astype(np.int8))
    return pa.table(cols)


def _engine(s: dict) -> RiskEngine:  # type: ignore[type-arg]
    r = RiskEngine(_limits(s), cash=CASH)
    for k, sd, q in s["fills"]:
        px = BASE_TICKS[k] * TICK[k]
        r.on_fill(SYMBOLS[k], sd, float(q), float(px), ts=T0)
    return r


@settings(max_examples=40, deadline=None)
@given(s=setup_st)
def test_kernel_batches_equal_validate_and_numba(s: dict) -> None:  # type: ignore[type-arg]
    o = _orders(s)
    table = _table(o, s)
    batch = _engine(s)
    out = batch.validate_batch(table)
    reasons = out.column("reason").to_pylist()
    values = out.column("value").to_pylist()
    limits = out.column("limit").to_pylist()
    single = _engine(s)
    limit_col = s["limits_col"]
    for i in range(s["n"]):
        side = int(o["side"][i])
        if side in (1, -1):
            d = single.validate(
                [*SYMBOLS, "NOT A SYMBOL"][o["inst"][i]],
                side,
                float(o["qty"][i]),
                float(o["price"][i]),
                order_type="limit" if (limit_col and o["limit"][i]) else "market",
                ts=int(o["ts"][i]),
            )
            got = (d.reason, d.value, d.limit)
        else:
            one = single.validate_batch(table.slice(i, 1))
            got = (one.column("reason")[0].as_py(), one.column("value")[0].as_py(), one.column("limit")[0].as_py())
        want = (reasons[i], values[i], limits[i])
        assert got[0] == want[0] and all(
            (a is None and b is None) or a == b or (a != a and b != b) for a, b in zip(got[1:], want[1:])
        ), (i, got, want)
    assert single.snapshot() == batch.snapshot()
    assert single.state() == batch.state()

    # The Numba peer, from the same state.
    lim = _limits(s)
    kinds = [i.kind for i in INSTS]
    rate_of = {"equity": 1.0, "option": 1.0, "future": 0.1, "index": 1.0}
    fixed = ~np.isnan(FIXED_MARGIN)
    m_fixed = np.where(fixed, FIXED_MARGIN, 0.0)
    m_factor = np.where(fixed, 0.0, MULT * np.array([rate_of[k] for k in kinds]))
    pos = np.zeros(len(SYMBOLS))
    last = np.full(len(SYMBOLS), np.nan)
    for k, sd, q in s["fills"]:
        pos[k] += sd * q
        last[k] = BASE_TICKS[k] * TICK[k]
    ref = numba_reference(
        o["inst"],
        o["side"],
        o["qty"],
        o["price"],
        o["ts"],
        o["limit"] & limit_col,
        TRADABLE,
        MULT,
        LOT,
        TICK,
        np.full(len(SYMBOLS), float(s["max_qty"])),
        np.full(len(SYMBOLS), s["notional"] if s["notional"] is not None else np.inf),
        np.full(len(SYMBOLS), float(s["max_pos"])),
        m_fixed,
        m_factor,
        pos,
        last,
        lim.max_gross_exposure if lim.max_gross_exposure is not None else np.inf,
        s["bp"],
        CASH,
        s["rate"] or 0,
        s["window_ms"] * 1_000_000,
        REF_CODES,
        np.zeros(s["n"], np.uint8),
    )
    ours = out.column("reason").combine_chunks().indices.to_numpy()
    mismatch = np.flatnonzero(ours != ref)
    assert mismatch.size == 0, [(int(i), REASONS[ours[i]], REASONS[ref[i]]) for i in mismatch[:5]]


def test_generator_reaches_every_batch_reason() -> None:
    """A guard against a conformance test that cannot fail: the order generator above, on two
    typical setups (tight position and gross limits; loose ones with a busy rate window),
    produces acceptances and every reason a batch of an active engine can."""
    seen: set[str] = set()
    for max_pos, gross in ((30, 3e6), (200, 3e7)):
        s = {
            "max_qty": 8,
            "max_pos": max_pos,
            "notional": 1e6,
            "gross": gross,
            "rate": 100,
            "window_ms": 200,
            "bp": True,
            "fills": [(0, 1, 5), (4, -1, 2)],
            "n": 4000,
            "seed": 1,
            "dictionary": True,
            "limits_col": True,
        }
        seen |= set(_engine(s).validate_batch(_table(_orders(s), s)).column("reason").to_pylist())
    assert seen >= {REASONS[c] for c in REF_CODES}, {REASONS[c] for c in REF_CODES} - seen
