//! The one execution model: an order plus market context in, a fill or a rejection out. The
//! backtester and the paper trader both call it, so research and live fill the same way.
//!
//! * **Market orders** cross the spread (buy at the ask, sell at the bid) and pay slippage per
//!   unit: `base * fixed_bps / 1e4 + spread_fraction * spread + base * impact_bps / 1e4 *
//!   sqrt(quantity / volume)` (the last term is the square-root market-impact law; it is 0 when
//!   the volume is unknown).
//! * **Bars only**: an order fills against the *next* bar (the caller passes the bar after the
//!   one the order was decided on): base = `open` plus half the assumed spread
//!   (`assumed_spread_bps`), then the same slippage terms, `spread` being the assumed spread.
//! * **Limit orders** fill only when the price trades through the limit: against a quote when
//!   the order is marketable (`ask <= limit` for a buy), at the touch plus slippage capped at the
//!   limit; against a bar when it opens through the limit (at the open plus slippage, capped at
//!   the limit) or when its range goes strictly beyond the limit (`low < limit` for a buy; `<=`
//!   with `limit_fill_on_touch`), passively at the limit with no slippage.
//! * **Fees**: per share (equities) or per contract (options, futures) plus bps of notional, at
//!   least `minimum`, at most `maximum_fraction` of notional.
//! * Every fill carries price, quantity, fees, slippage cost and the multiplier used.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::instruments::{Instrument, InstrumentKind};
use crate::order::{Fill, InstrumentColumn, Order, OrderType, Side};

/// A commission schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeeSchedule {
    /// Per share (equities) or per contract (options, futures).
    pub per_unit: f64,
    /// Basis points of traded notional.
    pub bps: f64,
    /// Minimum per fill.
    pub minimum: f64,
    /// Cap as a fraction of traded notional (`inf` for none); wins over `minimum`.
    #[serde(with = "crate::serde_f64::inf_as_null")]
    pub maximum_fraction: f64,
}

impl Default for FeeSchedule {
    fn default() -> Self {
        FeeSchedule { per_unit: 0.0, bps: 0.0, minimum: 0.0, maximum_fraction: f64::INFINITY }
    }
}

impl FeeSchedule {
    /// Fees of a fill of `quantity` at `notional`.
    #[inline(always)]
    pub fn fee(&self, quantity: f64, notional: f64) -> f64 {
        let raw = self.per_unit * quantity + self.bps * 1e-4 * notional;
        fmin(fmax(raw, self.minimum), self.maximum_fraction * notional)
    }

    fn check(&self, name: &'static str) -> CoreResult<()> {
        // (field, value, whether +inf is allowed: only the cap, where it means "no cap")
        let fields =
            [("per_unit", self.per_unit, false), ("bps", self.bps, false), ("minimum", self.minimum, false), ("maximum_fraction", self.maximum_fraction, true)];
        for (field, v, inf_ok) in fields {
            if v.is_nan() || v < 0.0 || (v.is_infinite() && !inf_ok) {
                return Err(CoreError::invalid(name, format!("{field} must be finite and non-negative, got {v}")));
            }
        }
        Ok(())
    }
}

/// Slippage terms (per unit, added to buys and subtracted from sells).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Slippage {
    /// Fixed basis points of the base price.
    pub fixed_bps: f64,
    /// Fraction of the quoted (or assumed) spread.
    pub spread_fraction: f64,
    /// Square-root impact: basis points of the base price when the order equals the volume;
    /// scales with `sqrt(quantity / volume)`.
    pub impact_bps: f64,
    /// Spread assumed when only bars exist, in bps of the open (fills start half of it away
    /// from the open).
    pub assumed_spread_bps: f64,
}

/// Configuration of the execution model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutionConfig {
    /// Slippage terms.
    pub slippage: Slippage,
    /// Fees of equity fills (per share).
    pub equity_fees: FeeSchedule,
    /// Fees of option fills (per contract).
    pub option_fees: FeeSchedule,
    /// Fees of futures fills (per contract).
    pub future_fees: FeeSchedule,
    /// Largest fraction of the context's volume one fill may take (`inf`: no cap). A capped
    /// fill is partial; the rest of the order is the caller's to keep or cancel.
    #[serde(with = "crate::serde_f64::inf_as_null")]
    pub max_participation: f64,
    /// Passive limit fills on a touch (`low == limit`) rather than only a trade-through.
    pub limit_fill_on_touch: bool,
    /// Rounds fill prices to the tick grid, adversely (buys up, sells down).
    pub round_to_tick: bool,
}

