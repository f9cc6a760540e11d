//! Position sizing: a raw size from the method, clamped by every limit, rounded down to the lot
//! grid, and proved against the engine's own checks. A size that rounds to zero is a rejection
//! with a reason, never an order of 0.

use super::engine::RiskEngine;
use super::reason::{Decision, Reason};
use crate::order::{OrderType, Side};

/// How to size an order.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizingMethod {
    /// Risk a fraction of equity between entry and stop:
    /// `equity * risk_fraction / (stop_distance * multiplier)`.
    RiskPerTrade {
        /// Fraction of equity to risk (0.01 = 1%).
        risk_fraction: f64,
        /// Distance from entry to stop, in price points (positive).
        stop_distance: f64,
        /// Equity to size from; `None` uses the engine's equity.
        equity: Option<f64>,
    },
    /// Reach a target notional: `notional / (price * multiplier)`.
    TargetNotional {
        /// Target notional in currency (positive).
        notional: f64,
    },
    /// A fixed quantity (still clamped and rounded).
    Fixed {
        /// Quantity.
        quantity: f64,
    },
}

/// The outcome of sizing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SizeResult {
    /// Whole lots to order (0 when rejected).
    pub quantity: f64,
    /// The method's unclamped, unrounded size.
    pub raw: f64,
    /// The constraint that bound the size (`method` when none of the limits did).
    pub binding: &'static str,
    /// Accepted, or why there is no order (the check that fails, or `size_rounds_to_zero`).
    pub decision: Decision,
}

impl RiskEngine {
    /// Sizes an order on `slot` at `price` (the entry or limit price), clamped by the per-order
    /// quantity and notional caps, the position limit, gross exposure and buying power, rounded
    /// down to whole lots. The size is then run through the engine's checks (without committing):
    /// the returned quantity is one `validate` would accept at `ts` with the current state.
    #[inline(always)]
    pub fn size_order(&self, slot: u32, side: Side, price: f64, method: SizingMethod, order_type: OrderType, ts: i64) -> SizeResult {
        const NA: f64 = f64::NAN;
        let bad = |raw: f64, v: f64| SizeResult { quantity: 0.0, raw, binding: "method", decision: Decision::reject(Reason::InvalidSizingInput, v, NA) };
        let Some(s) = self.slots.get(slot as usize) else {
            return SizeResult { quantity: 0.0, raw: NA, binding: "method", decision: Decision::reject(Reason::UnknownInstrument, NA, NA) };
        };
        if !(price.is_finite() && price > 0.0) {
            return bad(NA, price);
        }
        let m = s.multiplier();
        let raw = match method {
            SizingMethod::RiskPerTrade { risk_fraction, stop_distance, equity } => {
                let eq = equity.unwrap_or(self.equity);
                if !(risk_fraction.is_finite() && risk_fraction > 0.0 && risk_fraction <= 1.0) {
                    return bad(NA, risk_fraction);
                }
                if !(stop_distance.is_finite() && stop_distance > 0.0) {
                    return bad(NA, stop_distance);
                }
                if !(eq.is_finite() && eq > 0.0) {
                    return bad(NA, eq);
                }
                eq * risk_fraction / (stop_distance * m)
            }
            SizingMethod::TargetNotional { notional } => {
                if !(notional.is_finite() && notional > 0.0) {
                    return bad(NA, notional);
                }
                notional / (price * m)
            }
            SizingMethod::Fixed { quantity } => {
                if !(quantity.is_finite() && quantity > 0.0) {
                    return bad(NA, quantity);
                }
                quantity
            }
        };
        let mut bound = raw;
        let mut binding = "method";
        let mut clamp = |v: f64, name: &'static str| {
            if v < bound {
                bound = v;
                binding = name;
            }
        };
        clamp(s.max_qty, "max_order_quantity");
        clamp(s.max_notional / (price * m), "max_order_notional");
        let (long_before, short_before) = s.legs();
        let room = |w: f64| match side {
            Side::Buy => w - long_before,
            Side::Sell => w + short_before,
        };
        clamp(room(s.max_pos), "max_position");
        if self.max_gross.is_finite() {
            clamp(room((self.max_gross - self.gross + s.exposure()) / (price * m)), "max_gross_exposure");
        }
        if self.check_bp {
            let unit = s.margin_unit(price);
            if unit > 0.0 {
                clamp(room((self.equity - self.margin + s.margin()) / unit), "buying_power");
            }
        }
        let mut qty = if bound > 0.0 { (bound * s.inv_lot + 1e-9).floor() * s.lot } else { 0.0 };
        // Float rounding at a boundary can leave the clamped size one lot over a limit: step
        // down until the engine's own checks accept it (at most a few lots).
        let is_limit = order_type == OrderType::Limit;
        for _ in 0..4 {
            if qty <= 0.0 {
                break;
            }
            let (d, _) = self.check(slot, side as i8, qty, price, is_limit, ts, false);
            match d.reason {
                Reason::Accepted => return SizeResult { quantity: qty, raw, binding, decision: d },
                Reason::MaxOrderQuantity | Reason::MaxOrderNotional | Reason::MaxPosition | Reason::MaxGrossExposure | Reason::BuyingPower => qty -= s.lot,
                _ => return SizeResult { quantity: 0.0, raw, binding, decision: d },
            }
        }
        if qty > 0.0 {
            // Still rejected after stepping down: report the engine's own reason.
            let (d, _) = self.check(slot, side as i8, qty, price, is_limit, ts, false);
            if !d.accepted() {
                return SizeResult { quantity: 0.0, raw, binding, decision: d };
            }
            return SizeResult { quantity: qty, raw, binding, decision: d };
        }
        SizeResult { quantity: 0.0, raw, binding, decision: Decision::reject(Reason::SizeRoundsToZero, raw, bound.max(0.0)) }
    }
}
