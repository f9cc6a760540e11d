//! The execution model and the ledger: golden contracts, fill rules, fees, the batch form, and
//! the round-trip P&L identity.

use proptest::prelude::*;
use quant_engine_core::execution::{
    BarColumnsRef, BarQuote, ExecutionConfig, ExecutionModel, FeeSchedule, FillColumns, FillReject, MarketContext, OrderColumns, Quote, Slippage,
};
use quant_engine_core::instruments::{Instrument, InstrumentRegistry};
use quant_engine_core::order::{InstrumentColumn, Order, Side};
use quant_engine_core::portfolio::{CostBasis, Portfolio};

const T0: i64 = 1_704_205_800_000_000_000;

fn reg() -> InstrumentRegistry {
    InstrumentRegistry::with_builtins()
}

fn quote(bid: f64, ask: f64) -> MarketContext {
    MarketContext::Quote(Quote { ts: T0, bid, ask, bid_size: 10.0, ask_size: 10.0, volume: f64::NAN })
}

fn bar(open: f64, high: f64, low: f64, close: f64, volume: f64) -> MarketContext {
    MarketContext::Bar(BarQuote { ts: T0, open, high, low, close, volume })
}

#[test]
fn golden_es_round_trip_one_point_is_50_dollars() {
    let es = reg().resolve("ESZ24").unwrap();
    let m = ExecutionModel::default();
    let buy = m.fill(&es, &Order::market(0, Side::Buy, 1.0, 0.0, T0), &quote(4499.75, 4500.0)).unwrap();
    let sell = m.fill(&es, &Order::market(0, Side::Sell, 1.0, 0.0, T0), &quote(4501.0, 4501.25)).unwrap();
    assert_eq!((buy.price, sell.price, buy.multiplier), (4500.0, 4501.0, 50.0));
    let mut p = Portfolio::new(100_000.0, CostBasis::AverageCost, &[es.multiplier]).unwrap();
    p.apply(&buy).unwrap();
    let realized = p.apply(&sell).unwrap();
    assert_eq!(realized, 50.0);
    assert_eq!(p.equity(), 100_050.0);
}

#[test]
fn golden_spy_option_ten_cents_is_ten_dollars() {
    let opt = reg().resolve("O:SPY240621C00500000").unwrap();
    let m =
        ExecutionModel::new(ExecutionConfig { option_fees: FeeSchedule { per_unit: 0.65, minimum: 1.0, ..Default::default() }, ..Default::default() }).unwrap();
    let buy = m.fill(&opt, &Order::market(0, Side::Buy, 1.0, 0.0, T0), &quote(2.45, 2.50)).unwrap();
    let sell = m.fill(&opt, &Order::market(0, Side::Sell, 1.0, 0.0, T0), &quote(2.60, 2.65)).unwrap();
    assert_eq!(buy.fees, 1.0); // $0.65 per contract, $1 minimum
    let mut p = Portfolio::new(10_000.0, CostBasis::AverageCost, &[opt.multiplier]).unwrap();
    p.apply(&buy).unwrap();
    let realized = p.apply(&sell).unwrap();
    assert!((realized - 10.0).abs() < 1e-9, "{realized}");
    assert!((p.equity() - (10_000.0 + 10.0 - 2.0)).abs() < 1e-9);
}

