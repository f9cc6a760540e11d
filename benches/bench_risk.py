"""Benchmark: pre-trade risk validation and batch fills, quant-engine vs peers in the same run.

Cases (every peer runs on the same input and implements the same rules):

* ``validate_batch``: orders on 4 equities and 2 futures (dictionary symbols, int8 sides,
  whole-lot quantities, prices on the tick grid, increasing timestamps) against: lot and tick
  grids, per-order quantity and notional caps, worst-case position after the order (accepted
  orders stay open, in sequence), gross exposure, buying power (margin vs equity) and an order
  rate limit. Peers: a plain Numba loop (``nogil``, cached) with the same sequential state, a
  NumPy version (vectorized stateless checks; the sequential position/exposure/rate checks
  cannot be vectorized exactly, so it approximates them with cumulative sums that ignore
  rejections), and a per-order Python function (run on a slice, reported per order).
* ``validate`` (one order from Python): the per-call latency (target < 1 µs).
* ``fill_batch``: market and limit orders against next-bar arrays through the execution model,
  vs a Numba loop and NumPy with the same slippage and fee formulas.

Run: ``python benches/bench_risk.py [--orders N]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba as nb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402

from _harness import Bench, Timing, check_agree  # noqa: E402
from quant_engine.execution import ExecutionConfig, ExecutionModel, FeeSchedule, Slippage  # noqa: E402
from quant_engine.risk import KindLimits, RiskEngine, RiskLimits  # noqa: E402

T0 = 1_704_205_800 * 1_000_000_000
SYMBOLS = ["AAPL", "SPY", "MSFT", "QQQ", "ES", "NQ"]
MULT = np.array([1.0, 1.0, 1.0, 1.0, 50.0, 20.0])
TICK = np.array([0.01, 0.01, 0.01, 0.01, 0.25, 0.25])
MAX_QTY = np.array([10_000.0, 10_000.0, 10_000.0, 10_000.0, 10.0, 10.0])
MAX_POS = np.array([1e9, 1e9, 1e9, 1e9, 1e6, 1e6])
MARGIN_RATE = np.array([1.0, 1.0, 1.0, 1.0, 0.1, 0.1])
MAX_NOTIONAL = 5e6
MAX_GROSS = 1e15
EQUITY = 1e15
RATE_CAP = 5_000
RATE_WINDOW = 1_000_000_000
ORDER_SPACING_NS = 1_000_000  # one order per millisecond: the rate check runs but never trips


def limits() -> RiskLimits:
    return RiskLimits(
        equity=KindLimits(
            max_order_quantity=10_000, max_order_notional=MAX_NOTIONAL, max_position=1e9, margin_rate=1.0
        ),
        future=KindLimits(max_order_quantity=10, max_order_notional=MAX_NOTIONAL, max_position=1e6, margin_rate=0.1),
        max_gross_exposure=MAX_GROSS,
        max_orders_per_window=RATE_CAP,
        rate_window_ns=RATE_WINDOW,
    )


def make_orders(n: int, seed: int = 7) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    inst = rng.integers(0, len(SYMBOLS), n).astype(np.int32)
    side = np.where(rng.random(n) < 0.5, 1, -1).astype(np.int8)
    qty = rng.integers(1, 10, n).astype(np.float64)
    base = np.where(inst >= 4, 4500.0, 100.0)
    price = np.round((base + rng.normal(0, 1, n)) / TICK[inst]) * TICK[inst]
    ts = T0 + np.arange(n, dtype=np.int64) * ORDER_SPACING_NS
    return {"inst": inst, "side": side, "qty": qty, "price": price, "ts": ts}


def as_table(o: dict[str, np.ndarray]) -> pa.Table:
    sym = pa.DictionaryArray.from_arrays(pa.array(o["inst"]), pa.array(SYMBOLS))
    return pa.table({"symbol": sym, "side": o["side"], "quantity": o["qty"], "price": o["price"], "ts": o["ts"]})


@nb.njit(nogil=True, cache=True)
def numba_validate(inst, side, qty, price, ts, mult, tick, max_qty, max_pos, margin_rate, reason):  # type: ignore[no-untyped-def]
    m = mult.shape[0]
    pos = np.zeros(m)
    ob = np.zeros(m)
    os_ = np.zeros(m)
    expo = np.zeros(m)
    marg = np.zeros(m)
    ring = np.zeros(RATE_CAP, dtype=np.int64)
    head = 0
    count = 0
    gross = 0.0
    margin = 0.0
    for i in range(inst.shape[0]):
        k = inst[i]
        q = qty[i]
        p = price[i]
        s = side[i]
        r = 0
        if s != 1 and s != -1:
            r = 5
        elif not (q > 0.0 and q < np.inf) or abs(q - np.round(q)) > 1e-6:
            r = 7
        elif not (p > 0.0 and p < np.inf):
            r = 9
        elif q > max_qty[k]:
            r = 11
        elif q * p * mult[k] > MAX_NOTIONAL:
            r = 12
        else:
            lb = pos[k] + ob[k]
            sb = pos[k] - os_[k]
            wb = max(abs(lb), abs(sb))
            if s == 1:
                wa = max(abs(lb + q), abs(sb))
            else:
                wa = max(abs(lb), abs(sb - q))
            e = wa * p * mult[k]
            g = gross + (e - expo[k])
            mg = wa * (p * mult[k] * margin_rate[k])
            mt = margin + (mg - marg[k])
            if wa > wb and (wa > max_pos[k] or g > MAX_GROSS or mt > EQUITY):
                r = 15
            elif count == RATE_CAP and ts[i] - ring[head] < RATE_WINDOW:
                r = 18
            else:
                if s == 1:
                    ob[k] += q
                else:
                    os_[k] += q
                expo[k] = e
                marg[k] = mg
                gross = g
                margin = mt
                if count < RATE_CAP:
                    ring[(head + count) % RATE_CAP] = ts[i]
                    count += 1
                else:
                    ring[head] = ts[i]
                    head = (head + 1) % RATE_CAP
        reason[i] = r
    return reason


def validate_loop(o: dict[str, np.ndarray], n: int, codes: list[int] | None = None) -> None:
    """quant-engine's single-order validate called once per order from Python (``codes``, when
    given, receives each decision's reason code: for the conformance check, not timed)."""
    eng = RiskEngine(limits(), cash=EQUITY)
    v = eng.validate
    names = [SYMBOLS[k] for k in o["inst"][:n].tolist()]
    args = zip(names, o["side"][:n].tolist(), o["qty"][:n].tolist(), o["price"][:n].tolist(), o["ts"][:n].tolist())
    if codes is not None:
        codes.extend(v(sym, s, q, p, None, t).code for sym, s, q, p, t in args)
        return
    for sym, s, q, p, t in args:
        v(sym, s, q, p, None, t)


