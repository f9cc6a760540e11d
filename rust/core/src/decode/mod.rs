//! Vendor stream decoding on the live path: raw WebSocket bytes in, columnar trades, quotes and
//! aggregate bars out, with no allocation per event beyond the output columns.
//!
//! * [`ws`]: RFC 6455 client-side framing (unmasked server frames, fragments, control frames);
//! * [`theta`] / [`massive`]: the vendors' JSON messages (`serde_json`, borrowed strings);
//! * [`nytime`]: New York wall-clock (`date`, `ms_of_day`) to UTC ns, cached per day;
//! * [`sequence`]: duplicate suppression by `(symbol, sequence)`;
//! * [`stream`]: [`StreamDecoder`], which ties them together and keeps the gap bookkeeping used
//!   to backfill after a disconnect;
//! * [`json`]: the zero-copy cursor of the fast parsing path (`serde_json` is the reference);
//! * [`columns`]: the column buffers and the symbol interner.

pub mod columns;
pub mod json;
pub mod massive;
pub mod nytime;
pub mod sequence;
pub mod stream;
pub mod theta;
pub mod ws;

pub use stream::{DecodeStats, Gap, GapError, StreamDecoder, Vendor};
