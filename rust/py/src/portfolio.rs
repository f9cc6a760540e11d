//! Python class of the ledger (`Portfolio`) and the Arrow tables of positions and equity curves
//! shared with the risk engine. Semantics in `docs/execution.md` (section "Portfolio").

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::instruments::{Instrument as CoreInstrument, InstrumentRegistry as CoreRegistry};
use quant_engine_core::portfolio::{CostBasis, Portfolio as CorePortfolio};

use crate::arrow_out::to_pyarrow_table;
use crate::errors::{guard, invalid, IntoPyResult, Poison};
use crate::instruments::InstrumentRegistry;
use crate::order_args::{fill_arg, now_ns, opt, FillFields};

/// Positions as a `pyarrow.Table` (one row per instrument; `open_buy`/`open_sell` when given).
pub fn positions_table(py: Python<'_>, p: &CorePortfolio, instruments: &[CoreInstrument], opens: Option<&[(f64, f64)]>) -> PyResult<Py<PyAny>> {
    let pos = p.positions();
    let f = |name: &str, v: Vec<f64>, nullable: bool| -> (Field, ArrayRef) {
        let arr: Float64Array = if nullable { v.into_iter().map(opt).collect() } else { Float64Array::from(v) };
        (Field::new(name, DataType::Float64, nullable), Arc::new(arr))
    };
    let mut cols: Vec<(Field, ArrayRef)> = vec![
        (Field::new("symbol", DataType::Utf8, false), Arc::new(StringArray::from_iter_values(instruments.iter().map(|i| i.symbol.as_str())))),
        (Field::new("kind", DataType::Utf8, false), Arc::new(StringArray::from_iter_values(instruments.iter().map(|i| i.kind.name())))),
        f("quantity", pos.iter().map(|x| x.quantity).collect(), false),
        f("avg_price", pos.iter().map(|x| x.avg_price).collect(), false),
        f("mark", pos.iter().map(|x| x.mark).collect(), true),
        f("multiplier", pos.iter().map(|x| x.multiplier).collect(), false),
        f("market_value", pos.iter().map(|x| x.market_value()).collect(), false),
        f("realized", pos.iter().map(|x| x.realized).collect(), false),
        f("unrealized", pos.iter().map(|x| x.unrealized()).collect(), false),
        f("fees", pos.iter().map(|x| x.fees).collect(), false),
        f("slippage", pos.iter().map(|x| x.slippage).collect(), false),
        (Field::new("fills", DataType::UInt64, false), Arc::new(UInt64Array::from(pos.iter().map(|x| x.fills).collect::<Vec<_>>()))),
    ];
    if let Some(o) = opens {
        cols.push(f("open_buy", o.iter().map(|x| x.0).collect(), false));
        cols.push(f("open_sell", o.iter().map(|x| x.1).collect(), false));
    }
    let (fields, arrays): (Vec<Field>, Vec<ArrayRef>) = cols.into_iter().unzip();
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).map_err(|e| invalid(e.to_string()))?;
    to_pyarrow_table(py, batch)
}

/// The equity curve as a `pyarrow.Table`: `ts, equity, cash, gross_exposure`.
pub fn equity_curve_table(py: Python<'_>, p: &CorePortfolio) -> PyResult<Py<PyAny>> {
    let c = p.equity_curve();
    let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let schema = Schema::new(vec![
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
        Field::new("equity", DataType::Float64, false),
        Field::new("cash", DataType::Float64, false),
        Field::new("gross_exposure", DataType::Float64, false),
    ]);
    let batch = RecordBatch::try_new(
        Arc::new(schema),
        vec![
            Arc::new(TimestampNanosecondArray::from(c.iter().map(|x| x.ts).collect::<Vec<_>>()).with_timezone("UTC")),
            f(c.iter().map(|x| x.equity).collect()),
            f(c.iter().map(|x| x.cash).collect()),
            f(c.iter().map(|x| x.gross_exposure).collect()),
        ],
    )
    .map_err(|e| invalid(e.to_string()))?;
    to_pyarrow_table(py, batch)
}

/// The ledger (core of `quant_engine.execution.Portfolio`).
#[pyclass(module = "quant_engine._core", subclass)]
pub struct Portfolio {
    inner: CorePortfolio,
    registry: CoreRegistry,
    instruments: Vec<CoreInstrument>,
    index: std::collections::HashMap<String, u32>,
    poison: Poison,
}

impl Portfolio {
    fn slot(&mut self, symbol: &str) -> PyResult<u32> {
        if let Some(&s) = self.index.get(symbol) {
            return Ok(s);
        }
        let inst = self.registry.resolve(symbol).py_err()?;
        let slot = match self.instruments.iter().position(|i| i.symbol == inst.symbol) {
            Some(k) => k as u32,
            None => {
                let s = self.inner.add_instrument(inst.multiplier).py_err()?;
                self.instruments.push(inst);
                s
            }
        };
        self.index.insert(symbol.to_owned(), slot);
        Ok(slot)
    }
}

