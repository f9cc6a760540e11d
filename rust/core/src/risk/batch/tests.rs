//! The chunked kernel against the row loop: on random engines (positions from fills, marks,
//! tight limits, rate windows that do and do not trip) and random batches of several chunks
//! (every rejection reason, each instrument-column form, fewer and more than 16 instruments),
//! each instruction set the CPU has must reach exactly the row loop's decisions (reasons and the
//! bits of every number), counters and state. The row loop itself is checked against `validate`
//! by `tests/risk.rs`.

use proptest::prelude::*;

use super::super::batch_x86::Kernel;
use super::super::engine::{DecisionColumns, OrderBatch, RiskEngine};
use super::super::limits::RiskLimits;
use crate::instruments::{Instrument, InstrumentRegistry};
use crate::order::{Fill, InstrumentColumn, Side};
use crate::portfolio::CostBasis;

const T0: i64 = 1_704_205_800_000_000_000;

/// 20 instruments: equities, futures, options and an index (not tradable).
fn instruments() -> Vec<Instrument> {
    let r = InstrumentRegistry::with_builtins();
    [
        "AAPL",
        "MSFT",
        "SPY",
        "QQQ",
        "ES",
        "MES",
        "NQ",
        "CL",
        "GC",
        "ZN",
        "SPX",
        "SPY   240621C00500000",
        "SPY   240621P00480000",
        "AAPL  240119C00190000",
        "IWM",
        "TSLA",
        "NVDA",
        "AMZN",
        "META",
        "RTY",
    ]
    .iter()
    .map(|s| r.resolve(s).unwrap())
    .collect()
}

/// A typical price of slot `s` in its ticks, so that random orders straddle the limits.
fn base_ticks(inst: &Instrument) -> f64 {
    let typical = match inst.multiplier {
        m if m >= 1000.0 => 80.0,
        m if m >= 20.0 => 4500.0,
        m if m >= 100.0 => 5.0,
        _ => 150.0,
    };
    (typical / inst.tick_size).round()
}

#[derive(Debug, Clone)]
struct Row {
    key: i32,
    side: i8,
    qty: f64,
    price_ticks: f64,
    off_grid: bool,
    dt: i64,
    limit: bool,
    reduce_only: bool,
}

fn row() -> impl Strategy<Value = Row> {
    let key = prop_oneof![30 => 0i32..24, 1 => Just(-1i32), 1 => Just(99i32)];
    let side = prop_oneof![20 => Just(1i8), 20 => Just(-1i8), 1 => Just(0i8), 1 => Just(2i8)];
    let qty = prop_oneof![
        30 => (1u32..12).prop_map(f64::from),
        1 => Just(0.5),
        1 => Just(0.0),
        1 => Just(-1.0),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(1e9),
    ];
    let price = prop_oneof![30 => 0.5..1.5f64, 1 => Just(0.0), 1 => Just(-1.0), 1 => Just(f64::NAN), 1 => Just(f64::INFINITY)];
    let dt = prop_oneof![20 => 0i64..3_000_000, 1 => Just(-50_000_000i64), 1 => Just(i64::MIN / 2)];
    (key, side, qty, price, proptest::bool::weighted(0.05), dt, any::<bool>(), proptest::bool::weighted(0.05))
        .prop_map(|(key, side, qty, price, off_grid, dt, limit, reduce_only)| Row { key, side, qty, price_ticks: price, off_grid, dt, limit, reduce_only })
}

#[derive(Debug, Clone)]
struct Setup {
    max_qty: f64,
    max_pos: f64,
    notional: Option<f64>,
    gross: Option<f64>,
    rate: Option<u32>,
    window_ms: i64,
    bp: bool,
    fills: Vec<(u32, bool, u32, f64)>,
    table_len: usize,
    form: u8,
    flags: (bool, bool),
    one_ts: bool,
    split: f64,
    commit: bool,
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        (1.0..15.0f64, 5.0..400.0f64, proptest::option::of(1e4..5e6f64), proptest::option::of(1e5..5e7f64)),
        (proptest::option::of(64u32..400), 1i64..1_500, any::<bool>()),
        proptest::collection::vec((0u32..20, any::<bool>(), 1u32..8, 0.5..1.5f64), 0..12),
        (1usize..24, 0u8..3, (any::<bool>(), any::<bool>()), proptest::bool::weighted(0.1), 0.0..1.0f64, proptest::bool::weighted(0.8)),
    )
        .prop_map(|((max_qty, max_pos, notional, gross), (rate, window_ms, bp), fills, (table_len, form, flags, one_ts, split, commit))| Setup {
            max_qty: max_qty.round(),
            max_pos: max_pos.round(),
            notional,
            gross,
            rate,
            window_ms,
            bp,
            fills,
            table_len,
            form,
            flags,
            one_ts,
            split,
            commit,
        })
}

