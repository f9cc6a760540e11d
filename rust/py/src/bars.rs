//! Python classes of the bar engine: `StreamBuffer`, `MultiSymbolBuffer` and `TickAggregator`.
//! Thin wrappers: argument parsing, Arrow in/out, GIL release around batch work, error mapping.
//! The semantics live in `quant_engine_core` and are documented there and in `docs/bars.md`.

use std::collections::BTreeMap;

use arrow_array::{RecordBatch, StringArray};
use numpy::PyReadonlyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::aggregator::AggConfig;
use quant_engine_core::bar::{Bar, BarColumns};
use quant_engine_core::engine::{BarEngine, BatchAggregator, EngineConfig, SymbolKeys, SymbolStats, SymbolTable, TickBatch, WarmupReport, NO_SLOT};
use quant_engine_core::tick::{RejectCounts, RejectReason};
use quant_engine_core::time::{check_interval, check_lateness, parse_duration, ts_in_range, Alignment};
use quant_engine_core::window::WindowRow;

use crate::arrow_in::{column, f64_values, map_symbols, read_batches, ts_ns, validity, window_rows, SymbolMapping};
use crate::arrow_out::{bars_batch, bars_to_pyarrow, empty_bars_table, window_batch};
use crate::errors::{guard, invalid, schema_error, IntoPyResult, Poison};

/// A duration given as a string (`"1m"`, `"500ms"`) or as integer nanoseconds.
#[derive(FromPyObject)]
pub enum DurationArg {
    /// Integer nanoseconds.
    Nanos(i64),
    /// A duration string.
    Text(String),
}

impl DurationArg {
    fn ns(&self, name: &'static str) -> PyResult<i64> {
        match self {
            DurationArg::Nanos(n) => Ok(*n),
            DurationArg::Text(t) => parse_duration(name, t).py_err(),
        }
    }
}

/// A bar origin: integer ns (an instant on the grid), `"epoch"`, or `"HH:MM[:SS] [Area/City]"`.
#[derive(FromPyObject)]
pub enum OriginArg {
    /// An instant (ns) on the bar grid.
    Nanos(i64),
    /// `"epoch"` or a daily wall-clock anchor.
    Text(String),
}

fn alignment(origin: Option<&OriginArg>, interval: i64) -> PyResult<Alignment> {
    match origin {
        None => Ok(Alignment::epoch()),
        Some(OriginArg::Nanos(n)) => Ok(Alignment::fixed(*n, interval)),
        Some(OriginArg::Text(t)) if t.trim().eq_ignore_ascii_case("epoch") => Ok(Alignment::epoch()),
        Some(OriginArg::Text(t)) => Alignment::parse_daily(t).py_err(),
    }
}

fn agg_config(interval: &DurationArg, lateness: &DurationArg, origin: Option<&OriginArg>, fill_gaps: bool) -> PyResult<AggConfig> {
    let iv = check_interval(interval.ns("interval")?).py_err()?;
    let late = check_lateness(lateness.ns("lateness")?).py_err()?;
    let mut cfg = AggConfig::streaming(iv, alignment(origin, iv)?, late);
    cfg.fill_gaps = fill_gaps;
    Ok(cfg)
}

fn rejects_dict<'py>(py: Python<'py>, r: &RejectCounts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (code, n) in r.items() {
        d.set_item(code, n)?;
    }
    Ok(d)
}

fn report_dict<'py>(py: Python<'py>, r: &WarmupReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("inserted", r.inserted)?;
    d.set_item("skipped_overlap", r.skipped_overlap)?;
    d.set_item("skipped_duplicate", r.skipped_duplicate)?;
    d.set_item("rejected_invalid", r.rejected_invalid)?;
    d.set_item("rejected_misaligned", r.rejected_misaligned)?;
    Ok(d)
}

