//! Python classes of the execution model: `ExecutionModel` and `Fill`.
//! Thin wrappers over `quant_engine_core::execution`; semantics in `docs/execution.md`.

use std::sync::Arc;

use arrow_array::types::UInt8Type;
use arrow_array::{ArrayRef, DictionaryArray, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt8Array};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::engine::NO_SLOT;
use quant_engine_core::execution::{
    BarColumnsRef, BarQuote, ExecutionConfig, ExecutionModel as CoreModel, FillColumns, FillReject, MarketContext, OrderColumns, Quote, FILLED,
};
use quant_engine_core::instruments::{Instrument as CoreInstrument, InstrumentRegistry as CoreRegistry};
use quant_engine_core::order::{Fill as CoreFill, Order, OrderType};

use crate::arrow_in::{i64_values, read_batches, ts_ns};
use crate::arrow_out::to_pyarrow_table;
use crate::errors::{guard, invalid, schema_error, IntoPyResult};
use crate::instruments::{Instrument, InstrumentRegistry};
use crate::order_args::{f64_or_nan, now_ns, order_type_values, required, side_arg, side_values, slot_column};

/// The fill status codes, in code order (`filled` is 0).
pub fn fill_status_codes() -> Vec<&'static str> {
    std::iter::once("filled").chain(FillReject::ALL.iter().map(|r| r.code())).collect()
}

/// A fill, or a rejected order (`filled` false, `status` the reason, zero quantity).
#[pyclass(module = "quant_engine._core", frozen)]
pub struct Fill {
    pub(crate) symbol: String,
    pub(crate) inner: CoreFill,
    pub(crate) status: u8,
}

#[pymethods]
impl Fill {
    /// The instrument's canonical symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.symbol
    }

    /// `buy` or `sell`.
    #[getter]
    fn side(&self) -> &'static str {
        self.inner.side.name()
    }

    /// Filled quantity.
    #[getter]
    fn quantity(&self) -> f64 {
        self.inner.quantity
    }

    /// Fill price (slippage included).
    #[getter]
    fn price(&self) -> f64 {
        self.inner.price
    }

    /// Price before slippage.
    #[getter]
    fn base_price(&self) -> f64 {
        self.inner.base_price
    }

    /// Fees in currency.
    #[getter]
    fn fees(&self) -> f64 {
        self.inner.fees
    }

    /// Slippage cost in currency.
    #[getter]
    fn slippage_cost(&self) -> f64 {
        self.inner.slippage_cost
    }

    /// The multiplier used.
    #[getter]
    fn multiplier(&self) -> f64 {
        self.inner.multiplier
    }

    /// Fill time, UTC ns.
    #[getter]
    fn ts(&self) -> i64 {
        self.inner.ts
    }

    /// `quantity * price * multiplier`.
    #[getter]
    fn notional(&self) -> f64 {
        self.inner.notional()
    }

    /// Whether the order filled.
    #[getter]
    pub(crate) fn filled(&self) -> bool {
        self.status == FILLED
    }

    /// `filled` or the rejection code (`limit_not_reached` ...).
    #[getter]
    pub(crate) fn status(&self) -> &'static str {
        fill_status_codes()[self.status as usize]
    }

    /// The fill as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("symbol", &self.symbol)?;
        d.set_item("status", self.status())?;
        d.set_item("side", self.side())?;
        d.set_item("quantity", self.inner.quantity)?;
        d.set_item("price", self.inner.price)?;
        d.set_item("base_price", self.inner.base_price)?;
        d.set_item("fees", self.inner.fees)?;
        d.set_item("slippage_cost", self.inner.slippage_cost)?;
        d.set_item("multiplier", self.inner.multiplier)?;
        d.set_item("ts", self.inner.ts)?;
        Ok(d)
    }

    fn __bool__(&self) -> bool {
        self.filled()
    }

    fn __repr__(&self) -> String {
        let f = &self.inner;
        if self.filled() {
            format!(
                "Fill({:?}, {} {} @ {}, fees={}, slippage_cost={}, multiplier={})",
                self.symbol,
                f.side.name(),
                f.quantity,
                f.price,
                f.fees,
                f.slippage_cost,
                f.multiplier
            )
        } else {
            format!("Fill({:?}, rejected: {})", self.symbol, self.status())
        }
    }
}

/// The execution model (core of `quant_engine.execution.ExecutionModel`).
#[pyclass(module = "quant_engine._core", subclass)]
pub struct ExecutionModel {
    model: CoreModel,
    registry: CoreRegistry,
}

impl ExecutionModel {
    fn instrument(&self, obj: &Bound<'_, PyAny>) -> PyResult<CoreInstrument> {
        if let Ok(i) = obj.cast::<Instrument>() {
            return Ok(i.get().inner.clone());
        }
        let s: &str = obj.extract().map_err(|_| invalid("instrument must be an Instrument or a symbol string"))?;
        self.registry.resolve(s).py_err()
    }

