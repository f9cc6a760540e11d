//! One instrument's resolved limits and risk state, packed in one record.
//!
//! The record is laid out for the batch kernel (`super::batch_x86`): the state an accepted order
//! reads and writes comes first, in pairs that one 128-bit load or store moves together.
//!
//! The open sell quantity is stored **negated**. IEEE 754 defines `a - b` as `a + (-b)` and
//! negation is exact, so `position + (-open_sell)` is bit for bit `position - open_sell`, and
//! `-open_sell + (-qty)` is bit for bit `-(open_sell + qty)` (round-to-nearest is symmetric).
//! Every number the engine computes is therefore identical to the plain form, while one packed
//! addition `[position, position] + [-open_sell, open_buy]` yields both worst-case legs.

use super::limits::RiskLimits;
use crate::instruments::Instrument;

/// One instrument's limits (resolved from the kind, family and symbol limits) and state.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub(crate) struct Slot {
    /// `[-open_sell, open_buy]`: accepted, unfilled quantities (see the module documentation).
    pub(crate) open: [f64; 2],
    /// `[exposure, margin]` of the worst-case position at the last price.
    pub(crate) exposure_margin: [f64; 2],
    /// Filled position (the ledger's).
    pub(crate) position: f64,
    /// Last price seen (NaN before any).
    pub(crate) last_price: f64,
    /// `[multiplier, 1.0]`: turns `[worst * price, worst * margin_unit]` into
    /// `[exposure, margin]` with one packed multiplication (`x * 1.0` is exactly `x`).
    pub(crate) scale: [f64; 2],
    /// Most contracts held (worst case).
    pub(crate) max_pos: f64,
    /// Margin per contract independent of price (the instrument's initial margin, else 0).
    pub(crate) margin_fixed: f64,
    /// Margin per unit of price (`multiplier * margin_rate`, or 0 with a per-contract margin).
    pub(crate) margin_factor: f64,
    /// Most contracts in one order.
    pub(crate) max_qty: f64,
    /// Most notional in one order.
    pub(crate) max_notional: f64,
    /// Lot size and its inverse.
    pub(crate) lot: f64,
    pub(crate) inv_lot: f64,
    /// Tick size and its inverse.
    pub(crate) tick: f64,
    pub(crate) inv_tick: f64,
    /// Whether the instrument can be traded (not an index).
    pub(crate) tradable: bool,
}

impl Slot {
    /// A slot for `inst` under `limits`, with no position and no open orders.
    pub(crate) fn new(inst: &Instrument, limits: &RiskLimits) -> Slot {
        let e = limits.effective(inst);
        let fixed = !e.margin_per_contract.is_nan();
        Slot {
            open: [-0.0, 0.0],
            exposure_margin: [0.0, 0.0],
            position: 0.0,
            last_price: f64::NAN,
            scale: [inst.multiplier, 1.0],
            max_pos: e.max_position,
            margin_fixed: if fixed { e.margin_per_contract } else { 0.0 },
            margin_factor: if fixed { 0.0 } else { inst.multiplier * e.margin_rate },
            max_qty: e.max_order_quantity,
            max_notional: e.max_order_notional,
            lot: inst.lot_size,
            inv_lot: 1.0 / inst.lot_size,
            tick: inst.tick_size,
            inv_tick: 1.0 / inst.tick_size,
            tradable: inst.is_tradable(),
        }
    }

    /// The contract multiplier.
    #[inline(always)]
    pub(crate) fn multiplier(&self) -> f64 {
        self.scale[0]
    }

    /// Open (accepted, unfilled) buy quantity.
    #[inline(always)]
    pub(crate) fn open_buy(&self) -> f64 {
        self.open[1]
    }

    /// Open sell quantity.
    #[inline(always)]
    pub(crate) fn open_sell(&self) -> f64 {
        -self.open[0]
    }

    /// Sets the open buy quantity.
    #[inline(always)]
    pub(crate) fn set_open_buy(&mut self, q: f64) {
        self.open[1] = q;
    }

    /// Sets the open sell quantity.
    #[inline(always)]
    pub(crate) fn set_open_sell(&mut self, q: f64) {
        self.open[0] = -q;
    }

    /// Exposure of the worst-case position at the last price.
    #[inline(always)]
    pub(crate) fn exposure(&self) -> f64 {
        self.exposure_margin[0]
    }

    /// Margin of the worst-case position at the last price.
    #[inline(always)]
    pub(crate) fn margin(&self) -> f64 {
        self.exposure_margin[1]
    }

    /// `position + open_buy` and `position - open_sell`: the two legs of the worst case.
    #[inline(always)]
    pub(crate) fn legs(&self) -> (f64, f64) {
        (self.position + self.open[1], self.position + self.open[0])
    }

    /// Worst-case absolute position.
    #[inline(always)]
    pub(crate) fn worst(&self) -> f64 {
        let (long, short) = self.legs();
        fmax(long.abs(), short.abs())
    }

    /// Margin of one contract at `price` (branch-free: one of the two terms is 0).
    #[inline(always)]
    pub(crate) fn margin_unit(&self, price: f64) -> f64 {
        self.margin_fixed + price * self.margin_factor
    }

    /// Counts an accepted order as open: `add_long` is the quantity of a buy (else 0),
    /// `add_short` that of a sell (else 0); exposure and margin become the order's.
    #[inline(always)]
    pub(crate) fn add_open(&mut self, add_long: f64, add_short: f64, exposure: f64, margin: f64, price: f64) {
        self.open[0] += -add_short;
        self.open[1] += add_long;
        self.exposure_margin = [exposure, margin];
        self.last_price = price;
    }

    /// Recomputes exposure and margin at the last price.
    #[inline(always)]
    pub(crate) fn refresh(&mut self) {
        let w = self.worst();
        self.exposure_margin =
            if self.last_price.is_nan() || w == 0.0 { [0.0, 0.0] } else { [w * self.last_price * self.multiplier(), w * self.margin_unit(self.last_price)] };
    }
}

/// `max` of two non-NaN values in one instruction (`f64::max` also handles NaN, at three): `a`
/// unless `b` is larger (or either is NaN). The fast paths and `explain` all use it, so they
/// agree bit for bit; it is also exactly x86's `maxsd a, b`.
#[inline(always)]
pub(crate) fn fmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}
