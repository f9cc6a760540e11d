//! The backtest fill loop: fill timing, the stop-first rule, costs, and sweep = single runs.

use proptest::prelude::*;
use quant_engine_core::backtest::{self, Bars, Exit, FillReason, Journal, NoJournal, Rules, Setup, Signals, Sizing, SweepChunk, ENTRY_LONG, EXIT_LONG};
use quant_engine_core::execution::{ExecutionConfig, ExecutionModel};
use quant_engine_core::instruments::Instrument;
use quant_engine_core::risk::RiskLimits;

const MIN: i64 = 60_000_000_000;
const T0: i64 = 1_704_205_800_000_000_000;

fn setup(config: ExecutionConfig) -> Setup {
    Setup {
        instruments: vec![Instrument::equity("AAA")],
        model: ExecutionModel::new(config).unwrap(),
        limits: RiskLimits::default(),
        initial_cash: 10_000.0,
        periods_per_year: 252.0,
    }
}

fn rules(stop: Exit, take: Exit) -> Rules {
    Rules { stop, take, time_stop: 0, sizing: Sizing::Fixed(10.0), allow_short: true, close_at_end: true }
}

struct Data {
    ts: Vec<i64>,
    o: Vec<f64>,
    h: Vec<f64>,
    l: Vec<f64>,
    c: Vec<f64>,
    v: Vec<f64>,
    offsets: Vec<i64>,
}

impl Data {
    fn new(rows: &[(f64, f64, f64, f64)]) -> Data {
        Data {
            ts: (0..rows.len() as i64).map(|i| T0 + i * MIN).collect(),
            o: rows.iter().map(|r| r.0).collect(),
            h: rows.iter().map(|r| r.1).collect(),
            l: rows.iter().map(|r| r.2).collect(),
            c: rows.iter().map(|r| r.3).collect(),
            v: vec![1_000.0; rows.len()],
            offsets: vec![0, rows.len() as i64],
        }
    }

    fn bars(&self) -> Bars<'_> {
        Bars { ts: &self.ts, open: &self.o, high: &self.h, low: &self.l, close: &self.c, volume: &self.v, offsets: &self.offsets, order: &[] }
    }
}

#[test]
fn signal_at_close_fills_at_next_open() {
    let d = Data::new(&[(100.0, 101.0, 99.0, 100.0), (101.0, 102.0, 100.0, 101.0), (103.0, 104.0, 102.0, 103.0), (99.0, 100.0, 98.0, 99.0)]);
    let bits = [ENTRY_LONG, 0, EXIT_LONG, 0];
    let mut j = Journal::default();
    let out = backtest::run(
        &setup(ExecutionConfig::default()),
        &d.bars(),
        &Signals { bits: &bits, stop_distance: None, take_distance: None },
        &rules(Exit::None, Exit::None),
        &mut j,
    )
    .unwrap();
    assert_eq!(j.fills.len(), 2, "{:?}", out.rejections);
    assert_eq!((j.fills[0].0.price, j.fills[0].0.ts), (101.0, T0 + MIN));
    assert_eq!((j.fills[1].0.price, j.fills[1].0.ts), (99.0, T0 + 3 * MIN));
    assert_eq!(j.trades[0].pnl, (99.0 - 101.0) * 10.0);
    assert_eq!(out.metrics.trades, 1);
    assert_eq!(j.equity, vec![10_000.0, 10_000.0, 10_020.0, 9_980.0]);
}

#[test]
fn stop_comes_first_when_a_bar_reaches_both() {
    let d = Data::new(&[(100.0, 100.0, 100.0, 100.0), (100.0, 100.5, 99.5, 100.0), (100.0, 104.0, 97.0, 100.0), (100.0, 100.0, 100.0, 100.0)]);
    let bits = [ENTRY_LONG, 0, 0, 0];
    let mut j = Journal::default();
    backtest::run(
        &setup(ExecutionConfig::default()),
        &d.bars(),
        &Signals { bits: &bits, stop_distance: None, take_distance: None },
        &rules(Exit::Percent(0.02), Exit::Points(3.0)),
        &mut j,
    )
    .unwrap();
    assert_eq!(j.trades.len(), 1);
    assert_eq!(j.trades[0].reason, FillReason::StopLoss);
    assert!((j.trades[0].exit_price - 98.0).abs() < 1e-12);
}

