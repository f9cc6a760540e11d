//! `RunSpec` and the enums of a run (`ExitKind`, `SizingKind`, `FillReason`): the one typed,
//! validated description of a backtest, a sweep or a live account that crosses the FFI.
//! `quant_engine.research.run_spec` builds it from a strategy and a `BacktestConfig`.

use std::collections::BTreeMap;

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use quant_engine_core::backtest::{ConfigDoc, InstrumentOverride};
use quant_engine_core::execution::ExecutionConfig;
use quant_engine_core::risk::RiskLimits;
use quant_engine_core::trading::{self, RuleColumns, Rules, Setup};

use crate::errors::{guard, invalid, IntoPyResult};

/// The kind of a stop-loss or take-profit rule.
#[pyclass(module = "quant_engine._core", eq, eq_int, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// No such exit.
    #[pyo3(name = "NONE")]
    None = 0,
    /// A fraction of the entry price.
    #[pyo3(name = "PERCENT")]
    Percent = 1,
    /// Price units.
    #[pyo3(name = "POINTS")]
    Points = 2,
    /// The per-bar distance series handed in with the signals (ATR stops).
    #[pyo3(name = "SERIES")]
    Series = 3,
}

impl ExitKind {
    fn core(self) -> trading::ExitKind {
        trading::ExitKind::ALL[self as usize]
    }
}

#[pymethods]
impl ExitKind {
    /// The stable code (`none`, `percent`, `points`, `series`).
    #[getter]
    fn code(&self) -> &'static str {
        self.core().code()
    }
}

/// The kind of the entry size rule.
#[pyclass(module = "quant_engine._core", eq, eq_int, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SizingKind {
    /// A fixed quantity.
    #[pyo3(name = "FIXED")]
    Fixed = 0,
    /// A target notional.
    #[pyo3(name = "NOTIONAL")]
    Notional = 1,
    /// A target notional of a fraction of equity.
    #[pyo3(name = "EQUITY_FRACTION")]
    EquityFraction = 2,
    /// Risk a fraction of equity between entry and stop.
    #[pyo3(name = "RISK_FRACTION")]
    RiskFraction = 3,
}

impl SizingKind {
    fn core(self) -> trading::SizingKind {
        trading::SizingKind::ALL[self as usize]
    }
}

#[pymethods]
impl SizingKind {
    /// The stable code (`fixed`, `notional`, `equity_fraction`, `risk_fraction`).
    #[getter]
    fn code(&self) -> &'static str {
        self.core().code()
    }
}

/// Why a fill happened (the `reason` of fills and the `exit_reason` of trades).
#[pyclass(module = "quant_engine._core", eq, eq_int, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FillReason {
    /// An entry rule.
    #[pyo3(name = "ENTRY")]
    Entry = 0,
    /// An exit rule (or an opposite entry rule).
    #[pyo3(name = "SIGNAL")]
    Signal = 1,
    /// The stop-loss.
    #[pyo3(name = "STOP_LOSS")]
    StopLoss = 2,
    /// The take-profit.
    #[pyo3(name = "TAKE_PROFIT")]
    TakeProfit = 3,
    /// The time stop.
    #[pyo3(name = "TIME_STOP")]
    TimeStop = 4,
    /// The end of the data.
    #[pyo3(name = "END")]
    End = 5,
}

#[pymethods]
impl FillReason {
    /// The stable code, as in the result tables (`entry`, `signal`, `stop_loss`, `take_profit`,
    /// `time_stop`, `end`).
    #[getter]
    fn code(&self) -> &'static str {
        trading::FillReason::ALL[*self as usize].code()
    }
}

/// A validated run: the account for the run's symbols (instruments resolved, execution model,
/// risk limits, cash, annualization) and the rules of every combination. Built once; every
/// problem is an `InvalidArgumentError` (or `UnknownSymbolError`) at construction.
#[pyclass(module = "quant_engine._core", frozen)]
pub struct RunSpec {
    pub(crate) inner: trading::RunSpec,
}

fn json_error(what: &str, e: serde_json::Error) -> PyErr {
    invalid(format!("bad {what}: {e}"))
}

impl RunSpec {
    /// The account setup.
    pub(crate) fn setup(&self) -> &Setup {
        &self.inner.setup
    }

    /// The symbols by slot.
    pub(crate) fn symbol_names(&self) -> Vec<&str> {
        self.inner.setup.instruments.iter().map(|i| i.symbol.as_str()).collect()
    }

