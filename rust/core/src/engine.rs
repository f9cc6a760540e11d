//! Multi-symbol engines over [`BarAggregator`]:
//!
//! * [`BarEngine`]: the live path. Per symbol an aggregator and a [`BarWindow`] of the last N closed
//!   bars, warm-up from history, a cold-start gate, counters.
//! * [`BatchAggregator`]: whole-table aggregation (infinite lateness), flushed once at the end.
//!
//! Ticks arrive as a [`TickBatch`]: column slices plus a [`SymbolKeys`] telling which symbol each
//! tick belongs to (one symbol for the whole batch, or per-tick dictionary keys mapped through a
//! per-batch key-to-slot table, or per-tick slots).

use std::collections::HashMap;

use crate::aggregator::{AggConfig, BarAggregator};
use crate::bar::{Bar, BarColumns};
use crate::error::{CoreError, CoreResult};
use crate::tick::{price_size_ok, RejectCounts, RejectReason};
use crate::window::{BarWindow, WindowRow};

/// Slot value meaning "no such symbol" (unknown in a fixed set, or an invalid key).
pub const NO_SLOT: u32 = u32::MAX;
/// Slot value meaning "the symbol is null".
pub const NULL_SLOT: u32 = u32::MAX - 1;

/// An integer dictionary key type (Arrow dictionary indices of any width or sign).
pub trait DictKey: Copy + Send + Sync {
    /// The key as an index; negative keys map to `usize::MAX` (never a valid index).
    fn index(self) -> usize;
}

macro_rules! dict_key {
    ($($t:ty),*) => {$(
        impl DictKey for $t {
            #[inline(always)]
            #[allow(unused_comparisons)]
            fn index(self) -> usize {
                if self < 0 as $t { usize::MAX } else { self as usize }
            }
        }
    )*};
}
dict_key!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Which symbol each tick of a batch belongs to.
pub enum SymbolKeys<'a> {
    /// Every tick belongs to this slot.
    One(u32),
    /// Per-tick slots (`NO_SLOT` / `NULL_SLOT` for unknown / null symbols).
    Slots(&'a [u32]),
    /// Per-tick dictionary keys and the batch's key-to-slot table (`table[key]` is the slot).
    I8(&'a [i8], &'a [u32]),
    /// As `I8`, for 16-bit keys.
    I16(&'a [i16], &'a [u32]),
    /// As `I8`, for 32-bit keys.
    I32(&'a [i32], &'a [u32]),
    /// As `I8`, for 64-bit keys.
    I64(&'a [i64], &'a [u32]),
    /// As `I8`, for unsigned 8-bit keys.
    U8(&'a [u8], &'a [u32]),
    /// As `I8`, for unsigned 16-bit keys.
    U16(&'a [u16], &'a [u32]),
    /// As `I8`, for unsigned 32-bit keys.
    U32(&'a [u32], &'a [u32]),
    /// As `I8`, for unsigned 64-bit keys.
    U64(&'a [u64], &'a [u32]),
}

impl SymbolKeys<'_> {
    fn len(&self, n: usize) -> usize {
        match self {
            SymbolKeys::One(_) => n,
            SymbolKeys::Slots(s) => s.len(),
            SymbolKeys::I8(k, _) => k.len(),
            SymbolKeys::I16(k, _) => k.len(),
            SymbolKeys::I32(k, _) => k.len(),
            SymbolKeys::I64(k, _) => k.len(),
            SymbolKeys::U8(k, _) => k.len(),
            SymbolKeys::U16(k, _) => k.len(),
            SymbolKeys::U32(k, _) => k.len(),
            SymbolKeys::U64(k, _) => k.len(),
        }
    }
}

/// A batch of trade ticks in columnar form.
pub struct TickBatch<'a> {
    /// Timestamps (UTC ns).
    pub ts: &'a [i64],
    /// Prices.
    pub price: &'a [f64],
    /// Sizes.
    pub size: &'a [f64],
    /// `Some(mask)` when some field is null: `mask[i]` is false for ticks with a null field.
    pub valid: Option<&'a [bool]>,
    /// The symbol of each tick.
    pub symbols: SymbolKeys<'a>,
}

