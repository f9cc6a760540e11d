//! [`Stepper`]: the per-bar state machine of one account, the one place where trading decisions
//! are made (see the module documentation of [`crate::trading`] for the rules).

use std::borrow::Borrow;
use std::collections::BTreeMap;

use crate::error::{CoreError, CoreResult};
use crate::execution::{BarQuote, ExecutionModel, MarketContext, Quote};
use crate::instruments::Instrument;
use crate::metrics::{Metrics, MetricsAccumulator};
use crate::order::{Fill, Order, OrderType, Side};
use crate::portfolio::CostBasis;
use crate::risk::{Reason, RiskEngine, RiskLimits, SizingMethod};
use crate::trading::events::{Recorder, Trade};
use crate::trading::rules::{BarSignal, Exit, FillReason, Rules, Sizing, ENTRY_LONG, ENTRY_SHORT, EXIT_LONG, EXIT_SHORT};

/// What does not change between combinations (or during a live session): instruments, the
/// execution model, risk limits, starting cash and the annualization of the metrics.
#[derive(Debug, Clone)]
pub struct Setup {
    /// Instruments, by slot (the slot of an instrument is its index here).
    pub instruments: Vec<Instrument>,
    /// The execution model.
    pub model: ExecutionModel,
    /// Risk limits.
    pub limits: RiskLimits,
    /// Starting cash.
    pub initial_cash: f64,
    /// Periods per year for the metrics.
    pub periods_per_year: f64,
}

/// An order decided at a bar's close that fills at the instrument's next bar.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pending {
    /// Nothing pending.
    None,
    /// An entry of this side and quantity (sized and accepted by the risk engine).
    Enter(Side, f64),
    /// An exit of the whole position, for this reason.
    Exit(FillReason),
}

/// The state of one instrument's position in the account.
#[derive(Debug, Clone, Copy)]
struct Book {
    qty: f64,
    mult: f64,
    entry_ts: i64,
    entry_px: f64,
    entry_qty: f64,
    entry_bar: u32,
    fees: f64,
    slippage: f64,
    exit_value: f64,
    exit_qty: f64,
    held: u32,
    stop: f64,
    take: f64,
    pending: Pending,
    stop_dist: f64,
    take_dist: f64,
    last_close: f64,
    bars_seen: u32,
}

impl Book {
    fn new(mult: f64) -> Self {
        Book {
            qty: 0.0,
            mult,
            entry_ts: 0,
            entry_px: 0.0,
            entry_qty: 0.0,
            entry_bar: 0,
            fees: 0.0,
            slippage: 0.0,
            exit_value: 0.0,
            exit_qty: 0.0,
            held: 0,
            stop: f64::NAN,
            take: f64::NAN,
            pending: Pending::None,
            stop_dist: f64::NAN,
            take_dist: f64::NAN,
            last_close: f64::NAN,
            bars_seen: 0,
        }
    }
}

/// A snapshot of one instrument's position (see [`Stepper::position`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// Signed quantity (positive long, 0 flat).
    pub quantity: f64,
    /// Entry fill price of the open trade (0 when flat).
    pub entry_price: f64,
    /// Stop-loss level (NaN: none).
    pub stop: f64,
    /// Take-profit level (NaN: none).
    pub take: f64,
    /// Bars held so far.
    pub bars_held: u32,
    /// The order waiting for the next bar.
    pub pending: Pending,
    /// Latest close seen (NaN before the first bar).
    pub last_close: f64,
}

