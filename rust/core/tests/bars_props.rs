//! Property tests: the bar engine against a straightforward model of the documented semantics.
//!
//! The model keeps every open bar's ticks in a list and recomputes bars from scratch, with the
//! watermark/lateness rule written out literally. The engine (fast paths, chunked loops, deques,
//! run-time CPU dispatch) must produce exactly the same bars, bit for bit, in the same order, and
//! the same rejection counts.

use std::collections::BTreeMap;

use proptest::prelude::*;
use quant_engine_core::aggregator::AggConfig;
use quant_engine_core::bar::BarColumns;
use quant_engine_core::engine::{BarEngine, BatchAggregator, EngineConfig, SymbolKeys, SymbolTable, TickBatch};
use quant_engine_core::tick::RejectReason;
use quant_engine_core::time::{Alignment, SECOND};

const T0: i64 = 1_704_205_800 * SECOND;

#[derive(Debug, Clone, Copy)]
struct Tick {
    ts: i64,
    sym: u32,
    price: f64,
    size: f64,
}

#[derive(Debug, Clone, PartialEq)]
struct ModelBar {
    sym: u32,
    start: i64,
    open: u64,
    high: u64,
    low: u64,
    close: u64,
    volume: u64,
    vwap: u64,
    trades: i64,
}

fn model_bar(sym: u32, start: i64, ticks: &[(i64, f64, f64)]) -> ModelBar {
    let (t0, p0, s0) = ticks[0];
    let (mut open, mut open_ts, mut close, mut close_ts) = (p0, t0, p0, t0);
    let (mut high, mut low, mut vol, mut pv) = (p0, p0, s0, p0 * s0);
    for &(t, p, s) in &ticks[1..] {
        if p > high {
            high = p;
        }
        if p < low {
            low = p;
        }
        if t < open_ts {
            open = p;
            open_ts = t;
        }
        if t >= close_ts {
            close = p;
            close_ts = t;
        }
        vol += s;
        pv += p * s;
    }
    let vwap = if vol > 0.0 { pv / vol } else { close };
    ModelBar {
        sym,
        start,
        open: open.to_bits(),
        high: high.to_bits(),
        low: low.to_bits(),
        close: close.to_bits(),
        volume: vol.to_bits(),
        vwap: vwap.to_bits(),
        trades: ticks.len() as i64,
    }
}

/// The documented validation of a tick, written out here (not the implementation's
/// `tick::classify`): the first failing check in this order names the rejection: timestamp in
/// [1980-01-01, 2200-01-01) UTC, price finite, price positive, size finite, size not negative.
fn model_classify(ts: i64, price: f64, size: f64) -> Option<RejectReason> {
    const FIRST: i64 = 315_532_800 * SECOND; // 1980-01-01
    const END: i64 = 7_258_118_400 * SECOND; // 2200-01-01
    if !(FIRST..END).contains(&ts) {
        return Some(RejectReason::TsOutOfRange);
    }
    if price.is_nan() || price.is_infinite() {
        return Some(RejectReason::NonFinitePrice);
    }
    if price <= 0.0 {
        return Some(RejectReason::NonPositivePrice);
    }
    if size.is_nan() || size.is_infinite() {
        return Some(RejectReason::NonFiniteSize);
    }
    if size < 0.0 {
        return Some(RejectReason::NegativeSize);
    }
    None
}

#[derive(Default)]
struct ModelSymbol {
    watermark: Option<i64>,
    closed_end: Option<i64>,
    open: BTreeMap<i64, Vec<(i64, f64, f64)>>,
}

/// The documented streaming semantics, literally. `lateness = None` is batch mode.
fn model(ticks: &[Tick], nsym: u32, interval: i64, lateness: Option<i64>) -> (Vec<ModelBar>, [u64; 8]) {
    let mut syms: Vec<ModelSymbol> = (0..nsym).map(|_| ModelSymbol::default()).collect();
    let mut out = Vec::new();
    let mut rejects = [0u64; 8];
    let close_all_due = |s: &mut ModelSymbol, sym: u32, out: &mut Vec<ModelBar>| {
        let (Some(l), Some(wm)) = (lateness, s.watermark) else { return };
        while let Some((&start, _)) = s.open.iter().next() {
            if start + interval + l > wm {
                break;
            }
            let ticks = s.open.remove(&start).unwrap();
            out.push(model_bar(sym, start, &ticks));
            s.closed_end = Some(start + interval);
        }
    };
    for t in ticks {
        if t.sym >= nsym {
            rejects[RejectReason::UnknownSymbol as usize] += 1;
            continue;
        }
        if let Some(r) = model_classify(t.ts, t.price, t.size) {
            rejects[r as usize] += 1;
            continue;
        }
        let s = &mut syms[t.sym as usize];
        let start = t.ts.div_euclid(interval) * interval;
        let end = start + interval;
        if !s.open.contains_key(&start) {
            let late_closed = s.closed_end.is_some_and(|c| end <= c);
            let late_wm = matches!((lateness, s.watermark), (Some(l), Some(wm)) if end + l <= wm);
            if late_closed || late_wm {
                rejects[RejectReason::Late as usize] += 1;
                continue;
            }
        }
        s.open.entry(start).or_default().push((t.ts, t.price, t.size));
        s.watermark = Some(s.watermark.map_or(t.ts, |w| w.max(t.ts)));
        close_all_due(s, t.sym, &mut out);
    }
    for (sym, s) in syms.iter_mut().enumerate() {
        for (start, ticks) in std::mem::take(&mut s.open) {
            out.push(model_bar(sym as u32, start, &ticks));
        }
    }
    (out, rejects)
}