#[test]
fn slippage_terms_and_fees() {
    let aapl = reg().resolve("AAPL").unwrap();
    let m = ExecutionModel::new(ExecutionConfig {
        slippage: Slippage { fixed_bps: 10.0, spread_fraction: 0.5, impact_bps: 100.0, assumed_spread_bps: 0.0 },
        equity_fees: FeeSchedule { per_unit: 0.005, bps: 0.0, minimum: 1.0, maximum_fraction: 0.01 },
        ..Default::default()
    })
    .unwrap();
    let ctx = MarketContext::Quote(Quote { ts: T0, bid: 99.9, ask: 100.0, bid_size: 1.0, ask_size: 1.0, volume: 10_000.0 });
    let f = m.fill(&aapl, &Order::market(0, Side::Buy, 100.0, 0.0, T0), &ctx).unwrap();
    // 100 * 10bps = 0.1; half the 0.1 spread = 0.05; impact 100bps * 100 * sqrt(100/10000) = 0.1.
    let slip = 100.0 * 10.0 * 1e-4 + 0.5 * (100.0 - 99.9) + 100.0 * 100.0 * 1e-4 * (0.01f64).sqrt();
    assert_eq!(f.price, 100.0 + slip);
    assert_eq!(f.base_price, 100.0);
    assert!((f.slippage_cost - slip * 100.0).abs() < 1e-9);
    assert_eq!(f.fees, 1.0); // 100 * 0.005 = 0.5 -> minimum 1
    let f = m.fill(&aapl, &Order::market(0, Side::Sell, 1.0, 0.0, T0), &ctx).unwrap();
    assert!(f.price < 99.9);
    assert!((f.fees - 0.01 * f.price).abs() < 1e-12); // the 1% cap wins over the minimum
}

#[test]
fn limit_orders_fill_only_through_the_price() {
    let es = reg().resolve("ES").unwrap();
    let m = ExecutionModel::default();
    let lim = |side, px| Order::limit(0, side, 1.0, px, T0);
    // Quotes: marketable at the touch, otherwise no fill.
    assert_eq!(m.fill(&es, &lim(Side::Buy, 4500.0), &quote(4499.75, 4500.0)).unwrap().price, 4500.0);
    assert_eq!(m.fill(&es, &lim(Side::Buy, 4499.75), &quote(4499.75, 4500.0)), Err(FillReject::LimitNotReached));
    // Bars: a touch is not a fill, a trade-through is (at the limit, no slippage).
    assert_eq!(m.fill(&es, &lim(Side::Buy, 4490.0), &bar(4500.0, 4505.0, 4490.0, 4495.0, 1000.0)), Err(FillReject::LimitNotReached));
    let f = m.fill(&es, &lim(Side::Buy, 4490.0), &bar(4500.0, 4505.0, 4489.75, 4495.0, 1000.0)).unwrap();
    assert_eq!((f.price, f.slippage_cost), (4490.0, 0.0));
    // Opening through the limit fills at the open (better than the limit).
    let f = m.fill(&es, &lim(Side::Buy, 4490.0), &bar(4480.0, 4485.0, 4470.0, 4475.0, 1000.0)).unwrap();
    assert_eq!(f.price, 4480.0);
    let f = m.fill(&es, &lim(Side::Sell, 4510.0), &bar(4500.0, 4510.25, 4495.0, 4505.0, 1000.0)).unwrap();
    assert_eq!(f.price, 4510.0);
    // On touch when asked.
    let touch = ExecutionModel::new(ExecutionConfig { limit_fill_on_touch: true, ..Default::default() }).unwrap();
    assert!(touch.fill(&es, &lim(Side::Buy, 4490.0), &bar(4500.0, 4505.0, 4490.0, 4495.0, 1000.0)).is_ok());
}

#[test]
fn bars_fill_at_the_next_open_with_assumed_spread() {
    let es = reg().resolve("ES").unwrap();
    let m = ExecutionModel::new(ExecutionConfig {
        slippage: Slippage { assumed_spread_bps: 2.0, spread_fraction: 0.5, ..Default::default() },
        ..Default::default()
    })
    .unwrap();
    let f = m.fill(&es, &Order::market(0, Side::Buy, 2.0, 0.0, T0), &bar(5000.0, 5010.0, 4990.0, 5005.0, 1e6)).unwrap();
    // spread 1.0: base 5000.5, slippage 0.5 * 1.0.
    assert_eq!((f.base_price, f.price), (5000.5, 5001.0));
    assert_eq!(f.slippage_cost, 0.5 * 2.0 * 50.0);
}

