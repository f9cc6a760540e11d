//! The backtest fill loop: signals in, fills, trades, equity and metrics out.
//!
//! Signals come from the strategy plan (bit 1 entry long, 2 exit long, 4 entry short, 8 exit
//! short, one byte per bar). The loop walks the bars of every instrument in time order and owns
//! the state the signals cannot know: positions, pending orders, stops, bars held.
//!
//! * **Fill timing.** A rule true at the close of bar t becomes an order that fills at the open of
//!   the instrument's next bar (t+1) through the one [`ExecutionModel`] (spread, slippage, impact,
//!   fees, multiplier). A signal on an instrument's last bar never fills.
//! * **Sizing and limits.** Entries are sized at the signal bar's close with the Rust sizing
//!   ([`RiskEngine::size_order`]: risk per trade, target notional, fixed; clamped by every limit,
//!   rounded down to lots) and validated with commit ([`RiskEngine::validate`]); exits are
//!   reduce-only orders through the same engine. A size of zero or a rejection is counted by
//!   reason, never an order of 0. Every fill updates the engine ([`RiskEngine::on_fill`]); open
//!   positions are marked before each sizing decision.
//! * **Stops.** While a position is open, every bar (including the entry bar, after the open) is
//!   checked against its high and low. A stop-loss triggers when the bar trades through the stop
//!   level and fills as a market order at the stop level, or at the open when the bar opened
//!   beyond it (a gap). A take-profit is a resting limit order, filled by the execution model's
//!   limit rules. **When one bar reaches both, the stop is assumed to have come first**
//!   (conservative: the worse of the two outcomes). Stop and take-profit levels are set from the
//!   entry fill price and the distance known at the signal bar (percent of the entry price,
//!   points, or the ATR distance series).
//! * **Time stop.** After `time_stop` bars in a position, the position exits at the next open.
//! * **Opposite signals.** An opposite entry signal while in a position exits it at the next open
//!   (a reversal takes two orders: the new entry is taken at a later close if the rule still holds).
//! * **End of data.** With `close_at_end`, open positions are closed at each instrument's last
//!   close (a market order against that price), so every trade is counted.
//! * **Shared cash.** All instruments trade out of one account (the risk engine's portfolio).
//!   Equity is recorded once per distinct bar time: cash plus every position at its instrument's
//!   latest close.

use std::collections::BTreeMap;

use crate::error::{CoreError, CoreResult};
use crate::execution::{BarQuote, ExecutionModel, MarketContext, Quote};
use crate::instruments::Instrument;
use crate::metrics::{Metrics, MetricsAccumulator};
use crate::order::{Fill, Order, OrderType, Side};
use crate::portfolio::CostBasis;
use crate::risk::{Reason, RiskEngine, RiskLimits, SizingMethod};

/// Whether a bar's low `x` reached `level` (false for a NaN level: no such exit).
#[inline(always)]
fn reached_down(x: f64, level: f64) -> bool {
    x <= level
}

/// Whether a bar's high `x` reached `level` (false for a NaN level).
#[inline(always)]
fn reached_up(x: f64, level: f64) -> bool {
    x >= level
}

/// Signal bit: enter long.
pub const ENTRY_LONG: u8 = 1;
/// Signal bit: exit long.
pub const EXIT_LONG: u8 = 2;
/// Signal bit: enter short.
pub const ENTRY_SHORT: u8 = 4;
/// Signal bit: exit short.
pub const EXIT_SHORT: u8 = 8;

/// One or more instruments' bars back to back (`offsets[s]..offsets[s+1]` is instrument `s`,
/// each in time order) and the order in which to visit them (all bars by time; empty when there
/// is a single instrument).
#[derive(Debug, Clone, Copy)]
pub struct Bars<'a> {
    /// Bar start times, UTC ns.
    pub ts: &'a [i64],
    /// Opens.
    pub open: &'a [f64],
    /// Highs.
    pub high: &'a [f64],
    /// Lows.
    pub low: &'a [f64],
    /// Closes.
    pub close: &'a [f64],
    /// Volumes.
    pub volume: &'a [f64],
    /// Segment boundaries, one more than instruments.
    pub offsets: &'a [i64],
    /// Visiting order across instruments (time, then instrument); empty for one instrument.
    pub order: &'a [i64],
}