    /// The rules of combinations `first .. first + count`.
    pub(crate) fn rules_of(&self, first: usize, count: usize) -> PyResult<&[Rules]> {
        self.inner.rules_of(first, count).py_err()
    }
}

#[pymethods]
impl RunSpec {
    #[new]
    #[pyo3(signature = (symbols, *, periods_per_year, stop, stop_values, take, take_values, time_stops, sizing, sizing_values,
                        initial_cash=None, execution=None, risk_limits=None, instruments=None, allow_unlisted_equities=None,
                        reference_month=None, allow_short=None, close_at_end=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        symbols: Vec<String>,
        periods_per_year: f64,
        stop: ExitKind,
        stop_values: PyReadonlyArray1<'_, f64>,
        take: ExitKind,
        take_values: PyReadonlyArray1<'_, f64>,
        time_stops: PyReadonlyArray1<'_, i64>,
        sizing: SizingKind,
        sizing_values: PyReadonlyArray1<'_, f64>,
        initial_cash: Option<f64>,
        execution: Option<&str>,
        risk_limits: Option<&str>,
        instruments: Option<&str>,
        allow_unlisted_equities: Option<bool>,
        reference_month: Option<u32>,
        allow_short: Option<bool>,
        close_at_end: Option<bool>,
    ) -> PyResult<Self> {
        guard(|| {
            let d = ConfigDoc::default();
            let risk_limits = match risk_limits {
                Some(t) => Some(RiskLimits::from_json(t).py_err()?),
                None => None,
            };
            let config = ConfigDoc {
                initial_cash: initial_cash.unwrap_or(d.initial_cash),
                execution: match execution {
                    Some(t) => serde_json::from_str::<ExecutionConfig>(t).map_err(|e| json_error("execution config", e))?,
                    None => d.execution,
                },
                risk_limits,
                instruments: match instruments {
                    Some(t) => serde_json::from_str::<BTreeMap<String, InstrumentOverride>>(t).map_err(|e| json_error("instrument overrides", e))?,
                    None => d.instruments,
                },
                allow_unlisted_equities: allow_unlisted_equities.unwrap_or(d.allow_unlisted_equities),
                reference_month,
                allow_short: allow_short.unwrap_or(d.allow_short),
                close_at_end: close_at_end.unwrap_or(d.close_at_end),
            };
            let columns = RuleColumns {
                stop: stop.core(),
                stop_values: stop_values.as_slice()?,
                take: take.core(),
                take_values: take_values.as_slice()?,
                time_stops: time_stops.as_slice()?,
                sizing: sizing.core(),
                sizing_values: sizing_values.as_slice()?,
            };
            Ok(RunSpec { inner: trading::RunSpec::new(&symbols, config, periods_per_year, columns).py_err()? })
        })
    }

    /// The symbols, by instrument slot.
    #[getter]
    fn symbols(&self) -> Vec<String> {
        self.inner.setup.instruments.iter().map(|i| i.symbol.clone()).collect()
    }

    /// Number of combinations (rule sets).
    #[getter]
    fn combinations(&self) -> usize {
        self.inner.combinations()
    }

    /// Starting cash.
    #[getter]
    fn initial_cash(&self) -> f64 {
        self.inner.setup.initial_cash
    }

    /// Periods per year of the metrics.
    #[getter]
    fn periods_per_year(&self) -> f64 {
        self.inner.setup.periods_per_year
    }

    /// Whether short entries are taken.
    #[getter]
    fn allow_short(&self) -> bool {
        self.inner.config.allow_short
    }

    /// Whether open positions are closed at the end of the data.
    #[getter]
    fn close_at_end(&self) -> bool {
        self.inner.config.close_at_end
    }

    /// The risk limits in force (the core's defaults where none were given), as JSON.
    fn risk_limits_json(&self) -> String {
        self.inner.setup.limits.to_json()
    }

    /// The execution model's configuration, as JSON.
    fn execution_json(&self) -> String {
        serde_json::to_string(self.inner.setup.model.config()).expect("config serializes")
    }

    fn __repr__(&self) -> String {
        format!(
            "RunSpec(symbols={:?}, combinations={}, initial_cash={}, periods_per_year={})",
            self.symbols(),
            self.inner.combinations(),
            self.inner.setup.initial_cash,
            self.inner.setup.periods_per_year
        )
    }
}

/// The core's default risk limits, as JSON (the one source of the defaults:
/// `quant_engine.risk.RiskLimits` reads them).
#[pyfunction]
pub fn default_risk_limits_json() -> String {
    RiskLimits::default().to_json()
}
