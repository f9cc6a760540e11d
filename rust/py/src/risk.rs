//! Python classes of pre-trade risk: `RiskEngine`, `Decision`, `SizeResult`.
//! Thin wrappers over `quant_engine_core::risk`; semantics in `docs/risk.md`.

use std::sync::Arc;

use arrow_array::types::UInt8Type;
use arrow_array::{ArrayRef, BooleanArray, DictionaryArray, Float64Array, RecordBatch, StringArray, UInt8Array};
use arrow_buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::engine::NO_SLOT;
use quant_engine_core::instruments::InstrumentRegistry as CoreRegistry;
use quant_engine_core::order::{Order, Side};
use quant_engine_core::portfolio::CostBasis;
use quant_engine_core::risk::{DecisionColumns, Mode, OrderBatch, Reason, RiskEngine as CoreEngine, RiskLimits, SizingMethod};

use crate::arrow_in::read_batches;
use crate::arrow_out::to_pyarrow_table;
use crate::errors::{guard, invalid, IntoPyResult, Poison};
use crate::instruments::{Instrument, InstrumentRegistry};
use crate::order_args::{
    bool_values, f64_or_nan, fill_arg, now_ns, opt, order_type_arg, order_type_values, required, side_arg, side_values, slot_column, ts_or_now, FillFields,
    SlotResolver,
};
use crate::portfolio::{equity_curve_table, positions_table};

/// The stable reason codes, in discriminant order.
pub fn reason_codes() -> Vec<&'static str> {
    Reason::ALL.iter().map(|r| r.code()).collect()
}

/// A risk decision: accepted, or rejected with a reason code and the numbers that tripped it.
#[pyclass(module = "quant_engine._core", frozen)]
pub struct Decision {
    reason: Reason,
    value: f64,
    limit: f64,
}

impl Decision {
    fn from_core(d: quant_engine_core::risk::Decision) -> Self {
        Decision { reason: d.reason, value: d.value, limit: d.limit }
    }
}

#[pymethods]
impl Decision {
    /// Whether the order passed every check.
    #[getter]
    fn accepted(&self) -> bool {
        self.reason == Reason::Accepted
    }

    /// The reason code (`accepted`, `max_position` ...).
    #[getter]
    fn reason(&self) -> &'static str {
        self.reason.code()
    }

    /// The reason's stable integer code.
    #[getter]
    fn code(&self) -> u8 {
        self.reason as u8
    }

    /// The measured value that tripped the check (None when not applicable).
    #[getter]
    fn value(&self) -> Option<f64> {
        opt(self.value)
    }

    /// The limit it was compared with (None when not applicable).
    #[getter]
    fn limit(&self) -> Option<f64> {
        opt(self.limit)
    }

    /// A one-line explanation.
    #[getter]
    fn message(&self) -> String {
        quant_engine_core::risk::Decision { reason: self.reason, value: self.value, limit: self.limit }.message()
    }

    /// The decision as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("accepted", self.accepted())?;
        d.set_item("reason", self.reason())?;
        d.set_item("value", self.value())?;
        d.set_item("limit", self.limit())?;
        Ok(d)
    }

    fn __bool__(&self) -> bool {
        self.accepted()
    }

    fn __repr__(&self) -> String {
        if self.accepted() {
            "Decision(accepted)".to_owned()
        } else {
            let num = |v: f64| if v.is_nan() { "None".to_owned() } else { format!("{v}") };
            format!("Decision(rejected: {}, value={}, limit={})", self.reason(), num(self.value), num(self.limit))
        }
    }
}

/// The result of `RiskEngine.size_order`.
#[pyclass(module = "quant_engine._core", frozen)]
pub struct SizeResult {
    /// Whole lots to order (0 when rejected).
    #[pyo3(get)]
    quantity: f64,
    /// The method's unclamped size.
    #[pyo3(get)]
    raw: f64,
    /// The constraint that bound the size.
    #[pyo3(get)]
    binding: &'static str,
    decision: quant_engine_core::risk::Decision,
}

#[pymethods]
impl SizeResult {
    /// Accepted, or why there is no order.
    #[getter]
    fn decision(&self) -> Decision {
        Decision::from_core(self.decision)
    }

    /// Whether there is an order to place.
    #[getter]
    fn accepted(&self) -> bool {
        self.decision.accepted()
    }