impl Default for ExecutionConfig {
    fn default() -> Self {
        ExecutionConfig {
            slippage: Slippage::default(),
            equity_fees: FeeSchedule::default(),
            option_fees: FeeSchedule::default(),
            future_fees: FeeSchedule::default(),
            max_participation: f64::INFINITY,
            limit_fill_on_touch: false,
            round_to_tick: false,
        }
    }
}

/// A top-of-book quote.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quote {
    /// Quote time, UTC ns (the fill's time).
    pub ts: i64,
    /// Best bid.
    pub bid: f64,
    /// Best ask.
    pub ask: f64,
    /// Size at the bid (informational).
    pub bid_size: f64,
    /// Size at the ask (informational).
    pub ask_size: f64,
    /// Traded volume the impact and participation terms use (e.g. the current bar's or an
    /// average volume); NaN when unknown (no impact term, no participation cap).
    pub volume: f64,
}

/// An OHLCV bar (the bar *after* the order's decision bar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BarQuote {
    /// Bar start, UTC ns (the fill's time).
    pub ts: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume (NaN or 0: no impact term, no participation cap).
    pub volume: f64,
}

/// What the order executes against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MarketContext {
    /// A quote.
    Quote(Quote),
    /// The next bar.
    Bar(BarQuote),
}

/// Why an order did not fill. Discriminants are stable (they are the batch `status` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FillReject {
    /// Quantity not positive and finite, or a limit order without a positive limit price.
    InvalidOrder = 1,
    /// The instrument cannot be traded (an index).
    NotTradable = 2,
    /// The quote or bar is unusable (NaN, non-positive, crossed quote, `high < low`).
    InvalidMarketData = 3,
    /// A limit order whose price was not traded through.
    LimitNotReached = 4,
    /// The participation cap leaves nothing to fill.
    NoLiquidity = 5,
    /// The order's instrument slot is not in the instrument slice (batch form).
    UnknownInstrument = 6,
}

impl FillReject {
    /// Every rejection, in discriminant order.
    pub const ALL: [FillReject; 6] = [
        FillReject::InvalidOrder,
        FillReject::NotTradable,
        FillReject::InvalidMarketData,
        FillReject::LimitNotReached,
        FillReject::NoLiquidity,
        FillReject::UnknownInstrument,
    ];

    /// The stable snake_case code.
    pub fn code(self) -> &'static str {
        match self {
            FillReject::InvalidOrder => "invalid_order",
            FillReject::NotTradable => "not_tradable",
            FillReject::InvalidMarketData => "invalid_market_data",
            FillReject::LimitNotReached => "limit_not_reached",
            FillReject::NoLiquidity => "no_liquidity",
            FillReject::UnknownInstrument => "unknown_instrument",
        }
    }
}

/// The zero row written for orders that did not fill (batch form).
const NO_FILL: Fill =
    Fill { instrument: 0, side: Side::Buy, quantity: 0.0, price: 0.0, base_price: 0.0, fees: 0.0, slippage_cost: 0.0, multiplier: 0.0, ts: 0 };

/// Batch status code of a fill (0); rejections use their [`FillReject`] discriminant.
pub const FILLED: u8 = 0;

/// Orders as columns, for [`ExecutionModel::fill_bars_batch`]. The row count is
/// `quantity.len()`.
#[derive(Debug, Clone, Copy)]
pub struct OrderColumns<'a> {
    /// Instrument of each order (slots index the instrument slice).
    pub instrument: InstrumentColumn<'a>,
    /// +1 buy, -1 sell.
    pub side: &'a [i8],
    /// Quantity.
    pub quantity: &'a [f64],
    /// `OrderType` discriminants (0 market, 1 limit); empty = all market.
    pub order_type: &'a [u8],
    /// Limit prices (ignored for market orders); empty = all market.
    pub limit_price: &'a [f64],
    /// Row of `bars` each order executes against (its next bar).
    pub bar: &'a [i64],
}