fn symbol_stats_into(d: &Bound<'_, PyDict>, s: &SymbolStats) -> PyResult<()> {
    d.set_item("ticks_accepted", s.ticks_accepted)?;
    d.set_item("bars_closed", s.bars_closed)?;
    d.set_item("bars_filled", s.bars_filled)?;
    d.set_item("bars_warmed", s.bars_warmed)?;
    d.set_item("window_len", s.window_len)?;
    d.set_item("open_bars", s.open_bars)?;
    d.set_item("watermark", (s.watermark != i64::MIN).then_some(s.watermark))?;
    Ok(())
}

fn bar_dict<'py>(py: Python<'py>, b: &Bar) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("start", b.start)?;
    d.set_item("end", b.end)?;
    d.set_item("open", b.open)?;
    d.set_item("high", b.high)?;
    d.set_item("low", b.low)?;
    d.set_item("close", b.close)?;
    d.set_item("volume", b.volume)?;
    d.set_item("vwap", b.vwap())?;
    d.set_item("trades", b.trades)?;
    Ok(d)
}

/// State shared by both buffer classes.
struct BufferCore {
    engine: BarEngine,
    scratch: BarColumns,
    empty: Py<PyAny>,
    on_bar: Option<Py<PyAny>>,
    /// Cached symbol column for single-symbol window exports.
    symbol_column: Option<StringArray>,
}

/// How the symbol column of a pushed batch is resolved.
enum Symbols<'s> {
    /// A single-symbol buffer: a symbol column is optional and must match.
    Fixed(&'s str),
    /// A multi-symbol buffer: the column is required.
    Table,
}

impl BufferCore {
    fn new(py: Python<'_>, cfg: EngineConfig, symbols: SymbolTable, on_bar: Option<Py<PyAny>>) -> PyResult<Self> {
        Ok(BufferCore {
            engine: BarEngine::new(cfg, symbols).py_err()?,
            scratch: BarColumns::default(),
            empty: empty_bars_table(py)?,
            on_bar,
            symbol_column: None,
        })
    }

    /// Turns the bars collected in `scratch` into a table and notifies the callback.
    fn closed_table(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        if self.scratch.is_empty() {
            return Ok(self.empty.clone_ref(py));
        }
        let cols = std::mem::take(&mut self.scratch);
        let names = self.engine.symbols();
        let table = bars_to_pyarrow(py, bars_batch(cols, |s| names.name(s)))?;
        if let Some(cb) = &self.on_bar {
            cb.bind(py).call1((table.bind(py),))?;
        }
        Ok(table)
    }

    fn push_batch(&mut self, py: Python<'_>, batch: &RecordBatch, symbols: &Symbols<'_>) -> PyResult<()> {
        let what = "ticks";
        let ts_col = column(batch, "ts", what)?;
        let price_col = column(batch, "price", what)?;
        let size_col = column(batch, "size", what)?;
        let ts = ts_ns(ts_col, "ts")?;
        let price = f64_values(price_col, "price")?;
        let size = f64_values(size_col, "size")?;
        let sym_col = batch.column_by_name("symbol");
        let engine = &mut self.engine;
        let mapping = match (sym_col, symbols) {
            (None, Symbols::Fixed(_)) => SymbolMapping::One(0),
            (None, Symbols::Table) => return Err(schema_error("ticks for a MultiSymbolBuffer need a 'symbol' column")),
            (Some(c), Symbols::Fixed(sym)) => map_symbols(c, "symbol", &mut |s| if s == *sym { 0 } else { NO_SLOT })?,
            (Some(c), Symbols::Table) => map_symbols(c, "symbol", &mut |s| engine.resolve(s))?,
        };
        let mut cols = vec![ts_col, price_col, size_col];
        if let Some(c) = sym_col {
            cols.push(c);
        }
        let valid = validity(&cols);
        let tb = TickBatch { ts: &ts, price: &price, size: &size, valid: valid.as_deref(), symbols: mapping.keys() };
        let scratch = &mut self.scratch;
        if tb.ts.len() >= 256 {
            py.detach(|| engine.push(&tb, Some(scratch))).py_err()
        } else {
            engine.push(&tb, Some(scratch)).py_err()
        }
    }