    /// The decision's reason code.
    #[getter]
    fn reason(&self) -> &'static str {
        self.decision.reason.code()
    }

    fn __bool__(&self) -> bool {
        self.decision.accepted()
    }

    fn __repr__(&self) -> String {
        format!("SizeResult(quantity={}, raw={}, binding={:?}, reason={:?})", self.quantity, self.raw, self.binding, self.decision.reason.code())
    }
}

fn decision_schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("accepted", DataType::Boolean, false),
        Field::new("reason", DataType::Dictionary(Box::new(DataType::UInt8), Box::new(DataType::Utf8)), false),
        Field::new("value", DataType::Float64, true),
        Field::new("limit", DataType::Float64, true),
    ]))
}

/// `n` zeros from a process-wide immutable buffer (grown on demand), so all-null value/limit
/// columns cost no allocation or zeroing per call. Arrow buffers are immutable and reference
/// counted, so sharing one among tables is safe.
fn shared_zeros(n: usize) -> ScalarBuffer<f64> {
    use std::sync::Mutex;
    static ZEROS: Mutex<Option<ScalarBuffer<f64>>> = Mutex::new(None);
    let mut guard = ZEROS.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_ref() {
        Some(z) if z.len() >= n => z.slice(0, n),
        _ => {
            let z = ScalarBuffer::from(vec![0.0f64; n.next_power_of_two().max(1024)]);
            let out = z.slice(0, n);
            *guard = Some(z);
            out
        }
    }
}

/// The value and limit columns: null where the order was accepted or the check has no number.
/// Without any rejection both are all-null views of one shared zero buffer and one null mask.
fn rejected_values(value: Vec<f64>, limit: Vec<f64>, reason: &[u8]) -> (ArrayRef, ArrayRef) {
    let n = reason.len();
    if value.is_empty() {
        let col = Arc::new(Float64Array::new(shared_zeros(n), Some(NullBuffer::new_null(n)))) as ArrayRef;
        return (col.clone(), col);
    }
    let col = |v: Vec<f64>| {
        let valid = BooleanBuffer::collect_bool(n, |i| reason[i] != 0 && !v[i].is_nan());
        Arc::new(Float64Array::new(ScalarBuffer::from(v), Some(NullBuffer::new(valid)))) as ArrayRef
    };
    (col(value), col(limit))
}

/// Decisions as a record batch: `accepted, reason (dictionary), value, limit`. A batch without
/// rejections (empty `value`, see `DecisionColumns`) costs one fill of the `accepted` bitmap
/// besides the reason bytes it moves.
pub fn decisions_batch(cols: DecisionColumns) -> RecordBatch {
    let n = cols.reason.len();
    let accepted = if cols.value.is_empty() { BooleanBuffer::new_set(n) } else { BooleanBuffer::collect_bool(n, |i| cols.reason[i] == 0) };
    let (value, limit) = rejected_values(cols.value, cols.limit, &cols.reason);
    let keys = UInt8Array::new(ScalarBuffer::from(cols.reason), None);
    let values = Arc::new(StringArray::from(reason_codes()));
    debug_assert!(keys.values().iter().all(|&k| Reason::from_u8(k).is_some()));
    // SAFETY: every key is a `Reason` discriminant written by the engine, and `values` lists
    // every reason's code in discriminant order, so each key indexes `values` (the check
    // `try_new` would do is a pass over every row).
    let reason = unsafe { DictionaryArray::<UInt8Type>::new_unchecked(keys, values) };
    RecordBatch::try_new(decision_schema(), vec![Arc::new(BooleanArray::new(accepted, None)), Arc::new(reason), value, limit])
        .expect("decision columns match the schema")
}

/// The pre-trade risk engine (core of `quant_engine.risk.RiskEngine`).
#[pyclass(module = "quant_engine._core", subclass)]
pub struct RiskEngine {
    engine: CoreEngine,
    registry: CoreRegistry,
    slots: SlotResolver,
    poison: Poison,
}

impl RiskEngine {
    fn slot(&mut self, symbol: &str) -> u32 {
        let RiskEngine { engine, registry, slots, .. } = self;
        slots.slot(symbol, registry, &mut |i| engine.add_instrument(i).ok())
    }

    fn positions_table(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let e = &self.engine;
        let opens: Vec<(f64, f64)> = (0..e.instruments().len() as u32).map(|s| e.position(s).map_or((0.0, 0.0), |p| (p.1, p.2))).collect();
        positions_table(py, e.portfolio(), e.instruments(), Some(&opens))
    }

