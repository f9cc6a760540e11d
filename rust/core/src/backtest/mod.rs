//! The backtest: a batch driver of the trading [`Stepper`](crate::trading::Stepper) over arrays
//! of bars. Signals in; fills, trades, equity and metrics out.
//!
//! Every trading decision (fill timing, sizing and limits, stops, time stops, opposite signals,
//! the end of data, shared cash) is the stepper's: see [`crate::trading`] for the rules. This
//! module only walks the bars of every instrument in time order, hands each bar and its signal
//! to the stepper, and records equity once per distinct bar time (cash plus every position at
//! its instrument's latest close).
//!
//! * [`run`]: one combination ([`run::run`], [`run::run_in`], [`run::run_stepped`]);
//! * [`sweep`]: many combinations on threads, metrics only or with the return series;
//! * [`config`]: the JSON run configuration and the [`Setup`] built from it.

use std::collections::BTreeMap;

use crate::error::{CoreError, CoreResult};
use crate::execution::BarQuote;
use crate::metrics::Metrics;

pub mod config;
pub mod run;
pub mod sweep;

pub use config::{ConfigDoc, InstrumentOverride};
pub use run::{run, run_in, run_stepped, Scratch};
pub use sweep::{sweep, sweep_returns, SweepChunk, SweepReturns};

pub use crate::trading::{
    EquityOnly, Exit, FillReason, Journal, NoJournal, Recorder, Rules, Setup, Sizing, Trade, ENTRY_LONG, ENTRY_SHORT, EXIT_LONG, EXIT_SHORT,
};

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
        for (len, name) in
            [(self.open.len(), "open"), (self.high.len(), "high"), (self.low.len(), "low"), (self.close.len(), "close"), (self.volume.len(), "volume")]
        {
            if len != n {
                return Err(CoreError::invalid(name, format!("has {len} rows; the bars have {n}")));
            }
        }
        let ok =
            self.offsets.len() >= 2 && self.offsets[0] == 0 && *self.offsets.last().unwrap_or(&-1) == n as i64 && self.offsets.windows(2).all(|w| w[0] <= w[1]);
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

    /// Bar `i`.
    #[inline(always)]
    pub fn quote(&self, i: usize) -> BarQuote {
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

impl Signals<'_> {
    /// The signal of bar `i`.
    #[inline(always)]
    pub fn at(&self, i: usize) -> crate::trading::BarSignal {
        crate::trading::BarSignal {
            bits: self.bits[i],
            stop_distance: self.stop_distance.map_or(f64::NAN, |d| d[i]),
            take_distance: self.take_distance.map_or(f64::NAN, |d| d[i]),
        }
    }
}

/// The result of one run: metrics and rejected orders by reason code.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The metrics.
    pub metrics: Metrics,
    /// Rejected orders (risk reasons and execution-model reasons) by code.
    pub rejections: BTreeMap<&'static str, u64>,
}
