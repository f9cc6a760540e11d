//! quant-engine core: pure Rust, no Python.
//!
//! * [`time`]: durations, timestamp range, bar alignment (fixed grid or local session days);
//! * [`tick`]: tick validation and reason-coded rejection counters;
//! * [`bar`]: the bar accumulator and columnar bar buffers;
//! * [`aggregator`]: one symbol's streaming tick-to-bar state machine (watermark, lateness);
//! * [`window`]: the rolling window of the last N bars;
//! * [`engine`]: the multi-symbol live engine and the batch aggregator;
//! * [`metrics`]: one-pass performance metrics of backtests and return series;
//! * [`backtest`]: the backtest fill loop (signals in; fills, trades, equity, metrics out);
//! * [`instruments`]: instrument specs, the registry, OCC/Massive/ThetaData/futures symbols;
//! * [`order`]: orders and fills;
//! * [`risk`]: pre-trade risk (limits, reason-coded decisions, the stateful engine, sizing);
//! * [`execution`]: the one execution model (quotes and bars, slippage, fees, batch fills);
//! * [`portfolio`]: the ledger (positions, cost basis, P&L with multipliers, equity curve).
//! * [`decode`]: vendor stream decoding (WebSocket frames to columnar trades and quotes).
#![warn(missing_docs)]

pub mod aggregator;
pub mod backtest;
pub mod bar;
pub mod cpu;
pub mod decode;
pub mod engine;
pub mod error;
pub mod execution;
pub mod instruments;
pub mod metrics;
pub mod order;
pub mod portfolio;
pub mod risk;
pub mod serde_f64;
pub mod tick;
pub mod time;
pub mod trading;
pub mod window;

pub use error::{CoreError, CoreResult};
