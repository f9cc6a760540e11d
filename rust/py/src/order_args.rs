//! Order arguments shared by the risk, execution and portfolio bindings: scalar sides and order
//! types, fills given as arguments, the clock, and order columns read from Arrow (side, order
//! type, flags, nullable numbers).

use std::borrow::Cow;
use std::collections::HashMap;

use arrow_array::cast::AsArray;
use arrow_array::types::Int8Type;
use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow_schema::DataType;
use pyo3::prelude::*;
use pyo3::types::PyString;
use quant_engine_core::engine::NO_SLOT;
use quant_engine_core::instruments::{Instrument, InstrumentRegistry};
use quant_engine_core::order::{Fill as CoreFill, OrderType, Side};

use crate::arrow_in::{f64_values, i64_values, map_symbols, ts_ns, SymbolMapping};
use crate::errors::{invalid, schema_error};
use crate::execution::Fill;

/// Current UTC time in ns.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

/// A side given as `"buy"`/`"sell"` (or `b`/`s`/`long`/`short`, any case) or `+1`/`-1`.
pub fn side_arg(obj: &Bound<'_, PyAny>) -> PyResult<Side> {
    if let Ok(s) = obj.cast::<PyString>() {
        let t = s.to_str()?;
        return match t {
            "buy" | "BUY" | "Buy" | "b" | "B" => Ok(Side::Buy),
            "sell" | "SELL" | "Sell" | "s" | "S" => Ok(Side::Sell),
            _ => Side::parse(t).map_err(|_| invalid(format!("invalid side: '{t}'; expected 'buy' or 'sell' (or +1 / -1)"))),
        };
    }
    match obj.extract::<i64>() {
        Ok(1) => Ok(Side::Buy),
        Ok(-1) => Ok(Side::Sell),
        _ => Err(invalid(format!("invalid side: {obj}; expected 'buy' or 'sell' (or +1 / -1)"))),
    }
}

/// An order type name (`None` = market).
pub fn order_type_arg(text: Option<&str>) -> PyResult<OrderType> {
    match text {
        None | Some("market") => Ok(OrderType::Market),
        Some("limit") => Ok(OrderType::Limit),
        Some(t) => OrderType::parse(t).map_err(|_| invalid(format!("invalid order_type: '{t}'; expected 'market' or 'limit'"))),
    }
}

/// The fields of a fill given as arguments (after its symbol) rather than as a `Fill`.
pub struct FillFields<'a, 'py> {
    /// Side (`"buy"`/`"sell"` or +1/-1); required.
    pub side: Option<&'a Bound<'py, PyAny>>,
    /// Filled quantity; required.
    pub quantity: Option<f64>,
    /// Fill price; required.
    pub price: Option<f64>,
    /// Fees paid.
    pub fees: f64,
    /// Slippage cost paid.
    pub slippage_cost: f64,
    /// Fill time in ns (now when `None`).
    pub ts: Option<i64>,
}

/// The fill argument of `Portfolio.apply` and `RiskEngine.on_fill` (`method` names the caller in
/// error messages): a filled `Fill` from the execution model, or a symbol plus `fields`.
/// `instrument` maps the symbol to the caller's slot and the instrument's multiplier (used when
/// the fill does not carry one).
pub fn fill_arg(
    method: &str,
    fill: &Bound<'_, PyAny>,
    fields: FillFields<'_, '_>,
    instrument: impl FnOnce(&str) -> PyResult<(u32, f64)>,
) -> PyResult<CoreFill> {
    let (symbol, mut f) = match fill.cast::<Fill>() {
        Ok(py_fill) => {
            let pf = py_fill.get();
            if !pf.filled() {
                return Err(invalid(format!("cannot apply a rejected fill ({})", pf.status())));
            }
            (pf.symbol.clone(), pf.inner)
        }
        Err(_) => {
            let symbol: String = fill.extract().map_err(|_| invalid(format!("{method}(fill) or {method}(symbol, side, quantity, price)")))?;
            let (Some(side), Some(q), Some(p)) = (fields.side, fields.quantity, fields.price) else {
                return Err(invalid(format!("{method}(symbol, side, quantity, price) needs side, quantity and price")));
            };
            let side = side_arg(side)?;
            let ts = fields.ts.unwrap_or_else(now_ns);
            let f = CoreFill {
                instrument: 0,
                side,
                quantity: q,
                price: p,
                base_price: p,
                fees: fields.fees,
                slippage_cost: fields.slippage_cost,
                multiplier: f64::NAN,
                ts,
            };
            (symbol, f)
        }
    };
    let (slot, multiplier) = instrument(&symbol)?;
    f.instrument = slot;
    if f.multiplier.is_nan() {
        f.multiplier = multiplier;
    }
    Ok(f)
}

/// NaN as None.
pub fn opt(v: f64) -> Option<f64> {
    (!v.is_nan()).then_some(v)
}

