//! The backtest's run configuration as JSON ([`ConfigDoc`]) and the [`Setup`] built from it.

use std::collections::BTreeMap;

use crate::error::{CoreError, CoreResult};
use crate::execution::ExecutionModel;
use crate::instruments::Instrument;
use crate::risk::RiskLimits;
use crate::trading::Setup;

/// Per-symbol instrument overrides in a backtest configuration (merged over the registry's).
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstrumentOverride {
    /// Instrument kind.
    pub kind: Option<crate::instruments::InstrumentKind>,
    /// Contract multiplier.
    pub multiplier: Option<f64>,
    /// Tick size.
    pub tick_size: Option<f64>,
    /// Lot size.
    pub lot_size: Option<f64>,
    /// Initial margin per contract.
    pub initial_margin: Option<f64>,
}

/// The account configuration of a run (the fields of `quant_engine.research.BacktestConfig`
/// that the core needs; `_core.RunSpec` builds it from typed arguments, [`Setup::from_json`]
/// from JSON).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigDoc {
    /// Starting cash.
    pub initial_cash: f64,
    /// Execution model configuration.
    pub execution: crate::execution::ExecutionConfig,
    /// Risk limits (None: the defaults).
    pub risk_limits: Option<RiskLimits>,
    /// Instrument overrides by symbol.
    pub instruments: BTreeMap<String, InstrumentOverride>,
    /// Resolve tickers the registry does not list as equities (x1); the registry's default.
    pub allow_unlisted_equities: bool,
    /// The month (`YYYYMM`) one-digit futures years are read against (the data's first month).
    pub reference_month: Option<u32>,
    /// Take short entries.
    pub allow_short: bool,
    /// Close open positions at the end of the data.
    pub close_at_end: bool,
}

impl Default for ConfigDoc {
    fn default() -> Self {
        ConfigDoc {
            initial_cash: 1_000_000.0,
            execution: crate::execution::ExecutionConfig::default(),
            risk_limits: None,
            instruments: BTreeMap::new(),
            allow_unlisted_equities: crate::instruments::DEFAULT_ALLOW_UNLISTED_EQUITIES,
            reference_month: None,
            allow_short: true,
            close_at_end: true,
        }
    }
}

impl Setup {
    /// Builds the setup for `symbols` (segment order) from a JSON configuration.
    pub fn from_json(symbols: &[String], json: &str, periods_per_year: f64) -> CoreResult<(Setup, ConfigDoc)> {
        let doc: ConfigDoc = serde_json::from_str(json).map_err(|e| CoreError::invalid("config", format!("bad backtest configuration: {e}")))?;
        let setup = Setup::build(symbols, &doc, periods_per_year)?;
        Ok((setup, doc))
    }

    /// Builds the setup for `symbols` (segment order) from a configuration: resolves and checks
    /// every instrument, the execution model, the limits, the cash and the annualization.
    pub fn build(symbols: &[String], doc: &ConfigDoc, periods_per_year: f64) -> CoreResult<Setup> {
        if !(doc.initial_cash.is_finite() && doc.initial_cash > 0.0) {
            return Err(CoreError::invalid("initial_cash", format!("must be positive, got {}", doc.initial_cash)));
        }
        if !(periods_per_year.is_finite() && periods_per_year > 0.0) {
            return Err(CoreError::invalid("periods_per_year", format!("must be positive, got {periods_per_year}")));
        }
        let mut registry = crate::instruments::InstrumentRegistry::with_builtins();
        registry.set_allow_unlisted_equities(doc.allow_unlisted_equities);
        if let Some(m) = doc.reference_month {
            registry.set_reference_month(m)?;
        }
        let mut instruments = Vec::with_capacity(symbols.len());
        for sym in symbols {
            let mut inst = match doc.instruments.get(sym) {
                Some(o) if o.kind.is_some() && o.multiplier.is_some() => Instrument::new(
                    sym.clone(),
                    o.kind.unwrap_or(crate::instruments::InstrumentKind::Equity),
                    o.multiplier.unwrap_or(1.0),
                    o.tick_size.unwrap_or(0.01),
                ),
                _ => registry.resolve(sym)?,
            };
            if let Some(o) = doc.instruments.get(sym) {
                if let Some(m) = o.multiplier {
                    inst.multiplier = m;
                }
                if let Some(t) = o.tick_size {
                    inst.tick_size = t;
                }
                if let Some(l) = o.lot_size {
                    inst.lot_size = l;
                }
                if o.initial_margin.is_some() {
                    inst.initial_margin = o.initial_margin;
                }
            }
            inst.validate()?;
            instruments.push(inst);
        }
        let model = ExecutionModel::new(doc.execution.clone())?;
        let limits = doc.risk_limits.clone().unwrap_or_default();
        limits.validate()?;
        Ok(Setup { instruments, model, limits, initial_cash: doc.initial_cash, periods_per_year })
    }
}
