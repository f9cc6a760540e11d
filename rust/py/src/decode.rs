//! `StreamDecoder`: the live decoding path of the vendor streams. Raw WebSocket bytes in (read
//! straight from the socket), `pyarrow.RecordBatch`es of trades, quotes and aggregate bars out;
//! no Python object per event. Semantics live in `quant_engine_core::decode`.

use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, TimestampNanosecondArray};
use arrow_buffer::{NullBuffer, ScalarBuffer};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1};
use pyo3::buffer::PyBuffer;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};
use pyo3_arrow::PyRecordBatch;
use quant_engine_core::decode::columns::{AggColumns, QuoteColumns, Trade, TradeColumns, NO_I32, NO_I64};
use quant_engine_core::decode::{GapError, StreamDecoder as CoreDecoder, Vendor};

use crate::arrow_in::{column, f64_values, i64_values, read_batches, ts_ns, validity};
use crate::errors::{guard, invalid, new_error, schema_error, Poison};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

/// Symbols are plain `string` in every table the package returns (see docs/architecture.md).
fn symbol_type() -> DataType {
    DataType::Utf8
}

/// Schema of decoded trades.
pub fn trade_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("ts", ts_type(), false),
            Field::new("symbol", symbol_type(), false),
            Field::new("price", DataType::Float64, false),
            Field::new("size", DataType::Float64, false),
            Field::new("sequence", DataType::Int64, true),
            Field::new("exchange", DataType::Int32, true),
            Field::new("condition", DataType::Int32, true),
        ]))
    })
    .clone()
}

/// Schema of decoded quotes.
pub fn quote_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let f = |n: &str| Field::new(n, DataType::Float64, true);
        Arc::new(Schema::new(vec![
            Field::new("ts", ts_type(), false),
            Field::new("symbol", symbol_type(), false),
            f("bid"),
            f("ask"),
            f("bid_size"),
            f("ask_size"),
            Field::new("bid_exchange", DataType::Int32, true),
            Field::new("ask_exchange", DataType::Int32, true),
        ]))
    })
    .clone()
}

fn agg_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    S.get_or_init(|| {
        let f = |n: &str| Field::new(n, DataType::Float64, false);
        Arc::new(Schema::new(vec![
            Field::new("symbol", symbol_type(), false),
            Field::new("start", ts_type(), false),
            f("open"),
            f("high"),
            f("low"),
            f("close"),
            f("volume"),
            f("vwap"),
            Field::new("trades", DataType::Int64, false),
            Field::new("end", ts_type(), false),
        ]))
    })
    .clone()
}

fn i64_opt(v: Vec<i64>) -> ArrayRef {
    let nulls = v.contains(&NO_I64).then(|| NullBuffer::from_iter(v.iter().map(|&x| x != NO_I64)));
    Arc::new(Int64Array::new(ScalarBuffer::from(v), nulls))
}

fn i32_opt(v: Vec<i32>) -> ArrayRef {
    let nulls = v.contains(&NO_I32).then(|| NullBuffer::from_iter(v.iter().map(|&x| x != NO_I32)));
    Arc::new(Int32Array::new(ScalarBuffer::from(v), nulls))
}

fn f64_col(v: Vec<f64>) -> ArrayRef {
    Arc::new(Float64Array::new(ScalarBuffer::from(v), None))
}

fn ts_col(v: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::new(ScalarBuffer::from(v), None).with_timezone("UTC"))
}

/// The decoder.
struct DecoderState {
    inner: CoreDecoder,
}

/// A stream decoder of one vendor connection (see `quant_engine.feeds.decoding`).
#[pyclass(module = "quant_engine._core")]
pub struct StreamDecoder {
    st: DecoderState,
    poison: Poison,
}

impl DecoderState {
    /// The `string` symbol column of a batch, built straight from the symbol codes (one pass,
    /// byte sizes summed first so the value buffer is allocated once).
    fn symbol_col(&self, codes: Vec<u32>) -> ArrayRef {
        let names = self.inner.state.symbols.names();
        let bytes: usize = codes.iter().map(|&c| names[c as usize].len()).sum();
        let mut b = arrow_array::builder::StringBuilder::with_capacity(codes.len(), bytes);
        for &c in &codes {
            b.append_value(&names[c as usize]);
        }
        Arc::new(b.finish())
    }

