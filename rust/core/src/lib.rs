//! quant-engine core: pure Rust, no Python.
//!
//! * [`time`]: durations, timestamp range, bar alignment (fixed grid or local session days);
//! * [`tick`]: tick validation and reason-coded rejection counters;
//! * [`bar`]: the bar accumulator and columnar bar buffers;
//! * [`aggregator`]: one symbol's streaming tick-to-bar state machine (watermark, lateness);
//! * [`window`]: the rolling window of the last N bars;
//! * [`engine`]: the multi-symbol live engine and the batch aggregator;
//! * [`decode`]: vendor stream decoding (WebSocket frames to columnar trades and quotes).
#![warn(missing_docs)]

pub mod aggregator;
pub mod bar;
pub mod cpu;
pub mod decode;
pub mod engine;
pub mod error;
pub mod tick;
pub mod time;
pub mod window;

pub use error::{CoreError, CoreResult};
