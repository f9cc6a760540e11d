//! The risk engine: every check, modes, snapshot/restore, sizing, and the properties of the
//! issue (no accepted order breaks a limit; validate == validate_batch; sizing within limits).

use proptest::prelude::*;
use quant_engine_core::instruments::{Instrument, InstrumentRegistry};
use quant_engine_core::order::{Fill, Order, OrderType, Side};
use quant_engine_core::portfolio::CostBasis;
use quant_engine_core::risk::{DecisionColumns, InstrumentColumn, Mode, OrderBatch, Reason, RiskEngine, RiskLimits, SizingMethod, SymbolLimits};

const T0: i64 = 1_704_205_800_000_000_000;
const SEC: i64 = 1_000_000_000;

fn instruments() -> Vec<Instrument> {
    let r = InstrumentRegistry::with_builtins();
    vec![r.resolve("AAPL").unwrap(), r.resolve("ES").unwrap(), r.resolve("SPY   240621C00500000").unwrap(), r.resolve("SPX").unwrap()]
}

fn engine(limits: RiskLimits) -> RiskEngine {
    RiskEngine::new(limits, 1_000_000.0, CostBasis::AverageCost, &instruments()).unwrap()
}

fn fill(slot: u32, side: Side, q: f64, px: f64, mult: f64) -> Fill {
    Fill { instrument: slot, side, quantity: q, price: px, base_price: px, fees: 0.0, slippage_cost: 0.0, multiplier: mult, ts: T0 }
}

#[test]
fn each_check_reports_its_reason_and_numbers() {
    let mut e = engine(RiskLimits::default());
    let mut check = |o: Order| e.validate(&o, false);
    let d = check(Order::market(1, Side::Buy, 11.0, 4500.0, T0));
    assert_eq!((d.reason, d.value, d.limit), (Reason::MaxOrderQuantity, 11.0, 10.0));
    let d = check(Order::market(2, Side::Buy, 51.0, 1.0, T0));
    assert_eq!((d.reason, d.value, d.limit), (Reason::MaxOrderQuantity, 51.0, 50.0));
    assert_eq!(check(Order::market(1, Side::Buy, 1.5, 4500.0, T0)).reason, Reason::OffLotGrid);
    assert_eq!(check(Order::limit(1, Side::Buy, 1.0, 4500.1, T0)).reason, Reason::OffTickGrid);
    assert!(check(Order::limit(1, Side::Buy, 1.0, 4500.25, T0)).accepted());
    // Market orders are valued at their reference price, which need not be on the grid.
    assert!(check(Order::market(1, Side::Buy, 1.0, 4500.1, T0)).accepted());
    assert_eq!(check(Order::market(1, Side::Buy, 0.0, 4500.0, T0)).reason, Reason::InvalidQuantity);
    assert_eq!(check(Order::market(1, Side::Buy, f64::NAN, 4500.0, T0)).reason, Reason::InvalidQuantity);
    assert_eq!(check(Order::market(1, Side::Buy, 1.0, -1.0, T0)).reason, Reason::InvalidPrice);
    assert_eq!(check(Order::market(3, Side::Buy, 1.0, 4500.0, T0)).reason, Reason::NotTradable);
    assert_eq!(check(Order::market(9, Side::Buy, 1.0, 4500.0, T0)).reason, Reason::UnknownInstrument);
    assert_eq!(check(Order::market(1, Side::Buy, 1.0, 4500.0, 5)).reason, Reason::InvalidTimestamp);
}