/// Bars as columns.
#[derive(Debug, Clone, Copy)]
pub struct BarColumnsRef<'a> {
    /// Bar start, UTC ns.
    pub ts: &'a [i64],
    /// Open.
    pub open: &'a [f64],
    /// High.
    pub high: &'a [f64],
    /// Low.
    pub low: &'a [f64],
    /// Close.
    pub close: &'a [f64],
    /// Volume.
    pub volume: &'a [f64],
}

/// Fills as columns (one row per order; rejected rows have `status != 0` and zeros elsewhere).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FillColumns {
    /// [`FILLED`] or a [`FillReject`] discriminant.
    pub status: Vec<u8>,
    /// Fill time (the bar's `ts`).
    pub ts: Vec<i64>,
    /// Filled quantity.
    pub quantity: Vec<f64>,
    /// Fill price.
    pub price: Vec<f64>,
    /// Price before slippage.
    pub base_price: Vec<f64>,
    /// Fees.
    pub fees: Vec<f64>,
    /// Slippage cost.
    pub slippage_cost: Vec<f64>,
    /// Multiplier used.
    pub multiplier: Vec<f64>,
}

/// The execution model (stateless apart from its configuration; cheap to share).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExecutionModel {
    config: ExecutionConfig,
}

#[inline(always)]
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

impl ExecutionModel {
    /// A model with `config` (checked: every term finite and non-negative).
    pub fn new(config: ExecutionConfig) -> CoreResult<Self> {
        let s = &config.slippage;
        for (name, v) in
            [("fixed_bps", s.fixed_bps), ("spread_fraction", s.spread_fraction), ("impact_bps", s.impact_bps), ("assumed_spread_bps", s.assumed_spread_bps)]
        {
            if !(v.is_finite() && v >= 0.0) {
                return Err(CoreError::invalid(name, format!("must be finite and non-negative, got {v}")));
            }
        }
        config.equity_fees.check("equity_fees")?;
        config.option_fees.check("option_fees")?;
        config.future_fees.check("future_fees")?;
        if config.max_participation.is_nan() || config.max_participation <= 0.0 {
            return Err(CoreError::invalid("max_participation", format!("must be positive, got {}", config.max_participation)));
        }
        Ok(ExecutionModel { config })
    }

    /// The configuration.
    pub fn config(&self) -> &ExecutionConfig {
        &self.config
    }

    /// The fee schedule of an instrument kind (indexes have none: they are not tradable).
    #[inline(always)]
    pub fn fees_for(&self, kind: InstrumentKind) -> &FeeSchedule {
        match kind {
            InstrumentKind::Option => &self.config.option_fees,
            InstrumentKind::Future => &self.config.future_fees,
            _ => &self.config.equity_fees,
        }
    }

    /// The numbers of an instrument the pricing uses (built once per instrument per batch).
    #[inline(always)]
    fn terms(&self, inst: &Instrument) -> Terms {
        Terms { tradable: inst.is_tradable(), multiplier: inst.multiplier, tick_size: inst.tick_size, lot_size: inst.lot_size, fees: *self.fees_for(inst.kind) }
    }

    /// Fills `order` on `instrument` against `ctx`.
    #[inline(always)]
    pub fn fill(&self, instrument: &Instrument, order: &Order, ctx: &MarketContext) -> Result<Fill, FillReject> {
        let instrument = &self.terms(instrument);
        let limit = match order.order_type {
            OrderType::Market => f64::NAN,
            OrderType::Limit => order.price,
        };
        let (ts, r) = match ctx {
            MarketContext::Quote(q) => (q.ts, self.price_on_quote(instrument, order.side, order.quantity, limit, q)),
            MarketContext::Bar(b) => (b.ts, self.price_on_bar(instrument, order.side, order.quantity, limit, b)),
        };
        let p = r?;
        Ok(self.finish(instrument, order.instrument, order.side, ts, p))
    }