#[test]
fn a_gap_through_the_stop_fills_at_the_open() {
    let d = Data::new(&[(100.0, 100.0, 100.0, 100.0), (100.0, 100.5, 99.5, 100.0), (95.0, 96.0, 94.0, 95.0)]);
    let bits = [ENTRY_LONG, 0, 0];
    let mut j = Journal::default();
    backtest::run(
        &setup(ExecutionConfig::default()),
        &d.bars(),
        &Signals { bits: &bits, stop_distance: None, take_distance: None },
        &rules(Exit::Points(2.0), Exit::None),
        &mut j,
    )
    .unwrap();
    assert_eq!(j.trades[0].exit_price, 95.0);
}

fn random_rows(seed: u64, n: usize) -> Vec<(f64, f64, f64, f64)> {
    let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    let mut next = || {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((x >> 11) as f64 / (1u64 << 53) as f64) - 0.5
    };
    let mut p = 100.0;
    (0..n)
        .map(|_| {
            let o = p;
            let c = o * (1.0 + 0.01 * next());
            let h = o.max(c) * (1.0 + 0.002 * (next() + 0.5));
            let l = o.min(c) * (1.0 - 0.002 * (next() + 0.5));
            p = c;
            (o, h, l, c)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// A sweep's metrics equal one run per combination, and equity is cash plus positions.
    #[test]
    fn sweep_equals_single_runs(seed in 0u64..1_000, n in 20usize..300) {
        let d = Data::new(&random_rows(seed, n));
        let combos = 3;
        let bits: Vec<u8> = (0..combos * n).map(|k| [ENTRY_LONG, 0, 0, EXIT_LONG, 0][(k * 7 + seed as usize + k / n) % 5]).collect();
        let cfg = ExecutionConfig { slippage: quant_engine_core::execution::Slippage { fixed_bps: 2.0, ..Default::default() }, ..Default::default() };
        let s = setup(cfg);
        let rs: Vec<Rules> = (0..combos).map(|j| rules(Exit::Percent(0.005 * (j + 1) as f64), Exit::None)).collect();
        let swept = backtest::sweep(&s, &d.bars(), &SweepChunk { bits: &bits, stop_distance: None, take_distance: None, rules: &rs }, 2).unwrap();
        for j in 0..combos {
            let sig = Signals { bits: &bits[j * n..(j + 1) * n], stop_distance: None, take_distance: None };
            let mut journal = Journal::default();
            let one = backtest::run(&s, &d.bars(), &sig, &rs[j], &mut journal).unwrap();
            let quiet = backtest::run(&s, &d.bars(), &sig, &rs[j], &mut NoJournal).unwrap();
            prop_assert_eq!(one.metrics, quiet.metrics);
            prop_assert_eq!(swept[j].values().map(f64::to_bits), one.metrics.values().map(f64::to_bits));
            prop_assert_eq!(journal.trades.len() as u64, one.metrics.trades);
            // one instrument: one equity point per bar, at the bars' own times
            prop_assert_eq!(journal.equity.len(), n);
            prop_assert_eq!(journal.equity_times(&d.bars()), &d.ts[..]);
            let pnl: f64 = journal.trades.iter().map(|t| t.pnl).sum();
            let last = *journal.equity.last().unwrap();
            prop_assert!((last - (10_000.0 + pnl)).abs() < 1e-6, "equity {} vs cash + trade pnl {}", last, 10_000.0 + pnl);
        }
    }
}