    fn trades_batch(&mut self, py: Python<'_>, t: TradeColumns) -> PyResult<Py<PyAny>> {
        if t.is_empty() {
            return Ok(py.None());
        }
        let columns =
            vec![ts_col(t.ts), self.symbol_col(t.symbol), f64_col(t.price), f64_col(t.size), i64_opt(t.sequence), i32_opt(t.exchange), i32_opt(t.condition)];
        let batch = RecordBatch::try_new(trade_schema(), columns).map_err(|e| invalid(e.to_string()))?;
        Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())
    }

    fn quotes_batch(&mut self, py: Python<'_>, q: QuoteColumns) -> PyResult<Py<PyAny>> {
        if q.is_empty() {
            return Ok(py.None());
        }
        let columns = vec![
            ts_col(q.ts),
            self.symbol_col(q.symbol),
            f64_col(q.bid),
            f64_col(q.ask),
            f64_col(q.bid_size),
            f64_col(q.ask_size),
            i32_opt(q.bid_exchange),
            i32_opt(q.ask_exchange),
        ];
        let batch = RecordBatch::try_new(quote_schema(), columns).map_err(|e| invalid(e.to_string()))?;
        Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())
    }

    fn aggs_batch(&mut self, py: Python<'_>, a: AggColumns) -> PyResult<Py<PyAny>> {
        if a.is_empty() {
            return Ok(py.None());
        }
        let columns = vec![
            self.symbol_col(a.symbol),
            ts_col(a.start),
            f64_col(a.open),
            f64_col(a.high),
            f64_col(a.low),
            f64_col(a.close),
            f64_col(a.volume),
            f64_col(a.vwap),
            Arc::new(Int64Array::new(ScalarBuffer::from(a.trades), None)) as ArrayRef,
            ts_col(a.end),
        ];
        let batch = RecordBatch::try_new(agg_schema(), columns).map_err(|e| invalid(e.to_string()))?;
        Ok(PyRecordBatch::new(batch).into_pyarrow(py)?.unbind())
    }

    /// `(trades, quotes, aggregates, events)` of everything decoded since the last call.
    fn output<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        let trades = self.inner.take_trades();
        let quotes = self.inner.take_quotes();
        let aggs = self.inner.take_aggregates();
        let t = self.trades_batch(py, trades)?;
        let q = self.quotes_batch(py, quotes)?;
        let a = self.aggs_batch(py, aggs)?;
        let events = PyList::empty(py);
        for (kind, payload) in self.inner.take_events() {
            events.append((kind, PyBytes::new(py, &payload)))?;
        }
        PyTuple::new(py, [t.into_bound(py), q.into_bound(py), a.into_bound(py), events.into_any()])
    }

    fn backfill_columns(&mut self, obj: &Bound<'_, PyAny>) -> PyResult<TradeColumns> {
        let mut out = TradeColumns::default();
        for batch in read_batches(obj)? {
            let what = "backfill trades";
            let ts_c = column(&batch, "ts", what)?;
            let price_c = column(&batch, "price", what)?;
            let size_c = column(&batch, "size", what)?;
            let sym_c = column(&batch, "symbol", what)?;
            if validity(&[ts_c, price_c, size_c, sym_c]).is_some() {
                return Err(schema_error("backfill trades must not have nulls in ts, symbol, price or size"));
            }
            let ts = ts_ns(ts_c, "ts")?;
            let price = f64_values(price_c, "price")?;
            let size = f64_values(size_c, "size")?;
            let opt = |name: &str| -> PyResult<Option<(Vec<i64>, Option<NullBuffer>)>> {
                match batch.column_by_name(name) {
                    None => Ok(None),
                    Some(c) => Ok(Some((i64_values(c, name)?.into_owned(), c.logical_nulls()))),
                }
            };
            let seq = opt("sequence")?;
            let exch = opt("exchange")?;
            let cond = opt("condition")?;
            let syms = arrow_cast::cast(sym_c, &DataType::Utf8).map_err(|e| schema_error(format!("column 'symbol': {e}")))?;
            let syms = syms.as_string::<i32>();
            let get = |c: &Option<(Vec<i64>, Option<NullBuffer>)>, i: usize| -> Option<i64> {
                c.as_ref().and_then(|(v, n)| n.as_ref().is_none_or(|n| n.is_valid(i)).then(|| v[i]))
            };
            for i in 0..batch.num_rows() {
                let symbol = self.inner.state.symbols.intern(syms.value(i).as_bytes());
                out.push(Trade {
                    ts: ts[i],
                    symbol,
                    price: price[i],
                    size: size[i],
                    sequence: get(&seq, i).unwrap_or(NO_I64),
                    exchange: get(&exch, i).map_or(NO_I32, |v| v as i32),
                    condition: get(&cond, i).map_or(NO_I32, |v| v as i32),
                });
            }
        }
        Ok(out)
    }
}