    /// Fills orders against bars, column-wise, with the same code as [`ExecutionModel::fill`]
    /// (bit-identical results). `out` is cleared first (its buffers are reused). Errors only on
    /// mismatched lengths or a
    /// `bar` index out of range; per-order problems are status codes.
    pub fn fill_bars_batch(&self, instruments: &[Instrument], orders: &OrderColumns<'_>, bars: &BarColumnsRef<'_>, out: &mut FillColumns) -> CoreResult<()> {
        let n = orders.quantity.len();
        if let Some(len) = orders.instrument.len().filter(|&l| l != n) {
            return Err(CoreError::invalid("instrument", format!("has {len} rows; the orders have {n}")));
        }
        let same = |len: usize, name: &'static str| -> CoreResult<()> {
            if len == n {
                Ok(())
            } else {
                Err(CoreError::invalid(name, format!("has {len} rows; the orders have {n}")))
            }
        };
        same(orders.side.len(), "side")?;
        same(orders.bar.len(), "bar")?;
        if !orders.order_type.is_empty() || !orders.limit_price.is_empty() {
            same(orders.order_type.len(), "order_type")?;
            same(orders.limit_price.len(), "limit_price")?;
        }
        let nb = bars.ts.len();
        for (col, name) in [(bars.open, "open"), (bars.high, "high"), (bars.low, "low"), (bars.close, "close"), (bars.volume, "volume")] {
            if col.len() != nb {
                return Err(CoreError::invalid(name, format!("has {} rows; the bars have {nb}", col.len())));
            }
        }
        if orders.bar.iter().any(|&b| b < 0 || b >= nb as i64) {
            let bad = orders.bar.iter().position(|&b| b < 0 || b >= nb as i64).expect("found above");
            return Err(CoreError::invalid("bar", format!("order {bad} refers to bar {} of {nb}", orders.bar[bad])));
        }
        // Every column is written row by row (no zeroing pass); a caller that reuses `out`
        // across batches reuses its buffers.
        for v in [&mut out.quantity, &mut out.price, &mut out.base_price, &mut out.fees, &mut out.slippage_cost, &mut out.multiplier] {
            v.clear();
            v.reserve(n);
        }
        out.status.clear();
        out.status.reserve(n);
        out.ts.clear();
        out.ts.reserve(n);
        fill_batch_dispatch(self, instruments, orders, bars, out);
        Ok(())
    }

    #[inline(always)]
    fn fill_batch_rows(&self, instruments: &[Instrument], o: &OrderColumns<'_>, b: &BarColumnsRef<'_>, out: &mut FillColumns) {
        // One copy of the loop per way the instrument column is given.
        match o.instrument {
            InstrumentColumn::Slots(s) => self.fill_batch_rows_with(instruments, o, b, out, |i| s[i]),
            InstrumentColumn::One(slot) => self.fill_batch_rows_with(instruments, o, b, out, |_| slot),
            InstrumentColumn::Keys(k, t) => self.fill_batch_rows_with(instruments, o, b, out, |i| t.get(k[i] as u32 as usize).copied().unwrap_or(u32::MAX)),
        }
    }

    #[inline(always)]
    fn fill_batch_rows_with(
        &self,
        instruments: &[Instrument],
        o: &OrderColumns<'_>,
        b: &BarColumnsRef<'_>,
        out: &mut FillColumns,
        slot_of: impl Fn(usize) -> u32,
    ) {
        let n = o.quantity.len();
        let terms: Vec<Terms> = instruments.iter().map(|i| self.terms(i)).collect();
        let instruments = &terms[..];
        let with_types = !o.order_type.is_empty();
        {
            // Columns are written in place through their spare capacity (reserved for `n` rows
            // by the caller): no zeroing pass and no per-row length bookkeeping.
            let status = &mut out.status.spare_capacity_mut()[..n];
            let ts = &mut out.ts.spare_capacity_mut()[..n];
            let quantity = &mut out.quantity.spare_capacity_mut()[..n];
            let price = &mut out.price.spare_capacity_mut()[..n];
            let base_price = &mut out.base_price.spare_capacity_mut()[..n];
            let fees = &mut out.fees.spare_capacity_mut()[..n];
            let slippage_cost = &mut out.slippage_cost.spare_capacity_mut()[..n];
            let multiplier = &mut out.multiplier.spare_capacity_mut()[..n];
            for i in 0..n {
                let (code, f) = match self.fill_row(instruments, o, b, with_types, i, slot_of(i)) {
                    Ok(f) => (FILLED, f),
                    Err(reject) => (reject as u8, NO_FILL),
                };
                status[i].write(code);
                ts[i].write(f.ts);
                quantity[i].write(f.quantity);
                price[i].write(f.price);
                base_price[i].write(f.base_price);
                fees[i].write(f.fees);
                slippage_cost[i].write(f.slippage_cost);
                multiplier[i].write(f.multiplier);
            }
        }
        // SAFETY: the loop above initialized rows 0..n of every column (each iteration writes
        // row i of all eight), and each column's capacity is at least n.
        unsafe {
            out.status.set_len(n);
            out.ts.set_len(n);
            out.quantity.set_len(n);
            out.price.set_len(n);
            out.base_price.set_len(n);
            out.fees.set_len(n);
            out.slippage_cost.set_len(n);
            out.multiplier.set_len(n);
        }
    }

    /// One row of the batch: the same pricing as [`ExecutionModel::fill`] on a bar.
    #[inline(always)]
    fn fill_row(&self, instruments: &[Terms], o: &OrderColumns<'_>, b: &BarColumnsRef<'_>, with_types: bool, i: usize, slot: u32) -> Result<Fill, FillReject> {
        let inst = instruments.get(slot as usize).ok_or(FillReject::UnknownInstrument)?;
        let side = Side::from_sign(o.side[i]).ok_or(FillReject::InvalidOrder)?;
        let limit = if with_types {
            match o.order_type[i] {
                0 => f64::NAN,
                1 => o.limit_price[i],
                _ => return Err(FillReject::InvalidOrder),
            }
        } else {
            f64::NAN
        };
        let k = o.bar[i] as usize;
        let bar = BarQuote { ts: b.ts[k], open: b.open[k], high: b.high[k], low: b.low[k], close: b.close[k], volume: b.volume[k] };
        let p = self.price_on_bar(inst, side, o.quantity[i], limit, &bar)?;
        Ok(self.finish(inst, slot, side, bar.ts, p))
    }

    /// Slippage per unit for a marketable fill.
    #[inline(always)]
    fn slip(&self, base: f64, spread: f64, quantity: f64, volume: f64) -> f64 {
        let s = &self.config.slippage;
        let mut slip = base * s.fixed_bps * 1e-4 + s.spread_fraction * spread;
        if s.impact_bps > 0.0 && positive(volume) {
            slip += base * s.impact_bps * 1e-4 * (quantity / volume).sqrt();
        }
        slip
    }

    #[inline(always)]
    fn check_order(&self, inst: &Terms, quantity: f64, limit: f64) -> Result<(), FillReject> {
        if !inst.tradable {
            return Err(FillReject::NotTradable);
        }
        if !positive(quantity) || !(limit.is_nan() || positive(limit)) {
            return Err(FillReject::InvalidOrder);
        }
        Ok(())
    }

    /// Participation cap: the quantity this fill may take.
    #[inline(always)]
    fn capped(&self, inst: &Terms, quantity: f64, volume: f64) -> Result<f64, FillReject> {
        let cap = self.config.max_participation;
        if cap.is_finite() && positive(volume) {
            let room = ((cap * volume) / inst.lot_size + 1e-9).floor() * inst.lot_size;
            if room <= 0.0 {
                return Err(FillReject::NoLiquidity);
            }
            return Ok(quantity.min(room));
        }
        Ok(quantity)
    }

    #[inline(always)]
    fn price_on_quote(&self, inst: &Terms, side: Side, quantity: f64, limit: f64, q: &Quote) -> Result<Priced, FillReject> {
        self.check_order(inst, quantity, limit)?;
        let touch = match side {
            Side::Buy => q.ask,
            Side::Sell => q.bid,
        };
        if !positive(touch) || (positive(q.bid) && positive(q.ask) && q.ask < q.bid) {
            return Err(FillReject::InvalidMarketData);
        }
        let spread = if positive(q.bid) && positive(q.ask) { q.ask - q.bid } else { 0.0 };
        if !limit.is_nan() && side.sign() * (touch - limit) > 0.0 {
            return Err(FillReject::LimitNotReached);
        }
        let qty = self.capped(inst, quantity, q.volume)?;
        let slip = self.slip(touch, spread, qty, q.volume);
        Ok(Priced { quantity: qty, base: touch, price: cap_at_limit(side, touch + side.sign() * slip, limit) })
    }

    #[inline(always)]
    fn price_on_bar(&self, inst: &Terms, side: Side, quantity: f64, limit: f64, b: &BarQuote) -> Result<Priced, FillReject> {
        self.check_order(inst, quantity, limit)?;
        if !(positive(b.open) && positive(b.high) && positive(b.low)) || b.high < b.low || b.open > b.high || b.open < b.low {
            return Err(FillReject::InvalidMarketData);
        }
        let sign = side.sign();
        let qty = self.capped(inst, quantity, b.volume)?;
        let through_at_open = limit.is_nan() || sign * (b.open - limit) <= 0.0;
        if through_at_open {
            let spread = b.open * self.config.slippage.assumed_spread_bps * 1e-4;
            let base = b.open + sign * 0.5 * spread;
            let slip = self.slip(base, spread, qty, b.volume);
            return Ok(Priced { quantity: qty, base, price: cap_at_limit(side, base + sign * slip, limit) });
        }
        let extreme = match side {
            Side::Buy => b.low,
            Side::Sell => b.high,
        };
        let gap = sign * (limit - extreme);
        if gap > 0.0 || (self.config.limit_fill_on_touch && gap == 0.0) {
            return Ok(Priced { quantity: qty, base: limit, price: limit });
        }
        Err(FillReject::LimitNotReached)
    }

    #[inline(always)]
    fn finish(&self, inst: &Terms, slot: u32, side: Side, ts: i64, p: Priced) -> Fill {
        let sign = side.sign();
        let mut price = p.price;
        if self.config.round_to_tick {
            let ticks = price / inst.tick_size;
            let r = if sign > 0.0 { (ticks - 1e-9).ceil() } else { (ticks + 1e-9).floor() };
            price = fmax(r * inst.tick_size, inst.tick_size);
        }
        let price = fmax(price, f64::MIN_POSITIVE);
        let m = inst.multiplier;
        let notional = p.quantity * price * m;
        Fill {
            instrument: slot,
            side,
            quantity: p.quantity,
            price,
            base_price: p.base,
            fees: inst.fees.fee(p.quantity, notional),
            slippage_cost: (price - p.base) * sign * p.quantity * m,
            multiplier: m,
            ts,
        }
    }
}