/// The per-bar state machine of one account: its books (one per instrument slot), pending
/// orders, stops, the [`RiskEngine`] (whose `Portfolio` is the ledger), the one
/// [`ExecutionModel`] (in the [`Setup`]) and the metrics of fills and trades.
///
/// [`Stepper::step`] takes one bar of one instrument and the strategy's signal at its close, and
/// does, in order: fill the order pending from the previous bar at this bar's open; check the
/// stop-loss and take-profit against this bar's range (the stop first when both are reached);
/// then decide at the close (exits, time stop, opposite entries, sized entries), or, on the
/// instrument's last bar, close the position at the close when the rules say so. Fills and closed
/// trades go to the [`Recorder`] as they happen.
///
/// The backtest ([`crate::backtest::run`]) is a batch driver of this type; a live runner steps it
/// one bar at a time with the same code. `S` is how the setup is held: `&Setup` in a backtest,
/// an owned `Setup` in a long-lived account. Everything on the fill path is `#[inline(always)]`
/// so that a driver compiled for a wider CPU (the backtest's x86-64-v3 copy) inlines it whole.
#[derive(Debug, Clone)]
pub struct Stepper<S: Borrow<Setup>> {
    setup: S,
    rules: Rules,
    risk: RiskEngine,
    books: Vec<Book>,
    acc: MetricsAccumulator,
    rejections: BTreeMap<&'static str, u64>,
}

impl<S: Borrow<Setup>> Stepper<S> {
    /// A flat account with the setup's starting cash; `start_ts` (UTC ns) is the start of the
    /// metrics' time axis (the first bar's time).
    pub fn new(setup: S, rules: Rules, start_ts: i64) -> CoreResult<Self> {
        let st = setup.borrow();
        let risk = RiskEngine::new(st.limits.clone(), st.initial_cash, CostBasis::AverageCost, &st.instruments)?;
        let books = st.instruments.iter().map(|i| Book::new(i.multiplier)).collect();
        let acc = MetricsAccumulator::new(st.initial_cash, start_ts);
        Ok(Stepper { setup, rules, risk, books, acc, rejections: BTreeMap::new() })
    }

    /// The setup.
    pub fn setup(&self) -> &Setup {
        self.setup.borrow()
    }

    /// The rules.
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Number of instrument slots.
    pub fn instruments(&self) -> usize {
        self.books.len()
    }

    /// The risk engine (its portfolio is the account's ledger).
    pub fn risk(&self) -> &RiskEngine {
        &self.risk
    }