/// Maps symbol strings to slots of a slot table, resolving new symbols through a registry.
/// Symbols that do not resolve map to `NO_SLOT` (the checks then reject them as unknown).
#[derive(Debug, Clone, Default)]
pub struct SlotResolver {
    aliases: HashMap<String, u32>,
}

impl SlotResolver {
    /// The slot of `symbol`: cached, or resolved with `registry` and added with `add`.
    pub fn slot(&mut self, symbol: &str, registry: &InstrumentRegistry, add: &mut dyn FnMut(Instrument) -> Option<u32>) -> u32 {
        if let Some(&s) = self.aliases.get(symbol) {
            return s;
        }
        let slot = registry.resolve(symbol).ok().and_then(&mut *add).unwrap_or(NO_SLOT);
        self.aliases.insert(symbol.to_owned(), slot);
        slot
    }

    /// Forgets unresolved symbols (after the registry learned new instruments).
    pub fn forget_unknown(&mut self) {
        self.aliases.retain(|_, s| *s != NO_SLOT);
    }

    /// Records an alias.
    pub fn insert(&mut self, symbol: &str, slot: u32) {
        self.aliases.insert(symbol.to_owned(), slot);
    }
}

/// A symbol column mapped to slots, in the form the risk batch reads fastest.
pub enum SlotColumn<'a> {
    /// One slot for every row.
    One(u32),
    /// Per-row slots.
    Slots(Vec<u32>),
    /// `int32` dictionary keys (no nulls) and the key-to-slot table.
    Keys(&'a [i32], Vec<u32>),
}

impl SlotColumn<'_> {
    /// The core's view.
    pub fn column(&self) -> quant_engine_core::order::InstrumentColumn<'_> {
        use quant_engine_core::order::InstrumentColumn;
        match self {
            SlotColumn::One(s) => InstrumentColumn::One(*s),
            SlotColumn::Slots(v) => InstrumentColumn::Slots(v),
            SlotColumn::Keys(k, t) => InstrumentColumn::Keys(k, t),
        }
    }
}

/// Maps a symbol column to slots without materializing per-row slots when it is an `int32`
/// dictionary without nulls (the common Arrow encoding of a symbol column).
pub fn slot_column<'a>(col: &'a ArrayRef, resolve: &mut dyn FnMut(&str) -> u32) -> PyResult<SlotColumn<'a>> {
    if col.logical_null_count() == 0 {
        if let DataType::Dictionary(k, _) = col.data_type() {
            if **k == DataType::Int32 {
                let d = col.as_dictionary::<arrow_array::types::Int32Type>();
                let mut table = Vec::with_capacity(d.values().len());
                let values = arrow_cast::cast(d.values(), &DataType::Utf8).map_err(|e| schema_error(format!("column 'symbol': {e}")))?;
                for v in values.as_string::<i32>().iter() {
                    table.push(v.map_or(NO_SLOT, &mut *resolve));
                }
                return Ok(SlotColumn::Keys(d.keys().values(), table));
            }
        }
    }
    let n = col.len();
    let slots = row_slots(col, resolve)?;
    Ok(match slots.first() {
        Some(&s) if n > 0 && slots.iter().all(|&x| x == s) => SlotColumn::One(s),
        _ => SlotColumn::Slots(slots),
    })
}

