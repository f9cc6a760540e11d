//! Risk limits: per instrument kind, per symbol overrides, and portfolio-wide rules. Serializable
//! (JSON) so a configuration file or the Python layer can hand them over in one piece.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Mode;
use crate::error::{CoreError, CoreResult};
use crate::instruments::{Instrument, InstrumentKind};

/// Per-order and per-position limits of one instrument kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KindLimits {
    /// Most contracts (shares) in one order; `None` for no limit.
    pub max_order_quantity: Option<f64>,
    /// Most notional (`quantity * price * multiplier`) in one order.
    pub max_order_notional: Option<f64>,
    /// Most contracts held (worst case, open orders included) in one instrument.
    pub max_position: Option<f64>,
    /// Margin as a fraction of notional when the instrument has no per-contract margin
    /// (1.0 = fully paid: cash equities, long options).
    pub margin_rate: f64,
}

impl KindLimits {
    /// The defaults of a kind: 10,000 shares / 100,000 held for equities, 50 / 500 contracts
    /// for options, 10 / 50 contracts for futures (the original quant-engine's per-order caps).
    pub fn default_for(kind: InstrumentKind) -> KindLimits {
        let (q, p, m) = match kind {
            InstrumentKind::Equity | InstrumentKind::Index => (10_000.0, 100_000.0, 1.0),
            InstrumentKind::Option => (50.0, 500.0, 1.0),
            InstrumentKind::Future => (10.0, 50.0, 0.1),
        };
        KindLimits { max_order_quantity: Some(q), max_order_notional: None, max_position: Some(p), margin_rate: m }
    }
}

impl Default for KindLimits {
    fn default() -> Self {
        KindLimits::default_for(InstrumentKind::Equity)
    }
}

/// Overrides for one symbol (or a futures root, or an option underlying).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SymbolLimits {
    /// Overrides the kind's `max_order_quantity`.
    pub max_order_quantity: Option<f64>,
    /// Overrides the kind's `max_order_notional`.
    pub max_order_notional: Option<f64>,
    /// Overrides the kind's `max_position`.
    pub max_position: Option<f64>,
}

/// A kind's limits as written in a configuration: every field that is absent keeps the kind's
/// default ([`KindLimits::default_for`]); an explicit `null` means "no limit".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KindPatch {
    #[serde(default, deserialize_with = "present")]
    max_order_quantity: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    max_order_notional: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    max_position: Option<Option<f64>>,
    #[serde(default)]
    margin_rate: Option<f64>,
}

/// A field that is present (its value may be `null`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl KindPatch {
    fn over(self, kind: InstrumentKind) -> KindLimits {
        let d = KindLimits::default_for(kind);
        KindLimits {
            max_order_quantity: self.max_order_quantity.unwrap_or(d.max_order_quantity),
            max_order_notional: self.max_order_notional.unwrap_or(d.max_order_notional),
            max_position: self.max_position.unwrap_or(d.max_position),
            margin_rate: self.margin_rate.unwrap_or(d.margin_rate),
        }
    }
}

fn equity_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<KindLimits, D::Error> {
    KindPatch::deserialize(d).map(|p| p.over(InstrumentKind::Equity))
}

fn option_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<KindLimits, D::Error> {
    KindPatch::deserialize(d).map(|p| p.over(InstrumentKind::Option))
}

fn future_limits<'de, D: serde::Deserializer<'de>>(d: D) -> Result<KindLimits, D::Error> {
    KindPatch::deserialize(d).map(|p| p.over(InstrumentKind::Future))
}

/// Every limit the risk engine enforces. [`RiskLimits::default`] is the one source of the
/// defaults (the Python `quant_engine.risk.RiskLimits` reads them through `_core`); a partial
/// kind table (`{"future": {"max_position": 5}}`) keeps that kind's defaults for the fields it
/// does not name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskLimits {
    /// Equity limits.
    #[serde(deserialize_with = "equity_limits")]
    pub equity: KindLimits,
    /// Option limits.
    #[serde(deserialize_with = "option_limits")]
    pub option: KindLimits,
    /// Futures limits.
    #[serde(deserialize_with = "future_limits")]
    pub future: KindLimits,
    /// Overrides by symbol; a key may also be a futures root (`ES`: every ES contract) or an
    /// option underlying (`SPX`: every SPX/SPXW option). The exact symbol wins over the root.
    pub symbols: BTreeMap<String, SymbolLimits>,
    /// Most gross exposure (`sum |worst-case position| * price * multiplier`) after an order.
    pub max_gross_exposure: Option<f64>,
    /// Most accepted orders within `rate_window_ns`; `None` for no rate limit.
    pub max_orders_per_window: Option<u32>,
    /// The rate-limit window in ns (default 1 s).
    pub rate_window_ns: i64,
    /// Daily loss (positive currency amount) that triggers `daily_loss_action`.
    pub max_daily_loss: Option<f64>,
    /// The mode a daily-loss breach switches to (default REDUCING).
    pub daily_loss_action: Mode,
    /// Drawdown from the equity peak, as a fraction (0.2 = 20%), that triggers `drawdown_action`.
    pub max_drawdown: Option<f64>,
    /// The mode a drawdown breach switches to (default HALTED).
    pub drawdown_action: Mode,
    /// Reject orders whose margin would exceed equity.
    pub check_buying_power: bool,
}