    /// Rejected orders by reason code so far.
    pub fn rejections(&self) -> &BTreeMap<&'static str, u64> {
        &self.rejections
    }

    /// The rejection counts, taken out (the stepper's are reset).
    pub fn take_rejections(&mut self) -> BTreeMap<&'static str, u64> {
        std::mem::take(&mut self.rejections)
    }

    /// The metrics so far (fills, trades, and every equity point recorded with
    /// [`Stepper::record_equity`] or by a batch driver).
    pub fn metrics(&self) -> Metrics {
        self.acc.finish(self.setup().periods_per_year)
    }

    /// The metrics accumulator (for batch drivers that feed equity series in bulk).
    #[inline(always)]
    pub fn accumulator_mut(&mut self) -> &mut MetricsAccumulator {
        &mut self.acc
    }

    /// The position of slot `s`.
    pub fn position(&self, s: usize) -> Position {
        let b = &self.books[s];
        let entry_price = if b.qty != 0.0 { b.entry_px } else { 0.0 };
        Position { quantity: b.qty, entry_price, stop: b.stop, take: b.take, bars_held: b.held, pending: b.pending, last_close: b.last_close }
    }

    /// Cash.
    #[inline(always)]
    pub fn cash(&self) -> f64 {
        self.risk.portfolio().cash()
    }

    /// Open positions valued at their instruments' latest closes.
    #[inline(always)]
    pub fn market_value(&self) -> f64 {
        let mut v = 0.0;
        for b in &self.books {
            if b.qty != 0.0 {
                v += b.qty * b.last_close * b.mult;
            }
        }
        v
    }

    /// Equity (cash plus open positions at their latest closes) and whether any position is
    /// open.
    #[inline(always)]
    pub fn equity(&self) -> (f64, bool) {
        let mut value = 0.0;
        let mut in_market = false;
        for b in &self.books {
            if b.qty != 0.0 {
                value += b.qty * b.last_close * b.mult;
                in_market = true;
            }
        }
        (self.cash() + value, in_market)
    }

    /// Records the equity at `ts` (the end of a bar time) into the metrics and returns it. A
    /// live runner calls it once per bar time; the backtest driver feeds the same values in bulk.
    pub fn record_equity(&mut self, ts: i64) -> f64 {
        let (e, in_market) = self.equity();
        self.acc.push_equity(ts, e, in_market);
        e
    }

    #[inline(always)]
    fn reject(&mut self, code: &'static str) {
        *self.rejections.entry(code).or_insert(0) += 1;
    }

    /// One bar of instrument `s` and the strategy's signal at its close. `last` says this is the
    /// instrument's last bar: no decision is taken at its close (an order could never fill), and
    /// with [`Rules::close_at_end`] the position is closed at the close. Errors only on a broken
    /// invariant of the ledger or an unknown slot.
    #[inline(always)]
    pub fn step<R: Recorder>(&mut self, s: usize, b: &BarQuote, signal: BarSignal, last: bool, rec: &mut R) -> CoreResult<()> {
        if s >= self.books.len() {
            return Err(CoreError::invalid("instrument", format!("slot {s} of {} instruments", self.books.len())));
        }
        match self.books[s].pending {
            Pending::None => {}
            Pending::Enter(side, qty) => {
                self.books[s].pending = Pending::None;
                self.enter(s, side, qty, b, rec)?;
            }
            Pending::Exit(reason) => {
                self.books[s].pending = Pending::None;
                self.exit(s, reason, MarketContext::Bar(*b), OrderType::Market, f64::NAN, rec)?;
            }
        }
        if self.books[s].qty != 0.0 {
            self.intrabar(s, b, rec)?;
        }
        let book = &mut self.books[s];
        book.last_close = b.close;
        book.bars_seen += 1;
        if book.qty != 0.0 {
            book.held += 1;
        }
        if !last {
            self.decide(s, b, signal)?;
        } else if self.rules.close_at_end && self.books[s].qty != 0.0 {
            self.close_at_end(s, b, rec)?;
        }
        Ok(())
    }

    /// Batch helper for one instrument's bars (`low`, `high`, `bits` by bar): the first bar in
    /// `i..last` on which stepping slot `s` could do anything but carry the position (a pending
    /// order, a signal bit, a stop or take-profit reached, a running time stop), or `last`.
    /// [`Stepper::advance_quiet`] then accounts the bars before it. Stepping each of those bars
    /// with [`Stepper::step`] gives the same state (a test checks it).
    #[inline(always)]
    pub fn quiet_until(&self, s: usize, low: &[f64], high: &[f64], bits: &[u8], i: usize, last: usize) -> usize {
        let b = &self.books[s];
        if b.pending != Pending::None || (b.qty != 0.0 && self.rules.time_stop > 0) || i >= last {
            return i;
        }
        let (q, stop, take) = (b.qty, b.stop, b.take);
        // a NaN level is never reached: without stop and take-profit only the signals matter
        if q == 0.0 || (stop.is_nan() && take.is_nan()) {
            next_signal(bits, i, last)
        } else if q > 0.0 {
            next_event(i, last, |t| (bits[t] != 0) | reached_down(low[t], stop) | reached_up(high[t], take))
        } else {
            next_event(i, last, |t| (bits[t] != 0) | reached_up(high[t], stop) | reached_down(low[t], take))
        }
    }

    /// Accounts `steps` quiet bars of slot `s` (see [`Stepper::quiet_until`]), the last of which
    /// closed at `last_close`.
    #[inline(always)]
    pub fn advance_quiet(&mut self, s: usize, steps: u32, last_close: f64) {
        let b = &mut self.books[s];
        b.last_close = last_close;
        b.bars_seen += steps;
        if b.qty != 0.0 {
            b.held += steps;
        }
    }

    /// Quantity and multiplier of slot `s`.
    #[inline(always)]
    pub fn holding(&self, s: usize) -> (f64, f64) {
        let b = &self.books[s];
        (b.qty, b.mult)
    }

    /// Stop-loss and take-profit against the bar's range; the stop first when both are reached.
    #[inline(always)]
    fn intrabar<R: Recorder>(&mut self, s: usize, b: &BarQuote, rec: &mut R) -> CoreResult<()> {
        let book = self.books[s];
        let long = book.qty > 0.0;
        let stop_hit = if long { b.low <= book.stop } else { b.high >= book.stop };
        if stop_hit {
            let px = if long { b.open.min(book.stop) } else { b.open.max(book.stop) };
            let q = Quote { ts: b.ts, bid: px, ask: px, bid_size: f64::NAN, ask_size: f64::NAN, volume: b.volume };
            return self.exit(s, FillReason::StopLoss, MarketContext::Quote(q), OrderType::Market, f64::NAN, rec);
        }
        let take_reached = if long { b.high >= book.take } else { b.low <= book.take };
        if take_reached {
            return self.exit(s, FillReason::TakeProfit, MarketContext::Bar(*b), OrderType::Limit, book.take, rec);
        }
        Ok(())
    }

    /// Signals at the close of bar `b`: exits, time stops, entries.
    #[inline(always)]
    fn decide(&mut self, s: usize, b: &BarQuote, signal: BarSignal) -> CoreResult<()> {
        let bits = signal.bits;
        let (pending, qty, held) = {
            let b = &self.books[s];
            (b.pending, b.qty, b.held)
        };
        if pending != Pending::None || (bits == 0 && (qty == 0.0 || self.rules.time_stop == 0)) {
            return Ok(());
        }
        let short_ok = self.rules.allow_short;
        if qty > 0.0 {
            if bits & EXIT_LONG != 0 || (short_ok && bits & ENTRY_SHORT != 0 && bits & ENTRY_LONG == 0) {
                self.books[s].pending = Pending::Exit(FillReason::Signal);
            } else if self.rules.time_stop > 0 && held >= self.rules.time_stop {
                self.books[s].pending = Pending::Exit(FillReason::TimeStop);
            }
            return Ok(());
        }
        if qty < 0.0 {
            if bits & EXIT_SHORT != 0 || (bits & ENTRY_LONG != 0 && bits & ENTRY_SHORT == 0) {
                self.books[s].pending = Pending::Exit(FillReason::Signal);
            } else if self.rules.time_stop > 0 && held >= self.rules.time_stop {
                self.books[s].pending = Pending::Exit(FillReason::TimeStop);
            }
            return Ok(());
        }
        let long = bits & ENTRY_LONG != 0;
        let short = short_ok && bits & ENTRY_SHORT != 0;
        if long != short {
            self.size_entry(s, b, signal, if long { Side::Buy } else { Side::Sell })?;
        }
        Ok(())
    }

    #[inline(always)]
    fn distance(rule: Exit, series: f64, price: f64) -> f64 {
        match rule {
            Exit::None => f64::NAN,
            Exit::Percent(p) => p * price,
            Exit::Points(x) => x,
            Exit::Series => series,
        }
    }

    /// Sizes and validates an entry decided at the close of bar `b`.
    #[inline(always)]
    fn size_entry(&mut self, s: usize, b: &BarQuote, signal: BarSignal, side: Side) -> CoreResult<()> {
        let close = b.close;
        let ts = b.ts;
        let stop_dist = Self::distance(self.rules.stop, signal.stop_distance, close);
        let take_dist = Self::distance(self.rules.take, signal.take_distance, close);
        if (self.rules.stop != Exit::None && !(stop_dist > 0.0 && stop_dist.is_finite()))
            || (self.rules.take != Exit::None && !(take_dist > 0.0 && take_dist.is_finite()))
        {
            self.reject("exit_distance_unavailable");
            return Ok(());
        }
        for (slot, b) in self.books.iter().enumerate() {
            if b.qty != 0.0 && b.last_close.is_finite() {
                self.risk.on_mark(slot as u32, b.last_close)?;
            }
        }
        let equity = self.cash() + self.market_value();
        let method = match self.rules.sizing {
            Sizing::Fixed(q) => SizingMethod::Fixed { quantity: q },
            Sizing::Notional(a) => SizingMethod::TargetNotional { notional: a },
            Sizing::EquityFraction(f) => SizingMethod::TargetNotional { notional: f * equity },
            Sizing::RiskFraction(f) => SizingMethod::RiskPerTrade { risk_fraction: f, stop_distance: stop_dist, equity: Some(equity) },
        };
        let slot = s as u32;
        let size = self.risk.size_order(slot, side, close, method, OrderType::Market, ts);
        if size.quantity.is_nan() || size.quantity <= 0.0 {
            self.reject(size.decision.reason.code());
            return Ok(());
        }
        let order = Order::market(slot, side, size.quantity, close, ts);
        let d = self.risk.validate(&order, true);
        if d.reason != Reason::Accepted {
            self.reject(d.reason.code());
            return Ok(());
        }
        let book = &mut self.books[s];
        book.pending = Pending::Enter(side, size.quantity);
        book.stop_dist = stop_dist;
        book.take_dist = take_dist;
        Ok(())
    }

    #[inline(always)]
    fn apply<R: Recorder>(&mut self, fill: &Fill, reason: FillReason, rec: &mut R) -> CoreResult<()> {
        self.risk.on_fill(fill)?;
        self.acc.push_fill(fill.notional(), fill.fees, fill.slippage_cost);
        if R::RECORDS {
            rec.fill(fill, reason);
        }
        Ok(())
    }

    /// Fills an accepted entry at this bar's open.
    #[inline(always)]
    fn enter<R: Recorder>(&mut self, s: usize, side: Side, qty: f64, b: &BarQuote, rec: &mut R) -> CoreResult<()> {
        let slot = s as u32;
        let order = Order::market(slot, side, qty, b.open, b.ts);
        let fill = match self.setup.borrow().model.fill(&self.setup.borrow().instruments[s], &order, &MarketContext::Bar(*b)) {
            Ok(f) => f,
            Err(e) => {
                self.risk.on_cancel(slot, side, qty)?;
                self.reject(e.code());
                return Ok(());
            }
        };
        if fill.quantity < qty {
            self.risk.on_cancel(slot, side, qty - fill.quantity)?;
        }
        self.apply(&fill, FillReason::Entry, rec)?;
        let sign = side.sign();
        let book = &mut self.books[s];
        book.qty = sign * fill.quantity;
        book.entry_ts = fill.ts;
        book.entry_px = fill.price;
        book.entry_qty = book.qty;
        book.entry_bar = book.bars_seen;
        book.fees = fill.fees;
        book.slippage = fill.slippage_cost;
        book.exit_value = 0.0;
        book.exit_qty = 0.0;
        book.held = 0;
        let stop_dist = match self.rules.stop {
            Exit::Percent(p) => p * fill.price,
            _ => book.stop_dist,
        };
        let take_dist = match self.rules.take {
            Exit::Percent(p) => p * fill.price,
            _ => book.take_dist,
        };
        book.stop = if self.rules.stop == Exit::None { f64::NAN } else { fill.price - sign * stop_dist };
        book.take = if self.rules.take == Exit::None { f64::NAN } else { fill.price + sign * take_dist };
        Ok(())
    }

    /// Exits the position of `s` (reduce-only, through the risk engine and the execution model).
    #[inline(always)]
    fn exit<R: Recorder>(&mut self, s: usize, reason: FillReason, ctx: MarketContext, order_type: OrderType, limit: f64, rec: &mut R) -> CoreResult<()> {
        let book = self.books[s];
        if book.qty == 0.0 {
            return Ok(());
        }
        let slot = s as u32;
        let side = if book.qty > 0.0 { Side::Sell } else { Side::Buy };
        let ts = match ctx {
            MarketContext::Bar(b) => b.ts,
            MarketContext::Quote(q) => q.ts,
        };
        let ref_price = match ctx {
            MarketContext::Bar(b) => b.open,
            MarketContext::Quote(q) => q.bid,
        };
        let mut order = if order_type == OrderType::Limit {
            Order::limit(slot, side, book.qty.abs(), limit, ts)
        } else {
            Order::market(slot, side, book.qty.abs(), ref_price, ts)
        };
        order.reduce_only = true;
        let d = self.risk.validate(&order, true);
        if d.reason != Reason::Accepted {
            self.reject(d.reason.code());
            return Ok(());
        }
        let fill = match self.setup.borrow().model.fill(&self.setup.borrow().instruments[s], &order, &ctx) {
            Ok(f) => f,
            Err(e) => {
                self.risk.on_cancel(slot, side, order.quantity)?;
                if order_type == OrderType::Market {
                    self.reject(e.code());
                }
                return Ok(());
            }
        };
        if fill.quantity < order.quantity {
            self.risk.on_cancel(slot, side, order.quantity - fill.quantity)?;
        }
        self.apply(&fill, reason, rec)?;
        let book = &mut self.books[s];
        book.qty += side.sign() * fill.quantity;
        if book.qty.abs() < 1e-12 {
            book.qty = 0.0;
        }
        book.fees += fill.fees;
        book.slippage += fill.slippage_cost;
        book.exit_value += fill.price * fill.quantity;
        book.exit_qty += fill.quantity;
        if book.qty != 0.0 {
            // a partial exit (participation cap): the rest goes at the next open
            book.pending = Pending::Exit(reason);
            return Ok(());
        }
        let exit_px = book.exit_value / book.exit_qty;
        let trade = Trade {
            instrument: slot,
            quantity: book.entry_qty,
            entry_ts: book.entry_ts,
            entry_price: book.entry_px,
            exit_ts: fill.ts,
            exit_price: exit_px,
            pnl: (exit_px - book.entry_px) * book.entry_qty * book.mult - book.fees,
            fees: book.fees,
            slippage: book.slippage,
            bars_held: book.bars_seen + 1 - book.entry_bar,
            reason,
        };
        book.stop = f64::NAN;
        book.take = f64::NAN;
        book.held = 0;
        self.acc.push_trade(trade.pnl);
        if R::RECORDS {
            rec.trade(&trade);
        }
        Ok(())
    }

    /// Closes the position of `s` at the close of its last bar `b` (a market order against that
    /// price), before that bar time's equity is recorded.
    #[inline(always)]
    fn close_at_end<R: Recorder>(&mut self, s: usize, b: &BarQuote, rec: &mut R) -> CoreResult<()> {
        let px = b.close;
        let q = Quote { ts: b.ts, bid: px, ask: px, bid_size: f64::NAN, ask_size: f64::NAN, volume: b.volume };
        self.exit(s, FillReason::End, MarketContext::Quote(q), OrderType::Market, f64::NAN, rec)
    }
}