/// `max` of two non-NaN numbers in one instruction (the inputs are validated finite first).
#[inline(always)]
fn fmax(a: f64, b: f64) -> f64 {
    if a > b {
        a
    } else {
        b
    }
}

/// `min` of two non-NaN numbers in one instruction.
#[inline(always)]
fn fmin(a: f64, b: f64) -> f64 {
    if a < b {
        a
    } else {
        b
    }
}

#[inline(always)]
fn cap_at_limit(side: Side, price: f64, limit: f64) -> f64 {
    if limit.is_nan() {
        price
    } else {
        match side {
            Side::Buy => fmin(price, limit),
            Side::Sell => fmax(price, limit),
        }
    }
}

/// An instrument's numbers as the pricing needs them (one small record instead of the spec
/// with its strings and optional terms).
#[derive(Debug, Clone, Copy)]
struct Terms {
    tradable: bool,
    multiplier: f64,
    tick_size: f64,
    lot_size: f64,
    fees: FeeSchedule,
}

/// A priced fill before fees.
#[derive(Debug, Clone, Copy)]
struct Priced {
    quantity: f64,
    base: f64,
    price: f64,
}

fn fill_batch_dispatch(m: &ExecutionModel, inst: &[Instrument], o: &OrderColumns<'_>, b: &BarColumnsRef<'_>, out: &mut FillColumns) {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_x86_64_v3() {
        // SAFETY: the CPU supports every feature `fill_batch_v3` is compiled for.
        return unsafe { fill_batch_v3(m, inst, o, b, out) };
    }
    m.fill_batch_rows(inst, o, b, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
unsafe fn fill_batch_v3(m: &ExecutionModel, inst: &[Instrument], o: &OrderColumns<'_>, b: &BarColumnsRef<'_>, out: &mut FillColumns) {
    m.fill_batch_rows(inst, o, b, out)
}
