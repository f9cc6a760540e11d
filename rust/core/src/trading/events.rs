//! What the stepper emits: fills (with their reason) and closed trades, through a [`Recorder`].

use crate::backtest::Bars;
use crate::order::Fill;
use crate::trading::rules::FillReason;

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

/// Receives what a run produces. [`NoJournal`] keeps nothing (sweeps); [`Journal`] keeps all;
/// [`EquityOnly`] keeps the equity curve (the return series of a sweep).
pub trait Recorder {
    /// Whether fills and trades are recorded (lets the loop skip work).
    const RECORDS: bool;
    /// Whether the batch driver keeps the equity curve for [`Recorder::equity`].
    const EQUITY: bool = Self::RECORDS;
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

/// Keeps only the equity curve (no fills, no trades): what a sweep needs for the per-period
/// return series of every combination.
#[derive(Debug, Default, Clone)]
pub struct EquityOnly {
    /// Equity curve times (empty after a run on a single instrument: see [`Journal::equity_ts`]).
    pub equity_ts: Vec<i64>,
    /// Equity.
    pub equity: Vec<f64>,
}

impl Recorder for EquityOnly {
    const RECORDS: bool = false;
    const EQUITY: bool = true;
    #[inline(always)]
    fn fill(&mut self, _: &Fill, _: FillReason) {}
    #[inline(always)]
    fn trade(&mut self, _: &Trade) {}
    fn equity(&mut self, ts: Vec<i64>, equity: Vec<f64>) {
        self.equity_ts = ts;
        self.equity = equity;
    }
}