#[pymethods]
impl Portfolio {
    #[new]
    #[pyo3(signature = (cash=0.0, cost_basis="average_cost", registry=None))]
    fn new(cash: f64, cost_basis: &str, registry: Option<InstrumentRegistry>) -> PyResult<Self> {
        guard(|| {
            Ok(Portfolio {
                inner: CorePortfolio::new(cash, CostBasis::parse(cost_basis).py_err()?, &[]).py_err()?,
                registry: registry.map(|r| r.inner).unwrap_or_default(),
                instruments: Vec::new(),
                index: Default::default(),
                poison: Poison::default(),
            })
        })
    }

    /// Applies a fill (a `Fill`, or symbol, side, quantity, price); returns the realized P&L.
    #[pyo3(signature = (fill, side=None, quantity=None, price=None, fees=0.0, slippage_cost=0.0, ts=None))]
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        fill: &Bound<'_, PyAny>,
        side: Option<&Bound<'_, PyAny>>,
        quantity: Option<f64>,
        price: Option<f64>,
        fees: f64,
        slippage_cost: f64,
        ts: Option<i64>,
    ) -> PyResult<f64> {
        let fields = FillFields { side, quantity, price, fees, slippage_cost, ts };
        let f = fill_arg("apply", fill, fields, |symbol| {
            let slot = self.slot(symbol)?;
            Ok((slot, self.instruments[slot as usize].multiplier))
        })?;
        let inner = &mut self.inner;
        self.poison.run("Portfolio", || inner.apply(&f).py_err())
    }

    /// Marks an instrument to a price.
    fn mark(&mut self, symbol: &str, price: f64) -> PyResult<()> {
        let slot = self.slot(symbol)?;
        let inner = &mut self.inner;
        self.poison.run("Portfolio", || inner.mark(slot, price).py_err())
    }

    /// Records a point of the equity curve at `ts` (now by default); returns the equity.
    #[pyo3(signature = (ts=None))]
    fn record(&mut self, ts: Option<i64>) -> PyResult<f64> {
        let inner = &mut self.inner;
        self.poison.run("Portfolio", || Ok(inner.record(ts.unwrap_or_else(now_ns))))
    }

    /// Cash.
    #[getter]
    fn cash(&self) -> f64 {
        self.inner.cash()
    }

    /// Cash plus marked positions.
    #[getter]
    fn equity(&self) -> f64 {
        self.inner.equity()
    }

    /// Realized P&L (gross of fees).
    #[getter]
    fn realized(&self) -> f64 {
        self.inner.realized()
    }

    /// Unrealized P&L at the marks.
    #[getter]
    fn unrealized(&self) -> f64 {
        self.inner.unrealized()
    }

    /// Fees paid.
    #[getter]
    fn fees(&self) -> f64 {
        self.inner.fees()
    }

    /// Slippage cost paid.
    #[getter]
    fn slippage(&self) -> f64 {
        self.inner.slippage()
    }

    /// Sum of absolute market values.
    #[getter]
    fn gross_exposure(&self) -> f64 {
        self.inner.gross_exposure()
    }

    /// `average_cost` or `fifo`.
    #[getter]
    fn cost_basis(&self) -> &'static str {
        self.inner.basis().name()
    }

    /// One instrument's position as a dict.
    fn position<'py>(&mut self, py: Python<'py>, symbol: &str) -> PyResult<Bound<'py, PyDict>> {
        let slot = self.slot(symbol)?;
        let p = self.inner.position(slot).expect("slot exists");
        let d = PyDict::new(py);
        d.set_item("symbol", &self.instruments[slot as usize].symbol)?;
        d.set_item("quantity", p.quantity)?;
        d.set_item("avg_price", p.avg_price)?;
        d.set_item("mark", opt(p.mark))?;
        d.set_item("multiplier", p.multiplier)?;
        d.set_item("realized", p.realized)?;
        d.set_item("unrealized", p.unrealized())?;
        d.set_item("fees", p.fees)?;
        d.set_item("slippage", p.slippage)?;
        d.set_item("lots", p.lots.iter().map(|l| (l.quantity, l.price)).collect::<Vec<_>>())?;
        Ok(d)
    }

    /// Every position as a `pyarrow.Table`.
    fn positions(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        guard(|| positions_table(py, &self.inner, &self.instruments, None))
    }

    /// The equity curve as a `pyarrow.Table`.
    fn equity_curve(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        guard(|| equity_curve_table(py, &self.inner))
    }

    /// The ledger as JSON.
    fn to_json(&self) -> String {
        serde_json::to_string(&self.inner).expect("ledger serializes")
    }

    fn __repr__(&self) -> String {
        format!(
            "Portfolio(cash={}, equity={}, instruments={}, cost_basis={})",
            self.inner.cash(),
            self.inner.equity(),
            self.instruments.len(),
            self.inner.basis().name()
        )
    }
}
