//! Pre-trade risk: limits, decisions with stable reason codes, the stateful engine, sizing.
//!
//! * [`limits`]: [`RiskLimits`] (per kind, per symbol, portfolio-wide), JSON round-trip.
//! * [`reason`]: [`Reason`] codes and [`Decision`]s (reason plus the numbers that tripped it).
//! * [`engine`]: [`RiskEngine`]: `validate` one order, `validate_batch` columns of orders (the
//!   same decisions, in sequence), state updates from fills, marks and cancels, modes and the
//!   kill switch, snapshot and restore.
//! * `batch` (with `batch_x86`): the chunked kernel behind `validate_batch`.
//! * `slot` and `rate`: the per-instrument record and the order-rate window.
//! * [`sizing`]: [`SizingMethod`] and `RiskEngine::size_order`.

pub mod batch;
#[cfg(target_arch = "x86_64")]
mod batch_x86;
pub mod engine;
pub mod limits;
mod rate;
pub mod reason;
pub mod sizing;
mod slot;

pub use crate::order::InstrumentColumn;
pub use engine::{DecisionColumns, OrderBatch, RiskEngine, RiskSnapshot};
pub use limits::{EffectiveLimits, KindLimits, RiskLimits, SymbolLimits};
pub use reason::{Decision, Reason};
pub use sizing::{SizeResult, SizingMethod};

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};

/// The engine's trading mode. Ordered: a rule only ever escalates the mode; going back to
/// ACTIVE is an explicit call (`resume`, or a new day for a daily-loss trigger).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Mode {
    /// Every check applies; orders that pass are accepted.
    Active = 0,
    /// Only orders that do not increase the worst-case position pass.
    Reducing = 1,
    /// Nothing passes.
    Halted = 2,
}

impl Mode {
    /// `active`, `reducing` or `halted`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Active => "active",
            Mode::Reducing => "reducing",
            Mode::Halted => "halted",
        }
    }

    /// Parses a mode name (case-insensitive).
    pub fn parse(text: &str) -> CoreResult<Mode> {
        match text.trim().to_ascii_lowercase().as_str() {
            "active" => Ok(Mode::Active),
            "reducing" | "reduce_only" => Ok(Mode::Reducing),
            "halted" | "halt" => Ok(Mode::Halted),
            other => Err(CoreError::invalid("mode", format!("'{other}': expected active, reducing or halted"))),
        }
    }
}

/// What put the engine in its current mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeTrigger {
    /// Nothing (ACTIVE).
    None,
    /// The daily loss limit.
    DailyLoss,
    /// The drawdown limit.
    Drawdown,
    /// A manual `set_mode`.
    Manual,
    /// The kill switch.
    KillSwitch,
}

impl ModeTrigger {
    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            ModeTrigger::None => "none",
            ModeTrigger::DailyLoss => "daily_loss",
            ModeTrigger::Drawdown => "drawdown",
            ModeTrigger::Manual => "manual",
            ModeTrigger::KillSwitch => "kill_switch",
        }
    }
}