impl Bars<'_> {
    /// Checks lengths, offsets and the visiting order.
    pub fn check(&self) -> CoreResult<()> {
        let n = self.ts.len();
        for (len, name) in [(self.open.len(), "open"), (self.high.len(), "high"), (self.low.len(), "low"), (self.close.len(), "close"), (self.volume.len(), "volume")] {
            if len != n {
                return Err(CoreError::invalid(name, format!("has {len} rows; the bars have {n}")));
            }
        }
        let ok = self.offsets.len() >= 2
            && self.offsets[0] == 0
            && *self.offsets.last().unwrap_or(&-1) == n as i64
            && self.offsets.windows(2).all(|w| w[0] <= w[1]);
        if !ok {
            return Err(CoreError::invalid("offsets", "must start at 0, end at the bar count and not decrease"));
        }
        if self.instruments() > 1 && self.order.len() != n {
            return Err(CoreError::invalid("order", format!("needs {n} entries for several instruments")));
        }
        if self.order.iter().any(|&i| i < 0 || i as usize >= n) {
            return Err(CoreError::invalid("order", "has an index out of range"));
        }
        Ok(())
    }

    /// Number of instruments.
    pub fn instruments(&self) -> usize {
        self.offsets.len() - 1
    }

    #[inline(always)]
    fn quote(&self, i: usize) -> BarQuote {
        BarQuote { ts: self.ts[i], open: self.open[i], high: self.high[i], low: self.low[i], close: self.close[i], volume: self.volume[i] }
    }
}

/// One combination's signals: a byte per bar, and per-bar stop / take-profit distances when a
/// rule uses ATR.
#[derive(Debug, Clone, Copy)]
pub struct Signals<'a> {
    /// Signal bits per bar.
    pub bits: &'a [u8],
    /// Stop-loss distance (price units) per bar, for [`Exit::Series`].
    pub stop_distance: Option<&'a [f64]>,
    /// Take-profit distance per bar, for [`Exit::Series`].
    pub take_distance: Option<&'a [f64]>,
}

/// A stop-loss or take-profit distance rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Exit {
    /// No such exit.
    None,
    /// A fraction of the entry price.
    Percent(f64),
    /// Price units.
    Points(f64),
    /// The per-bar distance series of the signal bar (e.g. `mult * ATR`).
    Series,
}

/// The entry size rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sizing {
    /// A fixed quantity.
    Fixed(f64),
    /// A target notional.
    Notional(f64),
    /// A target notional of this fraction of equity.
    EquityFraction(f64),
    /// Risk this fraction of equity between entry and stop.
    RiskFraction(f64),
}

/// Exit and sizing rules of one combination.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    /// Stop-loss distance.
    pub stop: Exit,
    /// Take-profit distance.
    pub take: Exit,
    /// Bars in a position before a time exit (0: none).
    pub time_stop: u32,
    /// Entry size rule.
    pub sizing: Sizing,
    /// Take short entries.
    pub allow_short: bool,
    /// Close open positions at the end of the data.
    pub close_at_end: bool,
}

/// Why a fill happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum FillReason {
    /// An entry rule.
    Entry = 0,
    /// An exit rule (or an opposite entry rule).
    Signal = 1,
    /// The stop-loss.
    StopLoss = 2,
    /// The take-profit.
    TakeProfit = 3,
    /// The time stop.
    TimeStop = 4,
    /// The end of the data.
    End = 5,
}

impl FillReason {
    /// Every reason, by discriminant.
    pub const ALL: [FillReason; 6] = [FillReason::Entry, FillReason::Signal, FillReason::StopLoss, FillReason::TakeProfit, FillReason::TimeStop, FillReason::End];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            FillReason::Entry => "entry",
            FillReason::Signal => "signal",
            FillReason::StopLoss => "stop_loss",
            FillReason::TakeProfit => "take_profit",
            FillReason::TimeStop => "time_stop",
            FillReason::End => "end",
        }
    }
}

/// A closed round trip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    /// Instrument slot.
    pub instrument: u32,
    /// Signed quantity (positive long).
    pub quantity: f64,
    /// Entry fill time.
    pub entry_ts: i64,
    /// Entry fill price.
    pub entry_price: f64,
    /// Last exit fill time.
    pub exit_ts: i64,
    /// Quantity-weighted exit price.
    pub exit_price: f64,
    /// Net P&L: `(exit - entry) * quantity * multiplier - fees` (slippage is in the prices).
    pub pnl: f64,
    /// Fees of every fill of the trade.
    pub fees: f64,
    /// Slippage cost of every fill of the trade.
    pub slippage: f64,
    /// Bars from the entry bar to the exit bar.
    pub bars_held: u32,
    /// What closed it.
    pub reason: FillReason,
}

/// Receives what a run produces. [`NoJournal`] keeps nothing (sweeps); [`Journal`] keeps all.
pub trait Recorder {
    /// Whether anything is recorded (lets the loop skip work).
    const RECORDS: bool;
    /// A fill.
    fn fill(&mut self, fill: &Fill, reason: FillReason);
    /// A closed trade.
    fn trade(&mut self, trade: &Trade);
    /// The equity curve (one point per distinct bar time), at the end of the run. With a single
    /// instrument the points are its bars and `ts` is empty (the times are the bars' `ts`).
    fn equity(&mut self, ts: Vec<i64>, equity: Vec<f64>);
}

/// Records nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl Recorder for NoJournal {
    const RECORDS: bool = false;
    #[inline(always)]
    fn fill(&mut self, _: &Fill, _: FillReason) {}
    #[inline(always)]
    fn trade(&mut self, _: &Trade) {}
    fn equity(&mut self, _: Vec<i64>, _: Vec<f64>) {}
}