    fn push_arrow(&mut self, py: Python<'_>, obj: &Bound<'_, PyAny>, symbols: Symbols<'_>) -> PyResult<Py<PyAny>> {
        self.scratch.clear();
        let batches = read_batches(obj)?;
        for b in &batches {
            self.push_batch(py, b, &symbols)?;
        }
        self.closed_table(py)
    }

    fn push_one(&mut self, py: Python<'_>, slot: u32, ts: i64, price: f64, size: f64) -> PyResult<Py<PyAny>> {
        self.scratch.clear();
        let tb = TickBatch { ts: &[ts], price: &[price], size: &[size], valid: None, symbols: SymbolKeys::One(slot) };
        self.engine.push(&tb, Some(&mut self.scratch)).py_err()?;
        self.closed_table(py)
    }

    fn advance(&mut self, py: Python<'_>, ts: i64) -> PyResult<Py<PyAny>> {
        if !ts_in_range(ts) {
            return Err(invalid(format!("advance({ts}): timestamp outside 1980-01-01..2200-01-01 (ns)")));
        }
        self.scratch.clear();
        self.engine.advance(ts, Some(&mut self.scratch));
        self.closed_table(py)
    }

    fn flush(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.scratch.clear();
        self.engine.flush(Some(&mut self.scratch));
        self.closed_table(py)
    }

    /// One symbol's window (fast path: one allocation, cached symbol column).
    fn single_window_table(&mut self, py: Python<'_>, slot: u32) -> PyResult<Py<PyAny>> {
        let name = self.engine.symbols().name(slot);
        let batch = window_batch(self.engine.window(slot), name, &mut self.symbol_column);
        bars_to_pyarrow(py, batch)
    }

    fn window_table(&self, py: Python<'_>, slots: &[u32]) -> PyResult<Py<PyAny>> {
        let mut cols = BarColumns::default();
        for &s in slots {
            self.engine.window(s).copy_into(s, &mut cols);
        }
        let names = self.engine.symbols();
        bars_to_pyarrow(py, bars_batch(cols, |s| names.name(s)))
    }

    fn warmup_rows(&mut self, slot: u32, rows: &[WindowRow]) -> PyResult<WarmupReport> {
        self.engine.warmup(slot, rows).py_err()
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let e = &self.engine;
        let d = PyDict::new(py);
        d.set_item("ticks_seen", e.ticks_seen())?;
        d.set_item("ticks_rejected", e.rejects().total())?;
        d.set_item("rejected", rejects_dict(py, e.rejects())?)?;
        Ok(d)
    }
}

fn engine_config(cfg: AggConfig, capacity: usize, min_bars: usize) -> EngineConfig {
    EngineConfig { agg: cfg, capacity, min_bars }
}

/// One symbol's live bar path (Rust core of `quant_engine.bars.StreamBuffer`).
#[pyclass(module = "quant_engine._core", subclass)]
pub struct StreamBuffer {
    core: BufferCore,
    poison: Poison,
    symbol: String,
}

