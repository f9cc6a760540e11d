//! The stateful pre-trade risk engine.
//!
//! State: per instrument the filled position (from fills), the open buy and sell quantities
//! (accepted orders not yet filled or cancelled), the last price seen; portfolio-wide the ledger
//! ([`Portfolio`]), equity, gross exposure, margin in use, the mode and its trigger, the day's
//! starting equity, the equity peak and the timestamps of recent accepted orders.
//!
//! Position checks use the *worst case*: `max(|position + open_buys|, |position - open_sells|)`,
//! so an order is counted from the moment it is accepted until it is filled or cancelled. An
//! order "increases exposure" when it raises that worst case; reduce-only orders, REDUCING mode
//! and the position, gross-exposure and buying-power limits act on increasing orders only, so an
//! order that cuts risk is never blocked by a limit the book already exceeds.
//!
//! `validate` runs the inlined fast check and defers to `explain` (the authority on reasons and
//! numbers) when any check fails. `validate_batch` is exactly a sequence of `validate` calls
//! (each accepted order updates the state the next one sees): the row loop here does that row by
//! row, and the chunked kernel of [`super::batch`] reaches the same decisions and state faster.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::limits::RiskLimits;
use super::rate::RateRing;
use super::reason::{Decision, Reason};
use super::slot::{fmax, Slot};
use super::{Mode, ModeTrigger};
use crate::error::{CoreError, CoreResult};
use crate::instruments::Instrument;
use crate::order::{Fill, InstrumentColumn, Order, OrderType, Side};
use crate::portfolio::{CostBasis, Portfolio};
use crate::time::ts_in_range;

/// The slot unknown instruments are checked against: not tradable, so the fast path defers to
/// `explain`, which reports `unknown_instrument`.
static UNKNOWN_SLOT: Slot = Slot {
    open: [-0.0, 0.0],
    exposure_margin: [0.0, 0.0],
    position: 0.0,
    last_price: f64::NAN,
    scale: [1.0, 1.0],
    max_pos: 0.0,
    margin_fixed: 0.0,
    margin_factor: 0.0,
    max_qty: 0.0,
    max_notional: 0.0,
    lot: 1.0,
    inv_lot: 1.0,
    tick: 1.0,
    inv_tick: 1.0,
    tradable: false,
};

/// A quantity or price is on its grid when it is within this fraction of a step of a multiple.
pub(crate) const GRID_TOLERANCE: f64 = 1e-6;

/// What the checks need from the engine besides the slot (copied once per batch and after each
/// commit, so a loop never re-reads the engine through a pointer it also writes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gate {
    halted: bool,
    reducing: bool,
    max_gross: f64,
    check_bp: bool,
    equity: f64,
    /// Whether the rate window is full (the only state in which the rate limit can trip).
    pub(crate) rate_full: bool,
    rate_oldest: i64,
    rate_window: i64,
    rate_cap: usize,
}

/// The hot path: every condition evaluated without branching on its outcome. `None` when any
/// check fails (the caller then asks [`RiskEngine::explain`] which one); accepting here and
/// accepting in `explain` are the same conditions (asserted in debug builds).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fast_check(g: &Gate, s: &Slot, t: Totals, side: i8, qty: f64, price: f64, is_limit: bool, ts: i64, reduce_only: bool) -> Option<Pending> {
    if !fast_static(g, s, side, qty, price, is_limit, ts) {
        return None;
    }
    fast_state(g, s, t, side, qty, price, ts, reduce_only)
}

/// The checks that depend on the order and the instrument's limits only (no state): mode
/// not halted, tradable, side, timestamp, quantity and price validity and grids, per-order caps.
#[inline(always)]
fn fast_static(g: &Gate, s: &Slot, side: i8, qty: f64, price: f64, is_limit: bool, ts: i64) -> bool {
    let kq = qty * s.inv_lot;
    let kp = price * s.inv_tick;
    let on_lot = (kq - kq.round_ties_even()).abs() <= GRID_TOLERANCE;
    let on_tick = (kp - kp.round_ties_even()).abs() <= GRID_TOLERANCE;
    let notional = qty * price * s.multiplier();
    !g.halted
        & s.tradable
        & ((side == 1) | (side == -1))
        & ts_in_range(ts)
        & (qty > 0.0)
        & (qty <= f64::MAX)
        & on_lot
        & (price > 0.0)
        & (price <= f64::MAX)
        & (!is_limit | on_tick)
        & (qty <= s.max_qty)
        & (notional <= s.max_notional)
}

/// The quantities an order adds to the long and the short leg: `(qty, 0)` for a buy, `(0, qty)`
/// for a sell, without a branch on the side (`qty * 1.0` and `qty * 0.0` are exactly `qty` and
/// `+0.0` for the positive finite quantities that reach the state checks).
#[inline(always)]
fn leg_adds(side: i8, qty: f64) -> (f64, f64) {
    let buy = (side == 1) as u8 as f64;
    (qty * buy, qty * (1.0 - buy))
}

