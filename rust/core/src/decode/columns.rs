//! Columnar buffers the decoders append to (one push per event, no allocation per event) and
//! the symbol interner that gives every symbol a dense `u32` code.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: a fast hash for the short symbol keys (no untrusted-key flooding concern: the keys
/// come from the configured vendor).
#[derive(Default, Clone, Copy)]
pub struct Fnv(u64);

impl Hasher for Fnv {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for &b in bytes {
            h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Symbol names and their dense codes, in first-seen order.
#[derive(Debug, Clone, Default)]
pub struct SymbolInterner {
    names: Vec<String>,
    index: HashMap<Box<[u8]>, u32, BuildHasherDefault<Fnv>>,
    /// The code of the most recent lookup (streams repeat the same symbol often).
    last: Option<u32>,
}

impl SymbolInterner {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The code of `name` (bytes of a UTF-8 symbol), registering it on first sight.
    #[inline]
    pub fn intern(&mut self, name: &[u8]) -> u32 {
        if let Some(c) = self.last {
            if self.names[c as usize].as_bytes() == name {
                return c;
            }
        }
        let code = match self.index.get(name) {
            Some(&c) => c,
            None => {
                let c = self.names.len() as u32;
                self.names.push(String::from_utf8_lossy(name).into_owned());
                self.index.insert(name.into(), c);
                c
            }
        };
        self.last = Some(code);
        code
    }

    /// The code of `name` if known.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name.as_bytes()).copied()
    }

    /// All names, by code.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether no symbol was seen.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Trade ticks in columns. Optional integer fields use `i64::MIN` / `i32::MIN` for "absent".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeColumns {
    /// UTC ns.
    pub ts: Vec<i64>,
    /// Symbol codes of the decoder's interner.
    pub symbol: Vec<u32>,
    /// Price.
    pub price: Vec<f64>,
    /// Size (shares or contracts).
    pub size: Vec<f64>,
    /// Vendor sequence number (`i64::MIN` when absent).
    pub sequence: Vec<i64>,
    /// Exchange code (`i32::MIN` when absent).
    pub exchange: Vec<i32>,
    /// Condition code (`i32::MIN` when absent).
    pub condition: Vec<i32>,
}

/// "No value" marker of the `i64` trade columns.
pub const NO_I64: i64 = i64::MIN;
/// "No value" marker of the `i32` columns.
pub const NO_I32: i32 = i32::MIN;

/// One trade, as the decoders produce it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trade {
    /// UTC ns.
    pub ts: i64,
    /// Symbol code.
    pub symbol: u32,
    /// Price.
    pub price: f64,
    /// Size.
    pub size: f64,
    /// Sequence (`NO_I64` when absent).
    pub sequence: i64,
    /// Exchange (`NO_I32` when absent).
    pub exchange: i32,
    /// Condition (`NO_I32` when absent).
    pub condition: i32,
}

impl TradeColumns {
    /// Empty columns with room for `n` trades.
    pub fn with_capacity(n: usize) -> Self {
        TradeColumns {
            ts: Vec::with_capacity(n),
            symbol: Vec::with_capacity(n),
            price: Vec::with_capacity(n),
            size: Vec::with_capacity(n),
            sequence: Vec::with_capacity(n),
            exchange: Vec::with_capacity(n),
            condition: Vec::with_capacity(n),
        }
    }

    /// Number of trades.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends one trade.
    #[inline]
    pub fn push(&mut self, t: Trade) {
        self.ts.push(t.ts);
        self.symbol.push(t.symbol);
        self.price.push(t.price);
        self.size.push(t.size);
        self.sequence.push(t.sequence);
        self.exchange.push(t.exchange);
        self.condition.push(t.condition);
    }

    /// The trade at row `i`.
    #[inline]
    pub fn get(&self, i: usize) -> Trade {
        Trade {
            ts: self.ts[i],
            symbol: self.symbol[i],
            price: self.price[i],
            size: self.size[i],
            sequence: self.sequence[i],
            exchange: self.exchange[i],
            condition: self.condition[i],
        }
    }

    /// Removes every row.
    pub fn clear(&mut self) {
        self.ts.clear();
        self.symbol.clear();
        self.price.clear();
        self.size.clear();
        self.sequence.clear();
        self.exchange.clear();
        self.condition.clear();
    }

    /// Removes and returns the first `n` rows.
    pub fn take_front(&mut self, n: usize) -> TradeColumns {
        let n = n.min(self.len());
        TradeColumns {
            ts: self.ts.drain(..n).collect(),
            symbol: self.symbol.drain(..n).collect(),
            price: self.price.drain(..n).collect(),
            size: self.size.drain(..n).collect(),
            sequence: self.sequence.drain(..n).collect(),
            exchange: self.exchange.drain(..n).collect(),
            condition: self.condition.drain(..n).collect(),
        }
    }

    /// Row indices sorted by `(ts, sequence)`, stable.
    pub fn time_order(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.len()).collect();
        idx.sort_by_key(|&i| (self.ts[i], self.sequence[i]));
        idx
    }
}

/// Quotes (top of book) in columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuoteColumns {
    /// UTC ns.
    pub ts: Vec<i64>,
    /// Symbol codes.
    pub symbol: Vec<u32>,
    /// Bid price.
    pub bid: Vec<f64>,
    /// Ask price.
    pub ask: Vec<f64>,
    /// Bid size.
    pub bid_size: Vec<f64>,
    /// Ask size.
    pub ask_size: Vec<f64>,
    /// Bid exchange (`NO_I32` when absent).
    pub bid_exchange: Vec<i32>,
    /// Ask exchange (`NO_I32` when absent).
    pub ask_exchange: Vec<i32>,
}

/// One quote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// UTC ns.
    pub ts: i64,
    /// Symbol code.
    pub symbol: u32,
    /// Bid price.
    pub bid: f64,
    /// Ask price.
    pub ask: f64,
    /// Bid size.
    pub bid_size: f64,
    /// Ask size.
    pub ask_size: f64,
    /// Bid exchange.
    pub bid_exchange: i32,
    /// Ask exchange.
    pub ask_exchange: i32,
}

impl QuoteColumns {
    /// Number of quotes.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends one quote.
    #[inline]
    pub fn push(&mut self, q: Quote) {
        self.ts.push(q.ts);
        self.symbol.push(q.symbol);
        self.bid.push(q.bid);
        self.ask.push(q.ask);
        self.bid_size.push(q.bid_size);
        self.ask_size.push(q.ask_size);
        self.bid_exchange.push(q.bid_exchange);
        self.ask_exchange.push(q.ask_exchange);
    }
}

/// Vendor aggregate bars (Massive `AM`/`A` events) in columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AggColumns {
    /// Symbol codes.
    pub symbol: Vec<u32>,
    /// Window start (UTC ns).
    pub start: Vec<i64>,
    /// Window end (UTC ns).
    pub end: Vec<i64>,
    /// Open.
    pub open: Vec<f64>,
    /// High.
    pub high: Vec<f64>,
    /// Low.
    pub low: Vec<f64>,
    /// Close.
    pub close: Vec<f64>,
    /// Volume.
    pub volume: Vec<f64>,
    /// Volume-weighted average price of the window.
    pub vwap: Vec<f64>,
    /// Trades in the window, estimated as `volume / average trade size` (0 when unknown).
    pub trades: Vec<i64>,
}

impl AggColumns {
    /// Number of bars.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }
}