#[pymethods]
impl StreamDecoder {
    #[new]
    #[pyo3(signature = (vendor, dedupe_horizon_ns=60_000_000_000))]
    fn new(vendor: &str, dedupe_horizon_ns: i64) -> PyResult<Self> {
        guard(|| {
            let v = Vendor::parse(vendor).ok_or_else(|| invalid(format!("invalid vendor: '{vendor}' (expected 'thetadata' or 'massive')")))?;
            if dedupe_horizon_ns < 0 {
                return Err(invalid(format!("invalid dedupe_horizon_ns: {dedupe_horizon_ns} (must be >= 0)")));
            }
            Ok(StreamDecoder { st: DecoderState { inner: CoreDecoder::new(v, dedupe_horizon_ns) }, poison: Poison::default() })
        })
    }

    /// Feeds raw bytes read from the WebSocket connection; returns `(trades, quotes,
    /// aggregates, events)`: record batches (or None) and a list of `(kind, payload)` events.
    ///
    /// `data` may be `bytes` (decoded with the GIL released) or any contiguous byte buffer
    /// (`bytearray`, `memoryview`: read in place, with the GIL held so it cannot change).
    fn feed<'py>(&mut self, py: Python<'py>, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyTuple>> {
        let st = &mut self.st;
        self.poison.run("StreamDecoder", || {
            let protocol = |e: quant_engine_core::decode::ws::FrameError| new_error("StreamProtocolError", e.to_string());
            if let Ok(bytes) = data.cast::<PyBytes>() {
                let b = bytes.as_bytes();
                py.detach(|| st.inner.feed(b)).map_err(protocol)?;
            } else {
                let buf = PyBuffer::<u8>::get(data).map_err(|_| invalid("feed() takes bytes, bytearray or a contiguous memoryview of bytes"))?;
                if !buf.is_c_contiguous() {
                    return Err(invalid("feed() needs a contiguous buffer"));
                }
                // SAFETY: the buffer is contiguous, `len_bytes` long, and exported to us (a
                // bytearray cannot resize while exported); the GIL is held for the whole read,
                // so no Python code can write to it meanwhile.
                let b = unsafe { std::slice::from_raw_parts(buf.buf_ptr() as *const u8, buf.len_bytes()) };
                st.inner.feed(b).map_err(protocol)?;
            }
            st.output(py)
        })
    }

