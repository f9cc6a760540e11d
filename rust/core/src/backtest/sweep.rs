//! Many combinations on threads: metrics only ([`sweep`]), or metrics and the per-period return
//! series of every combination ([`sweep_returns`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::backtest::run::{run_in, Scratch};
use crate::backtest::{Bars, Signals};
use crate::error::{CoreError, CoreResult};
use crate::metrics::{period_return, Metrics};
use crate::trading::{EquityOnly, NoJournal, Rules, Setup};

/// Signals of several combinations (row-major, one row of `n` bars per combination) with their
/// rules, for [`sweep`].
#[derive(Debug, Clone, Copy)]
pub struct SweepChunk<'a> {
    /// Signal bits, `rules.len() x n`.
    pub bits: &'a [u8],
    /// Stop distances, `rules.len() x n`, when the stop is [`crate::trading::Exit::Series`].
    pub stop_distance: Option<&'a [f64]>,
    /// Take-profit distances, `rules.len() x n`, when the take-profit is
    /// [`crate::trading::Exit::Series`].
    pub take_distance: Option<&'a [f64]>,
    /// Rules of each combination.
    pub rules: &'a [Rules],
}

/// Runs every combination of `chunk` on `threads` threads (0: all cores) and returns their
/// metrics in order. Nothing per bar is kept. The first error stops the sweep.
pub fn sweep(setup: &Setup, bars: &Bars<'_>, chunk: &SweepChunk<'_>, threads: usize) -> CoreResult<Vec<Metrics>> {
    sweep_impl(setup, bars, chunk, threads, None)
}

/// Where [`sweep_returns`] writes: one row of [`SweepReturns::periods`] values per combination
/// (row `j` is combination `j`'s series; read as a `periods x combinations` matrix in column-major
/// order, that is one column per combination).
#[derive(Debug)]
pub struct SweepReturns<'a> {
    /// `combinations x periods` values, row-major.
    pub out: &'a mut [f64],
}

/// The number of equity points (return periods) of a run on `bars`: one per bar for a single
/// instrument, one per distinct bar time otherwise.
pub fn periods(bars: &Bars<'_>) -> CoreResult<usize> {
    bars.check()?;
    if bars.instruments() == 1 {
        return Ok(bars.ts.len());
    }
    let mut t = 0;
    for (k, &i) in bars.order.iter().enumerate() {
        if k + 1 == bars.order.len() || bars.ts[bars.order[k + 1] as usize] != bars.ts[i as usize] {
            t += 1;
        }
    }
    Ok(t)
}

/// [`sweep`] that also writes the per-period net returns of every combination into `out`
/// (`equity[t] / equity[t-1] - 1`, the first against the initial cash; 0 after a non-positive
/// equity, as the metrics compute them): row `j` of `out` (length [`periods`]) is combination
/// `j`. The caller allocates `out` once (its size is combinations x periods x 8 bytes); workers
/// write their rows in place, and keep the equity buffer across combinations.
pub fn sweep_returns(setup: &Setup, bars: &Bars<'_>, chunk: &SweepChunk<'_>, threads: usize, out: SweepReturns<'_>) -> CoreResult<Vec<Metrics>> {
    let t = periods(bars)?;
    let c = chunk.rules.len();
    if out.out.len() != c * t {
        return Err(CoreError::invalid("returns", format!("needs {c} x {t} values, got {}", out.out.len())));
    }
    let rows: Vec<Option<&mut [f64]>> = if t == 0 { (0..c).map(|_| None).collect() } else { out.out.chunks_mut(t).map(Some).collect() };
    sweep_impl(setup, bars, chunk, threads, Some((rows, setup.initial_cash)))
}

type Rows<'o> = (Vec<Option<&'o mut [f64]>>, f64);

fn sweep_impl(setup: &Setup, bars: &Bars<'_>, chunk: &SweepChunk<'_>, threads: usize, rows: Option<Rows<'_>>) -> CoreResult<Vec<Metrics>> {
    bars.check()?;
    let n = bars.ts.len();
    let c = chunk.rules.len();
    if chunk.bits.len() != c * n {
        return Err(CoreError::invalid("signals", format!("needs {c} x {n} values, got {}", chunk.bits.len())));
    }
    for (d, name) in [(chunk.stop_distance, "stop_distance"), (chunk.take_distance, "take_distance")] {
        if d.is_some_and(|d| d.len() != c * n) {
            return Err(CoreError::invalid(name, format!("needs {c} x {n} values")));
        }
    }
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |p| p.get()) } else { threads }.clamp(1, c.max(1));
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<Metrics>>> = Mutex::new(vec![None; c]);
    let first_error: Mutex<Option<CoreError>> = Mutex::new(None);
    let initial = rows.as_ref().map_or(f64::NAN, |r| r.1);
    let rows = rows.map(|r| Mutex::new(r.0));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut scratch = Scratch::default();
                loop {
                    let j = next.fetch_add(1, Ordering::Relaxed);
                    if j >= c || first_error.lock().map(|e| e.is_some()).unwrap_or(true) {
                        break;
                    }
                    let row = j * n..(j + 1) * n;
                    let sig = Signals {
                        bits: &chunk.bits[row.clone()],
                        stop_distance: chunk.stop_distance.map(|d| &d[row.clone()]),
                        take_distance: chunk.take_distance.map(|d| &d[row.clone()]),
                    };
                    let result = match &rows {
                        None => run_in(setup, bars, &sig, &chunk.rules[j], &mut NoJournal, &mut scratch),
                        Some(rows) => {
                            let mut rec = EquityOnly::default();
                            let o = run_in(setup, bars, &sig, &chunk.rules[j], &mut rec, &mut scratch);
                            if o.is_ok() {
                                let dest = rows.lock().ok().and_then(|mut r| r[j].take());
                                if let Some(dest) = dest {
                                    write_returns(initial, &rec.equity, dest);
                                }
                                scratch.reuse(rec.equity_ts, rec.equity);
                            }
                            o
                        }
                    };
                    match result {
                        Ok(o) => {
                            if let Ok(mut v) = out.lock() {
                                v[j] = Some(o.metrics);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut slot) = first_error.lock() {
                                slot.get_or_insert(e);
                            }
                            break;
                        }
                    }
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().map_err(|_| CoreError::Internal("sweep worker panicked".into()))? {
        return Err(e);
    }
    out.into_inner()
        .map_err(|_| CoreError::Internal("sweep worker panicked".into()))?
        .into_iter()
        .map(|m| m.ok_or_else(|| CoreError::Internal("a sweep combination produced no result".into())))
        .collect()
}

/// Per-period returns of an equity curve that started at `initial`.
fn write_returns(initial: f64, equity: &[f64], dest: &mut [f64]) {
    let mut prev = initial;
    for (d, &e) in dest.iter_mut().zip(equity) {
        *d = period_return(prev, e);
        prev = e;
    }
}
