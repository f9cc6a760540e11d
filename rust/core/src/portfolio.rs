//! The portfolio ledger: positions, cost basis, realized and unrealized P&L with multipliers,
//! cash, fees, slippage and the equity curve.
//!
//! Accounting:
//! * Every fill moves cash by `-signed_quantity * price * multiplier - fees` (a buy of 1 ES at
//!   4500 moves cash by -225,000 minus fees; the position is then worth +225,000 at that mark, so
//!   equity changes only by fees). For futures this is a cash-equivalent ledger: equity and P&L
//!   are right, `cash` is not the broker's margin cash.
//! * `equity = cash + sum(position * mark * multiplier)`; the mark is the last price given to
//!   [`Portfolio::mark`] or, before any mark, the last fill price.
//! * Realized P&L is booked when a fill reduces a position, against the cost basis:
//!   [`CostBasis::AverageCost`] (default; the basis is the quantity-weighted average entry price,
//!   unchanged by reductions) or [`CostBasis::Fifo`] (reductions close the oldest lots first).
//!   Both give the same realized P&L once a position is flat; they differ on partial exits.
//! * Realized P&L is gross of fees; fees and slippage are accumulated separately, so a round trip
//!   nets `realized - fees`, where `realized = (exit - entry) * qty * multiplier` on fill prices,
//!   which equals `(exit_base - entry_base) * qty * multiplier - slippage_cost` on base prices.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::order::Fill;

/// How realized P&L is measured on partial exits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostBasis {
    /// Quantity-weighted average entry price.
    #[default]
    AverageCost,
    /// First in, first out lots.
    Fifo,
}

impl CostBasis {
    /// Parses `average_cost`/`average`/`avg` or `fifo`.
    pub fn parse(text: &str) -> CoreResult<CostBasis> {
        match text.trim().to_ascii_lowercase().as_str() {
            "average_cost" | "average" | "avg" => Ok(CostBasis::AverageCost),
            "fifo" => Ok(CostBasis::Fifo),
            other => Err(CoreError::invalid("cost_basis", format!("'{other}': expected average_cost or fifo"))),
        }
    }

    /// `average_cost` or `fifo`.
    pub fn name(self) -> &'static str {
        match self {
            CostBasis::AverageCost => "average_cost",
            CostBasis::Fifo => "fifo",
        }
    }
}

/// One open lot (FIFO): signed quantity and entry price.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Lot {
    /// Signed quantity (+ long).
    pub quantity: f64,
    /// Entry price.
    pub price: f64,
}

/// One instrument's position in the ledger.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Position {
    /// Signed quantity (+ long).
    pub quantity: f64,
    /// Average entry price of the open quantity (0 when flat).
    pub avg_price: f64,
    /// Open lots, oldest first (FIFO basis only).
    pub lots: VecDeque<Lot>,
    /// Realized P&L, gross of fees.
    pub realized: f64,
    /// Fees paid.
    pub fees: f64,
    /// Slippage cost paid.
    pub slippage: f64,
    /// Last mark (or fill) price; NaN before any.
    #[serde(with = "crate::serde_f64::nan_as_null")]
    pub mark: f64,
    /// Contract multiplier.
    pub multiplier: f64,
    /// Fills applied.
    pub fills: u64,
}

impl Position {
    fn new(multiplier: f64) -> Self {
        Position { mark: f64::NAN, multiplier, ..Default::default() }
    }

    /// Unrealized P&L at the mark: `(mark - entry) * quantity * multiplier` over open lots.
    pub fn unrealized(&self) -> f64 {
        if self.quantity == 0.0 || self.mark.is_nan() {
            return 0.0;
        }
        if self.lots.is_empty() {
            (self.mark - self.avg_price) * self.quantity * self.multiplier
        } else {
            self.lots.iter().map(|l| (self.mark - l.price) * l.quantity * self.multiplier).sum()
        }
    }

    /// Market value `quantity * mark * multiplier` (0 before any mark).
    pub fn market_value(&self) -> f64 {
        if self.quantity == 0.0 || self.mark.is_nan() {
            0.0
        } else {
            self.quantity * self.mark * self.multiplier
        }
    }
}