/// Records fills, trades and the equity curve.
#[derive(Debug, Default, Clone)]
pub struct Journal {
    /// Fills with their reason.
    pub fills: Vec<(Fill, FillReason)>,
    /// Closed trades.
    pub trades: Vec<Trade>,
    /// Equity curve times; empty after a run on a single instrument, whose curve has one point
    /// per bar at the bars' own times (not copied: see [`Journal::equity_times`]).
    pub equity_ts: Vec<i64>,
    /// Equity.
    pub equity: Vec<f64>,
}

impl Journal {
    /// The times of the equity curve of a run on `bars`.
    pub fn equity_times<'a>(&'a self, bars: &Bars<'a>) -> &'a [i64] {
        if self.equity_ts.is_empty() && bars.instruments() == 1 {
            bars.ts
        } else {
            &self.equity_ts
        }
    }
}

impl Recorder for Journal {
    const RECORDS: bool = true;
    fn fill(&mut self, fill: &Fill, reason: FillReason) {
        self.fills.push((*fill, reason));
    }
    fn trade(&mut self, trade: &Trade) {
        self.trades.push(*trade);
    }
    fn equity(&mut self, ts: Vec<i64>, equity: Vec<f64>) {
        self.equity_ts = ts;
        self.equity = equity;
    }
}

/// What does not change between combinations: instruments, the execution model, risk limits,
/// starting cash and the annualization.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Instruments, in segment order.
    pub instruments: Vec<Instrument>,
    /// The execution model.
    pub model: ExecutionModel,
    /// Risk limits.
    pub limits: RiskLimits,
    /// Starting cash.
    pub initial_cash: f64,
    /// Periods per year for the metrics.
    pub periods_per_year: f64,
}

/// The result of one run: metrics and rejected orders by reason code.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The metrics.
    pub metrics: Metrics,
    /// Rejected orders (risk reasons and execution-model reasons) by code.
    pub rejections: BTreeMap<&'static str, u64>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Pending {
    None,
    Enter(Side, f64),
    Exit(FillReason),
}

#[derive(Debug, Clone, Copy)]
struct Book {
    qty: f64,
    mult: f64,
    entry_ts: i64,
    entry_px: f64,
    entry_qty: f64,
    entry_bar: u32,
    fees: f64,
    slippage: f64,
    exit_value: f64,
    exit_qty: f64,
    held: u32,
    stop: f64,
    take: f64,
    pending: Pending,
    stop_dist: f64,
    take_dist: f64,
    last_close: f64,
    bars_seen: u32,
}

impl Book {
    fn new(mult: f64) -> Self {
        Book {
            qty: 0.0,
            mult,
            entry_ts: 0,
            entry_px: 0.0,
            entry_qty: 0.0,
            entry_bar: 0,
            fees: 0.0,
            slippage: 0.0,
            exit_value: 0.0,
            exit_qty: 0.0,
            held: 0,
            stop: f64::NAN,
            take: f64::NAN,
            pending: Pending::None,
            stop_dist: f64::NAN,
            take_dist: f64::NAN,
            last_close: f64::NAN,
            bars_seen: 0,
        }
    }
}

struct Run<'a, R: Recorder> {
    setup: &'a Setup,
    bars: &'a Bars<'a>,
    sig: &'a Signals<'a>,
    rules: &'a Rules,
    risk: RiskEngine,
    books: Vec<Book>,
    acc: MetricsAccumulator,
    rejections: BTreeMap<&'static str, u64>,
    journal: &'a mut R,
    eq_ts: Vec<i64>,
    eq: Vec<f64>,
    in_market_periods: u64,
}

/// Reusable per-run buffers (a sweep worker keeps one across combinations, so the equity series
/// of several instruments does not fault in fresh pages for every combination).
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
/// results are bit-identical. The fill path (sizing, risk checks, the execution model, the
/// ledger) is `#[inline(always)]` down to its leaves so that it is part of that copy: a function
/// it called instead would be compiled for the baseline CPU (rounding to the lot and tick grids
/// through libm calls, one call per check).
pub fn run_in<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R, scratch: &mut Scratch) -> CoreResult<Outcome> {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_x86_64_v3() {
        // SAFETY: the CPU supports every feature `run_v3` is compiled for.
        return unsafe { run_v3(setup, bars, sig, rules, journal, scratch) };
    }
    run_impl(setup, bars, sig, rules, journal, scratch)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
unsafe fn run_v3<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R, scratch: &mut Scratch) -> CoreResult<Outcome> {
    run_impl(setup, bars, sig, rules, journal, scratch)
}

