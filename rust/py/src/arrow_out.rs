//! Arrow output: bar columns to Arrow record batches, handed to pyarrow through the C data
//! interface (no Python object per bar).

use std::sync::{Arc, OnceLock};

use arrow_array::types::Int32Type;
use arrow_array::{Array, ArrayRef, DictionaryArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, StructArray, TimestampNanosecondArray};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_data::ffi::FFI_ArrowArray;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3_arrow::{PyRecordBatch, PySchema};
use quant_engine_core::bar::BarColumns;
use quant_engine_core::trading::{FillReason, Journal};
use quant_engine_core::window::BarWindow;

/// The bar schema: `symbol, start, open, high, low, close, volume, vwap, trades`.
pub fn bar_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let f = |n: &str| Field::new(n, DataType::Float64, false);
            Arc::new(Schema::new(vec![
                Field::new("symbol", DataType::Utf8, false),
                Field::new("start", DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())), false),
                f("open"),
                f("high"),
                f("low"),
                f("close"),
                f("volume"),
                f("vwap"),
                Field::new("trades", DataType::Int64, false),
            ]))
        })
        .clone()
}

/// Builds a bar record batch (moving the columns, no copy); `name(slot)` gives each row's symbol.
pub fn bars_batch<'n>(cols: BarColumns, name: impl Fn(u32) -> &'n str) -> RecordBatch {
    let f = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(cols.slot.iter().map(|&s| name(s)))),
        Arc::new(TimestampNanosecondArray::from(cols.start).with_timezone("UTC")),
        f(cols.open),
        f(cols.high),
        f(cols.low),
        f(cols.close),
        f(cols.volume),
        f(cols.vwap),
        Arc::new(Int64Array::from(cols.trades)),
    ];
    RecordBatch::try_new(bar_schema(), columns).expect("bar columns match the bar schema")
}

/// One symbol's window as a bar record batch. The eight numeric columns share one allocation,
/// and the symbol column is a slice of `symbols` (the symbol repeated, cached by the caller) when
/// it is long enough.
pub fn window_batch(window: &BarWindow, name: &str, symbols: &mut Option<StringArray>) -> RecordBatch {
    let n = window.len();
    let mut raw = Vec::with_capacity(8 * n);
    window.copy_columns_raw(&mut raw);
    let buf = Buffer::from_vec(raw);
    let f = |k: usize| Arc::new(Float64Array::new(ScalarBuffer::new(buf.clone(), k * n, n), None)) as ArrayRef;
    let cached = symbols.get_or_insert_with(|| StringArray::from_iter_values(std::iter::repeat_n(name, window.capacity().min(SYMBOL_CACHE_ROWS))));
    let sym: ArrayRef = if cached.len() >= n { Arc::new(cached.slice(0, n)) } else { Arc::new(StringArray::from_iter_values(std::iter::repeat_n(name, n))) };
    let columns: Vec<ArrayRef> = vec![
        sym,
        Arc::new(TimestampNanosecondArray::new(ScalarBuffer::new(buf.clone(), 0, n), None).with_timezone("UTC")),
        f(1),
        f(2),
        f(3),
        f(4),
        f(5),
        f(6),
        Arc::new(Int64Array::new(ScalarBuffer::new(buf.clone(), 7 * n, n), None)),
    ];
    RecordBatch::try_new(bar_schema(), columns).expect("window columns match the bar schema")
}

/// Longest cached symbol column (longer windows build theirs per call).
const SYMBOL_CACHE_ROWS: usize = 4096;

/// Converts a record batch to a `pyarrow.Table` (one chunk) through the Arrow C data interface.
pub fn to_pyarrow_table(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    let rb = PyRecordBatch::new(batch).into_pyarrow(py)?;
    Ok(table_from_batches(py)?.call1(([rb],))?.unbind())
}

fn table_from_batches(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static FROM_BATCHES: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    Ok(FROM_BATCHES.get_or_try_init(py, || -> PyResult<Py<PyAny>> { Ok(py.import("pyarrow")?.getattr("Table")?.getattr("from_batches")?.unbind()) })?.bind(py))
}

/// A bar record batch to a `pyarrow.Table`, fast: the bar schema is imported into pyarrow once
/// and reused, and only the array crosses the C data interface (this keeps `bars()` of a
/// 500-bar window in the low microseconds).
pub fn bars_to_pyarrow(py: Python<'_>, batch: RecordBatch) -> PyResult<Py<PyAny>> {
    static IMPORT: PyOnceLock<(Py<PyAny>, Py<PyAny>)> = PyOnceLock::new();
    let (import, schema) = IMPORT.get_or_try_init(py, || -> PyResult<(Py<PyAny>, Py<PyAny>)> {
        let import = py.import("pyarrow")?.getattr("RecordBatch")?.getattr("_import_from_c")?;
        let schema = PySchema::new(bar_schema()).into_pyarrow(py)?;
        Ok((import.unbind(), schema.unbind()))
    })?;
    debug_assert_eq!(batch.schema(), bar_schema());
    let data = StructArray::from(batch).into_data();
    let mut ffi = Box::new(FFI_ArrowArray::new(&data));
    let address = std::ptr::addr_of_mut!(*ffi) as usize;
    // pyarrow moves the array out of `ffi` (leaving it released); if the import fails, dropping
    // `ffi` releases the buffers.
    let rb = import.bind(py).call1((address, schema.bind(py)))?;
    drop(ffi);
    Ok(table_from_batches(py)?.call1(([rb], schema.bind(py)))?.unbind())
}