fn engine(s: &Setup, insts: &[Instrument]) -> RiskEngine {
    let mut l = RiskLimits::default();
    for k in [&mut l.equity, &mut l.option, &mut l.future] {
        k.max_order_quantity = Some(s.max_qty.max(1.0));
        k.max_position = Some(s.max_pos.max(1.0));
        k.max_order_notional = s.notional;
    }
    l.max_gross_exposure = s.gross;
    l.max_orders_per_window = s.rate;
    l.rate_window_ns = s.window_ms * 1_000_000;
    l.check_buying_power = s.bp;
    let mut e = RiskEngine::new(l, 2_000_000.0, CostBasis::AverageCost, insts).unwrap();
    for &(slot, buy, q, f) in &s.fills {
        let inst = &insts[slot as usize];
        if !inst.is_tradable() {
            continue;
        }
        let px = (base_ticks(inst) * f).round() * inst.tick_size;
        let side = if buy { Side::Buy } else { Side::Sell };
        let fill = Fill {
            instrument: slot,
            side,
            quantity: f64::from(q),
            price: px,
            base_price: px,
            fees: 0.0,
            slippage_cost: 0.0,
            multiplier: inst.multiplier,
            ts: T0,
        };
        e.on_fill(&fill).unwrap();
    }
    e
}

/// The batch's columns (owned).
struct Columns {
    keys: Vec<i32>,
    table: Vec<u32>,
    slots: Vec<u32>,
    side: Vec<i8>,
    qty: Vec<f64>,
    price: Vec<f64>,
    ts: Vec<i64>,
    order_type: Vec<u8>,
    reduce_only: Vec<bool>,
}

impl Columns {
    fn new(s: &Setup, rows: &[Row], insts: &[Instrument]) -> Columns {
        // Key k names slot (k * 7) % 20 (every instrument for tables of 20 keys and more); the
        // last key of a long table names no instrument.
        let table: Vec<u32> = (0..s.table_len as u32).map(|k| if k == 23 { 1000 } else { (k * 7) % 20 }).collect();
        let one_slot = table[0];
        let mut t = T0;
        let mut c =
            Columns { keys: vec![], table, slots: vec![], side: vec![], qty: vec![], price: vec![], ts: vec![], order_type: vec![], reduce_only: vec![] };
        for r in rows {
            let key = if s.form == 2 {
                0
            } else if r.key >= 0 && r.key < 99 {
                r.key % s.table_len as i32
            } else {
                r.key
            };
            let slot = if s.form == 2 { one_slot } else { c.table.get(key as u32 as usize).copied().unwrap_or(u32::MAX - 3) };
            let inst = insts.get(slot as usize);
            let tick = inst.map_or(0.01, |i| i.tick_size);
            let base = inst.map_or(100.0, base_ticks);
            let mut px = (base * r.price_ticks).round() * tick;
            if r.off_grid {
                px += tick * 0.37;
            }
            if !(0.5..=1.5).contains(&r.price_ticks) {
                px = r.price_ticks;
            }
            t = t.saturating_add(r.dt);
            let ts = if r.dt == i64::MIN / 2 { 5 } else { t };
            c.keys.push(key);
            c.slots.push(slot);
            c.side.push(r.side);
            c.qty.push(r.qty);
            c.price.push(px);
            c.ts.push(ts);
            c.order_type.push(r.limit as u8);
            c.reduce_only.push(r.reduce_only);
        }
        if s.one_ts {
            c.ts = vec![T0 + 1_000];
        }
        if !s.flags.0 {
            c.order_type.clear();
        }
        if !s.flags.1 {
            c.reduce_only.clear();
        }
        c
    }

    fn batch(&self, form: u8, rows: std::ops::Range<usize>) -> OrderBatch<'_> {
        let instrument = match form {
            0 => InstrumentColumn::Keys(&self.keys[rows.clone()], &self.table),
            1 => InstrumentColumn::Slots(&self.slots[rows.clone()]),
            _ => InstrumentColumn::One(self.table[0]),
        };
        OrderBatch {
            instrument,
            side: &self.side[rows.clone()],
            quantity: &self.qty[rows.clone()],
            price: &self.price[rows.clone()],
            ts: if self.ts.len() == 1 { &self.ts } else { &self.ts[rows.clone()] },
            order_type: if self.order_type.is_empty() { &[] } else { &self.order_type[rows.clone()] },
            reduce_only: if self.reduce_only.is_empty() { &[] } else { &self.reduce_only[rows] },
        }
    }
}