#[pymethods]
impl StreamBuffer {
    #[new]
    #[pyo3(signature = (symbol, interval=DurationArg::Text("1m".into()), capacity=500, min_bars=50, lateness=DurationArg::Text("0s".into()), origin=None, fill_gaps=false, on_bar=None))]
    #[pyo3(text_signature = "(symbol, interval='1m', capacity=500, min_bars=50, lateness='0s', origin=None, fill_gaps=False, on_bar=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        symbol: String,
        interval: DurationArg,
        capacity: usize,
        min_bars: usize,
        lateness: DurationArg,
        origin: Option<OriginArg>,
        fill_gaps: bool,
        on_bar: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let cfg = agg_config(&interval, &lateness, origin.as_ref(), fill_gaps)?;
            let table = SymbolTable::fixed(std::slice::from_ref(&symbol)).py_err()?;
            Ok(StreamBuffer { core: BufferCore::new(py, engine_config(cfg, capacity, min_bars), table, on_bar)?, poison: Poison::default(), symbol })
        })
    }

    /// Pushes ticks and returns the bars they closed (a `pyarrow.Table`, possibly empty).
    #[pyo3(signature = (ticks, price=None, size=None))]
    fn push(&mut self, py: Python<'_>, ticks: &Bound<'_, PyAny>, price: Option<f64>, size: Option<f64>) -> PyResult<Py<PyAny>> {
        let sym = &self.symbol;
        let c = &mut self.core;
        self.poison.run("StreamBuffer", || match (price, size) {
            (Some(p), Some(s)) => {
                let ts: i64 = ticks.extract().map_err(|_| invalid("a single tick is push(ts_ns: int, price, size)"))?;
                c.push_one(py, 0, ts, p, s)
            }
            (None, None) => c.push_arrow(py, ticks, Symbols::Fixed(sym)),
            _ => Err(invalid("a single tick needs both price and size: push(ts_ns, price, size)")),
        })
    }

    /// Pushes ticks given as NumPy arrays (`int64` ns, `float64`, `float64`).
    fn push_arrays(
        &mut self,
        py: Python<'_>,
        ts: PyReadonlyArray1<'_, i64>,
        price: PyReadonlyArray1<'_, f64>,
        size: PyReadonlyArray1<'_, f64>,
    ) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("StreamBuffer", || {
            let (t, p, s) = (ts.as_slice()?, price.as_slice()?, size.as_slice()?);
            if t.len() != p.len() || t.len() != s.len() {
                return Err(invalid(format!("array lengths differ: ts {}, price {}, size {}", t.len(), p.len(), s.len())));
            }
            c.scratch.clear();
            let tb = TickBatch { ts: t, price: p, size: s, valid: None, symbols: SymbolKeys::One(0) };
            let (engine, scratch) = (&mut c.engine, &mut c.scratch);
            py.detach(|| engine.push(&tb, Some(scratch))).py_err()?;
            c.closed_table(py)
        })
    }

    /// Moves the clock to `ts` (ns) and returns the bars that closed.
    fn advance(&mut self, py: Python<'_>, ts: i64) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("StreamBuffer", || c.advance(py, ts))
    }

    /// Closes the open bars now (end of data) and returns them.
    fn flush(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("StreamBuffer", || c.flush(py))
    }

    /// The rolling window (last `capacity` closed bars, oldest first) as a `pyarrow.Table`.
    fn bars(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("StreamBuffer", || c.single_window_table(py, 0))
    }

    /// Injects historical bars; returns a report of what was inserted, skipped and rejected.
    fn warmup<'py>(&mut self, py: Python<'py>, bars: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyDict>> {
        let sym = self.symbol.clone();
        let c = &mut self.core;
        self.poison.run("StreamBuffer", || {
            let mut rows = Vec::new();
            let mut other = 0usize;
            for b in read_batches(bars)? {
                let r = window_rows(&b)?;
                match b.column_by_name("symbol") {
                    None => rows.extend(r),
                    Some(col) => {
                        let m = map_symbols(col, "symbol", &mut |s| if s == sym { 0 } else { NO_SLOT })?;
                        let keep = per_row_slots(&m, r.len());
                        for (row, slot) in r.into_iter().zip(keep) {
                            if slot == 0 {
                                rows.push(row)
                            } else {
                                other += 1
                            }
                        }
                    }
                }
            }
            let report = c.warmup_rows(0, &rows)?;
            let d = report_dict(py, &report)?;
            d.set_item("skipped_other_symbol", other)?;
            Ok(d)
        })
    }

    /// Whether at least `min_bars` bars are in the window (the cold-start gate).
    #[getter]
    fn is_ready(&self) -> bool {
        self.core.engine.is_ready(0)
    }

    /// Bars still missing before the buffer is ready.
    fn warmup_requirement(&self) -> usize {
        self.core.engine.warmup_requirement(0)
    }

    /// The bar being built (the newest open bar) as a dict, or None.
    fn current_bar<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        self.core.engine.open_bars(0).last().map(|b| bar_dict(py, b)).transpose()
    }

    /// Counters: ticks seen/accepted/rejected (by reason), bars closed/filled/warmed, window.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.core.stats(py)?;
        symbol_stats_into(&d, &self.core.engine.symbol_stats(0))?;
        Ok(d)
    }

    /// Bytes of window storage allocated.
    fn memory_bytes(&self) -> usize {
        self.core.engine.window_bytes()
    }

    /// The symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.symbol
    }

    /// Bar interval in ns.
    #[getter]
    fn interval_ns(&self) -> i64 {
        self.core.engine.config().agg.interval
    }

    /// Lateness allowance in ns.
    #[getter]
    fn lateness_ns(&self) -> i64 {
        self.core.engine.config().agg.lateness.unwrap_or(0)
    }

    /// Window capacity (bars).
    #[getter]
    fn capacity(&self) -> usize {
        self.core.engine.config().capacity
    }

    /// Bars needed before the buffer is ready.
    #[getter]
    fn min_bars(&self) -> usize {
        self.core.engine.config().min_bars
    }

    fn __len__(&self) -> usize {
        self.core.engine.window(0).len()
    }

    fn __repr__(&self) -> String {
        let e = &self.core.engine;
        format!(
            "StreamBuffer(symbol={:?}, interval_ns={}, bars={}/{}, ready={}, align={})",
            self.symbol,
            e.config().agg.interval,
            e.window(0).len(),
            e.config().capacity,
            e.is_ready(0),
            e.config().agg.alignment.describe()
        )
    }

    /// Test hook: panics inside the buffer (the buffer is then poisoned).
    fn _debug_panic(&mut self) -> PyResult<()> {
        self.poison.run("StreamBuffer", || panic!("deliberate panic for tests"))
    }
}