#[test]
fn bad_inputs_are_rejections() {
    let r = reg();
    let es = r.resolve("ES").unwrap();
    let spx = r.resolve("SPX").unwrap();
    let m = ExecutionModel::default();
    let o = Order::market(0, Side::Buy, 1.0, 0.0, T0);
    assert_eq!(m.fill(&spx, &o, &quote(1.0, 1.1)), Err(FillReject::NotTradable));
    assert_eq!(m.fill(&es, &o, &quote(f64::NAN, f64::NAN)), Err(FillReject::InvalidMarketData));
    assert_eq!(m.fill(&es, &o, &quote(10.0, 9.0)), Err(FillReject::InvalidMarketData));
    assert_eq!(m.fill(&es, &o, &bar(10.0, 9.0, 11.0, 10.0, 1.0)), Err(FillReject::InvalidMarketData));
    assert_eq!(m.fill(&es, &Order::market(0, Side::Buy, -1.0, 0.0, T0), &quote(1.0, 1.1)), Err(FillReject::InvalidOrder));
    let capped = ExecutionModel::new(ExecutionConfig { max_participation: 0.1, ..Default::default() }).unwrap();
    assert_eq!(capped.fill(&es, &Order::market(0, Side::Buy, 5.0, 0.0, T0), &bar(10.0, 11.0, 9.0, 10.0, 5.0)), Err(FillReject::NoLiquidity));
    let f = capped.fill(&es, &Order::market(0, Side::Buy, 5.0, 0.0, T0), &bar(10.0, 11.0, 9.0, 10.0, 30.0)).unwrap();
    assert_eq!(f.quantity, 3.0);
    assert!(ExecutionModel::new(ExecutionConfig { slippage: Slippage { fixed_bps: -1.0, ..Default::default() }, ..Default::default() }).is_err());
}

#[test]
fn fifo_and_average_cost_agree_when_flat_and_differ_on_partial_exits() {
    let es = reg().resolve("ES").unwrap();
    let m = ExecutionModel::default();
    let at = |side, q, px| m.fill(&es, &Order::market(0, side, q, 0.0, T0), &quote(px, px)).unwrap();
    let fills = [at(Side::Buy, 1.0, 4000.0), at(Side::Buy, 1.0, 4100.0), at(Side::Sell, 1.0, 4200.0), at(Side::Sell, 1.0, 4050.0)];
    let mut avg = Portfolio::new(0.0, CostBasis::AverageCost, &[50.0]).unwrap();
    let mut fifo = Portfolio::new(0.0, CostBasis::Fifo, &[50.0]).unwrap();
    let (mut ra, mut rf) = (vec![], vec![]);
    for f in &fills {
        ra.push(avg.apply(f).unwrap());
        rf.push(fifo.apply(f).unwrap());
    }
    assert_eq!(ra[2], (4200.0 - 4050.0) * 50.0);
    assert_eq!(rf[2], (4200.0 - 4000.0) * 50.0);
    assert_eq!(avg.realized(), fifo.realized());
    assert_eq!(avg.realized(), (4200.0 + 4050.0 - 4000.0 - 4100.0) * 50.0);
    // Flip through zero: the new position's basis is the flip price.
    let mut p = Portfolio::new(0.0, CostBasis::AverageCost, &[50.0]).unwrap();
    p.apply(&at(Side::Buy, 1.0, 4000.0)).unwrap();
    p.apply(&at(Side::Sell, 3.0, 4010.0)).unwrap();
    let pos = p.position(0).unwrap();
    assert_eq!((pos.quantity, pos.avg_price, pos.realized), (-2.0, 4010.0, 500.0));
    p.mark(0, 4000.0).unwrap();
    assert_eq!(p.unrealized(), 1000.0);
    assert_eq!(p.record(T0), p.equity());
    assert_eq!(p.equity_curve().len(), 1);
}

/// Orders (slot, side, quantity, order type, limit in ticks, bar) and bars (open, up, down, volume).
type OrdersAndBars = (Vec<(u32, i8, f64, u8, i64, u32)>, Vec<(i64, i64, i64, f64)>);