impl Default for RiskLimits {
    fn default() -> Self {
        RiskLimits {
            equity: KindLimits::default_for(InstrumentKind::Equity),
            option: KindLimits::default_for(InstrumentKind::Option),
            future: KindLimits::default_for(InstrumentKind::Future),
            symbols: BTreeMap::new(),
            max_gross_exposure: None,
            max_orders_per_window: None,
            rate_window_ns: 1_000_000_000,
            max_daily_loss: None,
            daily_loss_action: Mode::Reducing,
            max_drawdown: None,
            drawdown_action: Mode::Halted,
            check_buying_power: true,
        }
    }
}

/// The resolved limits of one instrument (`inf` where there is no limit).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EffectiveLimits {
    /// Per-order quantity maximum.
    pub max_order_quantity: f64,
    /// Per-order notional maximum.
    pub max_order_notional: f64,
    /// Worst-case position maximum.
    pub max_position: f64,
    /// Margin per contract, or NaN when margin is `margin_rate * notional`.
    pub margin_per_contract: f64,
    /// Margin as a fraction of notional (used when `margin_per_contract` is NaN).
    pub margin_rate: f64,
}

impl RiskLimits {
    /// Parses limits from JSON (unknown keys are errors, missing keys take defaults).
    pub fn from_json(text: &str) -> CoreResult<RiskLimits> {
        let limits: RiskLimits = serde_json::from_str(text).map_err(|e| CoreError::invalid("limits", format!("bad limits: {e}")))?;
        limits.validate()?;
        Ok(limits)
    }

    /// The limits as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("limits serialize")
    }

    /// The limits of a kind.
    pub fn kind(&self, kind: InstrumentKind) -> &KindLimits {
        match kind {
            InstrumentKind::Option => &self.option,
            InstrumentKind::Future => &self.future,
            InstrumentKind::Equity | InstrumentKind::Index => &self.equity,
        }
    }

    /// Checks every number (positive where it is a limit, a fraction in (0, 1] for drawdown).
    pub fn validate(&self) -> CoreResult<()> {
        let pos = |name: &'static str, v: Option<f64>| -> CoreResult<()> {
            match v {
                Some(x) if x.is_nan() || x <= 0.0 => Err(CoreError::invalid(name, format!("must be positive, got {x}"))),
                _ => Ok(()),
            }
        };
        for (k, l) in [("equity", &self.equity), ("option", &self.option), ("future", &self.future)] {
            pos("max_order_quantity", l.max_order_quantity)?;
            pos("max_order_notional", l.max_order_notional)?;
            pos("max_position", l.max_position)?;
            if !(l.margin_rate.is_finite() && l.margin_rate >= 0.0) {
                return Err(CoreError::invalid("margin_rate", format!("{k}: must be finite and >= 0, got {}", l.margin_rate)));
            }
        }
        for (s, l) in &self.symbols {
            pos("max_order_quantity", l.max_order_quantity).map_err(|e| tag(e, s))?;
            pos("max_order_notional", l.max_order_notional).map_err(|e| tag(e, s))?;
            pos("max_position", l.max_position).map_err(|e| tag(e, s))?;
        }
        pos("max_gross_exposure", self.max_gross_exposure)?;
        pos("max_daily_loss", self.max_daily_loss)?;
        if let Some(d) = self.max_drawdown {
            if !(d > 0.0 && d <= 1.0) {
                return Err(CoreError::invalid("max_drawdown", format!("must be a fraction in (0, 1], got {d}")));
            }
        }
        if self.max_orders_per_window == Some(0) {
            return Err(CoreError::invalid("max_orders_per_window", "must be at least 1 (or None for no limit)"));
        }
        if self.rate_window_ns <= 0 {
            return Err(CoreError::invalid("rate_window_ns", format!("must be positive, got {}", self.rate_window_ns)));
        }
        if self.daily_loss_action == Mode::Active || self.drawdown_action == Mode::Active {
            return Err(CoreError::invalid("action", "a loss rule must switch to reducing or halted"));
        }
        Ok(())
    }

    /// The effective limits of an instrument: the kind's defaults, overridden by the option
    /// underlying or futures root entry, overridden by the exact symbol's entry.
    pub fn effective(&self, inst: &Instrument) -> EffectiveLimits {
        let k = self.kind(inst.kind);
        let mut e = EffectiveLimits {
            max_order_quantity: k.max_order_quantity.unwrap_or(f64::INFINITY),
            max_order_notional: k.max_order_notional.unwrap_or(f64::INFINITY),
            max_position: k.max_position.unwrap_or(f64::INFINITY),
            margin_per_contract: inst.initial_margin.unwrap_or(f64::NAN),
            margin_rate: k.margin_rate,
        };
        let family = inst.future.as_ref().map(|f| f.root.as_str()).or_else(|| inst.option.as_ref().map(|o| o.underlying.as_str()));
        for key in family.into_iter().chain(std::iter::once(inst.symbol.as_str())) {
            if let Some(o) = self.symbols.get(key) {
                e.max_order_quantity = o.max_order_quantity.unwrap_or(e.max_order_quantity);
                e.max_order_notional = o.max_order_notional.unwrap_or(e.max_order_notional);
                e.max_position = o.max_position.unwrap_or(e.max_position);
            }
        }
        e
    }
}

fn tag(e: CoreError, symbol: &str) -> CoreError {
    match e {
        CoreError::InvalidArgument { name, reason } => CoreError::InvalidArgument { name, reason: format!("{symbol}: {reason}") },
        other => other,
    }
}
