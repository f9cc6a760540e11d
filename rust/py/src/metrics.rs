//! `performance_metrics`: the core's one-pass metrics over a return series (the same
//! accumulator the backtester uses per bar), exposed for arbitrary returns.

use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::metrics::{Metrics, MetricsAccumulator};

use crate::errors::{guard, invalid, new_error};

/// Metrics of a series of per-period returns (see `docs/backtest.md` for the definitions).
///
/// `timestamps` (ns, one per return) date the drawdown durations; `in_market` flags the periods
/// with an open position (exposure); `trade_pnl` holds closed trades' net P&L.
#[pyfunction]
#[pyo3(signature = (returns, periods_per_year, timestamps=None, in_market=None, trade_pnl=None))]
pub fn performance_metrics<'py>(
    py: Python<'py>,
    returns: PyReadonlyArray1<'py, f64>,
    periods_per_year: f64,
    timestamps: Option<PyReadonlyArray1<'py, i64>>,
    in_market: Option<PyReadonlyArray1<'py, bool>>,
    trade_pnl: Option<PyReadonlyArray1<'py, f64>>,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let r = returns.as_slice()?;
        let ts = timestamps.as_ref().map(|t| t.as_slice()).transpose()?;
        let mkt = in_market.as_ref().map(|m| m.as_slice()).transpose()?;
        let pnl = trade_pnl.as_ref().map(|p| p.as_slice()).transpose()?;
        if !(periods_per_year.is_finite() && periods_per_year > 0.0) {
            return Err(invalid(format!("invalid periods_per_year: {periods_per_year} (expected > 0)")));
        }
        if ts.is_some_and(|t| t.len() != r.len()) || mkt.is_some_and(|m| m.len() != r.len()) {
            return Err(invalid("timestamps and in_market must have one entry per return"));
        }
        if let Some(i) = r.iter().position(|x| !x.is_finite() || *x <= -1.0 - 1e-12) {
            return Err(new_error("BadDataError", format!("return {i} is {} (must be finite and > -1)", r[i])));
        }
        let metrics: Metrics = py.detach(|| {
            let mut acc = MetricsAccumulator::new(1.0, ts.map_or(0, |t| t.first().map_or(0, |x| *x)));
            for (i, x) in r.iter().enumerate() {
                acc.push_return(ts.map_or(i as i64 + 1, |t| t[i]), *x, mkt.is_some_and(|m| m[i]));
            }
            if let Some(p) = pnl {
                for x in p {
                    acc.push_trade(*x);
                }
            }
            acc.finish(periods_per_year)
        });
        metrics_dict(py, &metrics)
    })
}

/// A `Metrics` as a dict (counts as ints).
pub fn metrics_dict<'py>(py: Python<'py>, m: &Metrics) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (name, value) in Metrics::NAMES.iter().zip(m.values()) {
        match *name {
            "trades" => d.set_item(name, m.trades)?,
            "periods" => d.set_item(name, m.periods)?,
            "max_drawdown_periods" => d.set_item(name, m.max_drawdown_periods)?,
            "max_drawdown_ns" => d.set_item(name, m.max_drawdown_ns)?,
            _ => d.set_item(name, value)?,
        }
    }
    Ok(d)
}