/// The checks against the state (worst-case position, gross exposure, buying power, rate),
/// for an order that passed [`fast_static`]; `Some` with the state it would leave.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn fast_state(g: &Gate, s: &Slot, t: Totals, side: i8, qty: f64, price: f64, ts: i64, reduce_only: bool) -> Option<Pending> {
    let (long_before, short_before) = s.legs();
    let w_before = fmax(long_before.abs(), short_before.abs());
    let (add_long, add_short) = leg_adds(side, qty);
    let w_after = fmax((long_before + add_long).abs(), (short_before - add_short).abs());
    let increases = w_after > w_before;
    let exposure = w_after * price * s.multiplier();
    let margin = w_after * s.margin_unit(price);
    let gross = t.gross + (exposure - s.exposure());
    let margin_total = t.margin + (margin - s.margin());
    let limit_fail = reduce_only | g.reducing | (w_after > s.max_pos) | (gross > g.max_gross) | (g.check_bp & (margin_total > g.equity));
    let rate_fail = g.rate_full & (ts.wrapping_sub(g.rate_oldest) < g.rate_window);
    if (increases & limit_fail) | rate_fail {
        return None;
    }
    Some(Pending { add_long, add_short, exposure, gross, margin, margin_total })
}

/// Running gross exposure and margin (kept in registers through a batch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) gross: f64,
    pub(crate) margin: f64,
}

/// The state an accepted order would leave (computed by the checks, applied by the commit).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Pending {
    add_long: f64,
    add_short: f64,
    exposure: f64,
    gross: f64,
    margin: f64,
    margin_total: f64,
}

/// Orders as columns for [`RiskEngine::validate_batch`]. The row count is `quantity.len()`.
#[derive(Debug, Clone, Copy)]
pub struct OrderBatch<'a> {
    /// Instrument of each order.
    pub instrument: InstrumentColumn<'a>,
    /// +1 buy, -1 sell (anything else: `invalid_side`).
    pub side: &'a [i8],
    /// Quantities.
    pub quantity: &'a [f64],
    /// Limit price (limit orders) or reference price (market orders).
    pub price: &'a [f64],
    /// Submission times, UTC ns: one per row, or a single value for every row.
    pub ts: &'a [i64],
    /// [`OrderType`] discriminants; empty = all market orders.
    pub order_type: &'a [u8],
    /// Reduce-only flags; empty = none.
    pub reduce_only: &'a [bool],
}

/// Decisions as columns: reason code (a [`Reason`] discriminant), value and limit.
///
/// `value` and `limit` are empty when every order was accepted; otherwise they have one entry
/// per row, meaningful on rejected rows only (NaN when the check has no number, 0.0 on accepted
/// rows). A batch without rejections thus writes one byte per order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecisionColumns {
    /// [`Reason`] discriminants.
    pub reason: Vec<u8>,
    /// The measured values.
    pub value: Vec<f64>,
    /// The limits.
    pub limit: Vec<f64>,
}

/// One instrument's entry in a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlotSnapshot {
    /// The instrument spec.
    pub instrument: Instrument,
    /// Open (accepted, unfilled) buy quantity.
    pub open_buy: f64,
    /// Open sell quantity.
    pub open_sell: f64,
    /// Last price seen (null before any).
    #[serde(with = "crate::serde_f64::nan_as_null")]
    pub last_price: f64,
}

/// Everything needed to restart the engine where it stopped (a HALTED engine restarts HALTED).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskSnapshot {
    /// Format version (1).
    pub version: u32,
    /// Mode.
    pub mode: Mode,
    /// What set the mode.
    pub trigger: ModeTrigger,
    /// The number that tripped the trigger (null if none).
    #[serde(with = "crate::serde_f64::nan_as_null")]
    pub trigger_value: f64,
    /// The limit it tripped (null if none).
    #[serde(with = "crate::serde_f64::nan_as_null")]
    pub trigger_limit: f64,
    /// Equity at the start of the trading day.
    pub day_start_equity: f64,
    /// Highest equity seen (for drawdown).
    pub peak_equity: f64,
    /// Timestamps of the recent accepted orders, oldest first (rate limit).
    pub recent_orders: Vec<i64>,
    /// Instruments in slot order, with their open orders.
    pub slots: Vec<SlotSnapshot>,
    /// The ledger.
    pub portfolio: Portfolio,
}

/// The pre-trade risk engine (see the module documentation).
#[derive(Debug, Clone)]
pub struct RiskEngine {
    limits: RiskLimits,
    instruments: Vec<Instrument>,
    index: HashMap<String, u32>,
    pub(crate) slots: Vec<Slot>,
    portfolio: Portfolio,
    pub(crate) mode: Mode,
    trigger: ModeTrigger,
    trigger_value: f64,
    trigger_limit: f64,
    pub(crate) gross: f64,
    pub(crate) margin: f64,
    pub(crate) equity: f64,
    day_start_equity: f64,
    peak_equity: f64,
    pub(crate) ring: RateRing,
    pub(crate) max_gross: f64,
    pub(crate) check_bp: bool,
    counts: [u64; Reason::ALL.len()],
}