fn per_row_slots(m: &SymbolMapping<'_>, n: usize) -> Vec<u32> {
    match m {
        SymbolMapping::One(s) => vec![*s; n],
        SymbolMapping::Slots(v) => v.clone(),
        SymbolMapping::Dict(..) => {
            let mut out = Vec::with_capacity(n);
            let keys = m.keys();
            let get = |t: &[u32], i: usize| t.get(i).copied().unwrap_or(NO_SLOT);
            match keys {
                SymbolKeys::I8(k, t) => out.extend(k.iter().map(|&x| if x < 0 { NO_SLOT } else { get(t, x as usize) })),
                SymbolKeys::I16(k, t) => out.extend(k.iter().map(|&x| if x < 0 { NO_SLOT } else { get(t, x as usize) })),
                SymbolKeys::I32(k, t) => out.extend(k.iter().map(|&x| if x < 0 { NO_SLOT } else { get(t, x as usize) })),
                SymbolKeys::I64(k, t) => out.extend(k.iter().map(|&x| if x < 0 { NO_SLOT } else { get(t, x as usize) })),
                SymbolKeys::U8(k, t) => out.extend(k.iter().map(|&x| get(t, x as usize))),
                SymbolKeys::U16(k, t) => out.extend(k.iter().map(|&x| get(t, x as usize))),
                SymbolKeys::U32(k, t) => out.extend(k.iter().map(|&x| get(t, x as usize))),
                SymbolKeys::U64(k, t) => out.extend(k.iter().map(|&x| get(t, x as usize))),
                SymbolKeys::One(s) => out.resize(n, s),
                SymbolKeys::Slots(v) => out.extend_from_slice(v),
            }
            out
        }
    }
}

/// Many symbols' live bar paths in one object (Rust core of `quant_engine.bars.MultiSymbolBuffer`).
#[pyclass(module = "quant_engine._core", subclass)]
pub struct MultiSymbolBuffer {
    core: BufferCore,
    poison: Poison,
}

impl MultiSymbolBuffer {
    fn slot(&self, symbol: &str) -> PyResult<u32> {
        self.core.engine.slot(symbol).py_err()
    }
}