/// Which path decides a batch.
#[derive(Debug, Clone, Copy)]
enum Path {
    Rows,
    Kernel(Kernel),
}

/// Runs `b` on `e` through `path` (the row loop where the kernel does not apply); returns
/// whether the kernel ran.
fn run(e: &mut RiskEngine, b: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns, path: Path) -> bool {
    let n = b.quantity.len();
    let kernel = match path {
        Path::Kernel(k) if e.kernel_for(n).is_some() => Some(k),
        _ => None,
    };
    e.decide_batch(b, commit, out, |e, o, commit, out| match kernel {
        Some(k) => k.run(e, o, commit, out),
        None => e.rows_exact(o, 0..n, commit, out),
    });
    kernel.is_some()
}

fn paths() -> Vec<Path> {
    let mut p = vec![Path::Kernel(Kernel::V3)];
    if Kernel::detect() == Some(Kernel::V4) {
        p.push(Path::Kernel(Kernel::V4));
    }
    p
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn kernel_agrees_with_row_loop(s in setup(), rows in proptest::collection::vec(row(), 32..1400)) {
        let insts = instruments();
        let cols = Columns::new(&s, &rows, &insts);
        let cut = ((rows.len() as f64 * s.split) as usize).max(32).min(rows.len());
        let mut reference = engine(&s, &insts);
        let mut expected = Vec::new();
        for part in [0..cut, cut..rows.len()] {
            let mut out = DecisionColumns::default();
            run(&mut reference, &cols.batch(s.form, part), s.commit, &mut out, Path::Rows);
            expected.push(out);
        }
        for path in paths() {
            let mut e = engine(&s, &insts);
            for (k, part) in [0..cut, cut..rows.len()].into_iter().enumerate() {
                let mut out = DecisionColumns::default();
                run(&mut e, &cols.batch(s.form, part), s.commit, &mut out, path);
                let want = &expected[k];
                prop_assert_eq!(&out.reason, &want.reason, "{:?}", path);
                prop_assert_eq!(out.value.len(), want.value.len());
                for i in 0..out.value.len() {
                    prop_assert_eq!(out.value[i].to_bits(), want.value[i].to_bits(), "{:?} row {} value", path, i);
                    prop_assert_eq!(out.limit[i].to_bits(), want.limit[i].to_bits(), "{:?} row {} limit", path, i);
                }
            }
            prop_assert_eq!(e.snapshot_json(), reference.snapshot_json());
            prop_assert_eq!(e.gross_exposure().to_bits(), reference.gross_exposure().to_bits());
            prop_assert_eq!(e.margin_used().to_bits(), reference.margin_used().to_bits());
            prop_assert_eq!(e.decision_counts(), reference.decision_counts());
            prop_assert_eq!(e.recent_orders(), reference.recent_orders());
        }
    }
}

/// The kernel must actually run (and accept and reject) on the configurations above: a guard
/// against a conformance test that passes because every batch fell back to the row loop.
#[test]
fn kernel_runs_on_typical_batches() {
    let insts = instruments();
    let s = Setup {
        max_qty: 10.0,
        max_pos: 60.0,
        notional: Some(2e6),
        gross: Some(2e7),
        rate: Some(200),
        window_ms: 100,
        bp: true,
        fills: vec![(0, true, 5, 1.0), (4, false, 2, 1.0)],
        table_len: 12,
        form: 0,
        flags: (true, true),
        one_ts: false,
        split: 0.5,
        commit: true,
    };
    let rows: Vec<Row> = (0..2000)
        .map(|i| Row {
            key: i % 12,
            side: if i % 3 == 0 { -1 } else { 1 },
            qty: f64::from(1 + i % 5),
            price_ticks: 1.0,
            off_grid: i % 97 == 0,
            dt: 700_000,
            limit: i % 2 == 0,
            reduce_only: false,
        })
        .collect();
    let cols = Columns::new(&s, &rows, &insts);
    for path in paths() {
        let mut e = engine(&s, &insts);
        let mut out = DecisionColumns::default();
        assert!(run(&mut e, &cols.batch(0, 0..rows.len()), true, &mut out, path));
        let accepted = out.reason.iter().filter(|&&r| r == 0).count();
        assert!(accepted > 100 && accepted < rows.len(), "{path:?}: {accepted} accepted");
    }
}
