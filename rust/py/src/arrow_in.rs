//! Arrow input: tick and bar columns read (zero-copy where the types allow) from any Arrow
//! producer that speaks the PyCapsule interface (pyarrow, polars, arro3, pandas >= 2.2 ...).

use std::borrow::Cow;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use pyo3::prelude::*;
use pyo3_arrow::input::AnyRecordBatch;
use quant_engine_core::engine::{SymbolKeys, NO_SLOT, NULL_SLOT};
use quant_engine_core::window::WindowRow;

use crate::errors::schema_error;

/// Reads every record batch of an Arrow-compatible Python object.
pub fn read_batches(obj: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    let any: AnyRecordBatch = obj.extract().map_err(|_| {
        let ty = obj.get_type().name().map(|n| n.to_string()).unwrap_or_default();
        schema_error(format!("expected an Arrow table or record batch (pyarrow, polars, arro3 ...), got {ty}"))
    })?;
    let reader = any.into_reader()?;
    reader.collect::<Result<Vec<_>, _>>().map_err(|e| schema_error(format!("reading Arrow input failed: {e}")))
}

/// A column by name, or a `SchemaError` naming what exists.
pub fn column<'a>(batch: &'a RecordBatch, name: &str, what: &str) -> PyResult<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        schema_error(format!("{what} need a '{name}' column; got columns {names:?}"))
    })
}

/// Timestamps in ns: `int64` (taken as ns) or `timestamp[unit, tz?]` (instants; naive timestamps
/// are taken as UTC). Values that overflow when scaled to ns become `i64::MIN` (rejected later as
/// out of range).
pub fn ts_ns<'a>(col: &'a ArrayRef, name: &str) -> PyResult<Cow<'a, [i64]>> {
    fn scaled(v: &[i64], k: i64) -> Cow<'static, [i64]> {
        Cow::Owned(v.iter().map(|x| x.checked_mul(k).unwrap_or(i64::MIN)).collect())
    }
    Ok(match col.data_type() {
        DataType::Int64 => Cow::Borrowed(col.as_primitive::<Int64Type>().values()),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => Cow::Borrowed(col.as_primitive::<TimestampNanosecondType>().values()),
        DataType::Timestamp(TimeUnit::Microsecond, _) => scaled(col.as_primitive::<TimestampMicrosecondType>().values(), 1_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled(col.as_primitive::<TimestampMillisecondType>().values(), 1_000_000),
        DataType::Timestamp(TimeUnit::Second, _) => scaled(col.as_primitive::<TimestampSecondType>().values(), 1_000_000_000),
        dt => return Err(schema_error(format!("column '{name}' has type {dt}; expected timestamp or int64 nanoseconds"))),
    })
}

/// A numeric column as `f64` (zero-copy for `float64`, converted for other numeric types).
pub fn f64_values<'a>(col: &'a ArrayRef, name: &str) -> PyResult<Cow<'a, [f64]>> {
    match col.data_type() {
        DataType::Float64 => Ok(Cow::Borrowed(col.as_primitive::<Float64Type>().values())),
        dt if dt.is_numeric() => {
            let cast = arrow_cast::cast(col, &DataType::Float64).map_err(|e| schema_error(format!("column '{name}': cannot convert {dt} to float64: {e}")))?;
            Ok(Cow::Owned(cast.as_primitive::<Float64Type>().values().to_vec()))
        }
        dt => Err(schema_error(format!("column '{name}' has type {dt}; expected a numeric type"))),
    }
}

/// An `int64` column (other integer types converted).
pub fn i64_values<'a>(col: &'a ArrayRef, name: &str) -> PyResult<Cow<'a, [i64]>> {
    match col.data_type() {
        DataType::Int64 => Ok(Cow::Borrowed(col.as_primitive::<Int64Type>().values())),
        dt if dt.is_integer() => {
            let cast = arrow_cast::cast(col, &DataType::Int64).map_err(|e| schema_error(format!("column '{name}': cannot convert {dt} to int64: {e}")))?;
            Ok(Cow::Owned(cast.as_primitive::<Int64Type>().values().to_vec()))
        }
        dt => Err(schema_error(format!("column '{name}' has type {dt}; expected an integer type"))),
    }
}