    fn known_slot(&mut self, symbol: &str) -> PyResult<u32> {
        match self.slot(symbol) {
            NO_SLOT => Err(crate::errors::core_error(
                self.registry
                    .resolve(symbol)
                    .err()
                    .unwrap_or_else(|| quant_engine_core::CoreError::UnknownSymbol(format!("'{symbol}': conflicts with a registered instrument"))),
            )),
            s => Ok(s),
        }
    }
}

#[pymethods]
impl RiskEngine {
    #[new]
    #[pyo3(signature = (limits_json="{}", cash=1_000_000.0, cost_basis="average_cost", registry=None, snapshot_json=None))]
    fn new(limits_json: &str, cash: f64, cost_basis: &str, registry: Option<InstrumentRegistry>, snapshot_json: Option<&str>) -> PyResult<Self> {
        guard(|| {
            let limits = RiskLimits::from_json(limits_json).py_err()?;
            let registry = registry.map(|r| r.inner).unwrap_or_default();
            let engine = match snapshot_json {
                Some(js) => CoreEngine::restore_json(limits, js).py_err()?,
                None => CoreEngine::new(limits, cash, CostBasis::parse(cost_basis).py_err()?, &[]).py_err()?,
            };
            let mut slots = SlotResolver::default();
            for (k, i) in engine.instruments().iter().enumerate() {
                slots.insert(&i.symbol, k as u32);
            }
            Ok(RiskEngine { engine, registry, slots, poison: Poison::default() })
        })
    }

