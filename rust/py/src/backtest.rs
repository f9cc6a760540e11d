//! `backtest_run` and `backtest_sweep`: the Rust fill loop behind
//! `quant_engine.research.backtest` (signals come from the Numba plan evaluator). NumPy arrays
//! in (read without copying), NumPy arrays out; the GIL is released while the loop runs.

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::backtest::{self, Bars, Exit, Journal, Rules, Setup, Signals, Sizing, SweepChunk, SweepReturns};
use quant_engine_core::metrics::Metrics;

use crate::errors::{guard, invalid, IntoPyResult};
use crate::metrics::metrics_dict;

/// The exit rule of a kind code (0 none, 1 percent, 2 points, 3 series).
pub(crate) fn exit_rule(kind: u8, value: f64) -> PyResult<Exit> {
    Ok(match kind {
        0 => Exit::None,
        1 => Exit::Percent(value),
        2 => Exit::Points(value),
        3 => Exit::Series,
        k => return Err(invalid(format!("invalid exit kind {k}"))),
    })
}

/// The sizing rule of a kind code (0 fixed, 1 notional, 2 equity fraction, 3 risk fraction).
pub(crate) fn sizing_rule(kind: u8, value: f64) -> PyResult<Sizing> {
    Ok(match kind {
        0 => Sizing::Fixed(value),
        1 => Sizing::Notional(value),
        2 => Sizing::EquityFraction(value),
        3 => Sizing::RiskFraction(value),
        k => return Err(invalid(format!("invalid sizing kind {k}"))),
    })
}

/// The bar columns shared by both entry points.
struct BarArgs<'py> {
    ts: PyReadonlyArray1<'py, i64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, i64>,
    order: PyReadonlyArray1<'py, i64>,
}

impl BarArgs<'_> {
    fn bars(&self) -> PyResult<Bars<'_>> {
        Ok(Bars {
            ts: self.ts.as_slice()?,
            open: self.open.as_slice()?,
            high: self.high.as_slice()?,
            low: self.low.as_slice()?,
            close: self.close.as_slice()?,
            volume: self.volume.as_slice()?,
            offsets: self.offsets.as_slice()?,
            order: self.order.as_slice()?,
        })
    }
}

/// One backtest. Returns a dict: `metrics`, `rejections`, the equity curve (`equity_ts`,
/// `equity`), fills (`fill_*` columns) and trades (`trade_*`).
#[pyfunction]
#[pyo3(signature = (ts, open, high, low, close, volume, offsets, order, symbols, signals, stop_distance, take_distance,
                    stop_kind, stop_value, take_kind, take_value, time_stop, sizing_kind, sizing_value, config_json, periods_per_year))]
#[allow(clippy::too_many_arguments)]
pub fn backtest_run<'py>(
    py: Python<'py>,
    ts: PyReadonlyArray1<'py, i64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, i64>,
    order: PyReadonlyArray1<'py, i64>,
    symbols: Vec<String>,
    signals: PyReadonlyArray1<'py, u8>,
    stop_distance: Option<PyReadonlyArray1<'py, f64>>,
    take_distance: Option<PyReadonlyArray1<'py, f64>>,
    stop_kind: u8,
    stop_value: f64,
    take_kind: u8,
    take_value: f64,
    time_stop: i64,
    sizing_kind: u8,
    sizing_value: f64,
    config_json: &str,
    periods_per_year: f64,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let args = BarArgs { ts, open, high, low, close, volume, offsets, order };
        let bars = args.bars()?;
        let (setup, doc) = Setup::from_json(&symbols, config_json, periods_per_year).py_err()?;
        let rules = Rules {
            stop: exit_rule(stop_kind, stop_value)?,
            take: exit_rule(take_kind, take_value)?,
            time_stop: u32::try_from(time_stop.max(0)).unwrap_or(u32::MAX),
            sizing: sizing_rule(sizing_kind, sizing_value)?,
            allow_short: doc.allow_short,
            close_at_end: doc.close_at_end,
        };
        let sig = Signals {
            bits: signals.as_slice()?,
            stop_distance: stop_distance.as_ref().map(|a| a.as_slice()).transpose()?,
            take_distance: take_distance.as_ref().map(|a| a.as_slice()).transpose()?,
        };
        let mut journal = Journal::default();
        let outcome = py.detach(|| backtest::run(&setup, &bars, &sig, &rules, &mut journal)).py_err()?;
        let d = PyDict::new(py);
        d.set_item("metrics", metrics_dict(py, &outcome.metrics)?)?;
        let rej = PyDict::new(py);
        for (k, v) in &outcome.rejections {
            rej.set_item(k, v)?;
        }
        d.set_item("rejections", rej)?;
        journal_into(py, &journal, &d)?;
        if journal.equity_ts.is_empty() && bars.instruments() == 1 {
            // one instrument: the curve's times are the bars' own (the input array, no copy)
            d.set_item("equity_ts", &*args.ts)?;
        } else {
            d.set_item("equity_ts", journal.equity_ts.into_pyarray(py))?;
        }
        d.set_item("equity", journal.equity.into_pyarray(py))?;
        Ok(d)
    })
}

