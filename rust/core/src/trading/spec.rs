//! [`RunSpec`]: everything a run needs besides its bars and signals, built and validated once:
//! the account ([`Setup`]: instruments resolved for the run's symbols, the execution model, risk
//! limits, starting cash, annualization) and the rules of every combination ([`Rules`]), from
//! the typed kinds [`ExitKind`] and [`SizingKind`] and one value per combination.
//!
//! The Python binding (`quant_engine._core.RunSpec`) wraps this type, so a backtest, a sweep
//! and a live account are configured by one validated object instead of positional arguments.

use crate::backtest::ConfigDoc;
use crate::error::{CoreError, CoreResult};
use crate::trading::rules::{Exit, Rules, Sizing};
use crate::trading::stepper::Setup;

/// The kind of a stop-loss or take-profit rule (the value comes per combination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ExitKind {
    /// No such exit.
    None = 0,
    /// A fraction of the entry price.
    Percent = 1,
    /// Price units.
    Points = 2,
    /// The per-bar distance series of the signal bar (e.g. `mult * ATR`), handed in with the
    /// signals; the value is unused.
    Series = 3,
}

impl ExitKind {
    /// Every kind, by discriminant.
    pub const ALL: [ExitKind; 4] = [ExitKind::None, ExitKind::Percent, ExitKind::Points, ExitKind::Series];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            ExitKind::None => "none",
            ExitKind::Percent => "percent",
            ExitKind::Points => "points",
            ExitKind::Series => "series",
        }
    }

    /// The rule of this kind with `value` (a positive, finite distance for `Percent` and
    /// `Points`; ignored otherwise). `name` labels the error.
    pub fn rule(self, value: f64, name: &'static str) -> CoreResult<Exit> {
        let positive = || -> CoreResult<f64> {
            if value.is_finite() && value > 0.0 {
                Ok(value)
            } else {
                Err(CoreError::invalid(name, format!("a {} distance must be positive and finite, got {value}", self.code())))
            }
        };
        Ok(match self {
            ExitKind::None => Exit::None,
            ExitKind::Percent => Exit::Percent(positive()?),
            ExitKind::Points => Exit::Points(positive()?),
            ExitKind::Series => Exit::Series,
        })
    }
}

/// The kind of the entry size rule (the value comes per combination).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum SizingKind {
    /// A fixed quantity.
    Fixed = 0,
    /// A target notional.
    Notional = 1,
    /// A target notional of this fraction of equity.
    EquityFraction = 2,
    /// Risk this fraction of equity between entry and stop.
    RiskFraction = 3,
}

impl SizingKind {
    /// Every kind, by discriminant.
    pub const ALL: [SizingKind; 4] = [SizingKind::Fixed, SizingKind::Notional, SizingKind::EquityFraction, SizingKind::RiskFraction];

    /// The stable code.
    pub fn code(self) -> &'static str {
        match self {
            SizingKind::Fixed => "fixed",
            SizingKind::Notional => "notional",
            SizingKind::EquityFraction => "equity_fraction",
            SizingKind::RiskFraction => "risk_fraction",
        }
    }

    /// The rule of this kind with `value` (positive and finite).
    pub fn rule(self, value: f64) -> CoreResult<Sizing> {
        if !(value.is_finite() && value > 0.0) {
            return Err(CoreError::invalid("sizing_values", format!("{} sizing needs a positive, finite value, got {value}", self.code())));
        }
        Ok(match self {
            SizingKind::Fixed => Sizing::Fixed(value),
            SizingKind::Notional => Sizing::Notional(value),
            SizingKind::EquityFraction => Sizing::EquityFraction(value),
            SizingKind::RiskFraction => Sizing::RiskFraction(value),
        })
    }
}

/// The rules of every combination as columns: one kind per rule, one value per combination.
#[derive(Debug, Clone, Copy)]
pub struct RuleColumns<'a> {
    /// Stop-loss kind.
    pub stop: ExitKind,
    /// Stop-loss distance per combination.
    pub stop_values: &'a [f64],
    /// Take-profit kind.
    pub take: ExitKind,
    /// Take-profit distance per combination.
    pub take_values: &'a [f64],
    /// Time stop (bars; 0: none) per combination.
    pub time_stops: &'a [i64],
    /// Sizing kind.
    pub sizing: SizingKind,
    /// Sizing value per combination (quantity, notional or fraction).
    pub sizing_values: &'a [f64],
}

impl RuleColumns<'_> {
    /// One [`Rules`] per combination; every value is checked.
    pub fn rules(&self, allow_short: bool, close_at_end: bool) -> CoreResult<Vec<Rules>> {
        let n = self.stop_values.len();
        for (len, name) in [(self.take_values.len(), "take_values"), (self.time_stops.len(), "time_stops"), (self.sizing_values.len(), "sizing_values")] {
            if len != n {
                return Err(CoreError::invalid(name, format!("has {len} entries; stop_values has {n} (one per combination)")));
            }
        }
        if n == 0 {
            return Err(CoreError::invalid("stop_values", "a run needs at least one combination"));
        }
        if self.sizing == SizingKind::RiskFraction && self.stop == ExitKind::None {
            return Err(CoreError::invalid("sizing", "risk_fraction sizing needs a stop-loss (the risk is measured to the stop)"));
        }
        (0..n)
            .map(|j| {
                let ts = self.time_stops[j];
                if ts < 0 {
                    return Err(CoreError::invalid("time_stops", format!("must be >= 0 bars (0: none), got {ts}")));
                }
                Ok(Rules {
                    stop: self.stop.rule(self.stop_values[j], "stop_values")?,
                    take: self.take.rule(self.take_values[j], "take_values")?,
                    time_stop: u32::try_from(ts).unwrap_or(u32::MAX),
                    sizing: self.sizing.rule(self.sizing_values[j])?,
                    allow_short,
                    close_at_end,
                })
            })
            .collect()
    }
}

/// A validated run: the account [`Setup`] for the run's symbols and the [`Rules`] of every
/// combination (one for a backtest or a live account, one per grid row for a sweep).
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Instruments (by slot, in the run's symbol order), execution model, limits, cash, annualization.
    pub setup: Setup,
    /// The rules of each combination.
    pub rules: Vec<Rules>,
    /// The account configuration it was built from (limits, overrides, flags).
    pub config: ConfigDoc,
}

impl RunSpec {
    /// Builds and validates a run for `symbols` (slot order): resolves every instrument, checks
    /// the configuration, the annualization and every combination's rules.
    pub fn new(symbols: &[String], config: ConfigDoc, periods_per_year: f64, rules: RuleColumns<'_>) -> CoreResult<RunSpec> {
        if symbols.is_empty() {
            return Err(CoreError::invalid("symbols", "a run needs at least one symbol"));
        }
        let setup = Setup::build(symbols, &config, periods_per_year)?;
        let rules = rules.rules(config.allow_short, config.close_at_end)?;
        Ok(RunSpec { setup, rules, config })
    }

    /// Number of combinations.
    pub fn combinations(&self) -> usize {
        self.rules.len()
    }

    /// The rules of combinations `first .. first + count`.
    pub fn rules_of(&self, first: usize, count: usize) -> CoreResult<&[Rules]> {
        let n = self.rules.len();
        match first.checked_add(count) {
            Some(end) if end <= n => Ok(&self.rules[first..end]),
            _ => Err(CoreError::invalid("combination", format!("combinations {first}..{first}+{count} out of range: the run spec has {n}"))),
        }
    }
}
