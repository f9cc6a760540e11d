//! `backtest_run` and `backtest_sweep`: the Rust fill loop behind
//! `quant_engine.research.backtest` (signals come from the Numba plan evaluator). One validated
//! `RunSpec` (account and rules), the bar columns and the signals in (NumPy arrays read without
//! copying); fills and trades out as Arrow tables, the equity curve and the sweep metrics as
//! NumPy arrays. The GIL is released while the loop runs.

use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyReadwriteArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::backtest::{self, Bars, Journal, Signals, SweepChunk, SweepReturns};
use quant_engine_core::metrics::Metrics;

use crate::arrow_out::journal_tables;
use crate::errors::{guard, invalid, IntoPyResult};
use crate::metrics::metrics_dict;
use crate::run_spec::RunSpec;

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

/// The outcome of one backtest: `fills` and `trades` (`pyarrow.Table`s), the equity curve
/// (`equity_ts`, `equity`: NumPy arrays, one point per distinct bar time), `metrics` and
/// `rejections` (by reason code).
#[pyclass(module = "quant_engine._core", frozen, get_all)]
pub struct RunOutput {
    /// Every fill: `ts, symbol, side, quantity, price, base_price, fees, slippage, multiplier, reason`.
    fills: Py<PyAny>,
    /// Closed round trips: `symbol, side, quantity, entry_time, entry_price, exit_time, exit_price,
    /// pnl, fees, slippage, bars_held, exit_reason`.
    trades: Py<PyAny>,
    /// Equity curve times (UTC ns, int64).
    equity_ts: Py<PyAny>,
    /// Equity after each bar time.
    equity: Py<PyAny>,
    /// Metrics by name.
    metrics: Py<PyDict>,
    /// Rejected orders by reason code.
    rejections: Py<PyDict>,
}

/// One backtest of combination `combination` of `spec` on the bars (`symbols` of the spec, in
/// slot order: `offsets[s]..offsets[s+1]` is symbol `s`; `order` visits all bars by time, empty
/// for one symbol) with one signal byte per bar (and the distance series of ATR rules).
#[pyfunction]
#[pyo3(signature = (spec, ts, open, high, low, close, volume, offsets, order, signals, stop_distance=None, take_distance=None, combination=0))]
#[allow(clippy::too_many_arguments)]
pub fn backtest_run<'py>(
    py: Python<'py>,
    spec: &RunSpec,
    ts: PyReadonlyArray1<'py, i64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, i64>,
    order: PyReadonlyArray1<'py, i64>,
    signals: PyReadonlyArray1<'py, u8>,
    stop_distance: Option<PyReadonlyArray1<'py, f64>>,
    take_distance: Option<PyReadonlyArray1<'py, f64>>,
    combination: usize,
) -> PyResult<RunOutput> {
    guard(|| {
        let args = BarArgs { ts, open, high, low, close, volume, offsets, order };
        let bars = args.bars()?;
        check_symbols(spec, &bars)?;
        let rules = &spec.rules_of(combination, 1)?[0];
        let sig = Signals {
            bits: signals.as_slice()?,
            stop_distance: stop_distance.as_ref().map(|a| a.as_slice()).transpose()?,
            take_distance: take_distance.as_ref().map(|a| a.as_slice()).transpose()?,
        };
        let mut journal = Journal::default();
        let setup = spec.setup();
        let outcome = py.detach(|| backtest::run(setup, &bars, &sig, rules, &mut journal)).py_err()?;
        let rejections = PyDict::new(py);
        for (k, v) in &outcome.rejections {
            rejections.set_item(k, v)?;
        }
        let (fills, trades) = journal_tables(py, &journal, &spec.symbol_names())?;
        let equity_ts = if journal.equity_ts.is_empty() && bars.instruments() == 1 {
            // one instrument: the curve's times are the bars' own (the input array, no copy)
            args.ts.as_any().clone().unbind()
        } else {
            std::mem::take(&mut journal.equity_ts).into_pyarray(py).into_any().unbind()
        };
        Ok(RunOutput {
            fills,
            trades,
            equity_ts,
            equity: std::mem::take(&mut journal.equity).into_pyarray(py).into_any().unbind(),
            metrics: metrics_dict(py, &outcome.metrics)?.unbind(),
            rejections: rejections.unbind(),
        })
    })
}

/// The bars must hold one segment per symbol of the spec.
fn check_symbols(spec: &RunSpec, bars: &Bars<'_>) -> PyResult<()> {
    let n = spec.setup().instruments.len();
    if bars.offsets.len() != n + 1 {
        return Err(invalid(format!("the bars hold {} symbol segments; the run spec has {n} symbols", bars.offsets.len().saturating_sub(1))));
    }
    Ok(())
}

/// Combinations `first .. first + rows` of `spec` (one signal row each) on `threads` threads
/// (0: all cores); returns the metrics matrix (rows x `METRIC_NAMES`). With `returns` (a
/// C-contiguous float64 array of rows x `backtest_periods(...)`), each combination's per-period
/// net returns are written into its row from the worker threads.
#[pyfunction]
#[pyo3(signature = (spec, ts, open, high, low, close, volume, offsets, order, signals, stop_distance=None, take_distance=None,
                    first=0, threads=0, returns=None))]
#[allow(clippy::too_many_arguments)]
pub fn backtest_sweep<'py>(
    py: Python<'py>,
    spec: &RunSpec,
    ts: PyReadonlyArray1<'py, i64>,
    open: PyReadonlyArray1<'py, f64>,
    high: PyReadonlyArray1<'py, f64>,
    low: PyReadonlyArray1<'py, f64>,
    close: PyReadonlyArray1<'py, f64>,
    volume: PyReadonlyArray1<'py, f64>,
    offsets: PyReadonlyArray1<'py, i64>,
    order: PyReadonlyArray1<'py, i64>,
    signals: PyReadonlyArray2<'py, u8>,
    stop_distance: Option<PyReadonlyArray2<'py, f64>>,
    take_distance: Option<PyReadonlyArray2<'py, f64>>,
    first: usize,
    threads: usize,
    mut returns: Option<PyReadwriteArray2<'py, f64>>,
) -> PyResult<Bound<'py, PyArray2<f64>>> {
    guard(|| {
        let args = BarArgs { ts, open, high, low, close, volume, offsets, order };
        let bars = args.bars()?;
        check_symbols(spec, &bars)?;
        let c = signals.shape()[0];
        let rules = spec.rules_of(first, c)?;
        let chunk = SweepChunk {
            bits: signals.as_slice()?,
            stop_distance: stop_distance.as_ref().map(|a| a.as_slice()).transpose()?,
            take_distance: take_distance.as_ref().map(|a| a.as_slice()).transpose()?,
            rules,
        };
        let setup = spec.setup();
        let metrics = match returns.as_mut() {
            None => py.detach(|| backtest::sweep(setup, &bars, &chunk, threads)).py_err()?,
            Some(r) => {
                let out = r.as_slice_mut().map_err(|_| invalid("returns must be a C-contiguous float64 array"))?;
                py.detach(|| backtest::sweep_returns(setup, &bars, &chunk, threads, SweepReturns { out })).py_err()?
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