impl RiskEngine {
    /// An engine with `limits`, starting `cash` (the initial equity), a cost basis for its
    /// ledger, and instruments in slot order.
    pub fn new(limits: RiskLimits, cash: f64, basis: CostBasis, instruments: &[Instrument]) -> CoreResult<Self> {
        limits.validate()?;
        let cap = limits.max_orders_per_window.unwrap_or(0) as usize;
        let mut e = RiskEngine {
            instruments: Vec::new(),
            index: HashMap::new(),
            slots: Vec::new(),
            portfolio: Portfolio::new(cash, basis, &[])?,
            mode: Mode::Active,
            trigger: ModeTrigger::None,
            trigger_value: f64::NAN,
            trigger_limit: f64::NAN,
            gross: 0.0,
            margin: 0.0,
            equity: cash,
            day_start_equity: cash,
            peak_equity: cash,
            ring: RateRing::new(cap, limits.rate_window_ns),
            max_gross: limits.max_gross_exposure.unwrap_or(f64::INFINITY),
            check_bp: limits.check_buying_power,
            counts: [0; Reason::ALL.len()],
            limits,
        };
        for i in instruments {
            e.add_instrument(i.clone())?;
        }
        Ok(e)
    }

    /// Adds an instrument (validated); returns its slot. Adding a symbol twice returns the
    /// existing slot if the spec is identical, an error otherwise.
    pub fn add_instrument(&mut self, inst: Instrument) -> CoreResult<u32> {
        inst.validate()?;
        if let Some(&slot) = self.index.get(&inst.symbol) {
            if self.instruments[slot as usize] == inst {
                return Ok(slot);
            }
            return Err(CoreError::invalid("instrument", format!("{} is already registered with a different spec", inst.symbol)));
        }
        let slot = self.instruments.len() as u32;
        self.slots.push(Slot::new(&inst, &self.limits));
        self.portfolio.add_instrument(inst.multiplier)?;
        self.index.insert(inst.symbol.clone(), slot);
        self.instruments.push(inst);
        Ok(slot)
    }

    /// The slot of a (canonical) symbol.
    pub fn slot(&self, symbol: &str) -> Option<u32> {
        self.index.get(symbol).copied()
    }

    /// The instruments, in slot order.
    pub fn instruments(&self) -> &[Instrument] {
        &self.instruments
    }

    /// The limits.
    pub fn limits(&self) -> &RiskLimits {
        &self.limits
    }

    /// Replaces the limits (state is kept; per-instrument limits are re-resolved).
    pub fn set_limits(&mut self, limits: RiskLimits) -> CoreResult<()> {
        limits.validate()?;
        for (s, inst) in self.slots.iter_mut().zip(&self.instruments) {
            let fresh = Slot::new(inst, &limits);
            *s = Slot { position: s.position, open: s.open, last_price: s.last_price, ..fresh };
            s.refresh();
        }
        let cap = limits.max_orders_per_window.unwrap_or(0) as usize;
        let recent = self.recent_orders();
        self.ring = RateRing::new(cap, limits.rate_window_ns);
        self.ring.push_all(&recent[recent.len().saturating_sub(cap)..]);
        self.max_gross = limits.max_gross_exposure.unwrap_or(f64::INFINITY);
        self.check_bp = limits.check_buying_power;
        self.limits = limits;
        self.recompute_totals();
        Ok(())
    }

    /// Checks one order and, when it is accepted and `commit` is true, counts it as open (it
    /// then weighs on every later check until [`RiskEngine::on_fill`] or
    /// [`RiskEngine::on_cancel`]) and in the rate limit.
    #[inline(always)]
    pub fn validate(&mut self, order: &Order, commit: bool) -> Decision {
        let d = self.decide(
            order.instrument,
            order.side as i8,
            order.quantity,
            order.price,
            order.order_type == OrderType::Limit,
            order.ts,
            order.reduce_only,
            commit,
        );
        self.counts[d.reason as usize] += 1;
        d
    }

