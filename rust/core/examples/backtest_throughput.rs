//! Raw speed of the backtest fill loop without Python: one SMA-crossover run over `N` bars
//! (default 1 M, with the journal of fills, trades and equity, and without), and a sweep of the
//! 990 (fast < slow, windows 2..46) crossovers over `SWEEP_N` bars (default 100 k) on 1 and 2
//! threads. `cargo run --release --example backtest_throughput`. The benchmark of record is
//! `benches/bench_backtest.py` (public API, fused Numba loop and vectorbt side by side); this one
//! isolates the Rust loop. Every line ends with a checksum of the metrics' bits, so a change
//! that is meant to keep results bit-identical can be checked by comparing the output.

use std::time::Instant;

use quant_engine_core::backtest::{self, Bars, Exit, Journal, NoJournal, Rules, Setup, Signals, Sizing, SweepChunk, ENTRY_LONG, EXIT_LONG};
use quant_engine_core::execution::ExecutionModel;
use quant_engine_core::instruments::Instrument;
use quant_engine_core::metrics::Metrics;
use quant_engine_core::risk::RiskLimits;

const MINUTE: i64 = 60_000_000_000;
const T0: i64 = 1_704_205_800_000_000_000;

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    ((*state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
}

/// A standard normal draw (Box-Muller).
fn normal(state: &mut u64) -> f64 {
    let (u, v) = (lcg(state), lcg(state));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// One-minute bars of a geometric random walk (OHLC consistent), as columns.
struct Data {
    ts: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    offsets: Vec<i64>,
}

impl Data {
    fn new(n: usize, seed: u64) -> Data {
        let mut st = seed;
        let mut close = Vec::with_capacity(n);
        let mut level = 0.0;
        for _ in 0..n {
            level += 0.001 * normal(&mut st);
            close.push(((100.0 * level.exp()) * 100.0f64).round() / 100.0);
        }
        let open: Vec<f64> = std::iter::once(100.0).chain(close[..n - 1].iter().copied()).collect();
        let high = (0..n).map(|i| ((open[i].max(close[i]) * (1.0 + 0.0003 * normal(&mut st).abs())) * 100.0).ceil() / 100.0).collect();
        let low = (0..n).map(|i| ((open[i].min(close[i]) * (1.0 - 0.0003 * normal(&mut st).abs())) * 100.0).floor() / 100.0).collect();
        Data {
            ts: (0..n as i64).map(|k| T0 + k * MINUTE).collect(),
            open,
            high,
            low,
            close,
            volume: (0..n).map(|_| (100.0 + 9900.0 * lcg(&mut st)).floor()).collect(),
            offsets: vec![0, n as i64],
        }
    }

    fn bars(&self) -> Bars<'_> {
        Bars { ts: &self.ts, open: &self.open, high: &self.high, low: &self.low, close: &self.close, volume: &self.volume, offsets: &self.offsets, order: &[] }
    }

    fn sma(&self, w: usize) -> Vec<f64> {
        let mut out = vec![f64::NAN; self.close.len()];
        let mut s = 0.0;
        for (i, c) in self.close.iter().enumerate() {
            s += c;
            if i >= w {
                s -= self.close[i - w];
            }
            if i + 1 >= w {
                out[i] = s / w as f64;
            }
        }
        out
    }
}

/// Entry-long / exit-long bits of the crossover of two series.
fn cross_bits(fast: &[f64], slow: &[f64], out: &mut [u8]) {
    out[0] = 0;
    for i in 1..fast.len() {
        let up = fast[i] > slow[i] && fast[i - 1] <= slow[i - 1];
        let down = fast[i] < slow[i] && fast[i - 1] >= slow[i - 1];
        out[i] = if up { ENTRY_LONG } else { 0 } | if down { EXIT_LONG } else { 0 };
    }
}

fn setup() -> Setup {
    Setup {
        instruments: vec![Instrument::equity("SYN")],
        model: ExecutionModel::default(),
        limits: RiskLimits::default(),
        initial_cash: 1_000_000.0,
        periods_per_year: 252.0 * 390.0,
    }
}

const RULES: Rules = Rules { stop: Exit::None, take: Exit::None, time_stop: 0, sizing: Sizing::EquityFraction(1.0), allow_short: true, close_at_end: true };

/// Order-sensitive checksum of the metrics' bits.
fn checksum(ms: &[Metrics]) -> u64 {
    ms.iter().flat_map(|m| m.values()).fold(0u64, |h, v| h.rotate_left(7) ^ v.to_bits())
}

/// The fastest of `reps` runs (the least disturbed by other processes on a shared machine).
fn best<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let mut t = f64::INFINITY;
    for _ in 0..reps {
        let start = Instant::now();
        out = f();
        t = t.min(start.elapsed().as_secs_f64());
    }
    (t, out)
}

fn main() {
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let (n, sweep_n) = (env("N", 1_000_000), env("SWEEP_N", 100_000));
    let setup = setup();

    let data = Data::new(n, 3);
    let mut bits = vec![0u8; n];
    cross_bits(&data.sma(10), &data.sma(30), &mut bits);
    let sig = Signals { bits: &bits, stop_distance: None, take_distance: None };
    let (t, (o, j)) = best(20, || {
        let mut j = Journal::default();
        let o = backtest::run(&setup, &data.bars(), &sig, &RULES, &mut j).unwrap();
        (o, j)
    });
    println!(
        "run, journal:    {:7.2} ms  ({} bars, {} trades, {} equity points)  checksum {:016x}",
        t * 1e3,
        n,
        j.trades.len(),
        j.equity.len(),
        checksum(&[o.metrics])
    );
    let (t, o) = best(20, || backtest::run(&setup, &data.bars(), &sig, &RULES, &mut NoJournal).unwrap());
    println!("run, no journal: {:7.2} ms  checksum {:016x}", t * 1e3, checksum(&[o.metrics]));

    let data = Data::new(sweep_n, 5);
    let smas: Vec<Vec<f64>> = (0..47).map(|w| if w < 2 { Vec::new() } else { data.sma(w) }).collect();
    let pairs: Vec<(usize, usize)> = (2..47).flat_map(|f| (f + 1..47).map(move |s| (f, s))).collect();
    let mut all = vec![0u8; pairs.len() * sweep_n];
    for (row, &(f, s)) in all.chunks_mut(sweep_n).zip(&pairs) {
        cross_bits(&smas[f], &smas[s], row);
    }
    let rules = vec![RULES; pairs.len()];
    let chunk = SweepChunk { bits: &all, stop_distance: None, take_distance: None, rules: &rules };
    for threads in [1, 2] {
        let (t, ms) = best(3, || backtest::sweep(&setup, &data.bars(), &chunk, threads).unwrap());
        let trades: u64 = ms.iter().map(|m| m.trades).sum();
        println!("sweep {threads} thread(s): {:7.1} ms  ({} x {} bars, {trades} trades)  checksum {:016x}", t * 1e3, pairs.len(), sweep_n, checksum(&ms));
    }
}