fn to_model(cols: &BarColumns) -> Vec<ModelBar> {
    (0..cols.len())
        .map(|i| ModelBar {
            sym: cols.slot[i],
            start: cols.start[i],
            open: cols.open[i].to_bits(),
            high: cols.high[i].to_bits(),
            low: cols.low[i].to_bits(),
            close: cols.close[i].to_bits(),
            volume: cols.volume[i].to_bits(),
            vwap: cols.vwap[i].to_bits(),
            trades: cols.trades[i],
        })
        .collect()
}

fn price_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        20 => (1u32..400).prop_map(|c| 100.0 + c as f64 * 0.01),
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
        1 => Just(0.0),
        1 => Just(-5.0),
    ]
}

fn size_strategy() -> impl Strategy<Value = f64> {
    prop_oneof![
        20 => (0u32..1000).prop_map(|s| s as f64),
        2 => (1u32..1000).prop_map(|s| s as f64 * 0.37),
        1 => Just(-0.0),
        1 => Just(-1.0),
        1 => Just(f64::NAN),
    ]
}

prop_compose! {
    /// Ticks over a few minutes on a coarse clock (so bar boundaries, `end + lateness` and equal
    /// timestamps are hit often): mostly increasing time, with jitter (out of order), duplicate
    /// timestamps, bad prices/sizes and an occasional out-of-range timestamp.
    fn ticks_strategy(nsym: u32)(
        unit_ms in prop::sample::select(vec![250i64, 500, 1_000]),
        steps in prop::collection::vec((prop_oneof![3 => Just(0i64), 5 => 1i64..4, 1 => 4i64..40], -12i64..2, 0u32..nsym + 1, price_strategy(), size_strategy(), 0u8..100), 1..400)
    ) -> Vec<Tick> {
        let mut clock = T0;
        steps.into_iter().map(|(step, jitter, sym, price, size, odd)| {
            clock += step * unit_ms * 1_000_000;
            let ts = if odd == 0 { 5 } else if odd < 15 { clock + jitter * unit_ms * 1_000_000 } else { clock };
            let sym = if sym == nsym && odd % 7 != 0 { 0 } else { sym };
            Tick { ts, sym, price, size }
        }).collect()
    }
}

fn names(n: u32) -> Vec<String> {
    (0..n).map(|i| format!("S{i}")).collect()
}

/// Splits into batches at the given cut fractions.
fn split(ticks: &[Tick], cuts: &[usize]) -> Vec<Vec<Tick>> {
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (ticks.len() + 1)).collect();
    bounds.push(0);
    bounds.push(ticks.len());
    bounds.sort_unstable();
    bounds.dedup();
    bounds.windows(2).map(|w| ticks[w[0]..w[1]].to_vec()).collect()
}

