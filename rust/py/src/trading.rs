//! `TradingStepper`: the core's trading [`Stepper`] as a long-lived Python object (the account
//! behind `quant_engine.trading.LiveStrategy`). One bar per call, or a batch of bars of one
//! instrument per call without Python per bar; fills and trades accumulate in a journal that
//! `drain()` hands over as Arrow tables (the tables of a backtest).

use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::execution::BarQuote;
use quant_engine_core::trading::{BarSignal, Journal, Pending, Setup, Stepper};

use crate::arrow_out::journal_tables;
use crate::errors::{guard, invalid, IntoPyResult};
use crate::metrics::metrics_dict;
use crate::run_spec::RunSpec;

/// One account's per-bar state machine (positions, pending orders, stops, risk engine,
/// execution model), configured by a `RunSpec` (its symbols in slot order, its account and one
/// combination's rules), exactly as a backtest of that spec.
#[pyclass(module = "quant_engine._core")]
pub struct TradingStepper {
    stepper: Stepper<Setup>,
    journal: Journal,
}

fn check_slot(stepper: &Stepper<Setup>, slot: usize) -> PyResult<()> {
    if slot >= stepper.instruments() {
        return Err(invalid(format!("slot {slot} out of range: the account has {} instruments", stepper.instruments())));
    }
    Ok(())
}

#[pymethods]
impl TradingStepper {
    #[new]
    #[pyo3(signature = (spec, start_ts, combination=0))]
    fn new(spec: &RunSpec, start_ts: i64, combination: usize) -> PyResult<Self> {
        guard(|| {
            let rules = spec.rules_of(combination, 1)?[0];
            Ok(TradingStepper { stepper: Stepper::new(spec.setup().clone(), rules, start_ts).py_err()?, journal: Journal::default() })
        })
    }