    /// Checks one order. Accepted orders are counted as open (and in the rate limit) when
    /// `commit` is true, until `on_fill` / `on_cancel`.
    #[pyo3(signature = (symbol, side, quantity, price, order_type=None, ts=None, reduce_only=false, commit=true))]
    #[allow(clippy::too_many_arguments)]
    fn validate(
        &mut self,
        symbol: &str,
        side: &Bound<'_, PyAny>,
        quantity: f64,
        price: f64,
        order_type: Option<&str>,
        ts: Option<i64>,
        reduce_only: bool,
        commit: bool,
    ) -> PyResult<Decision> {
        let side = side_arg(side)?;
        let order_type = order_type_arg(order_type)?;
        let slot = self.slot(symbol);
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || {
            let order = Order { instrument: slot, side, quantity, order_type, price, ts: ts.unwrap_or_else(now_ns), reduce_only };
            Ok(Decision::from_core(engine.validate(&order, commit)))
        })
    }

    /// Checks a table of orders in sequence (the same code as `validate`); returns a table of
    /// decisions (`accepted, reason, value, limit`), one row per order.
    #[pyo3(signature = (orders, commit=true))]
    fn validate_batch(&mut self, py: Python<'_>, orders: &Bound<'_, PyAny>, commit: bool) -> PyResult<Py<PyAny>> {
        let batches = read_batches(orders)?;
        let this = &mut *self;
        let RiskEngine { engine, registry, slots, poison } = this;
        poison.run("RiskEngine", || {
            let mut all = DecisionColumns::default();
            let mut out = DecisionColumns::default();
            for b in &batches {
                let what = "orders";
                let needs = "symbol, side, quantity, price; optional ts, order_type, reduce_only";
                let sym = required(b, "symbol", what, needs)?;
                let side = side_values(required(b, "side", what, needs)?)?;
                let qty = f64_or_nan(required(b, "quantity", what, needs)?, "quantity")?;
                let price = f64_or_nan(required(b, "price", what, needs)?, "price")?;
                let ts = ts_or_now(b, "ts")?;
                let types = order_type_values(b)?;
                let reduce = bool_values(b, "reduce_only")?;
                let slot = slot_column(sym, &mut |s| slots.slot(s, registry, &mut |i| engine.add_instrument(i).ok()))?;
                let ob =
                    OrderBatch { instrument: slot.column(), side: &side, quantity: &qty, price: &price, ts: &ts, order_type: &types, reduce_only: &reduce };
                py.detach(|| engine.validate_batch(&ob, commit, &mut out)).py_err()?;
                if batches.len() == 1 {
                    all = std::mem::take(&mut out);
                } else {
                    let (had, rows) = (all.reason.len(), out.reason.len());
                    if !out.value.is_empty() || !all.value.is_empty() {
                        all.value.resize(had, 0.0);
                        all.limit.resize(had, 0.0);
                        if out.value.is_empty() {
                            all.value.resize(had + rows, 0.0);
                            all.limit.resize(had + rows, 0.0);
                        } else {
                            all.value.extend_from_slice(&out.value);
                            all.limit.extend_from_slice(&out.limit);
                        }
                    }
                    all.reason.extend_from_slice(&out.reason);
                }
            }
            to_pyarrow_table(py, decisions_batch(all))
        })
    }

    /// Sizes an order: exactly one of `risk_fraction` + `stop_distance` (risk per trade),
    /// `notional` (target notional) or `quantity` (fixed); clamped by every limit, rounded down
    /// to whole lots, and checked like `validate` (without committing).
    #[pyo3(signature = (symbol, side, price, *, risk_fraction=None, stop_distance=None, equity=None, notional=None, quantity=None, order_type=None, ts=None))]
    #[allow(clippy::too_many_arguments)]
    fn size_order(
        &mut self,
        symbol: &str,
        side: &Bound<'_, PyAny>,
        price: f64,
        risk_fraction: Option<f64>,
        stop_distance: Option<f64>,
        equity: Option<f64>,
        notional: Option<f64>,
        quantity: Option<f64>,
        order_type: Option<&str>,
        ts: Option<i64>,
    ) -> PyResult<SizeResult> {
        let side = side_arg(side)?;
        let order_type = order_type_arg(order_type)?;
        let method = match (risk_fraction, stop_distance, notional, quantity) {
            (Some(f), Some(s), None, None) => SizingMethod::RiskPerTrade { risk_fraction: f, stop_distance: s, equity },
            (None, None, Some(n), None) => SizingMethod::TargetNotional { notional: n },
            (None, None, None, Some(q)) => SizingMethod::Fixed { quantity: q },
            _ => return Err(invalid("size_order needs exactly one method: risk_fraction + stop_distance, notional, or quantity")),
        };
        let slot = self.slot(symbol);
        let engine = &self.engine;
        self.poison.run("RiskEngine", || {
            let r = engine.size_order(slot, side, price, method, order_type, ts.unwrap_or_else(now_ns));
            Ok(SizeResult { quantity: r.quantity, raw: r.raw, binding: r.binding, decision: r.decision })
        })
    }

    /// Applies a fill (a `Fill` from the execution model, or symbol, side, quantity, price):
    /// the ledger books it and the open orders of its side shrink. Returns the realized P&L.
    #[pyo3(signature = (fill, side=None, quantity=None, price=None, fees=0.0, slippage_cost=0.0, ts=None))]
    #[allow(clippy::too_many_arguments)]
    fn on_fill(
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
        let f = fill_arg("on_fill", fill, fields, |symbol| {
            let slot = self.known_slot(symbol)?;
            Ok((slot, self.engine.instruments()[slot as usize].multiplier))
        })?;
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || engine.on_fill(&f).py_err())
    }

    /// Releases open orders (a cancel, an expiry, a rejected fill).
    fn on_cancel(&mut self, symbol: &str, side: &Bound<'_, PyAny>, quantity: f64) -> PyResult<()> {
        let side: Side = side_arg(side)?;
        let slot = self.known_slot(symbol)?;
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || engine.on_cancel(slot, side, quantity).py_err())
    }

    /// Marks an instrument to a price (updates exposure, equity and the loss rules).
    fn on_mark(&mut self, symbol: &str, price: f64) -> PyResult<()> {
        let slot = self.known_slot(symbol)?;
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || engine.on_mark(slot, price).py_err())
    }

    /// Records a point of the equity curve at `ts` (now by default); returns the equity.
    #[pyo3(signature = (ts=None))]
    fn record(&mut self, ts: Option<i64>) -> PyResult<f64> {
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || Ok(engine.record(ts.unwrap_or_else(now_ns))))
    }

    /// Engages the kill switch (HALTED until `resume()`).
    fn kill(&mut self) -> PyResult<()> {
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || {
            engine.kill();
            Ok(())
        })
    }

    /// Back to ACTIVE.
    fn resume(&mut self) -> PyResult<()> {
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || {
            engine.resume();
            Ok(())
        })
    }

    /// Starts a new trading day (clears a daily-loss mode).
    fn start_day(&mut self) -> PyResult<()> {
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || {
            engine.start_day();
            Ok(())
        })
    }

    /// Sets the mode by hand: `active`, `reducing` or `halted`.
    fn set_mode(&mut self, mode: &str) -> PyResult<()> {
        let mode = Mode::parse(mode).py_err()?;
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || {
            engine.set_mode(mode);
            Ok(())
        })
    }

    /// `active`, `reducing` or `halted`.
    #[getter]
    fn mode(&self) -> &'static str {
        self.engine.mode().name()
    }

    /// Whether the kill switch is engaged.
    #[getter]
    fn killed(&self) -> bool {
        self.engine.killed()
    }

    /// Equity (cash plus marked positions).
    #[getter]
    fn equity(&self) -> f64 {
        self.engine.equity()
    }

    /// The engine's state: mode, trigger, equity, daily P&L, drawdown, exposure, margin, cash,
    /// realized and unrealized P&L, fees.
    fn state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.engine;
        let (trigger, tv, tl) = e.trigger();
        let p = e.portfolio();
        let d = PyDict::new(py);
        d.set_item("mode", e.mode().name())?;
        d.set_item("trigger", trigger.name())?;
        d.set_item("trigger_value", opt(tv))?;
        d.set_item("trigger_limit", opt(tl))?;
        d.set_item("killed", e.killed())?;
        d.set_item("equity", e.equity())?;
        d.set_item("daily_pnl", e.daily_pnl())?;
        d.set_item("drawdown", e.drawdown())?;
        d.set_item("peak_equity", e.peak_equity())?;
        d.set_item("gross_exposure", e.gross_exposure())?;
        d.set_item("margin_used", e.margin_used())?;
        d.set_item("cash", p.cash())?;
        d.set_item("realized", p.realized())?;
        d.set_item("unrealized", p.unrealized())?;
        d.set_item("fees", p.fees())?;
        d.set_item("recent_orders", e.recent_orders().len())?;
        Ok(d)
    }

    /// One instrument's position: quantity, open_buy, open_sell and its resolved limits.
    fn position<'py>(&mut self, py: Python<'py>, symbol: &str) -> PyResult<Bound<'py, PyDict>> {
        let slot = self.known_slot(symbol)?;
        let e = &self.engine;
        let (q, b, s) = e.position(slot).unwrap_or_default();
        let (mq, mn, mp) = e.slot_limits(slot).unwrap_or_default();
        let d = PyDict::new(py);
        d.set_item("symbol", &e.instruments()[slot as usize].symbol)?;
        d.set_item("quantity", q)?;
        d.set_item("open_buy", b)?;
        d.set_item("open_sell", s)?;
        d.set_item("max_order_quantity", mq)?;
        d.set_item("max_order_notional", mn)?;
        d.set_item("max_position", mp)?;
        Ok(d)
    }

    /// Every instrument's ledger position as a `pyarrow.Table`.
    fn positions(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        guard(|| self.positions_table(py))
    }

    /// The ledger's equity curve (points added by `record`).
    fn equity_curve(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        guard(|| equity_curve_table(py, self.engine.portfolio()))
    }

    /// The instrument a symbol resolves to (registering it with the engine).
    fn instrument(&mut self, symbol: &str) -> PyResult<Instrument> {
        let slot = self.known_slot(symbol)?;
        Ok(Instrument::wrap(self.engine.instruments()[slot as usize].clone()))
    }

    /// Registers an instrument spec with the engine's registry (and the engine).
    fn register(&mut self, instrument: Instrument) -> PyResult<()> {
        guard(|| {
            self.registry.register(instrument.inner.clone()).py_err()?;
            let slot = self.engine.add_instrument(instrument.inner.clone()).py_err()?;
            self.slots.forget_unknown();
            self.slots.insert(&instrument.inner.symbol, slot);
            Ok(())
        })
    }

    /// Decisions so far by reason code.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (r, n) in Reason::ALL.iter().zip(self.engine.decision_counts()) {
            d.set_item(r.code(), n)?;
        }
        Ok(d)
    }

    /// The whole state as JSON (restore with `RiskEngine(..., snapshot_json=...)`).
    fn snapshot(&self) -> PyResult<String> {
        guard(|| Ok(self.engine.snapshot_json()))
    }

    /// The limits as JSON.
    fn limits_json(&self) -> String {
        self.engine.limits().to_json()
    }

    /// Replaces the limits (state is kept).
    fn set_limits(&mut self, limits_json: &str) -> PyResult<()> {
        let limits = RiskLimits::from_json(limits_json).py_err()?;
        let engine = &mut self.engine;
        self.poison.run("RiskEngine", || engine.set_limits(limits).py_err())
    }

    fn __repr__(&self) -> String {
        let e = &self.engine;
        format!("RiskEngine(mode={}, equity={}, instruments={})", e.mode().name(), e.equity(), e.instruments().len())
    }
}