    fn run(&self, inst: &CoreInstrument, order: Order, ctx: MarketContext) -> Fill {
        let side = order.side;
        match self.model.fill(inst, &order, &ctx) {
            Ok(f) => Fill { symbol: inst.symbol.clone(), inner: f, status: FILLED },
            Err(r) => Fill {
                symbol: inst.symbol.clone(),
                inner: CoreFill {
                    instrument: 0,
                    side,
                    quantity: 0.0,
                    price: f64::NAN,
                    base_price: f64::NAN,
                    fees: 0.0,
                    slippage_cost: 0.0,
                    multiplier: inst.multiplier,
                    ts: match ctx {
                        MarketContext::Quote(q) => q.ts,
                        MarketContext::Bar(b) => b.ts,
                    },
                },
                status: r as u8,
            },
        }
    }
}

fn order_of(quantity: f64, side: quant_engine_core::order::Side, limit_price: Option<f64>) -> Order {
    match limit_price {
        Some(p) => Order::limit(0, side, quantity, p, 0),
        None => Order { order_type: OrderType::Market, ..Order::market(0, side, quantity, f64::NAN, 0) },
    }
}

#[pymethods]
impl ExecutionModel {
    #[new]
    #[pyo3(signature = (config_json="{}", registry=None))]
    fn new(config_json: &str, registry: Option<InstrumentRegistry>) -> PyResult<Self> {
        guard(|| {
            let config: ExecutionConfig = serde_json::from_str(config_json).map_err(|e| invalid(format!("bad execution config: {e}")))?;
            Ok(ExecutionModel { model: CoreModel::new(config).py_err()?, registry: registry.map(|r| r.inner).unwrap_or_default() })
        })
    }

    /// Fills an order against a quote (bid/ask); a limit order when `limit_price` is given.
    #[pyo3(signature = (instrument, side, quantity, bid, ask, *, limit_price=None, volume=None, bid_size=None, ask_size=None, ts=None))]
    #[allow(clippy::too_many_arguments)]
    fn fill_quote(
        &self,
        instrument: &Bound<'_, PyAny>,
        side: &Bound<'_, PyAny>,
        quantity: f64,
        bid: Option<f64>,
        ask: Option<f64>,
        limit_price: Option<f64>,
        volume: Option<f64>,
        bid_size: Option<f64>,
        ask_size: Option<f64>,
        ts: Option<i64>,
    ) -> PyResult<Fill> {
        let inst = self.instrument(instrument)?;
        let side = side_arg(side)?;
        guard(|| {
            let q = Quote {
                ts: ts.unwrap_or_else(now_ns),
                bid: bid.unwrap_or(f64::NAN),
                ask: ask.unwrap_or(f64::NAN),
                bid_size: bid_size.unwrap_or(f64::NAN),
                ask_size: ask_size.unwrap_or(f64::NAN),
                volume: volume.unwrap_or(f64::NAN),
            };
            Ok(self.run(&inst, order_of(quantity, side, limit_price), MarketContext::Quote(q)))
        })
    }

    /// Fills an order against the next bar (market orders at its open plus half the assumed
    /// spread and slippage; limit orders only when the bar trades through the limit).
    #[pyo3(signature = (instrument, side, quantity, open, high, low, close, volume=None, *, limit_price=None, ts=None))]
    #[allow(clippy::too_many_arguments)]
    fn fill_bar(
        &self,
        instrument: &Bound<'_, PyAny>,
        side: &Bound<'_, PyAny>,
        quantity: f64,
        open: f64,
        high: f64,
        low: f64,
        close: f64,
        volume: Option<f64>,
        limit_price: Option<f64>,
        ts: Option<i64>,
    ) -> PyResult<Fill> {
        let inst = self.instrument(instrument)?;
        let side = side_arg(side)?;
        guard(|| {
            let b = BarQuote { ts: ts.unwrap_or_else(now_ns), open, high, low, close, volume: volume.unwrap_or(f64::NAN) };
            Ok(self.run(&inst, order_of(quantity, side, limit_price), MarketContext::Bar(b)))
        })
    }