    /// Steps one bar of instrument `slot` with the signal at its close; `last` marks the
    /// instrument's final bar (no decision; close the position when `close_at_end`).
    #[pyo3(signature = (slot, ts, open, high, low, close, volume, bits, stop_distance, take_distance, last=false))]
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        slot: usize,
        ts: i64,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: f64,
        bits: u8,
        stop_distance: f64,
        take_distance: f64,
        last: bool,
    ) -> PyResult<()> {
        check_slot(&self.stepper, slot)?;
        let bar = BarQuote { ts, open, high, low, close, volume };
        let sig = BarSignal { bits, stop_distance, take_distance };
        self.stepper.step(slot, &bar, sig, last, &mut self.journal).py_err()
    }

    /// Steps a batch of bars of instrument `slot` in order (no Python per bar) and, with
    /// `record`, records the equity after each bar (one bar time per bar, as for a single
    /// instrument). `last` marks the batch's final bar as the instrument's last. Returns the
    /// equity after each bar (empty without `record`).
    #[pyo3(signature = (slot, ts, open, high, low, close, volume, bits, stop_distance=None, take_distance=None, last=false, record=true))]
    #[allow(clippy::too_many_arguments)]
    fn step_bars<'py>(
        &mut self,
        py: Python<'py>,
        slot: usize,
        ts: PyReadonlyArray1<'py, i64>,
        open: PyReadonlyArray1<'py, f64>,
        high: PyReadonlyArray1<'py, f64>,
        low: PyReadonlyArray1<'py, f64>,
        close: PyReadonlyArray1<'py, f64>,
        volume: PyReadonlyArray1<'py, f64>,
        bits: PyReadonlyArray1<'py, u8>,
        stop_distance: Option<PyReadonlyArray1<'py, f64>>,
        take_distance: Option<PyReadonlyArray1<'py, f64>>,
        last: bool,
        record: bool,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        guard(|| {
            check_slot(&self.stepper, slot)?;
            let (ts, o, h, l, c, v, b) =
                (ts.as_slice()?, open.as_slice()?, high.as_slice()?, low.as_slice()?, close.as_slice()?, volume.as_slice()?, bits.as_slice()?);
            let sd = stop_distance.as_ref().map(|a| a.as_slice()).transpose()?;
            let td = take_distance.as_ref().map(|a| a.as_slice()).transpose()?;
            let n = ts.len();
            if [o.len(), h.len(), l.len(), c.len(), v.len(), b.len()].iter().any(|&x| x != n)
                || sd.is_some_and(|d| d.len() != n)
                || td.is_some_and(|d| d.len() != n)
            {
                return Err(invalid(format!("every bar and signal column needs {n} rows")));
            }
            let mut eq = Vec::with_capacity(if record { n } else { 0 });
            let (stepper, journal) = (&mut self.stepper, &mut self.journal);
            py.detach(|| -> quant_engine_core::CoreResult<()> {
                for i in 0..n {
                    let bar = BarQuote { ts: ts[i], open: o[i], high: h[i], low: l[i], close: c[i], volume: v[i] };
                    let sig = BarSignal { bits: b[i], stop_distance: sd.map_or(f64::NAN, |d| d[i]), take_distance: td.map_or(f64::NAN, |d| d[i]) };
                    stepper.step(slot, &bar, sig, last && i + 1 == n, journal)?;
                    if record {
                        eq.push(stepper.record_equity(ts[i]));
                    }
                }
                Ok(())
            })
            .py_err()?;
            Ok(eq.into_pyarray(py))
        })
    }

    /// Steps many accounts by one bar each (one bar close of many runners, no Python per
    /// account): `steppers[j]` (its slot 0) by the bar `ts[j], open[j] ..` with the signal
    /// `bits[j]` and distances, then records its equity at `ts[j]`. `last` marks every bar as
    /// its instrument's last. Stops at the first account whose step fails (earlier ones stay
    /// stepped).
    #[staticmethod]
    #[pyo3(signature = (steppers, ts, open, high, low, close, volume, bits, stop_distance, take_distance, last=false))]
    #[allow(clippy::too_many_arguments)]
    fn step_each<'py>(
        steppers: Vec<PyRefMut<'py, TradingStepper>>,
        ts: PyReadonlyArray1<'py, i64>,
        open: PyReadonlyArray1<'py, f64>,
        high: PyReadonlyArray1<'py, f64>,
        low: PyReadonlyArray1<'py, f64>,
        close: PyReadonlyArray1<'py, f64>,
        volume: PyReadonlyArray1<'py, f64>,
        bits: PyReadonlyArray1<'py, u8>,
        stop_distance: PyReadonlyArray1<'py, f64>,
        take_distance: PyReadonlyArray1<'py, f64>,
        last: bool,
    ) -> PyResult<()> {
        let mut steppers = steppers;
        guard(|| {
            let (ts, o, h, l, c, v, b) =
                (ts.as_slice()?, open.as_slice()?, high.as_slice()?, low.as_slice()?, close.as_slice()?, volume.as_slice()?, bits.as_slice()?);
            let (sd, td) = (stop_distance.as_slice()?, take_distance.as_slice()?);
            let n = steppers.len();
            if [ts.len(), o.len(), h.len(), l.len(), c.len(), v.len(), b.len(), sd.len(), td.len()].iter().any(|&x| x != n) {
                return Err(invalid(format!("every bar and signal column needs {n} rows (one per stepper)")));
            }
            for (j, acct) in steppers.iter_mut().enumerate() {
                let acct = &mut **acct;
                check_slot(&acct.stepper, 0)?;
                let bar = BarQuote { ts: ts[j], open: o[j], high: h[j], low: l[j], close: c[j], volume: v[j] };
                let sig = BarSignal { bits: b[j], stop_distance: sd[j], take_distance: td[j] };
                acct.stepper.step(0, &bar, sig, last, &mut acct.journal).py_err()?;
                acct.stepper.record_equity(ts[j]);
            }
            Ok(())
        })
    }

    /// Records the equity at `ts` (the end of a bar time) into the metrics and returns it.
    fn record_equity(&mut self, ts: i64) -> f64 {
        self.stepper.record_equity(ts)
    }

    /// The fills and closed trades since the last drain, as `pyarrow.Table`s (the schemas of
    /// a backtest's `fills` and `trades`); the journal is emptied.
    fn drain(&mut self, py: Python<'_>) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let journal = std::mem::take(&mut self.journal);
        let names: Vec<&str> = self.stepper.setup().instruments.iter().map(|i| i.symbol.as_str()).collect();
        journal_tables(py, &journal, &names)
    }

    /// Cash.
    #[getter]
    fn cash(&self) -> f64 {
        self.stepper.cash()
    }

    /// Cash plus open positions at their latest closes.
    #[getter]
    fn equity(&self) -> f64 {
        self.stepper.equity().0
    }

    /// Number of instrument slots.
    #[getter]
    fn instruments(&self) -> usize {
        self.stepper.instruments()
    }

    /// The position of `slot`: `quantity` (signed), `entry_price`, `stop`, `take`, `bars_held`,
    /// `pending` (`none`, `buy`, `sell` or `exit`), `last_close`.
    fn position<'py>(&self, py: Python<'py>, slot: usize) -> PyResult<Bound<'py, PyDict>> {
        check_slot(&self.stepper, slot)?;
        let p = self.stepper.position(slot);
        let d = PyDict::new(py);
        d.set_item("quantity", p.quantity)?;
        d.set_item("entry_price", p.entry_price)?;
        d.set_item("stop", p.stop)?;
        d.set_item("take", p.take)?;
        d.set_item("bars_held", p.bars_held)?;
        let pending = match p.pending {
            Pending::None => "none",
            Pending::Enter(side, _) if side.sign() > 0.0 => "buy",
            Pending::Enter(..) => "sell",
            Pending::Exit(_) => "exit",
        };
        d.set_item("pending", pending)?;
        d.set_item("last_close", p.last_close)?;
        Ok(d)
    }

    /// The metrics so far (fills, trades, recorded equity points).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        metrics_dict(py, &self.stepper.metrics())
    }

    /// Rejected orders by reason code so far.
    fn rejections<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.stepper.rejections() {
            d.set_item(k, v)?;
        }
        Ok(d)
    }
}