    /// New York wall-clock instants (int64 ns since the local epoch, a naive timestamp) to UTC
    /// ns (int64): the stream decoder's conversion (ambiguous times take the earlier instant,
    /// nonexistent ones the offset in force before the gap, PEP 495 `fold=0`), for the REST
    /// clients.
    #[staticmethod]
    fn ny_wall_to_utc<'py>(py: Python<'py>, local_ns: PyReadonlyArray1<'py, i64>) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let local = local_ns.as_slice().map_err(|_| invalid("ny_wall_to_utc() needs a contiguous int64 array"))?;
        let out = py.detach(|| quant_engine_core::decode::nytime::ny_local_to_utc_many(local));
        Ok(out.into_pyarray(py))
    }

    /// Decodes already deframed message payloads (e.g. messages received by another WebSocket
    /// client); returns the same tuple as `feed`.
    fn feed_messages<'py>(&mut self, py: Python<'py>, messages: Vec<Vec<u8>>) -> PyResult<Bound<'py, PyTuple>> {
        let st = &mut self.st;
        self.poison.run("StreamDecoder", || {
            py.detach(|| messages.iter().for_each(|m| st.inner.feed_message(m)));
            st.output(py)
        })
    }

    /// Forgets a partial frame: call after reconnecting, before feeding the new connection.
    fn reset_transport(&mut self) {
        self.st.inner.reset_transport();
    }

    /// Opens a gap (the connection dropped): trades are held until `close_gap`.
    fn begin_gap(&mut self) {
        self.st.inner.begin_gap();
    }

    /// The open gaps, oldest first: dicts with `from` (symbol -> newest ts received before the
    /// gap), `global_from`, `until` (the first trade after the gap, or None), `first` (symbol ->
    /// its first trade after the gap) and `newest` (the newest trade after the gap).
    fn gaps<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let names = self.st.inner.state.symbols.names();
        let out = PyList::empty(py);
        for g in self.st.inner.gaps() {
            let d = PyDict::new(py);
            let from = PyDict::new(py);
            for (i, &ts) in g.from.iter().enumerate() {
                if ts != i64::MIN {
                    from.set_item(&names[i], ts)?;
                }
            }
            let first = PyDict::new(py);
            for (i, &ts) in g.first.iter().enumerate() {
                if ts != i64::MIN {
                    first.set_item(&names[i], ts)?;
                }
            }
            d.set_item("from", from)?;
            d.set_item("global_from", (g.global_from != i64::MIN).then_some(g.global_from))?;
            d.set_item("until", g.until)?;
            d.set_item("first", first)?;
            d.set_item("newest", (g.newest != i64::MIN).then_some(g.newest))?;
            out.append(d)?;
        }
        Ok(out)
    }

    /// Sets the end of the newest gap when no trade arrived to set it.
    fn set_gap_until(&mut self, ts: i64) -> PyResult<()> {
        self.st.inner.set_gap_until(ts).map_err(|_| new_error("InvalidArgumentError", "no gap is open"))
    }

    /// Closes the oldest gap with the trades fetched for it (`ts, symbol, price, size`, and
    /// `sequence`, `exchange`, `condition` if present; any order, overlaps allowed). Returns
    /// the released trades (backfill merged with the trades held since the gap, in time
    /// order, duplicates dropped) or None.
    #[pyo3(signature = (backfill=None))]
    fn close_gap(&mut self, py: Python<'_>, backfill: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let st = &mut self.st;
        self.poison.run("StreamDecoder", || {
            let cols = match backfill {
                Some(b) if !b.is_none() => st.backfill_columns(b)?,
                _ => TradeColumns::default(),
            };
            st.inner.close_gap(&cols).map_err(|e| match e {
                GapError::NoGap => new_error("InvalidArgumentError", "no gap is open"),
                GapError::NoEnd => new_error("InvalidArgumentError", "the oldest gap has no end yet; call set_gap_until"),
            })?;
            let trades = st.inner.take_trades();
            st.trades_batch(py, trades)
        })
    }

    /// Trades held behind open gaps.
    #[getter]
    fn held(&self) -> usize {
        self.st.inner.held()
    }

    /// The newest upstream status (ThetaData `STATUS`), or None.
    #[getter]
    fn upstream(&self) -> Option<String> {
        self.st.inner.upstream().map(str::to_owned)
    }

    /// The vendor: `"thetadata"` or `"massive"`.
    #[getter]
    fn vendor(&self) -> &'static str {
        self.st.inner.vendor().name()
    }

    /// The symbols seen, in first-seen order.
    fn symbols(&self) -> Vec<String> {
        self.st.inner.state.symbols.names().to_vec()
    }

    /// Counters: bytes, frames, messages, trades, duplicates, malformed, gaps ...
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.st.inner.state.stats.items() {
            d.set_item(k, v)?;
        }
        d.set_item("frames", self.st.inner.frames())?;
        d.set_item("held_now", self.st.inner.held())?;
        d.set_item("open_gaps", self.st.inner.gaps().len())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let s = &self.st.inner.state.stats;
        format!(
            "StreamDecoder(vendor={:?}, symbols={}, trades={}, malformed={}, duplicates={}, open_gaps={})",
            self.st.inner.vendor().name(),
            self.st.inner.state.symbols.len(),
            s.trades,
            s.malformed,
            s.duplicates,
            self.st.inner.gaps().len()
        )
    }
}