#[pymethods]
impl MultiSymbolBuffer {
    #[new]
    #[pyo3(signature = (symbols=None, interval=DurationArg::Text("1m".into()), capacity=500, min_bars=50, lateness=DurationArg::Text("0s".into()), origin=None, fill_gaps=false, on_bar=None))]
    #[pyo3(text_signature = "(symbols=None, interval='1m', capacity=500, min_bars=50, lateness='0s', origin=None, fill_gaps=False, on_bar=None)")]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        symbols: Option<Vec<String>>,
        interval: DurationArg,
        capacity: usize,
        min_bars: usize,
        lateness: DurationArg,
        origin: Option<OriginArg>,
        fill_gaps: bool,
        on_bar: Option<Py<PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let cfg = agg_config(&interval, &lateness, origin.as_ref(), fill_gaps)?;
            let table = match &symbols {
                Some(s) => SymbolTable::fixed(s).py_err()?,
                None => SymbolTable::dynamic(),
            };
            Ok(MultiSymbolBuffer { core: BufferCore::new(py, engine_config(cfg, capacity, min_bars), table, on_bar)?, poison: Poison::default() })
        })
    }

    /// Pushes a mixed-symbol batch and returns the bars it closed (all symbols, one table).
    fn push(&mut self, py: Python<'_>, ticks: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("MultiSymbolBuffer", || c.push_arrow(py, ticks, Symbols::Table))
    }

    /// Pushes one tick.
    fn push_tick(&mut self, py: Python<'_>, symbol: &str, ts: i64, price: f64, size: f64) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("MultiSymbolBuffer", || {
            let slot = c.engine.resolve(symbol);
            if slot == NO_SLOT {
                c.engine.count_rejected(RejectReason::UnknownSymbol, 1);
                return Ok(c.empty.clone_ref(py));
            }
            c.push_one(py, slot, ts, price, size)
        })
    }

    /// Moves every symbol's clock to `ts` (ns) and returns the bars that closed.
    fn advance(&mut self, py: Python<'_>, ts: i64) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("MultiSymbolBuffer", || c.advance(py, ts))
    }

    /// Closes every open bar now and returns them.
    fn flush(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let c = &mut self.core;
        self.poison.run("MultiSymbolBuffer", || c.flush(py))
    }

    /// One symbol's window as a `pyarrow.Table`.
    fn bars(&self, py: Python<'_>, symbol: &str) -> PyResult<Py<PyAny>> {
        let slot = self.slot(symbol)?;
        let e = &self.core.engine;
        bars_to_pyarrow(py, window_batch(e.window(slot), e.symbols().name(slot), &mut None))
    }

    /// The windows of several symbols (all by default) in one table, by symbol then start.
    #[pyo3(signature = (symbols=None))]
    fn snapshot(&self, py: Python<'_>, symbols: Option<Vec<String>>) -> PyResult<Py<PyAny>> {
        let slots: Vec<u32> = match symbols {
            Some(s) => s.iter().map(|x| self.slot(x)).collect::<PyResult<_>>()?,
            None => (0..self.core.engine.symbols().len() as u32).collect(),
        };
        self.core.window_table(py, &slots)
    }

    /// Injects historical bars: a table with a `symbol` column, or rows of one `symbol`.
    #[pyo3(signature = (bars, symbol=None))]
    fn warmup<'py>(&mut self, py: Python<'py>, bars: &Bound<'py, PyAny>, symbol: Option<String>) -> PyResult<Bound<'py, PyDict>> {
        let c = &mut self.core;
        self.poison.run("MultiSymbolBuffer", || {
            let mut by_slot: BTreeMap<u32, Vec<WindowRow>> = BTreeMap::new();
            let mut unknown = 0usize;
            for b in read_batches(bars)? {
                let rows = window_rows(&b)?;
                let slots = match (&symbol, b.column_by_name("symbol")) {
                    (Some(s), _) => {
                        let slot = c.engine.resolve(s);
                        vec![slot; rows.len()]
                    }
                    (None, Some(col)) => {
                        let engine = &mut c.engine;
                        let m = map_symbols(col, "symbol", &mut |s| engine.resolve(s))?;
                        per_row_slots(&m, rows.len())
                    }
                    (None, None) => return Err(schema_error("warm-up bars need a 'symbol' column, or pass symbol=")),
                };
                for (row, slot) in rows.into_iter().zip(slots) {
                    if slot as usize >= c.engine.symbols().len() {
                        unknown += 1;
                    } else {
                        by_slot.entry(slot).or_default().push(row);
                    }
                }
            }
            let out = PyDict::new(py);
            for (slot, rows) in by_slot {
                let report = c.warmup_rows(slot, &rows)?;
                out.set_item(c.engine.symbols().name(slot), report_dict(py, &report)?)?;
            }
            if unknown > 0 {
                out.set_item("__unknown_symbol_rows__", unknown)?;
            }
            Ok(out)
        })
    }

    /// Whether `symbol` has at least `min_bars` bars (`quant_engine.bars.MultiSymbolBuffer` also
    /// offers it as `is_ready(symbol)`, guarded against use as a truth value).
    fn ready(&self, symbol: &str) -> PyResult<bool> {
        Ok(self.core.engine.is_ready(self.slot(symbol)?))
    }

    /// The symbols that are ready, in registration order.
    fn ready_symbols(&self) -> Vec<String> {
        let e = &self.core.engine;
        e.symbols().names().iter().enumerate().filter(|(i, _)| e.is_ready(*i as u32)).map(|(_, n)| n.clone()).collect()
    }

    /// Bars still missing for `symbol`, or a dict for every symbol.
    #[pyo3(signature = (symbol=None))]
    fn warmup_requirement(&self, py: Python<'_>, symbol: Option<&str>) -> PyResult<Py<PyAny>> {
        let e = &self.core.engine;
        match symbol {
            Some(s) => Ok(e.warmup_requirement(self.slot(s)?).into_pyobject(py)?.into_any().unbind()),
            None => {
                let d = PyDict::new(py);
                for (i, n) in e.symbols().names().iter().enumerate() {
                    d.set_item(n, e.warmup_requirement(i as u32))?;
                }
                Ok(d.into_any().unbind())
            }
        }
    }

    /// The bar being built for `symbol`, or None.
    fn current_bar<'py>(&self, py: Python<'py>, symbol: &str) -> PyResult<Option<Bound<'py, PyDict>>> {
        let slot = self.slot(symbol)?;
        self.core.engine.open_bars(slot).last().map(|b| bar_dict(py, b)).transpose()
    }

    /// Counters; with `symbol`, that symbol's counters are included.
    #[pyo3(signature = (symbol=None))]
    fn stats<'py>(&self, py: Python<'py>, symbol: Option<&str>) -> PyResult<Bound<'py, PyDict>> {
        let d = self.core.stats(py)?;
        let e = &self.core.engine;
        d.set_item("symbols", e.symbols().len())?;
        d.set_item("ready_symbols", (0..e.symbols().len() as u32).filter(|&s| e.is_ready(s)).count())?;
        if let Some(s) = symbol {
            symbol_stats_into(&d, &e.symbol_stats(self.slot(s)?))?;
        } else {
            let all: Vec<SymbolStats> = (0..e.symbols().len() as u32).map(|s| e.symbol_stats(s)).collect();
            d.set_item("ticks_accepted", all.iter().map(|s| s.ticks_accepted).sum::<u64>())?;
            d.set_item("bars_closed", all.iter().map(|s| s.bars_closed).sum::<u64>())?;
            d.set_item("bars_filled", all.iter().map(|s| s.bars_filled).sum::<u64>())?;
            d.set_item("bars_warmed", all.iter().map(|s| s.bars_warmed).sum::<u64>())?;
            d.set_item("open_bars", all.iter().map(|s| s.open_bars).sum::<usize>())?;
        }
        Ok(d)
    }

    /// The known symbols, in registration order.
    fn symbols(&self) -> Vec<String> {
        self.core.engine.symbols().names().to_vec()
    }

    /// Bytes of window storage allocated over all symbols.
    fn memory_bytes(&self) -> usize {
        self.core.engine.window_bytes()
    }

    /// Bar interval in ns.
    #[getter]
    fn interval_ns(&self) -> i64 {
        self.core.engine.config().agg.interval
    }

    /// Lateness allowance in ns.
    #[getter]
    fn lateness_ns(&self) -> i64 {
        self.core.engine.config().agg.lateness.unwrap_or(0)
    }

    /// Window capacity (bars per symbol).
    #[getter]
    fn capacity(&self) -> usize {
        self.core.engine.config().capacity
    }

    /// Bars needed before a symbol is ready.
    #[getter]
    fn min_bars(&self) -> usize {
        self.core.engine.config().min_bars
    }

    fn __len__(&self) -> usize {
        self.core.engine.symbols().len()
    }

    fn __contains__(&self, symbol: &str) -> bool {
        self.core.engine.symbols().get(symbol).is_some()
    }

    fn __repr__(&self) -> String {
        let e = &self.core.engine;
        format!(
            "MultiSymbolBuffer(symbols={}, fixed={}, interval_ns={}, capacity={}, align={})",
            e.symbols().len(),
            e.symbols().is_fixed(),
            e.config().agg.interval,
            e.config().capacity,
            e.config().agg.alignment.describe()
        )
    }
}