#[inline(always)]
fn run_impl<R: Recorder>(setup: &Setup, bars: &Bars<'_>, sig: &Signals<'_>, rules: &Rules, journal: &mut R, scratch: &mut Scratch) -> CoreResult<Outcome> {
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
    let risk = RiskEngine::new(setup.limits.clone(), setup.initial_cash, CostBasis::AverageCost, &setup.instruments)?;
    // each instrument's bars are in time order: the earliest bar starts a segment
    let first_ts = bars.offsets.windows(2).filter(|w| w[0] < w[1]).map(|w| bars.ts[w[0] as usize]).min().unwrap_or(0);
    let single = bars.instruments() == 1;
    let mut r = Run {
        setup,
        bars,
        sig,
        rules,
        risk,
        books: setup.instruments.iter().map(|i| Book::new(i.multiplier)).collect(),
        acc: MetricsAccumulator::new(setup.initial_cash, first_ts),
        rejections: BTreeMap::new(),
        journal,
        eq_ts: Vec::new(),
        eq: Vec::new(),
        in_market_periods: 0,
    };
    if single {
        // one equity point per bar, fed to the metrics as the loop goes; the curve (with a
        // journal) is the bars' own times and a fresh vector handed to the journal
        if R::RECORDS {
            r.eq.reserve_exact(n);
        }
        let mut i = 0;
        // the next signal bar whose rows have been asked for (see `prefetch_bar`)
        let mut warmed = 0;
        while i < n {
            i = r.quiet_run(i, n);
            if i >= n {
                break;
            }
            if warmed <= i + 1 {
                warmed = next_signal(sig.bits, i + 2, n.min(i + 2 + PREFETCH_SCAN));
                prefetch_bar(bars, warmed);
            }
            r.bar(0, i, n)?;
            r.record_single(i);
            i += 1;
        }
    } else {
        r.eq_ts = std::mem::take(&mut scratch.eq_ts);
        r.eq = std::mem::take(&mut scratch.eq);
        r.eq_ts.clear();
        r.eq.clear();
        r.eq_ts.reserve(n);
        r.eq.reserve(n);
        let mut seg_of = vec![0u32; n];
        for s in 0..bars.instruments() {
            for i in bars.offsets[s]..bars.offsets[s + 1] {
                seg_of[i as usize] = s as u32;
            }
        }
        for (k, &i) in bars.order.iter().enumerate() {
            let i = i as usize;
            let s = seg_of[i] as usize;
            r.bar(s, i, bars.offsets[s + 1] as usize)?;
            let ts = bars.ts[i];
            if k + 1 == n || bars.ts[bars.order[k + 1] as usize] != ts {
                r.record(ts);
            }
        }
        // the equity series goes through the accumulator in one tight pass (cheaper than per
        // bar inside the loop, whose state does not fit in registers)
        r.acc.push_equity_series(&r.eq_ts, &r.eq, r.in_market_periods);
    }
    let metrics = r.acc.finish(setup.periods_per_year);
    if R::RECORDS {
        r.journal.equity(std::mem::take(&mut r.eq_ts), std::mem::take(&mut r.eq));
    } else if !single {
        scratch.eq_ts = std::mem::take(&mut r.eq_ts);
        scratch.eq = std::mem::take(&mut r.eq);
    }
    Ok(Outcome { metrics, rejections: r.rejections })
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

/// The first index in `from..to` whose signal byte is not zero (`to` if none), eight bytes at a
/// time.
#[inline(always)]
fn next_signal(bits: &[u8], from: usize, to: usize) -> usize {
    let mut k = from;
    while k + 8 <= to {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bits[k..k + 8]);
        let w = u64::from_le_bytes(word);
        if w != 0 {
            return k + (w.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < to && bits[k] == 0 {
        k += 1;
    }
    k
}

/// The first index in `from..to` where `event` holds (`to` if none). Evaluates `event` on
/// blocks of eight indexes without branching on each, then finds the first one in the block.
#[inline(always)]
fn next_event(from: usize, to: usize, event: impl Fn(usize) -> bool) -> usize {
    let mut k = from;
    while k + 8 <= to {
        let mut any = false;
        for j in k..k + 8 {
            any |= event(j);
        }
        if any {
            break;
        }
        k += 8;
    }
    while k < to && !event(k) {
        k += 1;
    }
    k
}

impl<R: Recorder> Run<'_, R> {
    #[inline(always)]
    fn cash(&self) -> f64 {
        self.risk.portfolio().cash()
    }

    /// Open positions valued at their instruments' latest closes.
    #[inline(always)]
    fn market_value(&self) -> f64 {
        let mut v = 0.0;
        for b in &self.books {
            if b.qty != 0.0 {
                v += b.qty * b.last_close * b.mult;
            }
        }
        v
    }

    #[inline(always)]
    fn record(&mut self, ts: i64) {
        let mut value = 0.0;
        let mut in_market = false;
        for b in &self.books {
            if b.qty != 0.0 {
                value += b.qty * b.last_close * b.mult;
                in_market = true;
            }
        }
        self.eq_ts.push(ts);
        self.eq.push(self.cash() + value);
        self.in_market_periods += in_market as u64;
    }

    #[inline(always)]
    fn reject(&mut self, code: &'static str) {
        *self.rejections.entry(code).or_insert(0) += 1;
    }

    /// Records the equity after bar `i` of the single instrument (cash plus the position at the
    /// close, as [`Run::record`] values it).
    #[inline(always)]
    fn record_single(&mut self, i: usize) {
        let b = &self.books[0];
        let in_market = b.qty != 0.0;
        // `0.0 + x` as in `record` (turns a -0.0 position value into +0.0)
        let value = if in_market { 0.0 + b.qty * b.last_close * b.mult } else { 0.0 };
        let equity = self.cash() + value;
        if R::RECORDS {
            self.eq.push(equity);
        }
        self.acc.push_equity(self.bars.ts[i], equity, in_market);
    }

    /// Fast path of a single instrument: from bar `i`, every bar on which nothing can happen (no
    /// pending order, no signal bit, no stop or take-profit reached, no time stop running, not
    /// the last bar) only records equity. Returns the first bar that needs the full path.
    #[inline(always)]
    fn quiet_run(&mut self, i: usize, n: usize) -> usize {
        let b = &self.books[0];
        if b.pending != Pending::None || (b.qty != 0.0 && self.rules.time_stop > 0) || i + 1 >= n {
            return i;
        }
        let (q, m, stop, take) = (b.qty, b.mult, b.stop, b.take);
        let last = n - 1;
        let (low, high, bits) = (self.bars.low, self.bars.high, self.sig.bits);
        // a NaN level is never reached: without stop and take-profit only the signals matter
        let k = if q == 0.0 || (stop.is_nan() && take.is_nan()) {
            next_signal(bits, i, last)
        } else if q > 0.0 {
            next_event(i, last, |t| (bits[t] != 0) | reached_down(low[t], stop) | reached_up(high[t], take))
        } else {
            next_event(i, last, |t| (bits[t] != 0) | reached_up(high[t], stop) | reached_down(low[t], take))
        };
        if k > i {
            self.quiet_equity(i, k, q, m);
            let steps = (k - i) as u32;
            let b = &mut self.books[0];
            b.last_close = self.bars.close[k - 1];
            b.bars_seen += steps;
            if q != 0.0 {
                b.held += steps;
            }
        }
        k
    }

    /// Equity of the quiet bars `i..k` of the single instrument (a position of `q` at multiplier
    /// `m`, cash unchanged) into the curve (with a journal) and the metrics.
    #[inline(always)]
    fn quiet_equity(&mut self, i: usize, k: usize, q: f64, m: f64) {
        let cash = self.cash();
        let ts = &self.bars.ts[i..k];
        if q == 0.0 {
            if R::RECORDS {
                self.eq.resize(self.eq.len() + (k - i), cash);
            }
            self.acc.push_flat(ts, cash);
            return;
        }
        let close = &self.bars.close[i..k];
        if R::RECORDS {
            let start = self.eq.len();
            self.eq.extend(close.iter().map(|&c| cash + q * c * m));
            let eq = &self.eq[start..];
            self.acc.push_equity_with(ts, |t| eq[t], (k - i) as u64);
        } else {
            self.acc.push_equity_with(ts, |t| cash + q * close[t] * m, (k - i) as u64);
        }
    }

    /// One bar `i` of instrument `s` (whose segment ends at `end`).
    #[inline(always)]
    fn bar(&mut self, s: usize, i: usize, end: usize) -> CoreResult<()> {
        let b = self.bars.quote(i);
        match self.books[s].pending {
            Pending::None => {}
            Pending::Enter(side, qty) => {
                self.books[s].pending = Pending::None;
                self.enter(s, side, qty, &b)?;
            }
            Pending::Exit(reason) => {
                self.books[s].pending = Pending::None;
                self.exit(s, reason, MarketContext::Bar(b), OrderType::Market, f64::NAN)?;
            }
        }
        if self.books[s].qty != 0.0 {
            self.intrabar(s, &b)?;
        }
        let book = &mut self.books[s];
        book.last_close = b.close;
        book.bars_seen += 1;
        if book.qty != 0.0 {
            book.held += 1;
        }
        if i + 1 < end {
            self.decide(s, i)?;
        } else if self.rules.close_at_end && self.books[s].qty != 0.0 {
            self.close_at_end(s, i)?;
        }
        Ok(())
    }

    /// Stop-loss and take-profit against the bar's range; the stop first when both are reached.
    #[inline(always)]
    fn intrabar(&mut self, s: usize, b: &BarQuote) -> CoreResult<()> {
        let book = self.books[s];
        let long = book.qty > 0.0;
        let stop_hit = if long { b.low <= book.stop } else { b.high >= book.stop };
        if stop_hit {
            let px = if long { b.open.min(book.stop) } else { b.open.max(book.stop) };
            let q = Quote { ts: b.ts, bid: px, ask: px, bid_size: f64::NAN, ask_size: f64::NAN, volume: b.volume };
            return self.exit(s, FillReason::StopLoss, MarketContext::Quote(q), OrderType::Market, f64::NAN);
        }
        let take_reached = if long { b.high >= book.take } else { b.low <= book.take };
        if take_reached {
            return self.exit(s, FillReason::TakeProfit, MarketContext::Bar(*b), OrderType::Limit, book.take);
        }
        Ok(())
    }

    /// Signals at the close of bar `i`: exits, time stops, entries.
    #[inline(always)]
    fn decide(&mut self, s: usize, i: usize) -> CoreResult<()> {
        let bits = self.sig.bits[i];
        let (pending, qty, held) = {
            let b = &self.books[s];
            (b.pending, b.qty, b.held)
        };
        if pending != Pending::None || (bits == 0 && (qty == 0.0 || self.rules.time_stop == 0)) {
            return Ok(());
        }
        let short_ok = self.rules.allow_short;
        if qty > 0.0 {
            if bits & EXIT_LONG != 0 || (short_ok && bits & ENTRY_SHORT != 0 && bits & ENTRY_LONG == 0) {
                self.books[s].pending = Pending::Exit(FillReason::Signal);
            } else if self.rules.time_stop > 0 && held >= self.rules.time_stop {
                self.books[s].pending = Pending::Exit(FillReason::TimeStop);
            }
            return Ok(());
        }
        if qty < 0.0 {
            if bits & EXIT_SHORT != 0 || (bits & ENTRY_LONG != 0 && bits & ENTRY_SHORT == 0) {
                self.books[s].pending = Pending::Exit(FillReason::Signal);
            } else if self.rules.time_stop > 0 && held >= self.rules.time_stop {
                self.books[s].pending = Pending::Exit(FillReason::TimeStop);
            }
            return Ok(());
        }
        let long = bits & ENTRY_LONG != 0;
        let short = short_ok && bits & ENTRY_SHORT != 0;
        if long != short {
            self.size_entry(s, i, if long { Side::Buy } else { Side::Sell })?;
        }
        Ok(())
    }

    #[inline(always)]
    fn distance(&self, rule: Exit, series: Option<&[f64]>, i: usize, price: f64) -> f64 {
        match rule {
            Exit::None => f64::NAN,
            Exit::Percent(p) => p * price,
            Exit::Points(x) => x,
            Exit::Series => series.map_or(f64::NAN, |d| d[i]),
        }
    }

    /// Sizes and validates an entry decided at the close of bar `i`.
    #[inline(always)]
    fn size_entry(&mut self, s: usize, i: usize, side: Side) -> CoreResult<()> {
        let close = self.bars.close[i];
        let ts = self.bars.ts[i];
        let stop_dist = self.distance(self.rules.stop, self.sig.stop_distance, i, close);
        let take_dist = self.distance(self.rules.take, self.sig.take_distance, i, close);
        if (self.rules.stop != Exit::None && !(stop_dist > 0.0 && stop_dist.is_finite()))
            || (self.rules.take != Exit::None && !(take_dist > 0.0 && take_dist.is_finite()))
        {
            self.reject("exit_distance_unavailable");
            return Ok(());
        }
        for (slot, b) in self.books.iter().enumerate() {
            if b.qty != 0.0 && b.last_close.is_finite() {
                self.risk.on_mark(slot as u32, b.last_close)?;
            }
        }
        let equity = self.cash() + self.market_value();
        let method = match self.rules.sizing {
            Sizing::Fixed(q) => SizingMethod::Fixed { quantity: q },
            Sizing::Notional(a) => SizingMethod::TargetNotional { notional: a },
            Sizing::EquityFraction(f) => SizingMethod::TargetNotional { notional: f * equity },
            Sizing::RiskFraction(f) => SizingMethod::RiskPerTrade { risk_fraction: f, stop_distance: stop_dist, equity: Some(equity) },
        };
        let slot = s as u32;
        let size = self.risk.size_order(slot, side, close, method, OrderType::Market, ts);
        if size.quantity.is_nan() || size.quantity <= 0.0 {
            self.reject(size.decision.reason.code());
            return Ok(());
        }
        let order = Order::market(slot, side, size.quantity, close, ts);
        let d = self.risk.validate(&order, true);
        if d.reason != Reason::Accepted {
            self.reject(d.reason.code());
            return Ok(());
        }
        let book = &mut self.books[s];
        book.pending = Pending::Enter(side, size.quantity);
        book.stop_dist = stop_dist;
        book.take_dist = take_dist;
        Ok(())
    }

    #[inline(always)]
    fn apply(&mut self, fill: &Fill, reason: FillReason) -> CoreResult<()> {
        self.risk.on_fill(fill)?;
        self.acc.push_fill(fill.notional(), fill.fees, fill.slippage_cost);
        if R::RECORDS {
            self.journal.fill(fill, reason);
        }
        Ok(())
    }

    /// Fills an accepted entry at this bar's open.
    #[inline(always)]
    fn enter(&mut self, s: usize, side: Side, qty: f64, b: &BarQuote) -> CoreResult<()> {
        let slot = s as u32;
        let order = Order::market(slot, side, qty, b.open, b.ts);
        let fill = match self.setup.model.fill(&self.setup.instruments[s], &order, &MarketContext::Bar(*b)) {
            Ok(f) => f,
            Err(e) => {
                self.risk.on_cancel(slot, side, qty)?;
                self.reject(e.code());
                return Ok(());
            }
        };
        if fill.quantity < qty {
            self.risk.on_cancel(slot, side, qty - fill.quantity)?;
        }
        self.apply(&fill, FillReason::Entry)?;
        let sign = side.sign();
        let book = &mut self.books[s];
        book.qty = sign * fill.quantity;
        book.entry_ts = fill.ts;
        book.entry_px = fill.price;
        book.entry_qty = book.qty;
        book.entry_bar = book.bars_seen;
        book.fees = fill.fees;
        book.slippage = fill.slippage_cost;
        book.exit_value = 0.0;
        book.exit_qty = 0.0;
        book.held = 0;
        let stop_dist = match self.rules.stop {
            Exit::Percent(p) => p * fill.price,
            _ => book.stop_dist,
        };
        let take_dist = match self.rules.take {
            Exit::Percent(p) => p * fill.price,
            _ => book.take_dist,
        };
        book.stop = if self.rules.stop == Exit::None { f64::NAN } else { fill.price - sign * stop_dist };
        book.take = if self.rules.take == Exit::None { f64::NAN } else { fill.price + sign * take_dist };
        Ok(())
    }

    /// Exits the position of `s` (reduce-only, through the risk engine and the execution model).
    #[inline(always)]
    fn exit(&mut self, s: usize, reason: FillReason, ctx: MarketContext, order_type: OrderType, limit: f64) -> CoreResult<()> {
        let book = self.books[s];
        if book.qty == 0.0 {
            return Ok(());
        }
        let slot = s as u32;
        let side = if book.qty > 0.0 { Side::Sell } else { Side::Buy };
        let ts = match ctx {
            MarketContext::Bar(b) => b.ts,
            MarketContext::Quote(q) => q.ts,
        };
        let ref_price = match ctx {
            MarketContext::Bar(b) => b.open,
            MarketContext::Quote(q) => q.bid,
        };
        let mut order = if order_type == OrderType::Limit {
            Order::limit(slot, side, book.qty.abs(), limit, ts)
        } else {
            Order::market(slot, side, book.qty.abs(), ref_price, ts)
        };
        order.reduce_only = true;
        let d = self.risk.validate(&order, true);
        if d.reason != Reason::Accepted {
            self.reject(d.reason.code());
            return Ok(());
        }
        let fill = match self.setup.model.fill(&self.setup.instruments[s], &order, &ctx) {
            Ok(f) => f,
            Err(e) => {
                self.risk.on_cancel(slot, side, order.quantity)?;
                if order_type == OrderType::Market {
                    self.reject(e.code());
                }
                return Ok(());
            }
        };
        if fill.quantity < order.quantity {
            self.risk.on_cancel(slot, side, order.quantity - fill.quantity)?;
        }
        self.apply(&fill, reason)?;
        let book = &mut self.books[s];
        book.qty += side.sign() * fill.quantity;
        if book.qty.abs() < 1e-12 {
            book.qty = 0.0;
        }
        book.fees += fill.fees;
        book.slippage += fill.slippage_cost;
        book.exit_value += fill.price * fill.quantity;
        book.exit_qty += fill.quantity;
        if book.qty != 0.0 {
            // a partial exit (participation cap): the rest goes at the next open
            book.pending = Pending::Exit(reason);
            return Ok(());
        }
        let exit_px = book.exit_value / book.exit_qty;
        let trade = Trade {
            instrument: slot,
            quantity: book.entry_qty,
            entry_ts: book.entry_ts,
            entry_price: book.entry_px,
            exit_ts: fill.ts,
            exit_price: exit_px,
            pnl: (exit_px - book.entry_px) * book.entry_qty * book.mult - book.fees,
            fees: book.fees,
            slippage: book.slippage,
            bars_held: book.bars_seen + 1 - book.entry_bar,
            reason,
        };
        book.stop = f64::NAN;
        book.take = f64::NAN;
        book.held = 0;
        self.acc.push_trade(trade.pnl);
        if R::RECORDS {
            self.journal.trade(&trade);
        }
        Ok(())
    }

    /// Closes the position of `s` at the close of its last bar `i` (a market order against that
    /// price), before that bar time's equity is recorded.
    #[inline(always)]
    fn close_at_end(&mut self, s: usize, i: usize) -> CoreResult<()> {
        let px = self.bars.close[i];
        let q = Quote { ts: self.bars.ts[i], bid: px, ask: px, bid_size: f64::NAN, ask_size: f64::NAN, volume: self.bars.volume[i] };
        self.exit(s, FillReason::End, MarketContext::Quote(q), OrderType::Market, f64::NAN)?;
        Ok(())
    }
}

/// Signals of several combinations (row-major, one row of `n` bars per combination) with their
/// rules, for [`sweep`].
#[derive(Debug, Clone, Copy)]
pub struct SweepChunk<'a> {
    /// Signal bits, `rules.len() x n`.
    pub bits: &'a [u8],
    /// Stop distances, `rules.len() x n`, when the stop is [`Exit::Series`].
    pub stop_distance: Option<&'a [f64]>,
    /// Take-profit distances, `rules.len() x n`, when the take-profit is [`Exit::Series`].
    pub take_distance: Option<&'a [f64]>,
    /// Rules of each combination.
    pub rules: &'a [Rules],
}

/// Runs every combination of `chunk` on `threads` threads (0: all cores) and returns their
/// metrics in order. Nothing per bar is kept. The first error stops the sweep.
pub fn sweep(setup: &Setup, bars: &Bars<'_>, chunk: &SweepChunk<'_>, threads: usize) -> CoreResult<Vec<Metrics>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;

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
                match run_in(setup, bars, &sig, &chunk.rules[j], &mut NoJournal, &mut scratch) {
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

/// Per-symbol instrument overrides in a backtest configuration (merged over the registry's).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstrumentOverride {
    /// Instrument kind.
    pub kind: Option<crate::instruments::InstrumentKind>,
    /// Contract multiplier.
    pub multiplier: Option<f64>,
    /// Tick size.
    pub tick_size: Option<f64>,
    /// Lot size.
    pub lot_size: Option<f64>,
    /// Initial margin per contract.
    pub initial_margin: Option<f64>,
}

/// The run configuration as JSON (what `quant_engine.research.BacktestConfig` sends).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigDoc {
    /// Starting cash.
    pub initial_cash: f64,
    /// Execution model configuration.
    pub execution: crate::execution::ExecutionConfig,
    /// Risk limits (None: the defaults).
    pub risk_limits: Option<RiskLimits>,
    /// Instrument overrides by symbol.
    pub instruments: BTreeMap<String, InstrumentOverride>,
    /// Resolve tickers the registry does not list as equities (x1); the registry's default.
    pub allow_unlisted_equities: bool,
    /// The month (`YYYYMM`) one-digit futures years are read against (the data's first month).
    pub reference_month: Option<u32>,
    /// Take short entries.
    pub allow_short: bool,
    /// Close open positions at the end of the data.
    pub close_at_end: bool,
}