/// Whether a bar's low `x` reached `level` (false for a NaN level: no such exit).
#[inline(always)]
fn reached_down(x: f64, level: f64) -> bool {
    x <= level
}

/// Whether a bar's high `x` reached `level` (false for a NaN level).
#[inline(always)]
fn reached_up(x: f64, level: f64) -> bool {
    x >= level
}

/// The first index in `from..to` whose signal byte is not zero (`to` if none), eight bytes at a
/// time.
#[inline(always)]
pub fn next_signal(bits: &[u8], from: usize, to: usize) -> usize {
    let mut k = from;
    while k + 8 <= to {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bits[k..k + 8]);
        let w = u64::from_le_bytes(word);
        if w != 0 {
            return k + (w.trailing_zeros() / 8) as usize;
        }
        k += 8;
    }
    while k < to && bits[k] == 0 {
        k += 1;
    }
    k
}

/// The first index in `from..to` where `event` holds (`to` if none). Evaluates `event` on
/// blocks of eight indexes without branching on each, then finds the first one in the block.
#[inline(always)]
fn next_event(from: usize, to: usize, event: impl Fn(usize) -> bool) -> usize {
    let mut k = from;
    while k + 8 <= to {
        let mut any = false;
        for j in k..k + 8 {
            any |= event(j);
        }
        if any {
            break;
        }
        k += 8;
    }
    while k < to && !event(k) {
        k += 1;
    }
    k
}