impl TickBatch<'_> {
    /// Number of ticks (checks that the columns agree).
    pub fn checked_len(&self) -> CoreResult<usize> {
        let n = self.ts.len();
        let sym_len = self.symbols.len(n);
        if self.price.len() != n || self.size.len() != n || sym_len != n || self.valid.is_some_and(|v| v.len() != n) {
            return Err(CoreError::Internal("tick columns have different lengths".into()));
        }
        Ok(n)
    }

    /// Whether the batch has no ticks.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }
}

/// Symbol names and their slots.
#[derive(Debug, Clone, Default)]
pub struct SymbolTable {
    names: Vec<String>,
    index: HashMap<String, u32>,
    fixed: bool,
}

impl SymbolTable {
    /// An open table that registers new symbols on first sight.
    pub fn dynamic() -> Self {
        SymbolTable::default()
    }

    /// A fixed table: other symbols are rejected as unknown.
    pub fn fixed(names: &[String]) -> CoreResult<Self> {
        let mut t = SymbolTable::default();
        for n in names {
            if n.is_empty() {
                return Err(CoreError::invalid("symbols", "empty symbol name"));
            }
            if t.index.contains_key(n) {
                return Err(CoreError::invalid("symbols", format!("duplicate symbol '{n}'")));
            }
            t.insert(n);
        }
        t.fixed = true;
        Ok(t)
    }

    fn insert(&mut self, name: &str) -> u32 {
        let slot = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), slot);
        slot
    }

    /// Whether the set is fixed.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The slot of `name`, registering it in a dynamic table; `NO_SLOT` if unknown in a fixed one
    /// (or empty).
    pub fn resolve(&mut self, name: &str) -> u32 {
        if let Some(&s) = self.index.get(name) {
            return s;
        }
        if self.fixed || name.is_empty() || self.names.len() >= (NULL_SLOT as usize) {
            return NO_SLOT;
        }
        self.insert(name)
    }

    /// The slot of `name` if known.
    pub fn get(&self, name: &str) -> Option<u32> {
        self.index.get(name).copied()
    }

    /// The name of a slot.
    pub fn name(&self, slot: u32) -> &str {
        &self.names[slot as usize]
    }

    /// All names, by slot.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no symbols.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Runs the aggregation loop for one batch, calling `emit(slot, bar)` for every closed bar.