impl Default for ConfigDoc {
    fn default() -> Self {
        ConfigDoc {
            initial_cash: 1_000_000.0,
            execution: crate::execution::ExecutionConfig::default(),
            risk_limits: None,
            instruments: BTreeMap::new(),
            allow_unlisted_equities: crate::instruments::DEFAULT_ALLOW_UNLISTED_EQUITIES,
            reference_month: None,
            allow_short: true,
            close_at_end: true,
        }
    }
}

impl Setup {
    /// Builds the setup for `symbols` (segment order) from a JSON configuration.
    pub fn from_json(symbols: &[String], json: &str, periods_per_year: f64) -> CoreResult<(Setup, ConfigDoc)> {
        let doc: ConfigDoc = serde_json::from_str(json).map_err(|e| CoreError::invalid("config", format!("bad backtest configuration: {e}")))?;
        if !(doc.initial_cash.is_finite() && doc.initial_cash > 0.0) {
            return Err(CoreError::invalid("initial_cash", format!("must be positive, got {}", doc.initial_cash)));
        }
        if !(periods_per_year.is_finite() && periods_per_year > 0.0) {
            return Err(CoreError::invalid("periods_per_year", format!("must be positive, got {periods_per_year}")));
        }
        let mut registry = crate::instruments::InstrumentRegistry::with_builtins();
        registry.set_allow_unlisted_equities(doc.allow_unlisted_equities);
        if let Some(m) = doc.reference_month {
            registry.set_reference_month(m)?;
        }
        let mut instruments = Vec::with_capacity(symbols.len());
        for sym in symbols {
            let mut inst = match doc.instruments.get(sym) {
                Some(o) if o.kind.is_some() && o.multiplier.is_some() => {
                    Instrument::new(sym.clone(), o.kind.unwrap_or(crate::instruments::InstrumentKind::Equity), o.multiplier.unwrap_or(1.0), o.tick_size.unwrap_or(0.01))
                }
                _ => registry.resolve(sym)?,
            };
            if let Some(o) = doc.instruments.get(sym) {
                if let Some(m) = o.multiplier {
                    inst.multiplier = m;
                }
                if let Some(t) = o.tick_size {
                    inst.tick_size = t;
                }
                if let Some(l) = o.lot_size {
                    inst.lot_size = l;
                }
                if o.initial_margin.is_some() {
                    inst.initial_margin = o.initial_margin;
                }
            }
            inst.validate()?;
            instruments.push(inst);
        }
        let model = ExecutionModel::new(doc.execution.clone())?;
        let limits = doc.risk_limits.clone().unwrap_or_default();
        limits.validate()?;
        Ok((Setup { instruments, model, limits, initial_cash: doc.initial_cash, periods_per_year }, doc))
    }
}