fn orders_and_bars() -> impl Strategy<Value = OrdersAndBars> {
    let bars = proptest::collection::vec((1000i64..20_000, 0i64..200, 0i64..200, 0.0..5000.0f64), 1..20);
    bars.prop_flat_map(|bars| {
        let nb = bars.len() as u32;
        let orders = proptest::collection::vec((0u32..4, prop_oneof![Just(1i8), Just(-1i8), Just(0i8)], 0.0..30.0f64, 0u8..2, 900i64..21_000, 0..nb), 0..60);
        (orders, Just(bars))
    })
}

proptest! {
    /// The batch form gives the same fills as the single form, bit for bit.
    #[test]
    fn batch_equals_single((orders, bars) in orders_and_bars()) {
        let r = reg();
        let insts: Vec<Instrument> = ["ES", "AAPL", "O:SPY240621C00500000", "SPX"].iter().map(|s| r.resolve(s).unwrap()).collect();
        let m = ExecutionModel::new(ExecutionConfig {
            slippage: Slippage { fixed_bps: 1.0, spread_fraction: 0.5, impact_bps: 50.0, assumed_spread_bps: 3.0 },
            equity_fees: FeeSchedule { per_unit: 0.005, minimum: 1.0, ..Default::default() },
            future_fees: FeeSchedule { per_unit: 2.25, ..Default::default() },
            option_fees: FeeSchedule { per_unit: 0.65, bps: 1.0, ..Default::default() },
            max_participation: 0.5,
            ..Default::default()
        }).unwrap();
        let ticks = 0.25;
        let b_ts: Vec<i64> = (0..bars.len() as i64).map(|k| T0 + k).collect();
        let b_open: Vec<f64> = bars.iter().map(|b| b.0 as f64 * ticks).collect();
        let b_high: Vec<f64> = bars.iter().map(|b| (b.0 + b.1) as f64 * ticks).collect();
        let b_low: Vec<f64> = bars.iter().map(|b| (b.0 - b.2) as f64 * ticks).collect();
        let b_vol: Vec<f64> = bars.iter().map(|b| b.3.floor()).collect();
        let cols = BarColumnsRef { ts: &b_ts, open: &b_open, high: &b_high, low: &b_low, close: &b_open, volume: &b_vol };
        let inst: Vec<u32> = orders.iter().map(|o| o.0).collect();
        let side: Vec<i8> = orders.iter().map(|o| o.1).collect();
        let qty: Vec<f64> = orders.iter().map(|o| o.2.round()).collect();
        let ty: Vec<u8> = orders.iter().map(|o| o.3).collect();
        let lp: Vec<f64> = orders.iter().map(|o| o.4 as f64 * ticks).collect();
        let bi: Vec<i64> = orders.iter().map(|o| o.5 as i64).collect();
        let oc = OrderColumns { instrument: InstrumentColumn::Slots(&inst), side: &side, quantity: &qty, order_type: &ty, limit_price: &lp, bar: &bi };
        let mut out = FillColumns::default();
        m.fill_bars_batch(&insts, &oc, &cols, &mut out).unwrap();
        for i in 0..orders.len() {
            let Some(sd) = Side::from_sign(side[i]) else {
                prop_assert_eq!(out.status[i], FillReject::InvalidOrder as u8);
                continue;
            };
            let o = if ty[i] == 1 { Order::limit(inst[i], sd, qty[i], lp[i], T0) } else { Order::market(inst[i], sd, qty[i], 0.0, T0) };
            let k = bi[i] as usize;
            let ctx = bar(b_open[k], b_high[k], b_low[k], b_open[k], b_vol[k]);
            let ctx = match ctx { MarketContext::Bar(mut b) => { b.ts = b_ts[k]; MarketContext::Bar(b) } q => q };
            match m.fill(&insts[inst[i] as usize], &o, &ctx) {
                Ok(f) => {
                    prop_assert_eq!(out.status[i], 0);
                    prop_assert_eq!(f.price.to_bits(), out.price[i].to_bits());
                    prop_assert_eq!(f.quantity.to_bits(), out.quantity[i].to_bits());
                    prop_assert_eq!(f.fees.to_bits(), out.fees[i].to_bits());
                    prop_assert_eq!(f.slippage_cost.to_bits(), out.slippage_cost[i].to_bits());
                    prop_assert_eq!(f.base_price.to_bits(), out.base_price[i].to_bits());
                    prop_assert_eq!(f.multiplier, out.multiplier[i]);
                    prop_assert_eq!(f.ts, out.ts[i]);
                }
                Err(e) => prop_assert_eq!(out.status[i], e as u8),
            }
        }
    }

    /// A round trip nets exactly (exit - entry) * qty * multiplier - fees - slippage, with entry
    /// and exit the pre-slippage base prices. Exact on dyadic grids (quarter-point futures, 1/64
    /// Treasuries, integer quantities, dyadic slippage and fees), where every product is exact.
    #[test]
    fn round_trip_pnl_identity(root in prop_oneof![Just("ES"), Just("ZN"), Just("MNQ"), Just("CL")], q in 1u32..50, entry_ticks in 100i64..100_000, exit_ticks in 100i64..100_000, slip_ticks in 0i64..8, fee_quarters in 0u32..40, basis in prop_oneof![Just(CostBasis::AverageCost), Just(CostBasis::Fifo)]) {
        let inst = reg().resolve(root).unwrap();
        let tick = if root == "CL" { 1.0 / 64.0 } else { inst.tick_size }; // keep CL dyadic too
        let (e_base, x_base) = (entry_ticks as f64 * tick, exit_ticks as f64 * tick);
        let slip = slip_ticks as f64 * tick;
        let fee = fee_quarters as f64 * 0.25;
        let q = q as f64;
        let m = inst.multiplier;
        let mk = |side: Side, base: f64| quant_engine_core::order::Fill {
            instrument: 0, side, quantity: q, price: base + side.sign() * slip, base_price: base, fees: fee,
            slippage_cost: slip * q * m, multiplier: m, ts: T0,
        };
        let mut p = Portfolio::new(1_000_000.0, basis, &[m]).unwrap();
        p.apply(&mk(Side::Buy, e_base)).unwrap();
        p.apply(&mk(Side::Sell, x_base)).unwrap();
        let expected = (x_base - e_base) * q * m - 2.0 * fee - 2.0 * slip * q * m;
        prop_assert_eq!(p.realized() - p.fees(), expected);
        prop_assert_eq!(p.equity() - 1_000_000.0, expected);
        prop_assert_eq!(p.slippage(), 2.0 * slip * q * m);
    }

    /// Through the real execution model (fixed bps slippage, bps fees): the identity holds to
    /// floating-point accuracy on any grid.
    #[test]
    fn round_trip_pnl_identity_through_the_model(sym in prop_oneof![Just("ES"), Just("AAPL"), Just("O:SPY240621C00500000"), Just("GC")], q in 1u32..10, e in 1.0..5000.0f64, x in 1.0..5000.0f64, bps in 0.0..20.0f64, fee_bps in 0.0..5.0f64) {
        let inst = reg().resolve(sym).unwrap();
        let cfg = FeeSchedule { bps: fee_bps, ..Default::default() };
        let model = ExecutionModel::new(ExecutionConfig {
            slippage: Slippage { fixed_bps: bps, ..Default::default() },
            equity_fees: cfg, option_fees: cfg, future_fees: cfg, ..Default::default()
        }).unwrap();
        let q = q as f64;
        let buy = model.fill(&inst, &Order::market(0, Side::Buy, q, 0.0, T0), &quote(e, e)).unwrap();
        let sell = model.fill(&inst, &Order::market(0, Side::Sell, q, 0.0, T0), &quote(x, x)).unwrap();
        let mut p = Portfolio::new(0.0, CostBasis::AverageCost, &[inst.multiplier]).unwrap();
        p.apply(&buy).unwrap();
        p.apply(&sell).unwrap();
        let expected = (x - e) * q * inst.multiplier - buy.fees - sell.fees - buy.slippage_cost - sell.slippage_cost;
        let net = p.realized() - p.fees();
        prop_assert!((net - expected).abs() <= 1e-9 * (e + x) * q * inst.multiplier, "{} vs {}", net, expected);
    }
}

