//! The trading stepper: stepping one bar at a time equals the batch backtest; the backtest's
//! quiet-bar fast path equals stepping every bar; a sweep's return series are its runs' returns.

use proptest::prelude::*;
use quant_engine_core::backtest::{self, Bars, Signals, SweepChunk, SweepReturns};
use quant_engine_core::execution::{ExecutionConfig, ExecutionModel, FeeSchedule, Slippage};
use quant_engine_core::instruments::Instrument;
use quant_engine_core::metrics::Metrics;
use quant_engine_core::risk::RiskLimits;
use quant_engine_core::trading::{BarSignal, Exit, FillReason, Journal, NoJournal, Rules, Setup, Sizing, Stepper, ENTRY_SHORT};

const MIN: i64 = 60_000_000_000;
const T0: i64 = 1_704_205_800_000_000_000;

/// Bars of one or more instruments back to back, with per-bar signals and ATR-like distances.
#[derive(Debug, Clone)]
struct Case {
    ts: Vec<i64>,
    o: Vec<f64>,
    h: Vec<f64>,
    l: Vec<f64>,
    c: Vec<f64>,
    v: Vec<f64>,
    offsets: Vec<i64>,
    order: Vec<i64>,
    bits: Vec<u8>,
    dist: Vec<f64>,
}

impl Case {
    fn bars(&self) -> Bars<'_> {
        Bars { ts: &self.ts, open: &self.o, high: &self.h, low: &self.l, close: &self.c, volume: &self.v, offsets: &self.offsets, order: &self.order }
    }

    fn signals(&self, series: bool) -> Signals<'_> {
        let d = if series { Some(&self.dist[..]) } else { None };
        Signals { bits: &self.bits, stop_distance: d, take_distance: d }
    }
}

/// A deterministic generator (the seed comes from proptest).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `symbols` instruments of `n` bars each (the second one starting `shift` minutes later, so
/// times interleave and partly coincide), random-walk OHLC with occasional gaps, sparse random
/// signal bits (all four kinds, sometimes together).
fn case(seed: u64, n: usize, symbols: usize, shift: i64) -> Case {
    let mut g = Lcg(seed ^ 0x9e37_79b9_7f4a_7c15);
    let mut k = Case { ts: vec![], o: vec![], h: vec![], l: vec![], c: vec![], v: vec![], offsets: vec![0], order: vec![], bits: vec![], dist: vec![] };
    for s in 0..symbols {
        let mut p = 50.0 + 100.0 * g.next();
        for i in 0..n {
            let gap = if g.next() < 0.05 { 1.0 + 0.04 * (g.next() - 0.5) } else { 1.0 };
            let o = p * gap;
            let c = o * (1.0 + 0.02 * (g.next() - 0.5));
            k.ts.push(T0 + (i as i64 + s as i64 * shift) * MIN);
            k.o.push(o);
            k.h.push(o.max(c) * (1.0 + 0.006 * g.next()));
            k.l.push(o.min(c) * (1.0 - 0.006 * g.next()));
            k.c.push(c);
            k.v.push(if g.next() < 0.1 { 0.0 } else { (100.0 + 5_000.0 * g.next()).floor() });
            let r = g.next();
            k.bits.push(if r < 0.8 { 0 } else { (g.next() * 16.0) as u8 });
            k.dist.push(if g.next() < 0.05 { f64::NAN } else { 0.2 + 2.0 * g.next() });
            p = c;
        }
        k.offsets.push(k.ts.len() as i64);
    }
    if symbols > 1 {
        let mut idx: Vec<i64> = (0..k.ts.len() as i64).collect();
        idx.sort_by_key(|&i| k.ts[i as usize]); // stable: ties in symbol order
        k.order = idx;
    }
    k
}

fn exit_rule(kind: u8, value: f64) -> Exit {
    match kind {
        0 => Exit::None,
        1 => Exit::Percent(value * 0.01),
        2 => Exit::Points(value),
        _ => Exit::Series,
    }
}

fn setup(symbols: usize, fees: f64, slip: f64, participation: f64) -> Setup {
    let names = ["AAA", "BBB", "CCC"];
    let cfg = ExecutionConfig {
        slippage: Slippage { fixed_bps: slip, ..Default::default() },
        equity_fees: FeeSchedule { per_unit: fees, minimum: fees * 10.0, ..Default::default() },
        max_participation: participation,
        ..Default::default()
    };
    Setup {
        instruments: (0..symbols).map(|s| Instrument::equity(names[s])).collect(),
        model: ExecutionModel::new(cfg).unwrap(),
        limits: RiskLimits::default(),
        initial_cash: 100_000.0,
        periods_per_year: 252.0,
    }
}