    /// Fills a table of orders against a table of bars with the same code as `fill_bar`.
    /// Orders: `symbol, side, quantity, bar` (the row of `bars` each order executes against)
    /// and optional `order_type`, `limit_price`. Bars: `open, high, low, close`, optional
    /// `volume` and `ts`/`start`. Returns one row per order: `status, ts, quantity, price,
    /// base_price, fees, slippage_cost, multiplier` (null where not filled).
    fn fill_batch(&self, py: Python<'_>, orders: &Bound<'_, PyAny>, bars: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        guard(|| {
            let ob = concat(read_batches(orders)?, "orders")?;
            let bb = concat(read_batches(bars)?, "bars")?;
            let what = "orders";
            let needs = "symbol, side, quantity, bar; optional order_type, limit_price";
            let mut instruments: Vec<CoreInstrument> = Vec::new();
            let slot = slot_column(required(&ob, "symbol", what, needs)?, &mut |s| match self.registry.resolve(s) {
                Ok(i) => match instruments.iter().position(|x| x.symbol == i.symbol) {
                    Some(k) => k as u32,
                    None => {
                        instruments.push(i);
                        instruments.len() as u32 - 1
                    }
                },
                Err(_) => NO_SLOT,
            })?;
            let side = side_values(required(&ob, "side", what, needs)?)?;
            let qty = f64_or_nan(required(&ob, "quantity", what, needs)?, "quantity")?;
            let bar_col = required(&ob, "bar", what, needs)?;
            if bar_col.null_count() > 0 {
                return Err(schema_error("column 'bar' has nulls"));
            }
            let bar_idx = i64_values(bar_col, "bar")?;
            let types = order_type_values(&ob)?;
            let limit = match ob.column_by_name("limit_price") {
                Some(c) => f64_or_nan(c, "limit_price")?.into_owned(),
                None if types.is_empty() => Vec::new(),
                None => return Err(schema_error("an 'order_type' column needs a 'limit_price' column")),
            };
            let types = if !limit.is_empty() && types.is_empty() { limit.iter().map(|p| (!p.is_nan()) as u8).collect() } else { types };
            let bw = "bars";
            let bneeds = "open, high, low, close; optional volume, ts";
            let open = f64_or_nan(required(&bb, "open", bw, bneeds)?, "open")?;
            let high = f64_or_nan(required(&bb, "high", bw, bneeds)?, "high")?;
            let low = f64_or_nan(required(&bb, "low", bw, bneeds)?, "low")?;
            let close = f64_or_nan(required(&bb, "close", bw, bneeds)?, "close")?;
            let nb = open.len();
            let volume = match bb.column_by_name("volume") {
                Some(c) => f64_or_nan(c, "volume")?,
                None => std::borrow::Cow::Owned(vec![f64::NAN; nb]),
            };
            let ts = match bb.column_by_name("ts").or_else(|| bb.column_by_name("start")) {
                Some(c) => ts_ns(c, "ts")?,
                None => std::borrow::Cow::Owned(vec![0; nb]),
            };
            let oc = OrderColumns { instrument: slot.column(), side: &side, quantity: &qty, order_type: &types, limit_price: &limit, bar: &bar_idx };
            let bc = BarColumnsRef { ts: &ts, open: &open, high: &high, low: &low, close: &close, volume: &volume };
            let mut out = FillColumns::default();
            py.detach(|| self.model.fill_bars_batch(&instruments, &oc, &bc, &mut out)).py_err()?;
            to_pyarrow_table(py, fills_batch(out))
        })
    }

    /// The configuration as JSON.
    fn config_json(&self) -> String {
        serde_json::to_string(self.model.config()).expect("config serializes")
    }

    fn __repr__(&self) -> String {
        format!("ExecutionModel({})", self.config_json())
    }
}

fn concat(batches: Vec<RecordBatch>, what: &str) -> PyResult<RecordBatch> {
    match batches.len() {
        1 => Ok(batches.into_iter().next().expect("one batch")),
        0 => Err(schema_error(format!("{what}: empty input (no record batches)"))),
        _ => {
            let schema = batches[0].schema();
            arrow_select_concat(&schema, &batches).map_err(|e| schema_error(format!("{what}: {e}")))
        }
    }
}

fn arrow_select_concat(schema: &arrow_schema::SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch, String> {
    let mut cols = Vec::with_capacity(schema.fields().len());
    for k in 0..schema.fields().len() {
        let parts: Vec<&dyn arrow_array::Array> = batches.iter().map(|b| b.column(k).as_ref()).collect();
        cols.push(arrow_select::concat::concat(&parts).map_err(|e| e.to_string())?);
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

fn fills_batch(out: FillColumns) -> RecordBatch {
    let n = out.status.len();
    let valid = NullBuffer::new(BooleanBuffer::collect_bool(n, |i| out.status[i] == FILLED));
    let nulls = (valid.null_count() > 0).then_some(valid);
    let f = |v: Vec<f64>| Arc::new(Float64Array::new(ScalarBuffer::from(v), nulls.clone())) as ArrayRef;
    let keys = UInt8Array::new(ScalarBuffer::from(out.status), None);
    let status = DictionaryArray::<UInt8Type>::try_new(keys, Arc::new(StringArray::from(fill_status_codes()))).expect("status codes index the code list");
    let schema = Schema::new(vec![
        Field::new("status", DataType::Dictionary(Box::new(DataType::UInt8), Box::new(DataType::Utf8)), false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), true),
        Field::new("quantity", DataType::Float64, true),
        Field::new("price", DataType::Float64, true),
        Field::new("base_price", DataType::Float64, true),
        Field::new("fees", DataType::Float64, true),
        Field::new("slippage_cost", DataType::Float64, true),
        Field::new("multiplier", DataType::Float64, true),
    ]);
    let ts = TimestampNanosecondArray::new(ScalarBuffer::from(out.ts), nulls.clone()).with_timezone("UTC");
    RecordBatch::try_new(
        Arc::new(schema),
        vec![Arc::new(status), Arc::new(ts), f(out.quantity), f(out.price), f(out.base_price), f(out.fees), f(out.slippage_cost), f(out.multiplier)],
    )
    .expect("fill columns match the schema")
}