#[test]
fn position_gross_and_buying_power_limits() {
    let mut limits = RiskLimits::default();
    limits.symbols.insert("ES".into(), SymbolLimits { max_position: Some(3.0), ..Default::default() });
    limits.max_gross_exposure = Some(2_000_000.0);
    let mut e = engine(limits);
    for _ in 0..3 {
        assert!(e.validate(&Order::market(1, Side::Buy, 1.0, 4000.0, T0), true).accepted());
    }
    let d = e.validate(&Order::market(1, Side::Buy, 1.0, 4000.0, T0), true);
    assert_eq!((d.reason, d.value, d.limit), (Reason::MaxPosition, 4.0, 3.0));
    // A sell does not increase the worst case (3 open buys): accepted even at the limit.
    assert!(e.validate(&Order::market(1, Side::Sell, 3.0, 4000.0, T0), true).accepted());
    // Gross: 3 ES at 4000 = 600k; 5,000 AAPL at 300 = 1.5M more breaks 2M.
    let d = e.validate(&Order::market(0, Side::Buy, 5000.0, 300.0, T0), false);
    assert_eq!(d.reason, Reason::MaxGrossExposure);
    assert_eq!(d.value, 2_100_000.0);
    // Buying power: cash equity 1M; ES margin 10% of notional = 60k used; 4,000 AAPL at 300 = 1.2M.
    let mut l2 = RiskLimits::default();
    l2.equity.max_order_quantity = Some(1e9);
    l2.equity.max_position = Some(1e9);
    let mut e2 = engine(l2);
    let d = e2.validate(&Order::market(0, Side::Buy, 4000.0, 300.0, T0), false);
    assert_eq!((d.reason, d.value, d.limit), (Reason::BuyingPower, 1_200_000.0, 1_000_000.0));
}

#[test]
fn fills_move_open_orders_to_positions_and_cancels_release_them() {
    let mut limits = RiskLimits::default();
    limits.symbols.insert("ES".into(), SymbolLimits { max_position: Some(2.0), ..Default::default() });
    let mut e = engine(limits);
    assert!(e.validate(&Order::market(1, Side::Buy, 2.0, 4000.0, T0), true).accepted());
    assert_eq!(e.position(1), Some((0.0, 2.0, 0.0)));
    assert_eq!(e.validate(&Order::market(1, Side::Buy, 1.0, 4000.0, T0), false).reason, Reason::MaxPosition);
    e.on_cancel(1, Side::Buy, 1.0).unwrap();
    e.on_fill(&fill(1, Side::Buy, 1.0, 4000.0, 50.0)).unwrap();
    assert_eq!(e.position(1), Some((1.0, 0.0, 0.0)));
    assert!(e.validate(&Order::market(1, Side::Buy, 1.0, 4000.0, T0), false).accepted());
    // A fill with the wrong multiplier is refused (the ledger never books x1 by mistake).
    assert!(e.on_fill(&fill(1, Side::Buy, 1.0, 4000.0, 1.0)).is_err());
}

#[test]
fn reduce_only_reducing_mode_kill_switch() {
    let limits = RiskLimits { max_daily_loss: Some(5_000.0), ..Default::default() };
    let mut e = engine(limits);
    e.on_fill(&fill(1, Side::Buy, 2.0, 4000.0, 50.0)).unwrap();
    let mut ro = Order::market(1, Side::Buy, 1.0, 4000.0, T0);
    ro.reduce_only = true;
    assert_eq!(e.validate(&ro, false).reason, Reason::ReduceOnly);
    ro.side = Side::Sell;
    assert!(e.validate(&ro, false).accepted());
    // ES drops 60 points on 2 contracts: -6,000 <= -5,000: REDUCING.
    e.on_mark(1, 3940.0).unwrap();
    assert_eq!(e.mode(), Mode::Reducing);
    let d = e.validate(&Order::market(1, Side::Buy, 1.0, 3940.0, T0), false);
    assert_eq!(d.reason, Reason::ReducingMode);
    assert!(e.validate(&Order::market(1, Side::Sell, 1.0, 3940.0, T0), false).accepted());
    // The kill switch stops everything, including reducing orders.
    e.kill();
    assert_eq!(e.validate(&Order::market(1, Side::Sell, 1.0, 3940.0, T0), false).reason, Reason::KillSwitch);
    e.resume();
    assert_eq!(e.mode(), Mode::Active);
    // A new day clears a daily-loss REDUCING.
    e.on_mark(1, 3880.0).unwrap();
    assert_eq!(e.mode(), Mode::Reducing);
    e.start_day();
    assert_eq!(e.mode(), Mode::Active);
}