///
/// On x86-64 CPUs with AVX2/FMA/BMI2 (x86-64-v3) a copy of the loops compiled for those features
/// is used (chosen at run time, so the build stays portable). Both copies execute the same
/// operations in the same order, so results are bit-identical.
fn run_batch(
    cfg: &AggConfig,
    aggs: &mut [BarAggregator],
    batch: &TickBatch<'_>,
    rejects: &mut RejectCounts,
    emit: &mut impl FnMut(u32, &Bar),
) -> CoreResult<()> {
    #[cfg(target_arch = "x86_64")]
    if crate::cpu::has_x86_64_v3() {
        // SAFETY: the CPU supports every feature `run_batch_v3` is compiled for.
        return unsafe { run_batch_v3(cfg, aggs, batch, rejects, emit) };
    }
    run_batch_impl(cfg, aggs, batch, rejects, emit)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,avx2,bmi1,bmi2,fma,lzcnt,popcnt")]
unsafe fn run_batch_v3(
    cfg: &AggConfig,
    aggs: &mut [BarAggregator],
    batch: &TickBatch<'_>,
    rejects: &mut RejectCounts,
    emit: &mut impl FnMut(u32, &Bar),
) -> CoreResult<()> {
    run_batch_impl(cfg, aggs, batch, rejects, emit)
}

#[inline(always)]
fn run_batch_impl(
    cfg: &AggConfig,
    aggs: &mut [BarAggregator],
    batch: &TickBatch<'_>,
    rejects: &mut RejectCounts,
    emit: &mut impl FnMut(u32, &Bar),
) -> CoreResult<()> {
    let n = batch.checked_len()?;
    match batch.symbols {
        SymbolKeys::One(slot) => run_one_symbol(cfg, aggs, slot, batch, n, rejects, emit),
        SymbolKeys::Slots(s) => run_keyed(cfg, aggs, batch, n, s, |k| k, rejects, emit),
        SymbolKeys::I8(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::I16(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::I32(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::I64(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::U8(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::U16(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::U32(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
        SymbolKeys::U64(k, t) => run_keyed(cfg, aggs, batch, n, k, |k| slot_of(t, k), rejects, emit),
    }
}

#[inline(always)]
fn slot_of<K: DictKey>(table: &[u32], key: K) -> u32 {
    table.get(key.index()).copied().unwrap_or(NO_SLOT)
}

/// The single-symbol loop: long runs go through [`BarAggregator::push_run`].
#[inline(always)]
fn run_one_symbol(
    cfg: &AggConfig,
    aggs: &mut [BarAggregator],
    slot: u32,
    batch: &TickBatch<'_>,
    n: usize,
    rejects: &mut RejectCounts,
    emit: &mut impl FnMut(u32, &Bar),
) -> CoreResult<()> {
    let (ts, price, size) = (batch.ts, batch.price, batch.size);
    let Some(agg) = aggs.get_mut(slot as usize) else {
        rejects.0[RejectReason::UnknownSymbol as usize] += n as u64;
        return Ok(());
    };
    let mut i = 0;
    while i < n {
        if batch.valid.is_none() {
            i = agg.push_run(ts, price, size, i);
            if i >= n {
                break;
            }
        }
        if batch.valid.is_some_and(|v| !v[i]) {
            rejects.add(RejectReason::NullField);
        } else if !agg.try_fast(ts[i], price[i], size[i]) {
            agg.push_slow(cfg, ts[i], price[i], size[i], rejects, &mut |b| emit(slot, b));
        }
        i += 1;
    }
    Ok(())
}

/// Ticks per validation chunk on the multi-symbol path.
const KEYED_CHUNK: usize = 64;

/// Whether every price and size of a chunk is valid (vectorizable: no early exit).
#[inline(always)]
fn chunk_valid(price: &[f64], size: &[f64], valid: Option<&[bool]>) -> bool {
    let mut ok = true;
    for (p, s) in price.iter().zip(size) {
        ok &= price_size_ok(*p, *s);
    }
    if let Some(v) = valid {
        for &b in v {
            ok &= b;
        }
    }
    ok
}

/// The multi-symbol loop, monomorphized per key type. Prices and sizes are validated a chunk at
/// a time (vectorized); chunks with a bad or null tick take the per-tick checked path.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn run_keyed<K: Copy>(
    cfg: &AggConfig,
    aggs: &mut [BarAggregator],
    batch: &TickBatch<'_>,
    n: usize,
    keys: &[K],
    slot_of: impl Fn(K) -> u32,
    rejects: &mut RejectCounts,
    emit: &mut impl FnMut(u32, &Bar),
) -> CoreResult<()> {
    let (ts, price, size, keys) = (&batch.ts[..n], &batch.price[..n], &batch.size[..n], &keys[..n]);
    let valid = batch.valid.map(|v| &v[..n]);
    let mut slow = |i: usize, slot: u32, aggs: &mut [BarAggregator], rejects: &mut RejectCounts| {
        if valid.is_some_and(|v| !v[i]) {
            return rejects.add(RejectReason::NullField);
        }
        match aggs.get_mut(slot as usize) {
            Some(agg) => agg.push_slow(cfg, ts[i], price[i], size[i], rejects, &mut |b| emit(slot, b)),
            None if slot == NULL_SLOT => rejects.add(RejectReason::NullField),
            None => rejects.add(RejectReason::UnknownSymbol),
        }
    };
    let mut c = 0;
    while c < n {
        let e = (c + KEYED_CHUNK).min(n);
        let clean = chunk_valid(&price[c..e], &size[c..e], valid.map(|v| &v[c..e]));
        for i in c..e {
            let slot = slot_of(keys[i]);
            let fast = match aggs.get_mut(slot as usize) {
                Some(agg) if clean => agg.try_fast_prevalidated(ts[i], price[i], size[i]),
                Some(agg) if valid.is_none_or(|v| v[i]) => agg.try_fast(ts[i], price[i], size[i]),
                _ => false,
            };
            if !fast {
                slow(i, slot, aggs, rejects);
            }
        }
        c = e;
    }
    Ok(())
}

/// Outcome of a warm-up call for one symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WarmupReport {
    /// Rows added to the window.
    pub inserted: usize,
    /// Rows not added because the window (or an open bar) already covers their time.
    pub skipped_overlap: usize,
    /// Rows not added because another row has the same start.
    pub skipped_duplicate: usize,
    /// Rows rejected as invalid (non-finite or inconsistent OHLC, negative volume ...).
    pub rejected_invalid: usize,
    /// Rows rejected because their start is not on the bar grid.
    pub rejected_misaligned: usize,
}

/// Whether a history row is internally consistent.
fn row_is_valid(r: &WindowRow) -> bool {
    let fin = [r.open, r.high, r.low, r.close, r.volume, r.vwap].iter().all(|v| v.is_finite());
    fin && r.low > 0.0
        && r.high >= r.low
        && r.open >= r.low
        && r.open <= r.high
        && r.close >= r.low
        && r.close <= r.high
        && r.volume >= 0.0
        && r.trades >= 0
        && crate::time::ts_in_range(r.start)
}

/// Settings of a [`BarEngine`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Aggregation settings.
    pub agg: AggConfig,
    /// Window length per symbol.
    pub capacity: usize,
    /// Bars needed before a symbol is ready (the cold-start gate).
    pub min_bars: usize,
}

impl EngineConfig {
    /// Validates the settings.
    pub fn check(&self) -> CoreResult<()> {
        if self.capacity == 0 || self.capacity > 10_000_000 {
            return Err(CoreError::invalid("capacity", format!("{} is not in 1..=10,000,000", self.capacity)));
        }
        if self.min_bars > self.capacity {
            return Err(CoreError::invalid("min_bars", format!("{} exceeds capacity {}: the buffer could never become ready", self.min_bars, self.capacity)));
        }
        if self.agg.lateness.is_none() {
            return Err(CoreError::invalid("lateness", "a streaming engine needs a finite lateness"));
        }
        Ok(())
    }
}

/// Per-symbol counters reported by [`BarEngine::symbol_stats`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SymbolStats {
    /// Ticks accepted into bars.
    pub ticks_accepted: u64,
    /// Bars closed by aggregation (excluding warm-up rows and empty fill bars).
    pub bars_closed: u64,
    /// Empty bars inserted by gap filling.
    pub bars_filled: u64,
    /// Rows injected by warm-up.
    pub bars_warmed: u64,
    /// Bars in the window.
    pub window_len: usize,
    /// Open bars.
    pub open_bars: usize,
    /// Watermark (ns), `i64::MIN` before any tick.
    pub watermark: i64,
}

/// The live multi-symbol bar engine.
#[derive(Debug, Clone)]
pub struct BarEngine {
    cfg: EngineConfig,
    symbols: SymbolTable,
    aggs: Vec<BarAggregator>,
    windows: Vec<BarWindow>,
    bars_closed: Vec<u64>,
    bars_warmed: Vec<u64>,
    rejects: RejectCounts,
    ticks_seen: u64,
    /// The latest `advance` time: every symbol's watermark is at least this, including symbols
    /// registered after the call (so results do not depend on when a symbol was first seen).
    clock: i64,
}

impl BarEngine {
    /// An engine with a fixed or dynamic symbol table.
    pub fn new(cfg: EngineConfig, symbols: SymbolTable) -> CoreResult<Self> {
        cfg.check()?;
        let mut e = BarEngine {
            cfg,
            symbols: SymbolTable::dynamic(),
            aggs: Vec::new(),
            windows: Vec::new(),
            bars_closed: Vec::new(),
            bars_warmed: Vec::new(),
            rejects: RejectCounts::default(),
            ticks_seen: 0,
            clock: i64::MIN,
        };
        let n = symbols.len();
        e.symbols = symbols;
        for _ in 0..n {
            e.add_state();
        }
        Ok(e)
    }

    fn add_state(&mut self) {
        let mut agg = BarAggregator::new();
        if self.clock != i64::MIN {
            agg.advance(&self.cfg.agg, self.clock, &mut |_| {});
        }
        self.aggs.push(agg);
        self.windows.push(BarWindow::new(self.cfg.capacity));
        self.bars_closed.push(0);
        self.bars_warmed.push(0);
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The symbol table.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Resolves (and in a dynamic table, registers) a symbol; `NO_SLOT` if unknown.
    pub fn resolve(&mut self, name: &str) -> u32 {
        let slot = self.symbols.resolve(name);
        while self.aggs.len() < self.symbols.len() {
            self.add_state();
        }
        slot
    }

    /// The slot of a known symbol.
    pub fn slot(&self, name: &str) -> CoreResult<u32> {
        self.symbols.get(name).ok_or_else(|| CoreError::UnknownSymbol(format!("'{name}'")))
    }

    /// Counts ticks whose symbol could not be resolved before the batch was built (for callers that
    /// drop them while mapping).
    pub fn count_rejected(&mut self, reason: RejectReason, n: u64) {
        self.rejects.0[reason as usize] += n;
        self.ticks_seen += n;
    }

    /// Aggregates a batch; closed bars are appended to `out` (if given) and to the windows.
    pub fn push(&mut self, batch: &TickBatch<'_>, mut out: Option<&mut BarColumns>) -> CoreResult<()> {
        let n = batch.checked_len()?;
        self.ticks_seen += n as u64;
        let windows = &mut self.windows;
        let closed = &mut self.bars_closed;
        let mut emit = |slot: u32, bar: &Bar| {
            windows[slot as usize].push(bar);
            if bar.trades > 0 {
                closed[slot as usize] += 1;
            }
            if let Some(o) = out.as_deref_mut() {
                o.push(slot, bar);
            }
        };
        run_batch(&self.cfg.agg, &mut self.aggs, batch, &mut self.rejects, &mut emit)
    }

    /// Advances the clock of every symbol to `ts` (see [`BarAggregator::advance`]), including
    /// symbols that appear later.
    pub fn advance(&mut self, ts: i64, mut out: Option<&mut BarColumns>) {
        self.clock = self.clock.max(ts);
        for (slot, agg) in self.aggs.iter_mut().enumerate() {
            let w = &mut self.windows[slot];
            let closed = &mut self.bars_closed[slot];
            agg.advance(&self.cfg.agg, ts, &mut |bar| {
                w.push(bar);
                if bar.trades > 0 {
                    *closed += 1;
                }
                if let Some(o) = out.as_deref_mut() {
                    o.push(slot as u32, bar);
                }
            });
        }
    }

    /// Closes every open bar now (end of a session or of a replay).
    pub fn flush(&mut self, mut out: Option<&mut BarColumns>) {
        for (slot, agg) in self.aggs.iter_mut().enumerate() {
            let w = &mut self.windows[slot];
            let closed = &mut self.bars_closed[slot];
            agg.flush(&self.cfg.agg, &mut |bar| {
                w.push(bar);
                if bar.trades > 0 {
                    *closed += 1;
                }
                if let Some(o) = out.as_deref_mut() {
                    o.push(slot as u32, bar);
                }
            });
        }
    }

    /// Injects historical bars (any order) into one symbol's window. Rows must lie on the bar grid
    /// and before every bar the window or the aggregator already holds; others are skipped or
    /// rejected and counted in the report. Afterwards, ticks for the injected intervals are late.
    pub fn warmup(&mut self, slot: u32, rows: &[WindowRow]) -> CoreResult<WarmupReport> {
        let s = slot as usize;
        if s >= self.aggs.len() {
            return Err(CoreError::Internal(format!("slot {slot} out of range")));
        }
        let mut report = WarmupReport::default();
        let mut good: Vec<WindowRow> = Vec::with_capacity(rows.len());
        for r in rows {
            if !row_is_valid(r) {
                report.rejected_invalid += 1;
            } else if self.cfg.agg.bucket(r.start).0 != r.start {
                report.rejected_misaligned += 1;
            } else {
                good.push(*r);
            }
        }
        good.sort_by_key(|r| r.start);
        let before = good.len();
        good.dedup_by_key(|r| r.start);
        report.skipped_duplicate = before - good.len();

        let window = &mut self.windows[s];
        let agg = &mut self.aggs[s];
        let cutoff = [window.first().map(|r| r.start), agg.first_open_start()].into_iter().flatten().min().unwrap_or(i64::MAX);
        let keep = good.partition_point(|r| self.cfg.agg.bucket(r.start).1 <= cutoff);
        report.skipped_overlap = good.len() - keep;
        good.truncate(keep);
        report.inserted = good.len();
        if good.is_empty() {
            return Ok(report);
        }
        if let Some(last) = good.last() {
            agg.mark_history(self.cfg.agg.bucket(last.start).1, last.close);
        }
        let mut rows_all = good;
        for i in 0..window.len() {
            rows_all.push(window.row(i));
        }
        window.replace(&rows_all);
        self.bars_warmed[s] += report.inserted as u64;
        Ok(report)
    }

    /// The window of one symbol.
    pub fn window(&self, slot: u32) -> &BarWindow {
        &self.windows[slot as usize]
    }

    /// The open (not yet closed) bars of one symbol, oldest first.
    pub fn open_bars(&self, slot: u32) -> Vec<Bar> {
        self.aggs[slot as usize].open_bar_list()
    }

    /// Whether a symbol has at least `min_bars` bars (the cold-start gate).
    pub fn is_ready(&self, slot: u32) -> bool {
        self.windows[slot as usize].len() >= self.cfg.min_bars
    }

    /// Bars still missing before a symbol is ready.
    pub fn warmup_requirement(&self, slot: u32) -> usize {
        self.cfg.min_bars.saturating_sub(self.windows[slot as usize].len())
    }

    /// Counters of one symbol.
    pub fn symbol_stats(&self, slot: u32) -> SymbolStats {
        let s = slot as usize;
        let agg = &self.aggs[s];
        SymbolStats {
            ticks_accepted: agg.accepted(),
            bars_closed: self.bars_closed[s],
            bars_filled: agg.filled_bars(),
            bars_warmed: self.bars_warmed[s],
            window_len: self.windows[s].len(),
            open_bars: agg.open_bars(),
            watermark: agg.watermark(),
        }
    }

    /// Ticks received (accepted or rejected).
    pub fn ticks_seen(&self) -> u64 {
        self.ticks_seen
    }

    /// Rejections by reason.
    pub fn rejects(&self) -> &RejectCounts {
        &self.rejects
    }

    /// Bytes of window column storage allocated over all symbols.
    pub fn window_bytes(&self) -> usize {
        self.windows.iter().map(|w| w.allocated_bytes()).sum()
    }
}

/// Whole-table aggregation: every valid tick counts, in any order; bars come out at the end sorted
/// by symbol name, then start.
#[derive(Debug, Clone)]
pub struct BatchAggregator {
    cfg: AggConfig,
    symbols: SymbolTable,
    aggs: Vec<BarAggregator>,
    rejects: RejectCounts,
    ticks_seen: u64,
}

impl BatchAggregator {
    /// A batch aggregator (the lateness of `cfg` is ignored: batch mode never closes early).
    pub fn new(mut cfg: AggConfig, symbols: SymbolTable) -> Self {
        cfg.lateness = None;
        let n = symbols.len();
        BatchAggregator { cfg, symbols, aggs: (0..n).map(|_| BarAggregator::new()).collect(), rejects: RejectCounts::default(), ticks_seen: 0 }
    }

    /// Resolves (and in a dynamic table, registers) a symbol.
    pub fn resolve(&mut self, name: &str) -> u32 {
        let slot = self.symbols.resolve(name);
        while self.aggs.len() < self.symbols.len() {
            self.aggs.push(BarAggregator::new());
        }
        slot
    }

    /// The symbol table.
    pub fn symbols(&self) -> &SymbolTable {
        &self.symbols
    }

    /// Counts ticks rejected while mapping their symbols.
    pub fn count_rejected(&mut self, reason: RejectReason, n: u64) {
        self.rejects.0[reason as usize] += n;
        self.ticks_seen += n;
    }

    /// Adds one batch of ticks.
    pub fn push(&mut self, batch: &TickBatch<'_>) -> CoreResult<()> {
        self.ticks_seen += batch.checked_len()? as u64;
        run_batch(&self.cfg, &mut self.aggs, batch, &mut self.rejects, &mut |_, _| {})
    }

    /// Closes every bar and returns them sorted by symbol name, then start. The aggregator is reset
    /// (its symbol table is kept).
    pub fn finish(&mut self) -> BarColumns {
        let mut out = BarColumns::default();
        out.reserve(self.aggs.iter().map(|a| a.open_bars()).sum());
        let names = self.symbols.names();
        let mut order: Vec<usize> = (0..self.aggs.len()).collect();
        order.sort_by(|&a, &b| names[a].cmp(&names[b]));
        for slot in order {
            let agg = &mut self.aggs[slot];
            agg.flush(&self.cfg, &mut |bar| out.push(slot as u32, bar));
            *agg = BarAggregator::new();
        }
        out
    }

    /// Ticks received (accepted or rejected).
    pub fn ticks_seen(&self) -> u64 {
        self.ticks_seen
    }

    /// Rejections by reason.
    pub fn rejects(&self) -> &RejectCounts {
        &self.rejects
    }

    /// Enables gap filling between consecutive bars of each symbol.
    pub fn set_fill_gaps(&mut self, fill: bool) {
        self.cfg.fill_gaps = fill;
    }
}