/// `Some(mask)` (true = every listed column is non-null) when any column has nulls.
pub fn validity(cols: &[&ArrayRef]) -> Option<Vec<bool>> {
    let nulls: Vec<_> = cols.iter().filter_map(|c| c.logical_nulls()).filter(|n| n.null_count() > 0).collect();
    if nulls.is_empty() {
        return None;
    }
    let n = cols[0].len();
    let mut mask = vec![true; n];
    for nb in nulls {
        for (i, m) in mask.iter_mut().enumerate() {
            *m &= nb.is_valid(i);
        }
    }
    Some(mask)
}

/// The symbol of each tick, resolved to engine slots.
pub enum SymbolMapping<'a> {
    /// All ticks have this slot.
    One(u32),
    /// Per-tick slots.
    Slots(Vec<u32>),
    /// Dictionary keys and a key-to-slot table.
    Dict(DictKeys<'a>, Vec<u32>),
}

/// Borrowed dictionary keys of any integer width.
pub enum DictKeys<'a> {
    /// 8-bit signed.
    I8(&'a [i8]),
    /// 16-bit signed.
    I16(&'a [i16]),
    /// 32-bit signed.
    I32(&'a [i32]),
    /// 64-bit signed.
    I64(&'a [i64]),
    /// 8-bit unsigned.
    U8(&'a [u8]),
    /// 16-bit unsigned.
    U16(&'a [u16]),
    /// 32-bit unsigned.
    U32(&'a [u32]),
    /// 64-bit unsigned.
    U64(&'a [u64]),
}

impl SymbolMapping<'_> {
    /// The core's view of this mapping.
    pub fn keys(&self) -> SymbolKeys<'_> {
        match self {
            SymbolMapping::One(s) => SymbolKeys::One(*s),
            SymbolMapping::Slots(v) => SymbolKeys::Slots(v),
            SymbolMapping::Dict(k, t) => match k {
                DictKeys::I8(k) => SymbolKeys::I8(k, t),
                DictKeys::I16(k) => SymbolKeys::I16(k, t),
                DictKeys::I32(k) => SymbolKeys::I32(k, t),
                DictKeys::I64(k) => SymbolKeys::I64(k, t),
                DictKeys::U8(k) => SymbolKeys::U8(k, t),
                DictKeys::U16(k) => SymbolKeys::U16(k, t),
                DictKeys::U32(k) => SymbolKeys::U32(k, t),
                DictKeys::U64(k) => SymbolKeys::U64(k, t),
            },
        }
    }
}

/// Iterates the values of a string-like array (`utf8`, `large_utf8`, `utf8_view`).
fn with_strings(col: &ArrayRef, name: &str, f: &mut dyn FnMut(Option<&str>)) -> PyResult<()> {
    match col.data_type() {
        DataType::Utf8 => col.as_string::<i32>().iter().for_each(f),
        DataType::LargeUtf8 => col.as_string::<i64>().iter().for_each(f),
        DataType::Utf8View => col.as_string_view().iter().for_each(f),
        dt => return Err(schema_error(format!("column '{name}' has type {dt}; expected string or dictionary<string>"))),
    }
    Ok(())
}

fn slots_of_strings(col: &ArrayRef, name: &str, resolve: &mut dyn FnMut(&str) -> u32) -> PyResult<Vec<u32>> {
    let mut out = Vec::with_capacity(col.len());
    let mut last: Option<(String, u32)> = None;
    with_strings(col, name, &mut |v| {
        let slot = match v {
            None => NULL_SLOT,
            Some(s) => match &last {
                Some((l, slot)) if l == s => *slot,
                _ => {
                    let slot = resolve(s);
                    last = Some((s.to_owned(), slot));
                    slot
                }
            },
        };
        out.push(slot);
    })?;
    Ok(out)
}

/// Maps a symbol column to slots with `resolve` (which returns `NO_SLOT` for unknown symbols).
pub fn map_symbols<'a>(col: &'a ArrayRef, name: &str, resolve: &mut dyn FnMut(&str) -> u32) -> PyResult<SymbolMapping<'a>> {
    let mapping = match col.data_type() {
        DataType::Dictionary(key_type, _) => {
            let (keys, values): (DictKeys<'a>, &ArrayRef) = match key_type.as_ref() {
                DataType::Int8 => {
                    let d = col.as_dictionary::<Int8Type>();
                    (DictKeys::I8(d.keys().values()), d.values())
                }
                DataType::Int16 => {
                    let d = col.as_dictionary::<Int16Type>();
                    (DictKeys::I16(d.keys().values()), d.values())
                }
                DataType::Int32 => {
                    let d = col.as_dictionary::<Int32Type>();
                    (DictKeys::I32(d.keys().values()), d.values())
                }
                DataType::Int64 => {
                    let d = col.as_dictionary::<Int64Type>();
                    (DictKeys::I64(d.keys().values()), d.values())
                }
                DataType::UInt8 => {
                    let d = col.as_dictionary::<UInt8Type>();
                    (DictKeys::U8(d.keys().values()), d.values())
                }
                DataType::UInt16 => {
                    let d = col.as_dictionary::<UInt16Type>();
                    (DictKeys::U16(d.keys().values()), d.values())
                }
                DataType::UInt32 => {
                    let d = col.as_dictionary::<UInt32Type>();
                    (DictKeys::U32(d.keys().values()), d.values())
                }
                DataType::UInt64 => {
                    let d = col.as_dictionary::<UInt64Type>();
                    (DictKeys::U64(d.keys().values()), d.values())
                }
                dt => return Err(schema_error(format!("column '{name}': unsupported dictionary key type {dt}"))),
            };
            let mut table = Vec::with_capacity(values.len());
            with_strings(values, name, &mut |v| table.push(v.map_or(NULL_SLOT, &mut *resolve)))?;
            SymbolMapping::Dict(keys, table)
        }
        _ => SymbolMapping::Slots(slots_of_strings(col, name, resolve)?),
    };
    // One symbol for the whole batch: use the single-symbol fast loop.
    let uniform = |v: &[u32]| v.first().filter(|&&s| s != NO_SLOT && s != NULL_SLOT && v.iter().all(|x| x == &s)).copied();
    Ok(match &mapping {
        SymbolMapping::Slots(v) => uniform(v).map_or(mapping, SymbolMapping::One),
        SymbolMapping::Dict(_, t) if col.logical_null_count() == 0 => uniform(t).map_or(mapping, SymbolMapping::One),
        _ => mapping,
    })
}

/// A float column and its validity mask (present when it has nulls).
type ColumnWithValidity<'a> = (Cow<'a, [f64]>, Option<Vec<bool>>);

/// Historical bars for warm-up: `start`, `open`, `high`, `low`, `close`, `volume` required; `vwap`
/// (defaults to `close`) and `trades` (defaults to 0) optional. Rows with a null become invalid
/// rows (NaN prices) so the core counts them as rejected.
pub fn window_rows(batch: &RecordBatch) -> PyResult<Vec<WindowRow>> {
    let what = "warm-up bars";
    let start_col = column(batch, "start", what)?;
    let start = ts_ns(start_col, "start")?;
    let get = |name: &str| -> PyResult<ColumnWithValidity<'_>> {
        let c = column(batch, name, what)?;
        Ok((f64_values(c, name)?, validity(&[c])))
    };
    let (open, open_ok) = get("open")?;
    let (high, high_ok) = get("high")?;
    let (low, low_ok) = get("low")?;
    let (close, close_ok) = get("close")?;
    let (volume, volume_ok) = get("volume")?;
    let vwap = match batch.column_by_name("vwap") {
        Some(c) => Some((f64_values(c, "vwap")?, validity(&[c]))),
        None => None,
    };
    let trades = match batch.column_by_name("trades") {
        Some(c) => Some(i64_values(c, "trades")?),
        None => None,
    };
    let start_ok = validity(&[start_col]);
    let ok = |m: &Option<Vec<bool>>, i: usize| m.as_ref().is_none_or(|m| m[i]);
    Ok((0..batch.num_rows())
        .map(|i| {
            let valid = ok(&start_ok, i) && ok(&open_ok, i) && ok(&high_ok, i) && ok(&low_ok, i) && ok(&close_ok, i) && ok(&volume_ok, i);
            let vw = match &vwap {
                Some((v, m)) if ok(m, i) => v[i],
                Some(_) => f64::NAN,
                None => close[i],
            };
            WindowRow {
                start: start[i],
                open: if valid { open[i] } else { f64::NAN },
                high: high[i],
                low: low[i],
                close: close[i],
                volume: volume[i],
                vwap: vw,
                trades: trades.as_ref().map_or(0, |t| t[i]),
            }
        })
        .collect())
}
