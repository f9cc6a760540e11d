//! Orders and fills: the plain values risk, execution and the portfolio exchange.
//!
//! Instruments are referred to by *slot*: the index of the instrument in the slice (or engine)
//! the caller registered it with. The risk engine, the execution model's batch form and the
//! portfolio all index instruments the same way, so a backtester registers its instruments once,
//! in one order, everywhere.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// Buy or sell. The discriminant is the sign of the position change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(i8)]
pub enum Side {
    /// Buy (+1).
    Buy = 1,
    /// Sell (-1).
    Sell = -1,
}

impl Side {
    /// +1.0 for buys, -1.0 for sells.
    #[inline(always)]
    pub fn sign(self) -> f64 {
        self as i8 as f64
    }

    /// From +1 / -1.
    #[inline(always)]
    pub fn from_sign(s: i8) -> Option<Side> {
        match s {
            1 => Some(Side::Buy),
            -1 => Some(Side::Sell),
            _ => None,
        }
    }

    /// Parses `buy`/`b`/`long`/`+1` and `sell`/`s`/`short`/`-1` (case-insensitive).
    pub fn parse(text: &str) -> CoreResult<Side> {
        match text.trim().to_ascii_lowercase().as_str() {
            "buy" | "b" | "long" | "1" | "+1" => Ok(Side::Buy),
            "sell" | "s" | "short" | "-1" => Ok(Side::Sell),
            other => Err(CoreError::invalid("side", format!("'{other}': expected buy or sell"))),
        }
    }

    /// `buy` or `sell`.
    pub fn name(self) -> &'static str {
        match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        }
    }
}

/// Market or limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum OrderType {
    /// Fill at the market (crosses the spread).
    Market = 0,
    /// Fill at the limit price or better.
    Limit = 1,
}

impl OrderType {
    /// Parses `market`/`mkt` and `limit`/`lmt` (case-insensitive).
    pub fn parse(text: &str) -> CoreResult<OrderType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "market" | "mkt" => Ok(OrderType::Market),
            "limit" | "lmt" => Ok(OrderType::Limit),
            other => Err(CoreError::invalid("order_type", format!("'{other}': expected market or limit"))),
        }
    }

    /// `market` or `limit`.
    pub fn name(self) -> &'static str {
        match self {
            OrderType::Market => "market",
            OrderType::Limit => "limit",
        }
    }
}

/// An order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Order {
    /// Instrument slot.
    pub instrument: u32,
    /// Buy or sell.
    pub side: Side,
    /// Contracts or shares, positive, on the instrument's lot grid.
    pub quantity: f64,
    /// Market or limit.
    pub order_type: OrderType,
    /// The limit price for limit orders; for market orders the reference (arrival) price that
    /// risk values the order at.
    pub price: f64,
    /// Submission time, UTC ns.
    pub ts: i64,
    /// Only reduce the position (never increase or flip it).
    pub reduce_only: bool,
}

impl Order {
    /// A market order with reference price `price`.
    pub fn market(instrument: u32, side: Side, quantity: f64, price: f64, ts: i64) -> Order {
        Order { instrument, side, quantity, order_type: OrderType::Market, price, ts, reduce_only: false }
    }

    /// A limit order at `price`.
    pub fn limit(instrument: u32, side: Side, quantity: f64, price: f64, ts: i64) -> Order {
        Order { instrument, side, quantity, order_type: OrderType::Limit, price, ts, reduce_only: false }
    }
}

/// A fill (an execution of all or part of an order).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    /// Instrument slot.
    pub instrument: u32,
    /// Buy or sell.
    pub side: Side,
    /// Filled contracts or shares (positive).
    pub quantity: f64,
    /// Execution price, slippage included.
    pub price: f64,
    /// The price before slippage: the touch (ask for buys, bid for sells), the bar open (plus
    /// half the assumed spread), or the limit price of a passive fill.
    pub base_price: f64,
    /// Commissions and fees, in currency (positive = paid).
    pub fees: f64,
    /// `(price - base_price) * side * quantity * multiplier`, in currency (positive = cost).
    pub slippage_cost: f64,
    /// The multiplier used for every currency amount of this fill.
    pub multiplier: f64,
    /// Execution time, UTC ns.
    pub ts: i64,
}

impl Fill {
    /// Signed quantity (+ for buys).
    #[inline]
    pub fn signed_quantity(&self) -> f64 {
        self.side.sign() * self.quantity
    }

    /// Traded notional `quantity * price * multiplier`.
    #[inline]
    pub fn notional(&self) -> f64 {
        self.quantity * self.price * self.multiplier
    }
}

/// The instrument of each order in a batch.
#[derive(Debug, Clone, Copy)]
pub enum InstrumentColumn<'a> {
    /// One slot per row (an unknown slot is rejected as `unknown_instrument`).
    Slots(&'a [u32]),
    /// The same slot for every row.
    One(u32),
    /// Dictionary keys per row and a key-to-slot table (an Arrow dictionary column read
    /// without materializing slots; negative or out-of-table keys are unknown instruments).
    Keys(&'a [i32], &'a [u32]),
}

impl InstrumentColumn<'_> {
    /// Rows, when the column has its own length (`None` for [`InstrumentColumn::One`]).
    pub fn len(&self) -> Option<usize> {
        match self {
            InstrumentColumn::Slots(s) => Some(s.len()),
            InstrumentColumn::One(_) => None,
            InstrumentColumn::Keys(k, _) => Some(k.len()),
        }
    }

    /// Whether the column has no rows of its own.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl InstrumentColumn<'_> {
    /// The slot of row `i` (`u32::MAX`, an unknown slot, for keys outside the table).
    #[inline(always)]
    pub fn slot(&self, i: usize) -> u32 {
        match self {
            InstrumentColumn::Slots(s) => s[i],
            InstrumentColumn::One(s) => *s,
            InstrumentColumn::Keys(k, t) => t.get(k[i] as u32 as usize).copied().unwrap_or(u32::MAX),
        }
    }
}