/// One point of the equity curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EquityPoint {
    /// UTC ns.
    pub ts: i64,
    /// Equity at `ts`.
    pub equity: f64,
    /// Cash at `ts`.
    pub cash: f64,
    /// Gross exposure `sum(|quantity| * mark * multiplier)` at `ts`.
    pub gross_exposure: f64,
}

/// The ledger. Instruments are slots `0..n` (see [`crate::order`]); each slot's multiplier is
/// fixed when the slot is added.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    basis: CostBasis,
    initial_cash: f64,
    cash: f64,
    positions: Vec<Position>,
    curve: Vec<EquityPoint>,
}

impl Portfolio {
    /// A ledger with `cash` and one slot per multiplier.
    pub fn new(cash: f64, basis: CostBasis, multipliers: &[f64]) -> CoreResult<Self> {
        if !cash.is_finite() {
            return Err(CoreError::invalid("cash", format!("must be finite, got {cash}")));
        }
        let mut p = Portfolio { basis, initial_cash: cash, cash, positions: Vec::new(), curve: Vec::new() };
        for &m in multipliers {
            p.add_instrument(m)?;
        }
        Ok(p)
    }

    /// Adds a slot with `multiplier`; returns its index.
    pub fn add_instrument(&mut self, multiplier: f64) -> CoreResult<u32> {
        if !(multiplier.is_finite() && multiplier > 0.0) {
            return Err(CoreError::invalid("multiplier", format!("must be positive and finite, got {multiplier}")));
        }
        self.positions.push(Position::new(multiplier));
        Ok(self.positions.len() as u32 - 1)
    }

    /// The cost basis method.
    pub fn basis(&self) -> CostBasis {
        self.basis
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Applies a fill; returns the realized P&L it booked (gross of fees).
    ///
    /// Errors (nothing is changed): unknown slot, a multiplier different from the slot's (a fill
    /// priced with the wrong contract size), non-finite or non-positive quantity or price,
    /// non-finite or negative fees.
    #[inline(always)]
    pub fn apply(&mut self, fill: &Fill) -> CoreResult<f64> {
        let n = self.positions.len();
        let basis = self.basis;
        let pos = self
            .positions
            .get_mut(fill.instrument as usize)
            .ok_or_else(|| CoreError::invalid("fill", format!("instrument slot {} out of range (0..{n})", fill.instrument)))?;
        if fill.multiplier != pos.multiplier {
            return Err(CoreError::invalid("fill", format!("multiplier {} differs from the instrument's {}", fill.multiplier, pos.multiplier)));
        }
        if !(fill.quantity.is_finite() && fill.quantity > 0.0 && fill.price.is_finite() && fill.price > 0.0) {
            return Err(CoreError::invalid("fill", format!("quantity {} and price {} must be positive", fill.quantity, fill.price)));
        }
        if !(fill.fees.is_finite() && fill.fees >= 0.0 && fill.slippage_cost.is_finite()) {
            return Err(CoreError::invalid("fill", format!("fees {} / slippage {} invalid", fill.fees, fill.slippage_cost)));
        }
        let m = pos.multiplier;
        let dq = fill.signed_quantity();
        let realized = match basis {
            CostBasis::AverageCost => apply_average(pos, dq, fill.price, m),
            CostBasis::Fifo => apply_fifo(pos, dq, fill.price, m),
        };
        pos.realized += realized;
        pos.fees += fill.fees;
        pos.slippage += fill.slippage_cost;
        pos.mark = fill.price;
        pos.fills += 1;
        self.cash += -dq * fill.price * m - fill.fees;
        Ok(realized)
    }

    /// Sets the mark price of a slot.
    #[inline(always)]
    pub fn mark(&mut self, slot: u32, price: f64) -> CoreResult<()> {
        if !(price.is_finite() && price > 0.0) {
            return Err(CoreError::invalid("price", format!("mark must be positive and finite, got {price}")));
        }
        let n = self.positions.len();
        let pos = self.positions.get_mut(slot as usize).ok_or_else(|| CoreError::invalid("slot", format!("{slot} out of range (0..{n})")))?;
        pos.mark = price;
        Ok(())
    }

    /// Records a point of the equity curve at `ts` and returns the equity.
    pub fn record(&mut self, ts: i64) -> f64 {
        let equity = self.equity();
        self.curve.push(EquityPoint { ts, equity, cash: self.cash, gross_exposure: self.gross_exposure() });
        equity
    }

    /// A slot's position.
    pub fn position(&self, slot: u32) -> Option<&Position> {
        self.positions.get(slot as usize)
    }

    /// Every slot's position.
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }

    /// Cash.
    pub fn cash(&self) -> f64 {
        self.cash
    }

    /// Starting cash.
    pub fn initial_cash(&self) -> f64 {
        self.initial_cash
    }

    /// `cash + sum(market values)`.
    pub fn equity(&self) -> f64 {
        self.cash + self.positions.iter().map(Position::market_value).sum::<f64>()
    }

    /// `sum(|market value|)`.
    pub fn gross_exposure(&self) -> f64 {
        self.positions.iter().map(|p| p.market_value().abs()).sum()
    }

    /// Realized P&L over all slots (gross of fees).
    pub fn realized(&self) -> f64 {
        self.positions.iter().map(|p| p.realized).sum()
    }

    /// Unrealized P&L over all slots.
    pub fn unrealized(&self) -> f64 {
        self.positions.iter().map(Position::unrealized).sum()
    }

    /// Fees over all slots.
    pub fn fees(&self) -> f64 {
        self.positions.iter().map(|p| p.fees).sum()
    }

    /// Slippage cost over all slots.
    pub fn slippage(&self) -> f64 {
        self.positions.iter().map(|p| p.slippage).sum()
    }

    /// The recorded equity curve.
    pub fn equity_curve(&self) -> &[EquityPoint] {
        &self.curve
    }
}

/// Average cost: adding keeps a weighted average; reducing books `(price - avg) * closed * m`.
#[inline(always)]
fn apply_average(pos: &mut Position, dq: f64, price: f64, m: f64) -> f64 {
    let q = pos.quantity;
    if q == 0.0 || q.signum() == dq.signum() {
        let new_q = q + dq;
        pos.avg_price = if q == 0.0 { price } else { (pos.avg_price * q + price * dq) / new_q };
        pos.quantity = new_q;
        return 0.0;
    }
    let closed = dq.abs().min(q.abs());
    let realized = (price - pos.avg_price) * closed * q.signum() * m;
    let new_q = q + dq;
    if new_q == 0.0 {
        pos.quantity = 0.0;
        pos.avg_price = 0.0;
    } else if new_q.signum() == q.signum() {
        pos.quantity = new_q;
    } else {
        pos.quantity = new_q;
        pos.avg_price = price;
    }
    realized
}

/// FIFO: reductions consume the oldest lots first; a flip opens a new lot at `price`.
fn apply_fifo(pos: &mut Position, dq: f64, price: f64, m: f64) -> f64 {
    let mut realized = 0.0;
    let mut rest = dq;
    while rest != 0.0 {
        match pos.lots.front_mut() {
            Some(lot) if lot.quantity.signum() != rest.signum() => {
                let closed = rest.abs().min(lot.quantity.abs());
                realized += (price - lot.price) * closed * lot.quantity.signum() * m;
                if closed == lot.quantity.abs() {
                    rest += lot.quantity;
                    pos.lots.pop_front();
                } else {
                    lot.quantity += closed * rest.signum();
                    rest = 0.0;
                }
            }
            _ => {
                pos.lots.push_back(Lot { quantity: rest, price });
                rest = 0.0;
            }
        }
    }
    pos.quantity = pos.lots.iter().map(|l| l.quantity).sum();
    let abs: f64 = pos.lots.iter().map(|l| l.quantity.abs()).sum();
    pos.avg_price = if abs == 0.0 { 0.0 } else { pos.lots.iter().map(|l| l.price * l.quantity.abs()).sum::<f64>() / abs };
    if pos.lots.is_empty() {
        pos.quantity = 0.0;
    }
    realized
}
