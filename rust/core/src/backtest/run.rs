//! One combination: the batch driver of the [`Stepper`] over arrays of bars.

use crate::backtest::{Bars, Outcome, Signals};
use crate::error::{CoreError, CoreResult};
use crate::trading::stepper::next_signal;
use crate::trading::{Recorder, Rules, Setup, Stepper};

/// Reusable per-run buffers (a sweep worker keeps one across combinations, so the equity series
/// does not fault in fresh pages for every combination).
#[derive(Debug, Default, Clone)]
pub struct Scratch {
    eq_ts: Vec<i64>,
    eq: Vec<f64>,
}

/// Runs one backtest. `R` decides what is kept besides the metrics.
pub fn run<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R) -> CoreResult<Outcome> {
    run_in(setup, bars, sig, rules, journal, &mut Scratch::default())
}

/// [`run`] with caller-provided buffers.
///
/// On x86-64 CPUs with AVX2/FMA/BMI2 (x86-64-v3) a copy of the loop compiled for those features
/// is used (chosen at run time, so the build stays portable). Both copies execute the same
/// operations in the same order (Rust never contracts a multiply and an add into an FMA), so
/// results are bit-identical. The stepper's fill path (sizing, risk checks, the execution model,
/// the ledger) is `#[inline(always)]` down to its leaves so that it is part of that copy: a
/// function it called instead would be compiled for the baseline CPU (rounding to the lot and
/// tick grids through libm calls, one call per check).
///
/// With a single instrument, runs of bars on which nothing can happen (no pending order, no
/// signal, no stop or take-profit reached, no time stop running) are skipped eight signal bytes
/// at a time ([`Stepper::quiet_until`]) and only their equity is recorded; [`run_stepped`] steps
/// every bar instead, and a property test checks that both give the same fills, trades, equity
/// and metrics, bit for bit.
pub fn run_in<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R, scratch: &mut Scratch) -> CoreResult<Outcome> {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_x86_64_v3() {
        // SAFETY: the CPU supports every feature `run_v3` is compiled for.
        return unsafe { run_v3(setup, bars, sig, rules, journal, scratch) };
    }
    run_impl::<R, true>(setup, bars, sig, rules, journal, scratch)
}

/// [`run`] stepping every bar through [`Stepper::step`] (no quiet-bar fast path): the reference
/// the fast path is tested against.
pub fn run_stepped<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R) -> CoreResult<Outcome> {
    run_impl::<R, false>(setup, bars, sig, rules, journal, &mut Scratch::default())
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
unsafe fn run_v3<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R, scratch: &mut Scratch) -> CoreResult<Outcome> {
    run_impl::<R, true>(setup, bars, sig, rules, journal, scratch)
}

/// Checks the inputs of a run.
fn check(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>) -> CoreResult<()> {
    bars.check()?;
    let n = bars.ts.len();
    if sig.bits.len() != n {
        return Err(CoreError::invalid("signals", format!("has {} rows; the bars have {n}", sig.bits.len())));
    }
    for (d, name) in [(sig.stop_distance, "stop_distance"), (sig.take_distance, "take_distance")] {
        if d.is_some_and(|d| d.len() != n) {
            return Err(CoreError::invalid(name, format!("must have {n} rows")));
        }
    }
    if setup.instruments.len() != bars.instruments() {
        return Err(CoreError::invalid("instruments", format!("{} instruments for {} bar segments", setup.instruments.len(), bars.instruments())));
    }
    Ok(())
}