/// Batches above the streaming threshold (non-temporal stores) give the same fills as `fill`.
#[test]
fn large_batch_equals_single() {
    let r = reg();
    let insts: Vec<Instrument> = ["ES", "AAPL"].iter().map(|s| r.resolve(s).unwrap()).collect();
    let m = ExecutionModel::new(ExecutionConfig {
        slippage: Slippage { fixed_bps: 1.0, spread_fraction: 0.5, impact_bps: 20.0, assumed_spread_bps: 2.0 },
        equity_fees: FeeSchedule { per_unit: 0.005, minimum: 1.0, ..Default::default() },
        ..Default::default()
    })
    .unwrap();
    let n = 300_000usize;
    let nb = 1000usize;
    let open: Vec<f64> = (0..nb).map(|k| 4000.0 + (k % 37) as f64 * 0.25).collect();
    let high: Vec<f64> = open.iter().map(|o| o + 2.0).collect();
    let low: Vec<f64> = open.iter().map(|o| o - 2.0).collect();
    let vol: Vec<f64> = (0..nb).map(|k| (k % 5) as f64 * 1000.0).collect();
    let bts: Vec<i64> = (0..nb as i64).map(|k| T0 + k).collect();
    let inst: Vec<u32> = (0..n).map(|i| (i % 3) as u32).collect(); // slot 2 is unknown
    let side: Vec<i8> = (0..n).map(|i| if i % 2 == 0 { 1 } else { -1 }).collect();
    let qty: Vec<f64> = (0..n).map(|i| (i % 7) as f64 + 1.0).collect();
    let ty: Vec<u8> = (0..n).map(|i| (i % 4 == 0) as u8).collect();
    let lp: Vec<f64> = (0..n).map(|i| 3999.0 + (i % 11) as f64 * 0.5).collect();
    let bar: Vec<i64> = (0..n).map(|i| (i * 7 % nb) as i64).collect();
    let oc = OrderColumns { instrument: InstrumentColumn::Slots(&inst), side: &side, quantity: &qty, order_type: &ty, limit_price: &lp, bar: &bar };
    let bc = BarColumnsRef { ts: &bts, open: &open, high: &high, low: &low, close: &open, volume: &vol };
    let mut out = FillColumns::default();
    m.fill_bars_batch(&insts, &oc, &bc, &mut out).unwrap();
    assert_eq!(out.price.len(), n);
    for i in 0..n {
        let Some(ins) = insts.get(inst[i] as usize) else {
            assert_eq!(out.status[i], FillReject::UnknownInstrument as u8);
            continue;
        };
        let sd = Side::from_sign(side[i]).unwrap();
        let o = if ty[i] == 1 { Order::limit(inst[i], sd, qty[i], lp[i], T0) } else { Order::market(inst[i], sd, qty[i], 0.0, T0) };
        let k = bar[i] as usize;
        let ctx = MarketContext::Bar(BarQuote { ts: bts[k], open: open[k], high: high[k], low: low[k], close: open[k], volume: vol[k] });
        match m.fill(ins, &o, &ctx) {
            Ok(f) => {
                assert_eq!(out.status[i], 0);
                assert_eq!(
                    (f.price.to_bits(), f.fees.to_bits(), f.quantity, f.ts),
                    (out.price[i].to_bits(), out.fees[i].to_bits(), out.quantity[i], out.ts[i])
                );
                assert_eq!(f.slippage_cost.to_bits(), out.slippage_cost[i].to_bits());
            }
            Err(e) => assert_eq!(out.status[i], e as u8),
        }
    }
}