#[test]
fn drawdown_halts_and_snapshot_keeps_it_halted() {
    let limits = RiskLimits { max_drawdown: Some(0.01), max_orders_per_window: Some(5), ..Default::default() };
    let mut e = engine(limits.clone());
    assert!(e.validate(&Order::market(1, Side::Buy, 5.0, 4000.0, T0), true).accepted());
    e.on_fill(&fill(1, Side::Buy, 5.0, 4000.0, 50.0)).unwrap();
    e.on_mark(1, 3950.0).unwrap(); // -12,500 on 1M: 1.25% drawdown
    assert_eq!(e.mode(), Mode::Halted);
    let d = e.validate(&Order::market(1, Side::Sell, 1.0, 3950.0, T0), false);
    assert_eq!(d.reason, Reason::Halted);
    assert_eq!(d.limit, 0.01);
    let json = e.snapshot_json();
    let r = RiskEngine::restore_json(limits, &json).unwrap();
    assert_eq!(r.mode(), Mode::Halted);
    assert_eq!(r.equity(), e.equity());
    assert_eq!(r.position(1), e.position(1));
    assert_eq!(r.recent_orders(), e.recent_orders());
    assert_eq!(r.snapshot_json(), json);
}

#[test]
fn rate_limit_counts_accepted_orders_in_the_window() {
    let limits = RiskLimits { max_orders_per_window: Some(3), rate_window_ns: SEC, ..Default::default() };
    let mut e = engine(limits);
    for k in 0..3 {
        assert!(e.validate(&Order::market(0, Side::Buy, 1.0, 100.0, T0 + k), true).accepted());
    }
    let d = e.validate(&Order::market(0, Side::Buy, 1.0, 100.0, T0 + 10), true);
    assert_eq!((d.reason, d.value, d.limit), (Reason::RateLimit, 3.0, 3.0));
    assert!(e.validate(&Order::market(0, Side::Buy, 1.0, 100.0, T0 + SEC), true).accepted());
}

#[test]
fn sizing_methods_and_zero_size_rejection() {
    let mut e = engine(RiskLimits::default());
    let _ = &mut e;
    // 1M * 1% / (20 points * 50) = 10 ES, capped by the futures default of 10 contracts.
    let r = e.size_order(1, Side::Buy, 4000.0, SizingMethod::RiskPerTrade { risk_fraction: 0.01, stop_distance: 20.0, equity: None }, OrderType::Market, T0);
    assert_eq!((r.quantity, r.raw), (10.0, 10.0));
    let r = e.size_order(1, Side::Buy, 4000.0, SizingMethod::RiskPerTrade { risk_fraction: 0.02, stop_distance: 10.0, equity: None }, OrderType::Market, T0);
    assert_eq!((r.quantity, r.binding), (10.0, "max_order_quantity"));
    // Target notional rounds down: 500k / (4000 * 50) = 2.5 -> 2.
    let r = e.size_order(1, Side::Buy, 4000.0, SizingMethod::TargetNotional { notional: 500_000.0 }, OrderType::Market, T0);
    assert_eq!(r.quantity, 2.0);
    // SPY option $2.00 premium, risk $100 with a $1.50 stop: 100 / 150 = 0.67 -> 0: rejected.
    let r = e.size_order(2, Side::Buy, 2.0, SizingMethod::RiskPerTrade { risk_fraction: 0.0001, stop_distance: 1.5, equity: None }, OrderType::Market, T0);
    assert_eq!((r.quantity, r.decision.reason), (0.0, Reason::SizeRoundsToZero));
    let r = e.size_order(1, Side::Buy, 4000.0, SizingMethod::RiskPerTrade { risk_fraction: 0.01, stop_distance: 0.0, equity: None }, OrderType::Market, T0);
    assert_eq!(r.decision.reason, Reason::InvalidSizingInput);
}

