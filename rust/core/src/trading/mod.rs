//! The trading kernel: the one place where trading decisions are made.
//!
//! [`Stepper`] is the per-bar state machine of one account. It owns what signals cannot know:
//! positions, pending orders, stops, bars held, the [`RiskEngine`](crate::risk::RiskEngine) and
//! its portfolio (the ledger). The backtest ([`crate::backtest`]) is a batch driver of it over
//! arrays of bars; a live runner (`quant_engine.trading.LiveStrategy`) steps it one bar at a time.
//! Both run this code, so research and paper trading fill the same way.
//!
//! Signals come from the strategy plan (bit 1 entry long, 2 exit long, 4 entry short, 8 exit
//! short, one byte per bar: [`BarSignal`]).
//!
//! * **Fill timing.** A rule true at the close of bar t becomes an order that fills at the open of
//!   the instrument's next bar (t+1) through the one
//!   [`ExecutionModel`](crate::execution::ExecutionModel) (spread, slippage, impact, fees,
//!   multiplier). A signal on an instrument's last bar never fills.
//! * **Sizing and limits.** Entries are sized at the signal bar's close with the Rust sizing
//!   (`RiskEngine::size_order`: risk per trade, target notional, fixed; clamped by every limit,
//!   rounded down to lots) and validated with commit (`RiskEngine::validate`); exits are
//!   reduce-only orders through the same engine. A size of zero or a rejection is counted by
//!   reason, never an order of 0. Every fill updates the engine (`RiskEngine::on_fill`); open
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
//!   Equity is cash plus every position at its instrument's latest close.

pub mod events;
pub mod rules;
pub mod spec;
pub mod stepper;

pub use events::{EquityOnly, Journal, NoJournal, Recorder, Trade};
pub use rules::{BarSignal, Exit, FillReason, Rules, Sizing, ENTRY_LONG, ENTRY_SHORT, EXIT_LONG, EXIT_SHORT};
pub use spec::{ExitKind, RuleColumns, RunSpec, SizingKind};
pub use stepper::{Pending, Position, Setup, Stepper};