fn rules_strategy() -> impl Strategy<Value = Rules> {
    (0u8..4, 0.5f64..3.0, 0u8..4, 0.5f64..4.0, 0u32..6, 0u8..3, any::<bool>(), any::<bool>()).prop_map(
        |(sk, sv, tk, tv, time_stop, zk, allow_short, close_at_end)| Rules {
            stop: exit_rule(sk, sv),
            take: exit_rule(tk, tv),
            time_stop,
            sizing: match zk {
                0 => Sizing::Fixed(37.0),
                1 => Sizing::EquityFraction(0.5),
                _ => Sizing::RiskFraction(0.01),
            },
            allow_short,
            close_at_end,
        },
    )
}

fn bits64(m: &Metrics) -> Vec<u64> {
    m.values().iter().map(|v| v.to_bits()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The batch backtest on one instrument skips quiet bars eight signal bytes at a time: it
    /// yields exactly what stepping every bar yields (fills, trades, equity, metrics).
    #[test]
    fn quiet_bar_fast_path_equals_stepping_every_bar(seed in any::<u64>(), n in 2usize..400, rules in rules_strategy(), series in any::<bool>(), fees in 0.0f64..0.01, slip in 0.0f64..5.0) {
        let k = case(seed, n, 1, 0);
        let s = setup(1, fees, slip, f64::INFINITY);
        let (mut fast, mut every) = (Journal::default(), Journal::default());
        let a = backtest::run(&s, &k.bars(), &k.signals(series), &rules, &mut fast).unwrap();
        let b = backtest::run_stepped(&s, &k.bars(), &k.signals(series), &rules, &mut every).unwrap();
        prop_assert_eq!(&fast.fills, &every.fills);
        prop_assert_eq!(&fast.trades, &every.trades);
        prop_assert_eq!(fast.equity.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), every.equity.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(bits64(&a.metrics), bits64(&b.metrics));
        prop_assert_eq!(&a.rejections, &b.rejections);
        let quiet = backtest::run(&s, &k.bars(), &k.signals(series), &rules, &mut NoJournal).unwrap();
        prop_assert_eq!(bits64(&a.metrics), bits64(&quiet.metrics));
    }

    /// Feeding bars one at a time to an owned stepper (as a live runner does) yields exactly the
    /// fills, trades, equity, metrics and final cash of the batch backtest, for one or several
    /// instruments sharing the account.
    #[test]
    fn stepping_one_bar_at_a_time_equals_the_backtest(seed in any::<u64>(), n in 2usize..250, symbols in 1usize..4, shift in 0i64..3,
                                                      rules in rules_strategy(), series in any::<bool>(), fees in 0.0f64..0.01, participation in prop::sample::select(vec![f64::INFINITY, 0.05])) {
        let k = case(seed, n, symbols, shift);
        let s = setup(symbols, fees, 1.0, participation);
        let mut batch = Journal::default();
        let out = backtest::run(&s, &k.bars(), &k.signals(series), &rules, &mut batch).unwrap();

        let first = (0..symbols).map(|sym| k.ts[k.offsets[sym] as usize]).min().unwrap();
        let mut st = Stepper::new(s.clone(), rules, first).unwrap();
        let mut live = Journal::default();
        let visit: Vec<usize> = if symbols == 1 { (0..k.ts.len()).collect() } else { k.order.iter().map(|&i| i as usize).collect() };
        let mut equity = Vec::new();
        for (pos, &i) in visit.iter().enumerate() {
            let sym = (0..symbols).find(|&x| (i as i64) < k.offsets[x + 1]).unwrap();
            let last = i as i64 + 1 == k.offsets[sym + 1];
            let sig = BarSignal { bits: k.bits[i], stop_distance: if series { k.dist[i] } else { f64::NAN }, take_distance: if series { k.dist[i] } else { f64::NAN } };
            st.step(sym, &k.bars().quote(i), sig, last, &mut live).unwrap();
            if pos + 1 == visit.len() || k.ts[visit[pos + 1]] != k.ts[i] {
                equity.push(st.record_equity(k.ts[i]));
            }
        }
        prop_assert_eq!(&live.fills, &batch.fills);
        prop_assert_eq!(&live.trades, &batch.trades);
        prop_assert_eq!(equity.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), batch.equity.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
        prop_assert_eq!(bits64(&st.metrics()), bits64(&out.metrics));
        prop_assert_eq!(st.rejections(), &out.rejections);
        prop_assert_eq!(st.equity().0.to_bits(), out.metrics.final_equity.to_bits());
        // positions agree with the fills
        for x in 0..symbols {
            let held: f64 = batch.fills.iter().filter(|(f, _)| f.instrument == x as u32).map(|(f, _)| f.side.sign() * f.quantity).sum();
            prop_assert!((st.position(x).quantity - held).abs() < 1e-9);
        }
    }

    /// `sweep_returns` writes each combination's per-period returns (from its equity curve, the
    /// first against the initial cash) and the same metrics as the metrics-only sweep.
    #[test]
    fn sweep_returns_are_the_runs_returns(seed in any::<u64>(), n in 2usize..200, symbols in 1usize..3, rules in rules_strategy()) {
        let combos = 3;
        let k = case(seed, n, symbols, 1);
        let s = setup(symbols, 0.005, 1.0, f64::INFINITY);
        let total = k.ts.len();
        let mut all = Vec::new();
        for j in 0..combos {
            all.extend(k.bits.iter().map(|&b| b.rotate_left(j as u32) & 15));
        }
        let rs = vec![rules; combos];
        let chunk = SweepChunk { bits: &all, stop_distance: None, take_distance: None, rules: &rs };
        let t = backtest::sweep::periods(&k.bars()).unwrap();
        let mut out = vec![f64::NAN; combos * t];
        let with = backtest::sweep_returns(&s, &k.bars(), &chunk, 2, SweepReturns { out: &mut out }).unwrap();
        let only = backtest::sweep(&s, &k.bars(), &chunk, 2).unwrap();
        for j in 0..combos {
            prop_assert_eq!(bits64(&with[j]), bits64(&only[j]));
            let sig = Signals { bits: &all[j * total..(j + 1) * total], stop_distance: None, take_distance: None };
            let mut jr = Journal::default();
            backtest::run(&s, &k.bars(), &sig, &rs[j], &mut jr).unwrap();
            prop_assert_eq!(jr.equity.len(), t);
            let mut prev = s.initial_cash;
            for (p, &e) in jr.equity.iter().enumerate() {
                prop_assert_eq!(out[j * t + p].to_bits(), (e / prev - 1.0).to_bits());
                prev = e;
            }
        }
    }
}

/// A short position's stop is reached when a bar's **high** trades up to it. The bar that does
/// so here is quiet (no signal, nothing pending), so the batch driver's fast path must see it;
/// its low never reaches the stop, so a fast path reading the stop from the low would miss it.
#[test]
fn a_short_stop_on_a_quiet_bar_is_read_from_the_high() {
    let rows = [
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0), // short entry fills at 100, stop 102
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 100.5, 99.5, 100.0),
        (100.0, 103.0, 99.8, 101.0), // the high goes through the stop
        (101.0, 101.5, 100.5, 101.0),
        (101.0, 101.5, 100.5, 101.0),
    ];
    let n = rows.len();
    let k = Case {
        ts: (0..n as i64).map(|i| T0 + i * MIN).collect(),
        o: rows.iter().map(|r| r.0).collect(),
        h: rows.iter().map(|r| r.1).collect(),
        l: rows.iter().map(|r| r.2).collect(),
        c: rows.iter().map(|r| r.3).collect(),
        v: vec![1_000.0; n],
        offsets: vec![0, n as i64],
        order: vec![],
        bits: std::iter::once(ENTRY_SHORT).chain(std::iter::repeat_n(0, n - 1)).collect(),
        dist: vec![f64::NAN; n],
    };
    let rules = Rules { stop: Exit::Points(2.0), take: Exit::None, time_stop: 0, sizing: Sizing::Fixed(10.0), allow_short: true, close_at_end: true };
    let mut j = Journal::default();
    backtest::run(&setup(1, 0.0, 0.0, f64::INFINITY), &k.bars(), &k.signals(false), &rules, &mut j).unwrap();
    assert_eq!(j.trades.len(), 1);
    assert_eq!(j.trades[0].reason, FillReason::StopLoss);
    assert_eq!(j.trades[0].exit_ts, T0 + 10 * MIN);
    assert_eq!(j.trades[0].exit_price, 102.0);
}