#[test]
fn limits_json_round_trip_and_validation() {
    let mut l = RiskLimits { max_daily_loss: Some(1000.0), ..Default::default() };
    l.symbols.insert("ES".into(), SymbolLimits { max_position: Some(4.0), ..Default::default() });
    let back = RiskLimits::from_json(&l.to_json()).unwrap();
    assert_eq!(back, l);
    assert!(RiskLimits::from_json(r#"{"max_drawdown": 1.5}"#).is_err());
    assert!(RiskLimits::from_json(r#"{"not_a_limit": 1}"#).is_err());
    assert!(RiskLimits::from_json(r#"{"option": {"max_order_quantity": -1}}"#).is_err());
}

/// One random operation of a session.
#[derive(Debug, Clone)]
enum Op {
    Order { slot: u32, side: i8, qty: f64, price_ticks: i64, limit: bool, dt: i64, reduce_only: bool },
    Fill { slot: u32, buy: bool, qty: f64, price_ticks: i64 },
    Mark { slot: u32, price_ticks: i64 },
    Cancel { slot: u32, buy: bool, qty: f64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0u32..5, prop_oneof![Just(1i8), Just(-1i8), Just(0i8)], prop_oneof![1.0..8.0f64, (1u32..30).prop_map(f64::from)], 1i64..40_000, any::<bool>(), 0i64..400_000_000, proptest::bool::weighted(0.1))
            .prop_map(|(slot, side, qty, price_ticks, limit, dt, reduce_only)| Op::Order { slot, side, qty: qty.round(), price_ticks, limit, dt, reduce_only }),
        2 => (0u32..3, any::<bool>(), 1u32..6, 1i64..40_000).prop_map(|(slot, buy, q, price_ticks)| Op::Fill { slot, buy, qty: q as f64, price_ticks }),
        1 => (0u32..3, 1i64..40_000).prop_map(|(slot, price_ticks)| Op::Mark { slot, price_ticks }),
        1 => (0u32..3, any::<bool>(), 1u32..6).prop_map(|(slot, buy, q)| Op::Cancel { slot, buy, qty: q as f64 }),
    ]
}

fn limits_strategy() -> impl Strategy<Value = RiskLimits> {
    (1.0..20.0f64, 1.0..40.0f64, proptest::option::of(1e5..3e6f64), proptest::option::of(1u32..20), proptest::option::of(1e4..1e6f64), any::<bool>()).prop_map(
        |(q, p, gross, rate, notional, bp)| {
            let mut l = RiskLimits::default();
            for k in [&mut l.equity, &mut l.option, &mut l.future] {
                k.max_order_quantity = Some(q.round().max(1.0));
                k.max_position = Some(p.round().max(1.0));
                k.max_order_notional = notional;
            }
            l.max_gross_exposure = gross;
            l.max_orders_per_window = rate;
            l.rate_window_ns = SEC;
            l.check_buying_power = bp;
            l.max_daily_loss = Some(50_000.0);
            l
        },
    )
}

fn price(slot: u32, ticks: i64) -> f64 {
    match slot {
        0 => ticks as f64 * 0.01,
        1 => ticks as f64 * 0.25,
        _ => ticks as f64 * 0.01 / 10.0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// No accepted order ever breaks a limit: after each committed acceptance, the state is
    /// re-derived and checked against every limit.
    #[test]
    fn no_accepted_order_breaks_a_limit(limits in limits_strategy(), ops in proptest::collection::vec(op(), 1..80)) {
        let mut e = engine(limits.clone());
        let mut ts = T0;
        let mut accepted_ts: Vec<i64> = Vec::new();
        for op in ops {
            match op {
                Op::Order { slot, side, qty, price_ticks, limit, dt, reduce_only } => {
                    ts += dt;
                    let px = price(slot, price_ticks);
                    let before = e.position(slot);
                    let w_before = before.map(|(p, b, s)| (p + b).abs().max((p - s).abs()));
                    let side_enum = Side::from_sign(side).unwrap_or(Side::Buy);
                    let o = Order { instrument: slot, side: side_enum, quantity: qty, order_type: if limit { OrderType::Limit } else { OrderType::Market }, price: px, ts, reduce_only };
                    let d = if side == 0 {
                        let mut out = DecisionColumns::default();
                        let b = OrderBatch { instrument: InstrumentColumn::Slots(&[slot]), side: &[0], quantity: &[qty], price: &[px], ts: &[ts], order_type: &[], reduce_only: &[] };
                        e.validate_batch(&b, true, &mut out).unwrap();
                        prop_assert_ne!(out.reason[0], Reason::Accepted as u8);
                        prop_assert!(out.reason[0] <= Reason::InvalidSide as u8);
                        continue;
                    } else {
                        e.validate(&o, true)
                    };
                    if !d.accepted() { continue; }
                    accepted_ts.push(ts);
                    let (maxq, maxn, maxp) = e.slot_limits(slot).unwrap();
                    let inst = &e.instruments()[slot as usize];
                    prop_assert!(inst.is_tradable());
                    prop_assert!(qty > 0.0 && qty <= maxq);
                    prop_assert!(qty * px * inst.multiplier <= maxn);
                    let (p, b, s) = e.position(slot).unwrap();
                    let w = (p + b).abs().max((p - s).abs());
                    let increased = w > w_before.unwrap();
                    if increased {
                        prop_assert!(!reduce_only);
                        prop_assert!(w <= maxp, "worst-case {} > {}", w, maxp);
                        prop_assert!(e.gross_exposure() <= limits.max_gross_exposure.unwrap_or(f64::INFINITY) * (1.0 + 1e-12));
                        if limits.check_buying_power {
                            prop_assert!(e.margin_used() <= e.equity() * (1.0 + 1e-12));
                        }
                    }
                    if limit {
                        let k = px / inst.tick_size;
                        prop_assert!((k - k.round()).abs() < 1e-6);
                    }
                    if let Some(cap) = limits.max_orders_per_window {
                        let in_window = accepted_ts.iter().filter(|&&t| t > ts - SEC && t <= ts).count();
                        prop_assert!(in_window <= cap as usize);
                    }
                }
                Op::Fill { slot, buy, qty, price_ticks } => {
                    let m = e.instruments()[slot as usize].multiplier;
                    e.on_fill(&fill(slot, if buy { Side::Buy } else { Side::Sell }, qty, price(slot, price_ticks), m)).unwrap();
                }
                Op::Mark { slot, price_ticks } => e.on_mark(slot, price(slot, price_ticks)).unwrap(),
                Op::Cancel { slot, buy, qty } => e.on_cancel(slot, if buy { Side::Buy } else { Side::Sell }, qty).unwrap(),
            }
        }
    }

    /// validate_batch equals a sequence of validate calls, decision for decision, and leaves
    /// the same state.
    #[test]
    fn validate_equals_validate_batch(limits in limits_strategy(), ops in proptest::collection::vec(op(), 1..120), commit in any::<bool>()) {
        let mut single = engine(limits.clone());
        let mut batch = engine(limits);
        let mut ts = T0;
        let (mut slot, mut side, mut qty, mut px, mut tss, mut ty, mut ro) = (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for op in &ops {
            if let Op::Order { slot: s, side: sd, qty: q, price_ticks, limit, dt, reduce_only } = *op {
                ts += dt;
                slot.push(s); side.push(sd); qty.push(q); px.push(price(s, price_ticks)); tss.push(ts); ty.push(limit as u8); ro.push(reduce_only);
            }
        }
        let b = OrderBatch { instrument: InstrumentColumn::Slots(&slot), side: &side, quantity: &qty, price: &px, ts: &tss, order_type: &ty, reduce_only: &ro };
        let mut out = DecisionColumns::default();
        batch.validate_batch(&b, commit, &mut out).unwrap();
        for i in 0..slot.len() {
            let d = match Side::from_sign(side[i]) {
                Some(sd) => single.validate(&Order { instrument: slot[i], side: sd, quantity: qty[i], order_type: if ty[i] == 1 { OrderType::Limit } else { OrderType::Market }, price: px[i], ts: tss[i], reduce_only: ro[i] }, commit),
                None => {
                    let mut o1 = DecisionColumns::default();
                    let one = OrderBatch { instrument: InstrumentColumn::Slots(&slot[i..=i]), side: &side[i..=i], quantity: &qty[i..=i], price: &px[i..=i], ts: &tss[i..=i], order_type: &ty[i..=i], reduce_only: &ro[i..=i] };
                    single.validate_batch(&one, commit, &mut o1).unwrap();
                    quant_engine_core::risk::Decision { reason: Reason::from_u8(o1.reason[0]).unwrap(), value: o1.value[0], limit: o1.limit[0] }
                }
            };
            prop_assert_eq!(d.reason as u8, out.reason[i]);
            if !d.accepted() {
                prop_assert_eq!(d.value.to_bits(), out.value[i].to_bits());
                prop_assert_eq!(out.value.len(), slot.len());
                prop_assert_eq!(d.limit.to_bits(), out.limit[i].to_bits());
            }
        }
        prop_assert_eq!(single.snapshot_json(), batch.snapshot_json());
        prop_assert_eq!(single.gross_exposure().to_bits(), batch.gross_exposure().to_bits());
    }

    /// Sizing never exceeds the max contracts (nor any other limit): a positive size is always
    /// accepted by validate in the same state.
    #[test]
    fn sizing_respects_limits(limits in limits_strategy(), slot in 0u32..3, buy in any::<bool>(), price_ticks in 1i64..40_000, frac in 0.0001..0.2f64, stop in 0.01..50.0f64, notional in 1.0..5e6f64, pre in proptest::collection::vec(op(), 0..20)) {
        let mut e = engine(limits);
        let mut ts = T0;
        for op in pre {
            if let Op::Order { slot, side, qty, price_ticks, limit, dt, reduce_only } = op {
                ts += dt;
                if let Some(sd) = Side::from_sign(side) {
                    e.validate(&Order { instrument: slot, side: sd, quantity: qty, order_type: if limit { OrderType::Limit } else { OrderType::Market }, price: price(slot, price_ticks), ts, reduce_only }, true);
                }
            }
        }
        let side = if buy { Side::Buy } else { Side::Sell };
        let px = price(slot, price_ticks);
        let (maxq, _, _) = e.slot_limits(slot).unwrap();
        for method in [
            SizingMethod::RiskPerTrade { risk_fraction: frac, stop_distance: stop, equity: None },
            SizingMethod::TargetNotional { notional },
            SizingMethod::Fixed { quantity: notional / 1000.0 },
        ] {
            let r = e.size_order(slot, side, px, method, OrderType::Market, ts + 1);
            prop_assert!(r.quantity <= maxq);
            prop_assert!(r.quantity >= 0.0 && r.quantity == r.quantity.floor());
            if r.quantity > 0.0 {
                prop_assert!(r.decision.accepted());
                let d = e.validate(&Order::market(slot, side, r.quantity, px, ts + 1), false);
                prop_assert!(d.accepted(), "{:?} {:?}", d, r);
            } else {
                prop_assert!(!r.decision.accepted());
            }
        }
    }
}

/// The defaults live in `RiskLimits::default()`; JSON with a partial kind table keeps that
/// kind's defaults for the fields it does not name, and an explicit null is "no limit".
#[test]
fn partial_kind_tables_keep_the_kind_defaults() {
    use quant_engine_core::instruments::InstrumentKind;
    use quant_engine_core::risk::KindLimits;
    let d = RiskLimits::default();
    assert_eq!(RiskLimits::from_json("{}").unwrap(), d);
    assert_eq!(RiskLimits::from_json(&d.to_json()).unwrap(), d);
    let l = RiskLimits::from_json(r#"{"future": {"max_position": 5}, "option": {}, "equity": {"max_order_quantity": null}}"#).unwrap();
    let f = KindLimits::default_for(InstrumentKind::Future);
    assert_eq!(l.future, KindLimits { max_position: Some(5.0), ..f });
    assert_eq!(l.option, KindLimits::default_for(InstrumentKind::Option));
    assert_eq!(l.equity, KindLimits { max_order_quantity: None, ..KindLimits::default_for(InstrumentKind::Equity) });
    assert!(RiskLimits::from_json(r#"{"future": {"max_postion": 5}}"#).is_err());
}