    /// Checks columns of orders in sequence with the same code as [`RiskEngine::validate`]:
    /// the decisions equal those of calling `validate` on each row in order. `out` is
    /// overwritten. Errors only on mismatched column lengths.
    pub fn validate_batch(&mut self, orders: &OrderBatch<'_>, commit: bool, out: &mut DecisionColumns) -> CoreResult<()> {
        let n = orders.quantity.len();
        if let Some(len) = orders.instrument.len().filter(|&l| l != n) {
            return Err(CoreError::invalid("instrument", format!("has {len} rows; the orders have {n}")));
        }
        for (len, name) in [(orders.side.len(), "side"), (orders.price.len(), "price")] {
            if len != n {
                return Err(CoreError::invalid(name, format!("has {len} rows; the orders have {n}")));
            }
        }
        if orders.ts.len() != n && orders.ts.len() != 1 {
            return Err(CoreError::invalid("ts", format!("has {} rows; the orders have {n} (or give one)", orders.ts.len())));
        }
        for (len, name) in [(orders.order_type.len(), "order_type"), (orders.reduce_only.len(), "reduce_only")] {
            if len != 0 && len != n {
                return Err(CoreError::invalid(name, format!("has {len} rows; the orders have {n}")));
            }
        }
        if let Some(bad) = orders.order_type.iter().position(|&t| t > 1) {
            return Err(CoreError::invalid("order_type", format!("row {bad}: {} is neither 0 (market) nor 1 (limit)", orders.order_type[bad])));
        }
        self.decide_batch(orders, commit, out, RiskEngine::run_batch);
        Ok(())
    }

    /// Decides the rows of a batch whose columns were checked, with `run` (the dispatching
    /// [`RiskEngine::run_batch`]; tests pass one path explicitly), and counts the decisions.
    pub(crate) fn decide_batch(
        &mut self,
        orders: &OrderBatch<'_>,
        commit: bool,
        out: &mut DecisionColumns,
        run: impl FnOnce(&mut RiskEngine, &OrderBatch<'_>, bool, &mut DecisionColumns) -> usize,
    ) {
        let n = orders.quantity.len();
        // `reason` is written row by row (no zeroing pass); value/limit exist only once an order
        // is rejected (most batches of a sane strategy have none).
        out.reason.clear();
        out.reason.reserve(n);
        out.value.clear();
        out.limit.clear();
        let rejected = run(self, orders, commit, out);
        // SAFETY: `run_batch` wrote `reason[i]` for every i in 0..n (each row is decided exactly
        // once, by the chunked kernel or the row loop), and the capacity is at least n.
        unsafe { out.reason.set_len(n) };
        // Counters: only rejections are histogrammed (incrementing one counter per row would
        // serialize on a store-forwarding chain).
        self.counts[0] += (n - rejected) as u64;
        if rejected > 0 {
            for &r in out.reason.iter().filter(|&&r| r != 0) {
                self.counts[r as usize] += 1;
            }
        }
    }

    /// The exact row loop over `rows`: each row is checked (fast path, else `explain`) and,
    /// when accepted and `commit`, applied (rate window included) before the next row. Returns
    /// the number of rejected rows.
    #[inline(never)]
    pub(crate) fn rows_exact(&mut self, o: &OrderBatch<'_>, rows: std::ops::Range<usize>, commit: bool, out: &mut DecisionColumns) -> usize {
        // Market orders without flags (the common case) get their own copy of the loop.
        let plain = o.order_type.is_empty() && o.reduce_only.is_empty();
        match (o.instrument, plain) {
            (InstrumentColumn::Slots(s), true) => self.rows_exact_with::<true>(o, rows, commit, out, |i| s[i]),
            (InstrumentColumn::Slots(s), false) => self.rows_exact_with::<false>(o, rows, commit, out, |i| s[i]),
            (InstrumentColumn::One(slot), _) => self.rows_exact_with::<false>(o, rows, commit, out, |_| slot),
            (InstrumentColumn::Keys(k, t), true) => {
                self.rows_exact_with::<true>(o, rows, commit, out, |i| t.get(k[i] as u32 as usize).copied().unwrap_or(u32::MAX))
            }
            (InstrumentColumn::Keys(k, t), false) => {
                self.rows_exact_with::<false>(o, rows, commit, out, |i| t.get(k[i] as u32 as usize).copied().unwrap_or(u32::MAX))
            }
        }
    }

    #[inline(always)]
    fn rows_exact_with<const PLAIN: bool>(
        &mut self,
        o: &OrderBatch<'_>,
        rows: std::ops::Range<usize>,
        commit: bool,
        out: &mut DecisionColumns,
        slot_of: impl Fn(usize) -> u32,
    ) -> usize {
        let n = o.quantity.len();
        // Reasons are written in place through the spare capacity reserved by the caller.
        let reason = &mut out.reason.spare_capacity_mut()[..n];
        let (side, qty, price) = (&o.side[..n], &o.quantity[..n], &o.price[..n]);
        // One timestamp for every row: index 0 always (mask 0), else index i.
        let ts_mask = if o.ts.len() == 1 { 0 } else { usize::MAX };
        let ts = o.ts;
        let types = if o.order_type.is_empty() { None } else { Some(&o.order_type[..n]) };
        let reduce = if o.reduce_only.is_empty() { None } else { Some(&o.reduce_only[..n]) };
        // The running totals and the gate live in locals for the whole loop.
        let mut totals = Totals { gross: self.gross, margin: self.margin };
        let mut gate = self.gate();
        let mut rejected = 0;
        for i in rows {
            let is_limit = !PLAIN && types.is_some_and(|t| t[i] == OrderType::Limit as u8);
            let ro = !PLAIN && reduce.is_some_and(|r| r[i]);
            let slot = slot_of(i);
            let t = ts[i & ts_mask];
            let s = self.slots.get(slot as usize).unwrap_or(&UNKNOWN_SLOT);
            match fast_check(&gate, s, totals, side[i], qty[i], price[i], is_limit, t, ro) {
                Some(p) => {
                    debug_assert!(self.explain(&gate, totals, slot, side[i], qty[i], price[i], is_limit, t, ro).0.accepted());
                    reason[i].write(Reason::Accepted as u8);
                    if commit {
                        self.commit_slot(slot, price[i], &p);
                        self.ring.push(t);
                        totals = Totals { gross: p.gross, margin: p.margin_total };
                        gate = self.gate();
                    }
                }
                None => {
                    let (d, p) = self.explain(&gate, totals, slot, side[i], qty[i], price[i], is_limit, t, ro);
                    reason[i].write(d.reason as u8);
                    if d.accepted() {
                        // Unreachable when the fast path and `explain` agree (debug-asserted).
                        if commit {
                            self.commit_slot(slot, price[i], &p);
                            self.ring.push(t);
                            totals = Totals { gross: p.gross, margin: p.margin_total };
                            gate = self.gate();
                        }
                    } else {
                        record_rejection(&mut out.value, &mut out.limit, n, i, &d);
                        rejected += 1;
                    }
                }
            }
        }
        self.gross = totals.gross;
        self.margin = totals.margin;
        rejected
    }

    /// One row decided by [`RiskEngine::explain`] against `gate` and the running totals `t`,
    /// applied to the slot (not to the rate window) when accepted and `commit`. Returns whether
    /// the order was accepted. The chunked kernel's path for the orders it does not decide.
    pub(crate) fn row_explained(&mut self, gate: &Gate, t: &mut Totals, o: &OrderBatch<'_>, i: usize, commit: bool, out: &mut DecisionColumns) -> bool {
        let n = o.quantity.len();
        let slot = o.instrument.slot(i);
        let is_limit = o.order_type.get(i).is_some_and(|&t| t == OrderType::Limit as u8);
        let ro = o.reduce_only.get(i).copied().unwrap_or(false);
        let ts = o.ts[if o.ts.len() == 1 { 0 } else { i }];
        let (side, qty, price) = (o.side[i], o.quantity[i], o.price[i]);
        let (d, p) = self.explain(gate, *t, slot, side, qty, price, is_limit, ts, ro);
        out.reason.spare_capacity_mut()[i].write(d.reason as u8);
        if !d.accepted() {
            record_rejection(&mut out.value, &mut out.limit, n, i, &d);
            return false;
        }
        if commit {
            self.commit_slot(slot, price, &p);
            *t = Totals { gross: p.gross, margin: p.margin_total };
        }
        true
    }

    /// The one decision function behind `validate`: the checks, then, when accepted and
    /// `commit`, the state update.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn decide(&mut self, slot: u32, side: i8, qty: f64, price: f64, is_limit: bool, ts: i64, reduce_only: bool, commit: bool) -> Decision {
        let (d, p) = self.check(slot, side, qty, price, is_limit, ts, reduce_only);
        if commit && d.accepted() {
            self.commit_slot(slot, price, &p);
            self.ring.push(ts);
            self.gross = p.gross;
            self.margin = p.margin_total;
        }
        d
    }