/// An empty bar table (cached per call site by the callers).
pub fn empty_bars_table(py: Python<'_>) -> PyResult<Py<PyAny>> {
    bars_to_pyarrow(py, bars_batch(BarColumns::default(), |_| ""))
}

fn timestamp_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn dictionary_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

/// The fills schema: `ts, symbol, side, quantity, price, base_price, fees, slippage, multiplier,
/// reason` (`side` and `reason` dictionary-encoded strings).
pub fn fills_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let f = |n: &str| Field::new(n, DataType::Float64, true);
            Arc::new(Schema::new(vec![
                Field::new("ts", timestamp_type(), true),
                Field::new("symbol", DataType::Utf8, true),
                Field::new("side", dictionary_type(), true),
                f("quantity"),
                f("price"),
                f("base_price"),
                f("fees"),
                f("slippage"),
                f("multiplier"),
                Field::new("reason", dictionary_type(), true),
            ]))
        })
        .clone()
}

/// The trades schema: `symbol, side, quantity, entry_time, entry_price, exit_time, exit_price,
/// pnl, fees, slippage, bars_held, exit_reason`.
pub fn trades_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let f = |n: &str| Field::new(n, DataType::Float64, true);
            Arc::new(Schema::new(vec![
                Field::new("symbol", DataType::Utf8, true),
                Field::new("side", dictionary_type(), true),
                f("quantity"),
                Field::new("entry_time", timestamp_type(), true),
                f("entry_price"),
                Field::new("exit_time", timestamp_type(), true),
                f("exit_price"),
                f("pnl"),
                f("fees"),
                f("slippage"),
                Field::new("bars_held", DataType::Int64, true),
                Field::new("exit_reason", dictionary_type(), true),
            ]))
        })
        .clone()
}

/// A dictionary column of `labels` indexed by `keys`.
fn labels(keys: Vec<i32>, labels: &[&str]) -> ArrayRef {
    let values = Arc::new(StringArray::from_iter_values(labels.iter().copied())) as ArrayRef;
    Arc::new(DictionaryArray::<Int32Type>::try_new(Int32Array::from(keys), values).expect("keys index the labels"))
}

fn reasons(keys: Vec<i32>) -> ArrayRef {
    let codes: Vec<&str> = FillReason::ALL.iter().map(|r| r.code()).collect();
    labels(keys, &codes)
}

/// A journal's fills and trades as record batches (symbols by slot from `symbols`).
pub fn journal_batches(journal: &Journal, symbols: &[&str]) -> (RecordBatch, RecordBatch) {
    let ts = |v: Vec<i64>| Arc::new(TimestampNanosecondArray::from(v).with_timezone("UTC")) as ArrayRef;
    let f64s = |v: Vec<f64>| Arc::new(Float64Array::from(v)) as ArrayRef;
    let sym = |it: &mut dyn Iterator<Item = u32>| Arc::new(StringArray::from_iter_values(it.map(|s| symbols[s as usize]))) as ArrayRef;
    let f = &journal.fills;
    let fills = RecordBatch::try_new(
        fills_schema(),
        vec![
            ts(f.iter().map(|(x, _)| x.ts).collect()),
            sym(&mut f.iter().map(|(x, _)| x.instrument)),
            labels(f.iter().map(|(x, _)| i32::from(x.side.sign() <= 0.0)).collect(), &["buy", "sell"]),
            f64s(f.iter().map(|(x, _)| x.quantity).collect()),
            f64s(f.iter().map(|(x, _)| x.price).collect()),
            f64s(f.iter().map(|(x, _)| x.base_price).collect()),
            f64s(f.iter().map(|(x, _)| x.fees).collect()),
            f64s(f.iter().map(|(x, _)| x.slippage_cost).collect()),
            f64s(f.iter().map(|(x, _)| x.multiplier).collect()),
            reasons(f.iter().map(|(_, r)| *r as i32).collect()),
        ],
    )
    .expect("fill columns match the fills schema");
    let t = &journal.trades;
    let trades = RecordBatch::try_new(
        trades_schema(),
        vec![
            sym(&mut t.iter().map(|x| x.instrument)),
            labels(t.iter().map(|x| i32::from(x.quantity <= 0.0)).collect(), &["long", "short"]),
            f64s(t.iter().map(|x| x.quantity).collect()),
            ts(t.iter().map(|x| x.entry_ts).collect()),
            f64s(t.iter().map(|x| x.entry_price).collect()),
            ts(t.iter().map(|x| x.exit_ts).collect()),
            f64s(t.iter().map(|x| x.exit_price).collect()),
            f64s(t.iter().map(|x| x.pnl).collect()),
            f64s(t.iter().map(|x| x.fees).collect()),
            f64s(t.iter().map(|x| x.slippage).collect()),
            Arc::new(Int64Array::from(t.iter().map(|x| i64::from(x.bars_held)).collect::<Vec<_>>())),
            reasons(t.iter().map(|x| x.reason as i32).collect()),
        ],
    )
    .expect("trade columns match the trades schema");
    (fills, trades)
}

/// A journal's fills and trades as two `pyarrow.Table`s.
pub fn journal_tables(py: Python<'_>, journal: &Journal, symbols: &[&str]) -> PyResult<(Py<PyAny>, Py<PyAny>)> {
    let (fills, trades) = journal_batches(journal, symbols);
    Ok((to_pyarrow_table(py, fills)?, to_pyarrow_table(py, trades)?))
}