/// The fills (`fill_*` columns) and trades (`trade_*`) of a journal into `d`.
pub(crate) fn journal_into(py: Python<'_>, journal: &Journal, d: &Bound<'_, PyDict>) -> PyResult<()> {
    let f = &journal.fills;
    d.set_item("fill_ts", f.iter().map(|(x, _)| x.ts).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_instrument", f.iter().map(|(x, _)| x.instrument as i32).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_side", f.iter().map(|(x, _)| x.side.sign() as i8).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_quantity", f.iter().map(|(x, _)| x.quantity).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_price", f.iter().map(|(x, _)| x.price).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_base_price", f.iter().map(|(x, _)| x.base_price).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_fees", f.iter().map(|(x, _)| x.fees).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_slippage", f.iter().map(|(x, _)| x.slippage_cost).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_multiplier", f.iter().map(|(x, _)| x.multiplier).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("fill_reason", f.iter().map(|(_, r)| *r as u8).collect::<Vec<_>>().into_pyarray(py))?;
    let t = &journal.trades;
    d.set_item("trade_instrument", t.iter().map(|x| x.instrument as i32).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_quantity", t.iter().map(|x| x.quantity).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_entry_ts", t.iter().map(|x| x.entry_ts).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_entry_price", t.iter().map(|x| x.entry_price).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_exit_ts", t.iter().map(|x| x.exit_ts).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_exit_price", t.iter().map(|x| x.exit_price).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_pnl", t.iter().map(|x| x.pnl).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_fees", t.iter().map(|x| x.fees).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_slippage", t.iter().map(|x| x.slippage).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_bars_held", t.iter().map(|x| x.bars_held as i64).collect::<Vec<_>>().into_pyarray(py))?;
    d.set_item("trade_reason", t.iter().map(|x| x.reason as u8).collect::<Vec<_>>().into_pyarray(py))?;
    Ok(())
}

/// Every combination of a sweep chunk on `threads` threads (0: all cores); returns the metrics
/// matrix (combinations x `METRIC_NAMES`). With `returns` (a C-contiguous float64 array of
/// combinations x `backtest_periods(...)`), each combination's per-period net returns are written
/// into its row from the worker threads.
#[pyfunction]
#[pyo3(signature = (ts, open, high, low, close, volume, offsets, order, symbols, signals, stop_distance, take_distance,
                    stop_kind, stop_values, take_kind, take_values, time_stops, sizing_kind, sizing_values, config_json,
                    periods_per_year, threads, returns=None))]
#[allow(clippy::too_many_arguments)]
pub fn backtest_sweep<'py>(
    py: Python<'py>,
    ts: PyReadonlyArray1<'py, i64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, i64>,
    order: PyReadonlyArray1<'py, i64>,
    symbols: Vec<String>,
    signals: PyReadonlyArray2<'py, u8>,
    stop_distance: Option<PyReadonlyArray2<'py, f64>>,
    take_distance: Option<PyReadonlyArray2<'py, f64>>,
    stop_kind: u8,
    stop_values: PyReadonlyArray1<'py, f64>,
    take_kind: u8,
    take_values: PyReadonlyArray1<'py, f64>,
    time_stops: PyReadonlyArray1<'py, i64>,
    sizing_kind: u8,
    sizing_values: PyReadonlyArray1<'py, f64>,
    config_json: &str,
    periods_per_year: f64,
    threads: usize,
    mut returns: Option<PyReadwriteArray2<'py, f64>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    guard(|| {
        let args = BarArgs { ts, open, high, low, close, volume, offsets, order };
        let bars = args.bars()?;
        let (setup, doc) = Setup::from_json(&symbols, config_json, periods_per_year).py_err()?;
        let (sv, tv, tm, zv) = (stop_values.as_slice()?, take_values.as_slice()?, time_stops.as_slice()?, sizing_values.as_slice()?);
        let c = sv.len();
        if tv.len() != c || tm.len() != c || zv.len() != c || signals.shape()[0] != c {
            return Err(invalid("every per-combination array needs one entry per signal row"));
        }
        let mut rules = Vec::with_capacity(c);
        for j in 0..c {
            rules.push(Rules {
                stop: exit_rule(stop_kind, sv[j])?,
                take: exit_rule(take_kind, tv[j])?,
                time_stop: u32::try_from(tm[j].max(0)).unwrap_or(u32::MAX),
                sizing: sizing_rule(sizing_kind, zv[j])?,
                allow_short: doc.allow_short,
                close_at_end: doc.close_at_end,
            });
        }
        let chunk = SweepChunk {
            bits: signals.as_slice()?,
            stop_distance: stop_distance.as_ref().map(|a| a.as_slice()).transpose()?,
            take_distance: take_distance.as_ref().map(|a| a.as_slice()).transpose()?,
            rules: &rules,
        };
        let metrics = match returns.as_mut() {
            None => py.detach(|| backtest::sweep(&setup, &bars, &chunk, threads)).py_err()?,
            Some(r) => {
                let out = r.as_slice_mut().map_err(|_| invalid("returns must be a C-contiguous float64 array"))?;
                py.detach(|| backtest::sweep_returns(&setup, &bars, &chunk, threads, SweepReturns { out })).py_err()?
            }
        };
        let flat: Vec<f64> = metrics.iter().flat_map(Metrics::values).collect();
        let arr = numpy::ndarray::Array2::from_shape_vec((c, Metrics::NAMES.len()), flat).map_err(|e| invalid(format!("metrics shape: {e}")))?;
        Ok(arr.into_pyarray(py))
    })
}

/// The number of return periods of a run on these bars: one per bar for one instrument, one
/// per distinct bar time for several.
#[pyfunction]
#[pyo3(signature = (ts, open, high, low, close, volume, offsets, order))]
#[allow(clippy::too_many_arguments)]
pub fn backtest_periods<'py>(
    ts: PyReadonlyArray1<'py, i64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, i64>,
    order: PyReadonlyArray1<'py, i64>,
) -> PyResult<usize> {
    guard(|| {
        let args = BarArgs { ts, open, high, low, close, volume, offsets, order };
        backtest::sweep::periods(&args.bars()?).py_err()
    })
}