def numpy_validate(o: dict[str, np.ndarray]) -> np.ndarray:
    inst, side, q, p = o["inst"], o["side"], o["qty"], o["price"]
    m = MULT[inst]
    reason = np.zeros(len(q), dtype=np.uint8)
    bad_side = (side != 1) & (side != -1)
    bad_q = ~((q > 0) & np.isfinite(q)) | (np.abs(q - np.round(q)) > 1e-6)
    bad_p = ~((p > 0) & np.isfinite(p))
    over_q = q > MAX_QTY[inst]
    over_n = q * p * m > MAX_NOTIONAL
    # Approximation of the sequential part: cumulative signed quantity per instrument,
    # ignoring that rejected orders do not count.
    signed = np.where(side == 1, q, -q)
    pos = np.zeros(len(q))
    for k in range(len(SYMBOLS)):
        sel = inst == k
        pos[sel] = np.cumsum(signed[sel])
    over_pos = np.abs(pos) > MAX_POS[inst]
    for code, mask in ((15, over_pos), (12, over_n), (11, over_q), (9, bad_p), (7, bad_q), (5, bad_side)):
        reason[mask] = code
    return reason


def python_validate(o: dict[str, np.ndarray], n: int) -> list[int]:
    inst, side, qty, price = (o[k][:n].tolist() for k in ("inst", "side", "qty", "price"))
    mult, max_qty, max_pos = MULT.tolist(), MAX_QTY.tolist(), MAX_POS.tolist()
    pos = [0.0] * len(SYMBOLS)
    out = []
    for k, s, q, p in zip(inst, side, qty, price):
        if s not in (1, -1):
            out.append(5)
        elif not q > 0 or q != round(q):
            out.append(7)
        elif not p > 0:
            out.append(9)
        elif q > max_qty[k]:
            out.append(11)
        elif q * p * mult[k] > MAX_NOTIONAL:
            out.append(12)
        elif abs(pos[k] + s * q) > max_pos[k] and abs(pos[k] + s * q) > abs(pos[k]):
            out.append(15)
        else:
            pos[k] += s * q
            out.append(0)
    return out