    /// Every check against the engine's current totals, without changing anything.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check(&self, slot: u32, side: i8, qty: f64, price: f64, is_limit: bool, ts: i64, reduce_only: bool) -> (Decision, Pending) {
        let t = Totals { gross: self.gross, margin: self.margin };
        let gate = self.gate();
        let s = self.slots.get(slot as usize).unwrap_or(&UNKNOWN_SLOT);
        match fast_check(&gate, s, t, side, qty, price, is_limit, ts, reduce_only) {
            Some(p) => {
                debug_assert!(self.explain(&gate, t, slot, side, qty, price, is_limit, ts, reduce_only).0.accepted());
                (Decision::ACCEPT, p)
            }
            None => self.explain(&gate, t, slot, side, qty, price, is_limit, ts, reduce_only),
        }
    }

    /// The loop-invariant part of the checks (changes only on commit: the rate window).
    #[inline(always)]
    pub(crate) fn gate(&self) -> Gate {
        let oldest = self.ring.oldest_if_full();
        Gate {
            halted: self.mode == Mode::Halted,
            reducing: self.mode == Mode::Reducing,
            max_gross: self.max_gross,
            check_bp: self.check_bp,
            equity: self.equity,
            rate_full: oldest.is_some(),
            rate_oldest: oldest.unwrap_or(0),
            rate_window: self.ring.window(),
            rate_cap: self.ring.capacity(),
        }
    }

    /// The checks one by one, in [`Reason`] order: the first that fails decides. The authority
    /// on reasons and numbers (the fast paths only ever defer to it). The rate check reads the
    /// window from `g`, which the batch kernels keep current (or prove cannot trip).
    #[cold]
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn explain(&self, g: &Gate, t: Totals, slot: u32, side: i8, qty: f64, price: f64, is_limit: bool, ts: i64, reduce_only: bool) -> (Decision, Pending) {
        use Reason::*;
        const NA: f64 = f64::NAN;
        let reject = |r, v, l| (Decision::reject(r, v, l), Pending::default());
        if self.mode == Mode::Halted {
            return if self.trigger == ModeTrigger::KillSwitch { reject(KillSwitch, NA, NA) } else { reject(Halted, self.trigger_value, self.trigger_limit) };
        }
        let Some(s) = self.slots.get(slot as usize) else {
            return reject(UnknownInstrument, NA, NA);
        };
        if !s.tradable {
            return reject(NotTradable, NA, NA);
        }
        if side != 1 && side != -1 {
            return reject(InvalidSide, side as f64, NA);
        }
        if !ts_in_range(ts) {
            return reject(InvalidTimestamp, ts as f64, NA);
        }
        if !(qty > 0.0 && qty <= f64::MAX) {
            return reject(InvalidQuantity, qty, NA);
        }
        let kq = qty * s.inv_lot;
        if (kq - kq.round_ties_even()).abs() > GRID_TOLERANCE {
            return reject(OffLotGrid, qty, s.lot);
        }
        if !(price > 0.0 && price <= f64::MAX) {
            return reject(InvalidPrice, price, NA);
        }
        let kp = price * s.inv_tick;
        if is_limit && (kp - kp.round_ties_even()).abs() > GRID_TOLERANCE {
            return reject(OffTickGrid, price, s.tick);
        }
        if qty > s.max_qty {
            return reject(MaxOrderQuantity, qty, s.max_qty);
        }
        let notional = qty * price * s.multiplier();
        if notional > s.max_notional {
            return reject(MaxOrderNotional, notional, s.max_notional);
        }
        let (long_before, short_before) = s.legs();
        let w_before = fmax(long_before.abs(), short_before.abs());
        let (add_long, add_short) = leg_adds(side, qty);
        let w_after = fmax((long_before + add_long).abs(), (short_before - add_short).abs());
        let increases = w_after > w_before;
        let exposure = w_after * price * s.multiplier();
        let margin = w_after * s.margin_unit(price);
        let gross = t.gross + (exposure - s.exposure());
        let margin_total = t.margin + (margin - s.margin());
        if increases {
            if reduce_only {
                return reject(ReduceOnly, w_after, w_before);
            }
            if self.mode == Mode::Reducing {
                return reject(ReducingMode, w_after, w_before);
            }
            if w_after > s.max_pos {
                return reject(MaxPosition, w_after, s.max_pos);
            }
            if gross > self.max_gross {
                return reject(MaxGrossExposure, gross, self.max_gross);
            }
            if self.check_bp && margin_total > self.equity {
                return reject(BuyingPower, margin_total, self.equity);
            }
        }
        if g.rate_full && ts.wrapping_sub(g.rate_oldest) < g.rate_window {
            return reject(RateLimit, g.rate_cap as f64, g.rate_cap as f64);
        }
        (Decision::ACCEPT, Pending { add_long, add_short, exposure, gross, margin, margin_total })
    }

    /// Counts an accepted order as open (the totals and the rate window are the caller's).
    #[inline(always)]
    fn commit_slot(&mut self, slot: u32, price: f64, p: &Pending) {
        self.slots[slot as usize].add_open(p.add_long, p.add_short, p.exposure, p.margin, price);
    }

    /// Timestamps of the accepted orders the rate limit remembers, oldest first.
    pub fn recent_orders(&self) -> Vec<i64> {
        self.ring.to_vec()
    }

    #[inline(always)]
    fn slot_mut(&mut self, slot: u32) -> CoreResult<&mut Slot> {
        let n = self.slots.len();
        self.slots.get_mut(slot as usize).ok_or_else(|| CoreError::invalid("slot", format!("{slot} out of range (0..{n})")))
    }

    /// Applies a fill: the ledger books it, the open quantity of its side shrinks by the filled
    /// quantity (a fill of an order this engine never saw just moves the position), exposure,
    /// margin and equity are recomputed, and the loss rules are evaluated. Returns the realized
    /// P&L the fill booked.
    #[inline(always)]
    pub fn on_fill(&mut self, fill: &Fill) -> CoreResult<f64> {
        self.slot_mut(fill.instrument)?;
        let realized = self.portfolio.apply(fill)?;
        let position = self.portfolio.position(fill.instrument).map_or(0.0, |p| p.quantity);
        let s = self.slot_mut(fill.instrument)?;
        match fill.side {
            Side::Buy => s.set_open_buy((s.open_buy() - fill.quantity).max(0.0)),
            Side::Sell => s.set_open_sell((s.open_sell() - fill.quantity).max(0.0)),
        }
        s.position = position;
        s.last_price = fill.price;
        s.refresh();
        self.after_equity_change();
        Ok(realized)
    }

    /// Releases `quantity` of open orders on one side (a cancel, an expiry, a broker reject or
    /// an execution-model rejection).
    pub fn on_cancel(&mut self, slot: u32, side: Side, quantity: f64) -> CoreResult<()> {
        if !(quantity.is_finite() && quantity >= 0.0) {
            return Err(CoreError::invalid("quantity", format!("must be finite and >= 0, got {quantity}")));
        }
        let s = self.slot_mut(slot)?;
        match side {
            Side::Buy => s.set_open_buy((s.open_buy() - quantity).max(0.0)),
            Side::Sell => s.set_open_sell((s.open_sell() - quantity).max(0.0)),
        }
        s.refresh();
        self.recompute_totals();
        Ok(())
    }

    /// Marks an instrument to `price`: exposure, margin, equity and the loss rules update.
    #[inline(always)]
    pub fn on_mark(&mut self, slot: u32, price: f64) -> CoreResult<()> {
        self.slot_mut(slot)?;
        self.portfolio.mark(slot, price)?;
        let s = self.slot_mut(slot)?;
        s.last_price = price;
        s.refresh();
        self.after_equity_change();
        Ok(())
    }

    /// Records a point of the ledger's equity curve.
    pub fn record(&mut self, ts: i64) -> f64 {
        self.portfolio.record(ts)
    }

    #[inline(always)]
    fn recompute_totals(&mut self) {
        self.gross = self.slots.iter().map(|s| s.exposure()).sum();
        self.margin = self.slots.iter().map(|s| s.margin()).sum();
    }

    #[inline(always)]
    fn after_equity_change(&mut self) {
        self.recompute_totals();
        self.equity = self.portfolio.equity();
        self.peak_equity = self.peak_equity.max(self.equity);
        if let Some(limit) = self.limits.max_daily_loss {
            let daily = self.equity - self.day_start_equity;
            if daily <= -limit {
                self.escalate(self.limits.daily_loss_action, ModeTrigger::DailyLoss, daily, -limit);
            }
        }
        if let Some(limit) = self.limits.max_drawdown {
            if self.peak_equity > 0.0 {
                let dd = (self.peak_equity - self.equity) / self.peak_equity;
                if dd >= limit {
                    self.escalate(self.limits.drawdown_action, ModeTrigger::Drawdown, dd, limit);
                }
            }
        }
    }

    fn escalate(&mut self, mode: Mode, trigger: ModeTrigger, value: f64, limit: f64) {
        if mode > self.mode {
            self.mode = mode;
            self.trigger = trigger;
            self.trigger_value = value;
            self.trigger_limit = limit;
        }
    }

    /// Starts a new trading day: the day's P&L restarts from the current equity, and a mode set
    /// by the daily-loss rule returns to ACTIVE (drawdown, manual and kill-switch modes stay).
    pub fn start_day(&mut self) {
        self.day_start_equity = self.equity;
        if self.trigger == ModeTrigger::DailyLoss {
            self.clear_mode();
        }
    }

    /// Engages the kill switch: HALTED until [`RiskEngine::resume`].
    pub fn kill(&mut self) {
        self.mode = Mode::Halted;
        self.trigger = ModeTrigger::KillSwitch;
        self.trigger_value = f64::NAN;
        self.trigger_limit = f64::NAN;
    }

    /// Sets the mode by hand (ACTIVE clears any trigger, like [`RiskEngine::resume`]).
    pub fn set_mode(&mut self, mode: Mode) {
        if mode == Mode::Active {
            self.resume();
        } else {
            self.mode = mode;
            self.trigger = ModeTrigger::Manual;
            self.trigger_value = f64::NAN;
            self.trigger_limit = f64::NAN;
        }
    }

    /// Back to ACTIVE (releases the kill switch and any rule's mode). The drawdown peak restarts
    /// at the current equity, so the same drawdown does not re-trigger at the next mark.
    pub fn resume(&mut self) {
        self.clear_mode();
        self.peak_equity = self.equity;
    }

    fn clear_mode(&mut self) {
        self.mode = Mode::Active;
        self.trigger = ModeTrigger::None;
        self.trigger_value = f64::NAN;
        self.trigger_limit = f64::NAN;
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// What set the mode, and the value and limit it tripped (NaN if none).
    pub fn trigger(&self) -> (ModeTrigger, f64, f64) {
        (self.trigger, self.trigger_value, self.trigger_limit)
    }

    /// Whether the kill switch is engaged.
    pub fn killed(&self) -> bool {
        self.trigger == ModeTrigger::KillSwitch
    }

    /// Equity (ledger cash plus marked positions).
    pub fn equity(&self) -> f64 {
        self.equity
    }

    /// Equity minus the day's starting equity.
    pub fn daily_pnl(&self) -> f64 {
        self.equity - self.day_start_equity
    }

    /// Drawdown from the equity peak, as a fraction.
    pub fn drawdown(&self) -> f64 {
        if self.peak_equity > 0.0 {
            (self.peak_equity - self.equity) / self.peak_equity
        } else {
            0.0
        }
    }

    /// Highest equity seen since the start (or the last `resume`).
    pub fn peak_equity(&self) -> f64 {
        self.peak_equity
    }

    /// Gross exposure of the worst-case positions at their last prices.
    pub fn gross_exposure(&self) -> f64 {
        self.gross
    }

    /// Margin in use by the worst-case positions.
    pub fn margin_used(&self) -> f64 {
        self.margin
    }

    /// A slot's filled position, open buys and open sells.
    pub fn position(&self, slot: u32) -> Option<(f64, f64, f64)> {
        self.slots.get(slot as usize).map(|s| (s.position, s.open_buy(), s.open_sell()))
    }

    /// A slot's resolved limits: max order quantity, max order notional, max position.
    pub fn slot_limits(&self, slot: u32) -> Option<(f64, f64, f64)> {
        self.slots.get(slot as usize).map(|s| (s.max_qty, s.max_notional, s.max_pos))
    }

    /// The ledger.
    pub fn portfolio(&self) -> &Portfolio {
        &self.portfolio
    }

    /// Decisions made so far, by reason discriminant.
    pub fn decision_counts(&self) -> &[u64] {
        &self.counts
    }

    /// A snapshot of the whole state.
    pub fn snapshot(&self) -> RiskSnapshot {
        RiskSnapshot {
            version: 1,
            mode: self.mode,
            trigger: self.trigger,
            trigger_value: self.trigger_value,
            trigger_limit: self.trigger_limit,
            day_start_equity: self.day_start_equity,
            peak_equity: self.peak_equity,
            recent_orders: self.recent_orders(),
            slots: self
                .instruments
                .iter()
                .zip(&self.slots)
                .map(|(i, s)| SlotSnapshot { instrument: i.clone(), open_buy: s.open_buy(), open_sell: s.open_sell(), last_price: s.last_price })
                .collect(),
            portfolio: self.portfolio.clone(),
        }
    }

    /// The snapshot as JSON.
    pub fn snapshot_json(&self) -> String {
        serde_json::to_string(&self.snapshot()).expect("snapshot serializes")
    }

    /// An engine with `limits` and the state of `snap` (mode, trigger, positions, open orders,
    /// ledger, day and peak equity, recent orders).
    pub fn restore(limits: RiskLimits, snap: RiskSnapshot) -> CoreResult<RiskEngine> {
        if snap.version != 1 {
            return Err(CoreError::invalid("snapshot", format!("unsupported version {}", snap.version)));
        }
        if snap.portfolio.len() != snap.slots.len() {
            return Err(CoreError::invalid("snapshot", "ledger and instruments disagree in length"));
        }
        let instruments: Vec<Instrument> = snap.slots.iter().map(|s| s.instrument.clone()).collect();
        let mut e = RiskEngine::new(limits, snap.portfolio.initial_cash(), snap.portfolio.basis(), &instruments)?;
        for (k, (slot, ss)) in e.slots.iter_mut().zip(&snap.slots).enumerate() {
            let p = &snap.portfolio.positions()[k];
            if p.multiplier != ss.instrument.multiplier {
                return Err(CoreError::invalid("snapshot", format!("{}: ledger multiplier differs", ss.instrument.symbol)));
            }
            slot.position = p.quantity;
            slot.set_open_buy(ss.open_buy);
            slot.set_open_sell(ss.open_sell);
            slot.last_price = ss.last_price;
            slot.refresh();
        }
        e.portfolio = snap.portfolio;
        e.recompute_totals();
        e.equity = e.portfolio.equity();
        e.mode = snap.mode;
        e.trigger = snap.trigger;
        e.trigger_value = snap.trigger_value;
        e.trigger_limit = snap.trigger_limit;
        e.day_start_equity = snap.day_start_equity;
        e.peak_equity = snap.peak_equity;
        let cap = e.ring.capacity();
        e.ring.push_all(&snap.recent_orders[snap.recent_orders.len().saturating_sub(cap)..]);
        Ok(e)
    }

    /// [`RiskEngine::restore`] from JSON.
    pub fn restore_json(limits: RiskLimits, json: &str) -> CoreResult<RiskEngine> {
        let snap: RiskSnapshot = serde_json::from_str(json).map_err(|e| CoreError::invalid("snapshot", format!("bad snapshot: {e}")))?;
        RiskEngine::restore(limits, snap)
    }
}

/// Stores a rejection's numbers, allocating the value/limit columns on the first one.
#[cold]
#[inline(never)]
fn record_rejection(value: &mut Vec<f64>, limit: &mut Vec<f64>, n: usize, i: usize, d: &Decision) {
    if value.is_empty() {
        value.resize(n, 0.0);
        limit.resize(n, 0.0);
    }
    value[i] = d.value;
    limit[i] = d.limit;
}