#[inline(always)]
fn run_impl<R: Recorder, const QUIET: bool>(
    setup: &Setup,
    bars: &Bars<'_>,
    sig: &Signals<'_>,
    rules: &Rules,
    journal: &mut R,
    scratch: &mut Scratch,
) -> CoreResult<Outcome> {
    check(setup, bars, sig)?;
    let n = bars.ts.len();
    // each instrument's bars are in time order: the earliest bar starts a segment
    let first_ts = bars.offsets.windows(2).filter(|w| w[0] < w[1]).map(|w| bars.ts[w[0] as usize]).min().unwrap_or(0);
    let single = bars.instruments() == 1;
    let mut st = Stepper::new(setup, *rules, first_ts)?;
    let mut eq = std::mem::take(&mut scratch.eq);
    let mut eq_ts = std::mem::take(&mut scratch.eq_ts);
    eq.clear();
    eq_ts.clear();
    if single {
        // one equity point per bar, fed to the metrics as the loop goes; the curve (with a
        // journal) is the bars' own times and the equity vector handed to the journal
        if R::EQUITY {
            eq.reserve_exact(n);
        }
        let mut i = 0;
        // the next signal bar whose rows have been asked for (see `prefetch_bar`)
        let mut warmed = 0;
        while i < n {
            if QUIET {
                let k = st.quiet_until(0, bars.low, bars.high, sig.bits, i, n - 1);
                if k > i {
                    quiet_equity::<R>(&mut st, &mut eq, bars, i, k);
                    st.advance_quiet(0, (k - i) as u32, bars.close[k - 1]);
                }
                i = k;
                if warmed <= i + 1 {
                    warmed = next_signal(sig.bits, i + 2, n.min(i + 2 + PREFETCH_SCAN));
                    prefetch_bar(bars, warmed);
                }
            }
            st.step(0, &bars.quote(i), sig.at(i), i + 1 == n, journal)?;
            record_single::<R>(&mut st, &mut eq, bars.ts[i], bars.close[i]);
            i += 1;
        }
    } else {
        eq_ts.reserve(n);
        eq.reserve(n);
        let mut in_market_periods = 0u64;
        let mut seg_of = vec![0u32; n];
        for s in 0..bars.instruments() {
            for i in bars.offsets[s]..bars.offsets[s + 1] {
                seg_of[i as usize] = s as u32;
            }
        }
        for (k, &i) in bars.order.iter().enumerate() {
            let i = i as usize;
            let s = seg_of[i] as usize;
            st.step(s, &bars.quote(i), sig.at(i), i + 1 == bars.offsets[s + 1] as usize, journal)?;
            let ts = bars.ts[i];
            if k + 1 == n || bars.ts[bars.order[k + 1] as usize] != ts {
                let (e, in_market) = st.equity();
                eq_ts.push(ts);
                eq.push(e);
                in_market_periods += in_market as u64;
            }
        }
        // the equity series goes through the accumulator in one tight pass (cheaper than per
        // bar inside the loop, whose state does not fit in registers)
        st.accumulator_mut().push_equity_series(&eq_ts, &eq, in_market_periods);
    }
    let metrics = st.metrics();
    if R::EQUITY {
        journal.equity(eq_ts, eq);
    } else {
        scratch.eq_ts = eq_ts;
        scratch.eq = eq;
    }
    Ok(Outcome { metrics, rejections: st.take_rejections() })
}

/// Records the equity after a bar of the single instrument that closed at `close` (cash plus
/// the position at the close, as [`Stepper::equity`] values it).
#[inline(always)]
fn record_single<R: Recorder>(st: &mut Stepper<&Setup>, eq: &mut Vec<f64>, ts: i64, close: f64) {
    let (q, m) = st.holding(0);
    let in_market = q != 0.0;
    // `0.0 + x` as in `Stepper::equity` (turns a -0.0 position value into +0.0)
    let value = if in_market { 0.0 + q * close * m } else { 0.0 };
    let equity = st.cash() + value;
    if R::EQUITY {
        eq.push(equity);
    }
    st.accumulator_mut().push_equity(ts, equity, in_market);
}

/// Equity of the quiet bars `i..k` of the single instrument (its position and cash unchanged)
/// into the curve (when kept) and the metrics.
#[inline(always)]
fn quiet_equity<R: Recorder>(st: &mut Stepper<&Setup>, eq: &mut Vec<f64>, bars: &Bars<'_>, i: usize, k: usize) {
    let cash = st.cash();
    let (q, m) = st.holding(0);
    let ts = &bars.ts[i..k];
    if q == 0.0 {
        if R::EQUITY {
            eq.resize(eq.len() + (k - i), cash);
        }
        st.accumulator_mut().push_flat(ts, cash);
        return;
    }
    let close = &bars.close[i..k];
    if R::EQUITY {
        let start = eq.len();
        eq.extend(close.iter().map(|&c| cash + q * c * m));
        let eq = &eq[start..];
        st.accumulator_mut().push_equity_with(ts, |t| eq[t], (k - i) as u64);
    } else {
        st.accumulator_mut().push_equity_with(ts, |t| cash + q * close[t] * m, (k - i) as u64);
    }
}

/// How many signal bytes past the current bar are searched for the next signal whose bar rows
/// to prefetch.
const PREFETCH_SCAN: usize = 512;

/// Asks for the cache lines of bars `j` and `j + 1` (a signal at the close of `j` fills at the
/// open of `j + 1`) while the current event is worked on. The bar columns are read at scattered
/// rows (one event every few dozen bars), which the hardware prefetchers do not anticipate, so
/// without this every fill waits on several cache misses. A prefetch never faults, so `j` past
/// the end is harmless (hence `wrapping_add`); it changes no result.
#[inline(always)]
fn prefetch_bar(bars: &Bars<'_>, j: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let rows: [*const i8; 6] = [
            bars.ts.as_ptr().wrapping_add(j).cast(),
            bars.open.as_ptr().wrapping_add(j).cast(),
            bars.high.as_ptr().wrapping_add(j).cast(),
            bars.low.as_ptr().wrapping_add(j).cast(),
            bars.close.as_ptr().wrapping_add(j).cast(),
            bars.volume.as_ptr().wrapping_add(j).cast(),
        ];
        for p in rows {
            // SAFETY: a prefetch is a hint: it never faults, whatever the address.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(p);
                _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(8));
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (bars, j);
}

impl Scratch {
    /// Gives buffers back for the next run (their contents are discarded).
    pub fn reuse(&mut self, eq_ts: Vec<i64>, eq: Vec<f64>) {
        self.eq_ts = eq_ts;
        self.eq = eq;
    }
}