@nb.njit(nogil=True, cache=True)
def numba_fill(inst, side, qty, bar, bar_ts, open_, volume, mult, fee_per_unit):  # type: ignore[no-untyped-def]
    """The same columns as quant-engine's fill_batch, allocated per call."""
    n = inst.shape[0]
    status = np.zeros(n, np.uint8)
    ts = np.empty(n, np.int64)
    out_qty = np.empty(n)
    out_price = np.empty(n)
    out_base = np.empty(n)
    out_fee = np.empty(n)
    out_slip = np.empty(n)
    out_mult = np.empty(n)
    for i in range(n):
        b = bar[i]
        o = open_[b]
        spread = o * 2.0 * 1e-4
        base = o + side[i] * 0.5 * spread
        slip = base * 1.0 * 1e-4 + 0.5 * spread + base * 10.0 * 1e-4 * np.sqrt(qty[i] / volume[b])
        px = base + side[i] * slip
        ts[i] = bar_ts[b]
        out_qty[i] = qty[i]
        out_price[i] = px
        out_base[i] = base
        out_fee[i] = max(fee_per_unit[inst[i]] * qty[i], 1.0)
        out_slip[i] = (px - base) * side[i] * qty[i] * mult[inst[i]]
        out_mult[i] = mult[inst[i]]
    return status, ts, out_qty, out_price, out_base, out_fee, out_slip, out_mult


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--orders", type=int, default=2_000_000, help="orders per validate_batch call")
    ap.add_argument("--fills", type=int, default=2_000_000, help="orders per fill_batch call")
    args = ap.parse_args()
    n = args.orders
    o = make_orders(n)
    table = as_table(o)
    bench = Bench("risk", items_label="orders")

    def fresh() -> RiskEngine:
        return RiskEngine(limits(), cash=EQUITY)

    # Conformance of the peers on this input, before anything is timed: the same reason code for
    # every order (NumPy's approximation: the same codes for the stateless checks it implements).
    eng = fresh()
    ours = eng.validate_batch(table).column("reason").combine_chunks().indices.to_numpy().astype(np.int64)
    nb_reason = numba_validate(
        o["inst"],
        o["side"],
        o["qty"],
        o["price"],
        o["ts"],
        MULT,
        TICK,
        MAX_QTY,
        MAX_POS,
        MARGIN_RATE,
        np.zeros(n, np.uint8),
    )
    nb_codes = nb_reason.astype(np.int64)
    stateless = np.isin(nb_codes, (5, 7, 9, 11, 12))
    np_codes = numpy_validate(o).astype(np.int64)
    m = min(n, 200_000)
    loop_codes: list[int] = []
    validate_loop(o, m, loop_codes)
    py_codes = np.asarray(python_validate(o, m), np.int64)
    check_agree(f"validate_batch, {n:,} orders", {
        "quant-engine validate_batch": (n, float(np.sum(ours == 0)), float(ours @ np.arange(n))),
        "numba loop": (n, float(np.sum(nb_codes == 0)), float(nb_codes @ np.arange(n))),
    })  # fmt: skip
    check_agree("validate_batch, stateless checks", {
        "numba loop": (float(stateless.sum()), float(nb_codes[stateless] @ np.arange(stateless.sum()))),
        "numpy (approximate)": (float(stateless.sum()), float(np_codes[stateless] @ np.arange(stateless.sum()))),
    })  # fmt: skip
    check_agree(f"validate, {m:,} orders", {
        "numba loop": (m, float(np.sum(nb_codes[:m] == 0)), float(nb_codes[:m] @ np.arange(m))),
        "quant-engine validate (loop from Python)": (len(loop_codes), float(np.sum(np.asarray(loop_codes) == 0)), float(np.asarray(loop_codes, np.int64) @ np.arange(len(loop_codes)))),
        "python per-order": (len(py_codes), float(np.sum(py_codes == 0)), float(py_codes @ np.arange(len(py_codes)))),
    })  # fmt: skip

    bench.case(f"validate_batch, {n:,} orders", n_items=n, baseline="numba loop", target=">= 250 M orders/s")
    # Each timed call gets a fresh engine (accepted orders stay open), built before timing.
    engines = [fresh() for _ in range(8)]
    bench.time("quant-engine validate_batch", lambda: engines.pop().validate_batch(table), repeat=7)
    bench.time(
        "numba loop",
        lambda: numba_validate(
            o["inst"],
            o["side"],
            o["qty"],
            o["price"],
            o["ts"],
            MULT,
            TICK,
            MAX_QTY,
            MAX_POS,
            MARGIN_RATE,
            np.zeros(n, np.uint8),
        ),
        repeat=7,
    )
    bench.time("numpy (approximate)", lambda: numpy_validate(o), repeat=5)
    bench.case(f"validate, {m:,} orders, per-order peers", n_items=m, baseline="python per-order")
    bench.time("python per-order", lambda: python_validate(o, m), repeat=3)
    bench.time("quant-engine validate (loop from Python)", lambda: validate_loop(o, m), repeat=3)

    small = 100_000
    o_small = make_orders(small, seed=11)
    t_small = as_table(o_small)
    small_ours = fresh().validate_batch(t_small).column("reason").combine_chunks().indices.to_numpy().astype(np.int64)
    small_nb = numba_validate(o_small["inst"], o_small["side"], o_small["qty"], o_small["price"], o_small["ts"], MULT, TICK, MAX_QTY, MAX_POS,
                              MARGIN_RATE, np.zeros(small, np.uint8)).astype(np.int64)  # fmt: skip
    check_agree(f"validate_batch, {small:,} orders", {
        "quant-engine validate_batch": (small, float(small_ours @ np.arange(small))),
        "numba loop": (small, float(small_nb @ np.arange(small))),
    })  # fmt: skip
    bench.case(
        f"validate_batch, {small:,} orders (cache-resident)",
        n_items=small,
        baseline="numba loop",
        target=">= 250 M orders/s",
    )

    engines = [fresh() for _ in range(4 * 26)]
    bench.time("quant-engine validate_batch", lambda: engines.pop().validate_batch(t_small), repeat=25, number=4)
    bench.time(
        "numba loop",
        lambda: numba_validate(
            o_small["inst"],
            o_small["side"],
            o_small["qty"],
            o_small["price"],
            o_small["ts"],
            MULT,
            TICK,
            MAX_QTY,
            MAX_POS,
            MARGIN_RATE,
            np.zeros(small, np.uint8),
        ),
        repeat=25,
        number=4,
    )

    bench.case("validate, one order from Python", n_items=1, baseline=None, target="< 1 µs per call")
    single = RiskEngine(limits(), cash=EQUITY)
    calls = 200_000
    v = single.validate
    assert v("AAPL", "buy", 1.0, 100.0, None, T0, False, False).accepted, "the timed single order is rejected"

    def many() -> None:
        for _ in range(calls):
            v("AAPL", "buy", 1.0, 100.0, None, T0, False, False)

    samples = []
    for _ in range(5):
        t0 = time.perf_counter()
        many()
        samples.append((time.perf_counter() - t0) / calls)
    samples.sort()
    bench.record("RiskEngine.validate", Timing(samples[2], samples[0], samples[-1], 5), n_items=1, note="per call")

    nf = args.fills
    rng = np.random.default_rng(3)
    nbars = 10_000
    opens = 100.0 + np.cumsum(rng.normal(0, 0.05, nbars))
    bars = pa.table(
        {
            "ts": pa.array(T0 + np.arange(nbars, dtype=np.int64) * 60_000_000_000, pa.timestamp("ns", tz="UTC")),
            "open": opens,
            "high": opens + 0.5,
            "low": opens - 0.5,
            "close": opens,
            "volume": np.full(nbars, 1e6),
        }
    )
    f_inst = rng.integers(0, 4, nf).astype(np.int32)
    f_side = np.where(rng.random(nf) < 0.5, 1, -1).astype(np.int8)
    f_qty = rng.integers(1, 100, nf).astype(np.float64)
    f_bar = rng.integers(0, nbars, nf).astype(np.int64)
    orders = pa.table(
        {
            "symbol": pa.DictionaryArray.from_arrays(pa.array(f_inst), pa.array(SYMBOLS[:4])),
            "side": f_side,
            "quantity": f_qty,
            "bar": f_bar,
        }
    )
    model = ExecutionModel(
        ExecutionConfig(
            slippage=Slippage(fixed_bps=1.0, spread_fraction=0.5, impact_bps=10.0, assumed_spread_bps=2.0),
            equity_fees=FeeSchedule(per_unit=0.005, minimum=1.0),
        )
    )
    fee_unit = np.full(4, 0.005)
    f_sidef = f_side.astype(np.float64)
    vol = bars.column("volume").to_numpy()
    bts = bars.column("ts").cast(pa.int64()).to_numpy()

    def numpy_fill() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        o_ = opens[f_bar]
        spread = o_ * 2.0 * 1e-4
        sd = f_side.astype(np.float64)
        base = o_ + sd * 0.5 * spread
        slip = base * 1e-4 + 0.5 * spread + base * 10.0 * 1e-4 * np.sqrt(f_qty / 1e6)
        px = base + sd * slip
        return px, np.maximum(fee_unit[f_inst] * f_qty, 1.0), (px - base) * sd * f_qty * MULT[f_inst]

    def fill_figures(price_: np.ndarray, fees: np.ndarray, slippage: np.ndarray) -> tuple[float, ...]:
        return (float(len(price_)), float(np.sum(price_)), float(np.sum(fees)), float(np.sum(slippage)))

    ours = model.fill_batch(orders, bars)
    ref = numba_fill(f_inst, f_sidef, f_qty, f_bar, bts, opens, vol, MULT[:4], fee_unit)
    worst = float(np.max(np.abs(ours.column("price").to_numpy() - ref[3]) / ref[3]))
    assert worst < 1e-12, f"fill_batch: prices differ from the numba loop by up to {worst:.3g} (relative)"
    check_agree(f"fill_batch, {nf:,} orders", {
        "quant-engine fill_batch": fill_figures(*(ours.column(c).to_numpy() for c in ("price", "fees", "slippage_cost"))),
        "numba loop": fill_figures(ref[3], ref[5], ref[6]),
        "numpy": fill_figures(*numpy_fill()),
    }, rel=1e-9)  # fmt: skip
    bench.case(f"fill_batch, {nf:,} orders vs next bars", n_items=nf, baseline="numba loop", target=">= 50 M fills/s")
    bench.time("quant-engine fill_batch", lambda: model.fill_batch(orders, bars), repeat=7)
    bench.time(
        "numba loop", lambda: numba_fill(f_inst, f_sidef, f_qty, f_bar, bts, opens, vol, MULT[:4], fee_unit), repeat=7
    )

    bench.time("numpy", numpy_fill, repeat=7)
    bench.report()


if __name__ == "__main__":
    main()