/// Whole-table tick aggregation, fed batch by batch (core of `quant_engine.bars.aggregate_ticks`).
#[pyclass(module = "quant_engine._core")]
pub struct TickAggregator {
    agg: BatchAggregator,
    poison: Poison,
}

#[pymethods]
impl TickAggregator {
    #[new]
    #[pyo3(signature = (interval=DurationArg::Text("1m".into()), origin=None, fill_gaps=false, symbols=None))]
    #[pyo3(text_signature = "(interval='1m', origin=None, fill_gaps=False, symbols=None)")]
    fn new(interval: DurationArg, origin: Option<OriginArg>, fill_gaps: bool, symbols: Option<Vec<String>>) -> PyResult<Self> {
        guard(|| {
            let cfg = agg_config(&interval, &DurationArg::Nanos(0), origin.as_ref(), fill_gaps)?;
            let table = match &symbols {
                Some(s) => SymbolTable::fixed(s).py_err()?,
                None => SymbolTable::dynamic(),
            };
            let mut agg = BatchAggregator::new(cfg, table);
            agg.set_fill_gaps(fill_gaps);
            Ok(TickAggregator { agg, poison: Poison::default() })
        })
    }

    /// Adds ticks (any Arrow table, record batch or stream with `ts, symbol, price, size`).
    fn push(&mut self, py: Python<'_>, ticks: &Bound<'_, PyAny>) -> PyResult<()> {
        let agg = &mut self.agg;
        self.poison.run("TickAggregator", || {
            for batch in read_batches(ticks)? {
                let what = "ticks";
                let ts_col = column(&batch, "ts", what)?;
                let price_col = column(&batch, "price", what)?;
                let size_col = column(&batch, "size", what)?;
                let sym_col = column(&batch, "symbol", what)?;
                let ts = ts_ns(ts_col, "ts")?;
                let price = f64_values(price_col, "price")?;
                let size = f64_values(size_col, "size")?;
                let mapping = map_symbols(sym_col, "symbol", &mut |s| agg.resolve(s))?;
                let valid = validity(&[ts_col, price_col, size_col, sym_col]);
                let tb = TickBatch { ts: &ts, price: &price, size: &size, valid: valid.as_deref(), symbols: mapping.keys() };
                py.detach(|| agg.push(&tb)).py_err()?;
            }
            Ok(())
        })
    }

    /// Closes every bar and returns them (by symbol, then start) as a `pyarrow.Table`; the
    /// aggregator can then be reused.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let agg = &mut self.agg;
        self.poison.run("TickAggregator", || {
            let cols = py.detach(|| agg.finish());
            let names = agg.symbols();
            bars_to_pyarrow(py, bars_batch(cols, |s| names.name(s)))
        })
    }

    /// Counters: ticks seen, rejected (by reason).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("ticks_seen", self.agg.ticks_seen())?;
        d.set_item("ticks_rejected", self.agg.rejects().total())?;
        d.set_item("ticks_accepted", self.agg.ticks_seen() - self.agg.rejects().total())?;
        d.set_item("rejected", rejects_dict(py, self.agg.rejects())?)?;
        Ok(d)
    }
}