/// Per-row slots of a symbol column.
pub fn row_slots(col: &ArrayRef, resolve: &mut dyn FnMut(&str) -> u32) -> PyResult<Vec<u32>> {
    let n = col.len();
    let m = map_symbols(col, "symbol", resolve)?;
    Ok(match m {
        SymbolMapping::One(s) => vec![s; n],
        SymbolMapping::Slots(v) => v,
        SymbolMapping::Dict(..) => {
            use quant_engine_core::engine::SymbolKeys;
            let nulls = col.logical_nulls();
            let get = |t: &[u32], k: usize| t.get(k).copied().unwrap_or(NO_SLOT);
            let mut out: Vec<u32> = match m.keys() {
                SymbolKeys::I8(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::I16(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::I32(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::I64(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::U8(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::U16(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::U32(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::U64(k, t) => k.iter().map(|&x| get(t, x as usize)).collect(),
                SymbolKeys::One(s) => vec![s; n],
                SymbolKeys::Slots(v) => v.to_vec(),
            };
            if let Some(nb) = nulls {
                for (i, s) in out.iter_mut().enumerate() {
                    if nb.is_null(i) {
                        *s = NO_SLOT;
                    }
                }
            }
            out
        }
    })
}

fn string_values(col: &ArrayRef, name: &str) -> PyResult<Vec<Option<String>>> {
    let cast = arrow_cast::cast(col, &DataType::Utf8).map_err(|e| schema_error(format!("column '{name}': cannot read as strings: {e}")))?;
    Ok(cast.as_string::<i32>().iter().map(|v| v.map(str::to_owned)).collect())
}

fn is_stringy(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_stringy(v),
        _ => false,
    }
}

/// The side column as +1/-1 (0 for anything else, including nulls): `int8` zero-copy, other
/// integers converted, strings (`buy`/`sell` ...) parsed.
pub fn side_values<'a>(col: &'a ArrayRef) -> PyResult<Cow<'a, [i8]>> {
    let nulls = col.logical_nulls().filter(|n| n.null_count() > 0);
    let mut v: Cow<'a, [i8]> = match col.data_type() {
        DataType::Int8 => Cow::Borrowed(col.as_primitive::<Int8Type>().values()),
        dt if dt.is_integer() => {
            let vals = i64_values(col, "side")?;
            Cow::Owned(vals.iter().map(|&x| if x == 1 || x == -1 { x as i8 } else { 0 }).collect())
        }
        dt if is_stringy(dt) => {
            Cow::Owned(string_values(col, "side")?.iter().map(|s| s.as_deref().and_then(|s| Side::parse(s).ok()).map_or(0, |s| s as i8)).collect())
        }
        dt => return Err(schema_error(format!("column 'side' has type {dt}; expected int8 (+1/-1) or strings (buy/sell)"))),
    };
    if let Some(nb) = nulls {
        let o = v.to_mut();
        for (i, x) in o.iter_mut().enumerate() {
            if nb.is_null(i) {
                *x = 0;
            }
        }
    }
    Ok(v)
}

/// The optional order-type column as discriminants (0 market, 1 limit); empty when absent.
/// Unknown values are a `SchemaError` (an order of the wrong type must not be guessed).
pub fn order_type_values(batch: &RecordBatch) -> PyResult<Vec<u8>> {
    let Some(col) = batch.column_by_name("order_type") else { return Ok(Vec::new()) };
    if col.null_count() > 0 {
        return Err(schema_error("column 'order_type' has nulls; expected market or limit on every row"));
    }
    match col.data_type() {
        dt if dt.is_integer() => i64_values(col, "order_type")?
            .iter()
            .map(|&x| match x {
                0 | 1 => Ok(x as u8),
                _ => Err(schema_error(format!("column 'order_type': {x} is neither 0 (market) nor 1 (limit)"))),
            })
            .collect(),
        dt if is_stringy(dt) => string_values(col, "order_type")?
            .iter()
            .map(|s| {
                let s = s.as_deref().unwrap_or("");
                OrderType::parse(s).map(|t| t as u8).map_err(|_| schema_error(format!("column 'order_type': '{s}' is neither market nor limit")))
            })
            .collect(),
        DataType::Boolean => Ok(col.as_boolean().iter().map(|b| b.unwrap_or(false) as u8).collect()),
        dt => Err(schema_error(format!("column 'order_type' has type {dt}; expected strings (market/limit) or 0/1"))),
    }
}

/// An optional boolean column (nulls are false); empty when absent.
pub fn bool_values(batch: &RecordBatch, name: &str) -> PyResult<Vec<bool>> {
    let Some(col) = batch.column_by_name(name) else { return Ok(Vec::new()) };
    let b: &BooleanArray = col.as_boolean_opt().ok_or_else(|| schema_error(format!("column '{name}' has type {}; expected bool", col.data_type())))?;
    Ok(b.iter().map(|v| v.unwrap_or(false)).collect())
}

/// A numeric column as f64 with nulls as NaN.
pub fn f64_or_nan<'a>(col: &'a ArrayRef, name: &str) -> PyResult<Cow<'a, [f64]>> {
    let mut v = f64_values(col, name)?;
    if let Some(nb) = col.logical_nulls().filter(|n| n.null_count() > 0) {
        let o = v.to_mut();
        for (i, x) in o.iter_mut().enumerate() {
            if nb.is_null(i) {
                *x = f64::NAN;
            }
        }
    }
    Ok(v)
}

/// A timestamp column (ns) with nulls as `i64::MIN` (rejected as invalid), or a single `now`
/// (applied to every row) when absent.
pub fn ts_or_now<'a>(batch: &'a RecordBatch, name: &str) -> PyResult<Cow<'a, [i64]>> {
    match batch.column_by_name(name) {
        None => Ok(Cow::Owned(vec![now_ns()])),
        Some(col) => {
            let mut v = ts_ns(col, name)?;
            if let Some(nb) = col.logical_nulls().filter(|n| n.null_count() > 0) {
                let o = v.to_mut();
                for (i, x) in o.iter_mut().enumerate() {
                    if nb.is_null(i) {
                        *x = i64::MIN;
                    }
                }
            }
            Ok(v)
        }
    }
}

/// A column by name or a `SchemaError` listing the required ones.
pub fn required<'a>(batch: &'a RecordBatch, name: &str, what: &str, needs: &str) -> PyResult<&'a ArrayRef> {
    batch.column_by_name(name).ok_or_else(|| {
        let names: Vec<&str> = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        schema_error(format!("{what} need a '{name}' column ({needs}); got columns {names:?}"))
    })
}
