//! Instruments: what one unit of a symbol is worth, and on which grids it trades.
//!
//! * [`Instrument`]: kind, multiplier (currency per one point of price per contract), tick size,
//!   lot size, currency, and option (underlying, expiry, strike, right) or future (root, contract
//!   month) details.
//! * [`symbols`]: parsers for OCC option symbols (`AAPL  240119C00190000`), Massive tickers
//!   (`O:AAPL230616C00150000`, `I:SPX`), ThetaData contracts (root, `YYYYMMDD`, strike in tenths
//!   of a cent, right) and futures contract codes (`ESZ4`, `ESZ24`, `/ES`).
//! * [`builtin`]: specs of the common US contracts (ES x50, NQ x20, CL x1000 ...).
//! * [`registry`]: [`InstrumentRegistry`] resolves a symbol to its spec: registered specs first,
//!   then the parsers. An unknown symbol is an error, never a silent multiplier of 1.

pub mod builtin;
pub mod registry;
pub mod symbols;

pub use registry::{InstrumentRegistry, DEFAULT_ALLOW_UNLISTED_EQUITIES};

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// What kind of instrument a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum InstrumentKind {
    /// A stock or an ETF (multiplier 1 share).
    Equity = 0,
    /// An equity or index option (usually x100).
    Option = 1,
    /// A futures contract (root multiplier, e.g. ES x50).
    Future = 2,
    /// An index: priced, never traded (orders on an index are rejected).
    Index = 3,
}

impl InstrumentKind {
    /// Every kind, in discriminant order.
    pub const ALL: [InstrumentKind; 4] = [InstrumentKind::Equity, InstrumentKind::Option, InstrumentKind::Future, InstrumentKind::Index];

    /// The lowercase name (`equity`, `option`, `future`, `index`).
    pub fn name(self) -> &'static str {
        match self {
            InstrumentKind::Equity => "equity",
            InstrumentKind::Option => "option",
            InstrumentKind::Future => "future",
            InstrumentKind::Index => "index",
        }
    }

    /// Parses a kind name (case-insensitive; `stock`/`etf` mean equity, `futures` future).
    pub fn parse(text: &str) -> CoreResult<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "equity" | "stock" | "etf" => Ok(InstrumentKind::Equity),
            "option" | "options" => Ok(InstrumentKind::Option),
            "future" | "futures" => Ok(InstrumentKind::Future),
            "index" => Ok(InstrumentKind::Index),
            other => Err(CoreError::invalid("kind", format!("'{other}': expected equity, option, future or index"))),
        }
    }
}

/// Call or put.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionRight {
    /// A call.
    Call,
    /// A put.
    Put,
}

impl OptionRight {
    /// `C` or `P`.
    pub fn letter(self) -> char {
        match self {
            OptionRight::Call => 'C',
            OptionRight::Put => 'P',
        }
    }

    /// Parses `C`/`P`/`call`/`put` (case-insensitive).
    pub fn parse(text: &str) -> CoreResult<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "c" | "call" => Ok(OptionRight::Call),
            "p" | "put" => Ok(OptionRight::Put),
            other => Err(CoreError::invalid("right", format!("'{other}': expected C, P, call or put"))),
        }
    }
}

/// Option contract terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionTerms {
    /// The underlying symbol (`SPX` for an `SPXW` option).
    pub underlying: String,
    /// The option root as listed (`SPXW`, `AAPL`).
    pub root: String,
    /// Expiration date as `YYYYMMDD`.
    pub expiry: u32,
    /// Strike in dollars.
    pub strike: f64,
    /// Call or put.
    pub right: OptionRight,
}

/// Futures contract terms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FutureTerms {
    /// The product root (`ES`, `MES`, `CL`).
    pub root: String,
    /// Contract month as `YYYYMM`, when the symbol names one (`ESZ4`); `None` for the root itself.
    pub contract_month: Option<u32>,
}

/// A tradable (or, for indexes, priced) instrument.
///
/// Prices are in the instrument's quote units (dollars per share, index points, cents per bushel
/// ...), and `multiplier` converts one point of price on one contract into `currency`: P&L of a
/// position is `(exit - entry) * quantity * multiplier`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    /// The canonical symbol (`AAPL`, `ESZ4`, `AAPL  240119C00190000`).
    pub symbol: String,
    /// Equity, option, future or index.
    pub kind: InstrumentKind,
    /// Currency per one point of price per contract (ES 50, SPY option 100, AAPL 1).
    pub multiplier: f64,
    /// Minimum price increment.
    pub tick_size: f64,
    /// Quantity grid (1 = whole shares/contracts; 0.0001 for fractional shares).
    pub lot_size: f64,
    /// ISO currency code.
    pub currency: String,
    /// Initial margin per contract in `currency`, when known (futures); `None` otherwise.
    pub initial_margin: Option<f64>,
    /// Option terms (kind `option`).
    pub option: Option<OptionTerms>,
    /// Futures terms (kind `future`).
    pub future: Option<FutureTerms>,
}

impl Instrument {
    /// An instrument with the given kind and grids, USD, no margin or contract terms.
    pub fn new(symbol: impl Into<String>, kind: InstrumentKind, multiplier: f64, tick_size: f64) -> Self {
        Instrument {
            symbol: symbol.into(),
            kind,
            multiplier,
            tick_size,
            lot_size: 1.0,
            currency: "USD".into(),
            initial_margin: None,
            option: None,
            future: None,
        }
    }

    /// A stock or ETF: x1, tick $0.01, whole shares.
    pub fn equity(symbol: impl Into<String>) -> Self {
        Instrument::new(symbol, InstrumentKind::Equity, 1.0, 0.01)
    }

    /// Checks the numbers: multiplier, tick and lot positive and finite, option/future terms
    /// consistent with the kind. Every constructor path of the registry runs this.
    pub fn validate(&self) -> CoreResult<()> {
        let name = &self.symbol;
        if name.trim().is_empty() {
            return Err(CoreError::invalid("symbol", "empty symbol"));
        }
        let positive = |field: &'static str, v: f64| -> CoreResult<()> {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(CoreError::invalid(field, format!("{name}: {field} must be positive and finite, got {v}")))
            }
        };
        positive("multiplier", self.multiplier)?;
        positive("tick_size", self.tick_size)?;
        positive("lot_size", self.lot_size)?;
        if let Some(m) = self.initial_margin {
            positive("initial_margin", m)?;
        }
        if self.currency.len() != 3 || !self.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CoreError::invalid("currency", format!("{name}: '{}' is not an ISO code", self.currency)));
        }
        let kind = self.kind.name();
        match self.kind {
            InstrumentKind::Option => {
                let o = self
                    .option
                    .as_ref()
                    .ok_or_else(|| CoreError::invalid("option", format!("{name}: an option needs its terms (underlying, expiry, strike, right)")))?;
                positive("strike", o.strike)?;
                symbols::check_date(o.expiry)?;
            }
            _ if self.option.is_some() => return Err(CoreError::invalid("option", format!("{name}: option terms on a {kind}"))),
            _ => {}
        }
        if self.future.is_some() && self.kind != InstrumentKind::Future {
            return Err(CoreError::invalid("future", format!("{name}: future terms on a {kind}")));
        }
        Ok(())
    }

    /// Whether orders on this instrument can be placed (every kind but `index`).
    pub fn is_tradable(&self) -> bool {
        self.kind != InstrumentKind::Index
    }

    /// Notional of `quantity` contracts at `price`: `quantity * price * multiplier`.
    #[inline]
    pub fn notional(&self, quantity: f64, price: f64) -> f64 {
        quantity * price * self.multiplier
    }
}