fn push_engine(engine: &mut BarEngine, batch: &[Tick], out: &mut BarColumns) {
    let ts: Vec<i64> = batch.iter().map(|t| t.ts).collect();
    let price: Vec<f64> = batch.iter().map(|t| t.price).collect();
    let size: Vec<f64> = batch.iter().map(|t| t.size).collect();
    let keys: Vec<i32> = batch.iter().map(|t| t.sym as i32).collect();
    let table: Vec<u32> = (0..engine.symbols().len() as u32).collect();
    engine.push(&TickBatch { ts: &ts, price: &price, size: &size, valid: None, symbols: SymbolKeys::I32(&keys, &table) }, Some(out)).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn streaming_engine_matches_model(
        ticks in ticks_strategy(3),
        interval_s in prop::sample::select(vec![1i64, 5, 60]),
        lateness_ms in prop::sample::select(vec![0i64, 500, 1_000, 2_000, 30_000]),
        cuts in prop::collection::vec(0usize..500, 0..6),
    ) {
        let interval = interval_s * SECOND;
        let lateness = lateness_ms * 1_000_000;
        let cfg = EngineConfig { agg: AggConfig::streaming(interval, Alignment::epoch(), lateness), capacity: 1_000_000, min_bars: 0 };
        let mut engine = BarEngine::new(cfg, SymbolTable::fixed(&names(3)).unwrap()).unwrap();
        let mut out = BarColumns::default();
        for batch in split(&ticks, &cuts) {
            push_engine(&mut engine, &batch, &mut out);
        }
        engine.flush(Some(&mut out));
        let (want, rejects) = model(&ticks, 3, interval, Some(lateness));
        // Emission order differs across symbols only; compare per symbol in emission order.
        for s in 0..3u32 {
            let got: Vec<_> = to_model(&out).into_iter().filter(|b| b.sym == s).collect();
            let exp: Vec<_> = want.iter().filter(|b| b.sym == s).cloned().collect();
            prop_assert_eq!(got, exp, "symbol {}", s);
        }
        prop_assert_eq!(engine.rejects().0, rejects);
        // Windows hold the newest closed bars, in start order.
        for s in 0..3u32 {
            let mut w = BarColumns::default();
            engine.window(s).copy_into(s, &mut w);
            prop_assert!(w.start.windows(2).all(|p| p[0] < p[1]));
        }
    }

    #[test]
    fn batch_aggregation_matches_model(
        ticks in ticks_strategy(3),
        interval_s in prop::sample::select(vec![1i64, 5, 60]),
        cuts in prop::collection::vec(0usize..500, 0..6),
    ) {
        let interval = interval_s * SECOND;
        let mut agg = BatchAggregator::new(AggConfig::batch(interval, Alignment::epoch()), SymbolTable::fixed(&names(3)).unwrap());
        for batch in split(&ticks, &cuts) {
            let ts: Vec<i64> = batch.iter().map(|t| t.ts).collect();
            let price: Vec<f64> = batch.iter().map(|t| t.price).collect();
            let size: Vec<f64> = batch.iter().map(|t| t.size).collect();
            let slots: Vec<u32> = batch.iter().map(|t| if t.sym < 3 { t.sym } else { u32::MAX }).collect();
            agg.push(&TickBatch { ts: &ts, price: &price, size: &size, valid: None, symbols: SymbolKeys::Slots(&slots) }).unwrap();
        }
        let got = to_model(&agg.finish());
        let (mut want, rejects) = model(&ticks, 3, interval, None);
        want.sort_by_key(|b| (b.sym, b.start));
        prop_assert_eq!(got, want);
        prop_assert_eq!(agg.rejects().0, rejects);
    }

    #[test]
    fn single_symbol_fast_path_matches_model(
        ticks in ticks_strategy(1),
        lateness_ms in prop::sample::select(vec![0i64, 1_500]),
    ) {
        // Long runs exercise the chunked, vectorized loop of the single-symbol path.
        let mut long = Vec::new();
        for (k, t) in ticks.iter().enumerate() {
            for j in 0..(1 + k % 40) {
                // Equal timestamps inside chunks exercise the open/close tie rules.
                long.push(Tick { ts: t.ts + (j as i64 / 3) * 1_000_000, sym: 0, price: t.price + j as f64 * 0.01, ..*t });
            }
        }
        let interval = SECOND;
        let lateness = lateness_ms * 1_000_000;
        let cfg = EngineConfig { agg: AggConfig::streaming(interval, Alignment::epoch(), lateness), capacity: 64, min_bars: 0 };
        let mut engine = BarEngine::new(cfg, SymbolTable::fixed(&names(1)).unwrap()).unwrap();
        let ts: Vec<i64> = long.iter().map(|t| t.ts).collect();
        let price: Vec<f64> = long.iter().map(|t| t.price).collect();
        let size: Vec<f64> = long.iter().map(|t| t.size).collect();
        let mut out = BarColumns::default();
        engine.push(&TickBatch { ts: &ts, price: &price, size: &size, valid: None, symbols: SymbolKeys::One(0) }, Some(&mut out)).unwrap();
        engine.flush(Some(&mut out));
        let (want, rejects) = model(&long, 1, interval, Some(lateness));
        prop_assert_eq!(to_model(&out), want);
        prop_assert_eq!(engine.rejects().0, rejects);
        prop_assert!(engine.window(0).len() <= 64);
    }
}
