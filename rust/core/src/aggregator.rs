//! [`BarAggregator`]: one symbol's tick-to-bar state machine, shared by the streaming buffers and
//! the batch aggregation.
//!
//! # Watermark and lateness
//! The watermark is the largest timestamp seen (from ticks or from [`BarAggregator::advance`]).
//! A bar `[start, end)` closes as soon as `watermark >= end + lateness`; closed bars are emitted in
//! `start` order. A tick whose bar is already closed (`end + lateness <= watermark`, or `end` not
//! after the newest closed or warmed-up bar) is *late*: it is counted and dropped, never merged into
//! another bar. Out-of-order ticks whose bar is still open are merged by timestamp (see
//! [`crate::bar`]). Batch aggregation is the same machine with an infinite lateness: nothing closes
//! until [`BarAggregator::flush`], so every valid tick counts, in any order.
//!
//! # Hot path
//! The newest open bar is kept inline. A tick with `start <= ts < fast_hi` (`fast_hi` is the end of
//! that bar, or earlier when an older open bar's closing time comes first) and a valid price and
//! size is added with a handful of compares and no division. Everything else (bar changes, late or
//! invalid ticks, older open bars) goes through [`BarAggregator::push_slow`].

use std::collections::{BTreeMap, VecDeque};

use crate::bar::Bar;
use crate::tick::{classify, price_size_ok, RejectCounts, RejectReason};
use crate::time::Alignment;

/// Ticks per chunk on the single-symbol fast path.
pub const RUN_CHUNK: usize = 32;

/// Whether every tick of a chunk is valid and has `lo <= ts < hi` (written for vectorization:
/// no early exit, lane-wise compares reduced with `&`).
#[inline(always)]
pub fn chunk_fits(ts: &[i64], price: &[f64], size: &[f64], lo: i64, hi: i64) -> bool {
    let mut ok = true;
    for k in 0..ts.len().min(price.len()).min(size.len()) {
        ok &= (ts[k] >= lo) & (ts[k] < hi) & price_size_ok(price[k], size[k]);
    }
    ok
}

/// Settings shared by every symbol of one engine.
#[derive(Debug, Clone, PartialEq)]
pub struct AggConfig {
    /// Bar length in ns (1 s .. 1 day).
    pub interval: i64,
    /// Where bar boundaries fall.
    pub alignment: Alignment,
    /// How long after its end a bar waits for late ticks (ns); `None` = forever (batch mode).
    pub lateness: Option<i64>,
    /// Emit flat, zero-volume bars for intervals without ticks between two bars.
    pub fill_gaps: bool,
    /// Upper bound on the number of empty bars inserted for one gap (larger gaps are left open and
    /// counted as unfilled).
    pub max_fill: usize,
}

impl AggConfig {
    /// Streaming settings.
    pub fn streaming(interval: i64, alignment: Alignment, lateness: i64) -> Self {
        AggConfig { interval, alignment, lateness: Some(lateness), fill_gaps: false, max_fill: 100_000 }
    }

    /// Batch settings (infinite lateness).
    pub fn batch(interval: i64, alignment: Alignment) -> Self {
        AggConfig { interval, alignment, lateness: None, fill_gaps: false, max_fill: 100_000 }
    }

    /// The bar `[start, end)` containing `ts`.
    #[inline]
    pub fn bucket(&self, ts: i64) -> (i64, i64) {
        self.alignment.bucket(ts, self.interval)
    }

    /// The instant at which a bar ending at `end` closes.
    #[inline]
    fn close_at(&self, end: i64) -> i64 {
        match self.lateness {
            Some(l) => end.saturating_add(l),
            None => i64::MAX,
        }
    }
}

/// Older open bars (all with `start` before the newest open bar). Bars created in time order (the
/// common case: the newest bar rotates out when a later one opens) live in a sorted deque with
/// O(1) append and pop; bars created by out-of-order ticks live in an ordered map. Popping merges
/// the two in start order.
#[derive(Debug, Clone, Default)]
struct OpenBars {
    seq: VecDeque<Bar>,
    ooo: BTreeMap<i64, Bar>,
}

impl OpenBars {
    fn len(&self) -> usize {
        self.seq.len() + self.ooo.len()
    }

    /// Appends a bar newer than every bar held.
    fn push_newest(&mut self, bar: Bar) {
        debug_assert!(self.seq.back().is_none_or(|b| b.start < bar.start));
        self.seq.push_back(bar);
    }

    /// Adds a tick to the held bar starting at `start`, creating it if needed.
    fn add(&mut self, start: i64, end: i64, ts: i64, price: f64, size: f64) {
        match self.seq.binary_search_by_key(&start, |b| b.start) {
            Ok(i) => self.seq[i].add(ts, price, size),
            Err(_) => {
                self.ooo.entry(start).and_modify(|b| b.add(ts, price, size)).or_insert_with(|| Bar::first(start, end, ts, price, size));
            }
        }
    }

    /// The oldest bar.
    fn first(&self) -> Option<&Bar> {
        match (self.seq.front(), self.ooo.values().next()) {
            (Some(a), Some(b)) => Some(if a.start < b.start { a } else { b }),
            (a, b) => a.or(b),
        }
    }

    /// Removes and returns the oldest bar.
    fn pop_first(&mut self) -> Option<Bar> {
        let from_seq = match (self.seq.front(), self.ooo.keys().next()) {
            (Some(a), Some(&b)) => a.start < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return None,
        };
        if from_seq {
            self.seq.pop_front()
        } else {
            self.ooo.pop_first().map(|(_, b)| b)
        }
    }

    /// All bars, oldest first.
    fn sorted(&self) -> Vec<Bar> {
        let mut v: Vec<Bar> = self.seq.iter().chain(self.ooo.values()).copied().collect();
        v.sort_by_key(|b| b.start);
        v
    }

    fn trades(&self) -> i64 {
        self.seq.iter().chain(self.ooo.values()).map(|b| b.trades).sum()
    }
}

/// Per-symbol aggregation state. The fields the fast path touches come first and the struct is
/// cache-line aligned, so a tick touches at most two lines of its symbol's state.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
pub struct BarAggregator {
    /// Ticks in `[cur.start, fast_hi)` take the fast path; `i64::MIN` when there is no open bar.
    fast_hi: i64,
    /// The newest open bar; meaningful only when `has_cur`.
    cur: Bar,
    has_cur: bool,
    /// Older open bars (all with `start < cur.start`).
    older: OpenBars,
    /// Largest timestamp seen or advanced to (ticks on the fast path are folded in lazily through
    /// `cur.close_ts`).
    watermark: i64,
    /// End of the newest closed (or warmed-up) bar.
    closed_end: i64,
    /// Close of the newest emitted bar (the price of gap-filling bars).
    last_close: Option<f64>,
    /// Trades in emitted bars (accepted-tick accounting).
    closed_trades: u64,
    /// Empty bars inserted, and gaps too long to fill.
    filled_bars: u64,
    unfilled_gaps: u64,
}

impl Default for BarAggregator {
    fn default() -> Self {
        Self::new()
    }
}

impl BarAggregator {
    /// A fresh state with no bars.
    pub fn new() -> Self {
        BarAggregator {
            fast_hi: i64::MIN,
            cur: Bar::flat(i64::MAX, i64::MAX, 0.0),
            has_cur: false,
            older: OpenBars::default(),
            watermark: i64::MIN,
            closed_end: i64::MIN,
            last_close: None,
            closed_trades: 0,
            filled_bars: 0,
            unfilled_gaps: 0,
        }
    }

    /// The watermark (`i64::MIN` before the first tick).
    pub fn watermark(&self) -> i64 {
        if self.has_cur {
            self.watermark.max(self.cur.close_ts)
        } else {
            self.watermark
        }
    }

    /// End of the newest closed bar (`i64::MIN` if none).
    pub fn closed_end(&self) -> i64 {
        self.closed_end
    }

    /// Number of open bars.
    pub fn open_bars(&self) -> usize {
        self.older.len() + self.has_cur as usize
    }

    /// The open bars, oldest first.
    pub fn open_bar_list(&self) -> Vec<Bar> {
        let mut v = self.older.sorted();
        if self.has_cur {
            v.push(self.cur);
        }
        v
    }

    /// Start of the oldest open bar, if any.
    pub fn first_open_start(&self) -> Option<i64> {
        self.older.first().map(|b| b.start).or(self.has_cur.then_some(self.cur.start))
    }

    /// Number of accepted ticks so far (in closed and open bars).
    pub fn accepted(&self) -> u64 {
        let open = self.older.trades() + if self.has_cur { self.cur.trades } else { 0 };
        self.closed_trades + open as u64
    }

    /// Empty bars inserted by gap filling.
    pub fn filled_bars(&self) -> u64 {
        self.filled_bars
    }

    /// Gaps longer than `max_fill` bars that were left unfilled.
    pub fn unfilled_gaps(&self) -> u64 {
        self.unfilled_gaps
    }

    /// Fast path: if the tick is valid and belongs to the newest open bar without closing anything,
    /// adds it and returns `true`; otherwise leaves the state untouched and returns `false`.
    #[inline(always)]
    pub fn try_fast(&mut self, ts: i64, price: f64, size: f64) -> bool {
        let ok = (ts >= self.cur.start) & (ts < self.fast_hi) & price_size_ok(price, size);
        if ok {
            self.cur.add(ts, price, size);
        }
        ok
    }

    /// As [`BarAggregator::try_fast`] for a tick whose price and size are already known valid.
    #[inline(always)]
    pub fn try_fast_prevalidated(&mut self, ts: i64, price: f64, size: f64) -> bool {
        let ok = (ts >= self.cur.start) & (ts < self.fast_hi);
        if ok {
            self.cur.add(ts, price, size);
        }
        ok
    }

    /// Adds the longest prefix of `ts[i..]` that qualifies for the fast path and returns the index
    /// of the first tick that did not (or `ts.len()`).
    #[inline(always)]
    pub fn push_run(&mut self, ts: &[i64], price: &[f64], size: &[f64], i: usize) -> usize {
        let n = ts.len().min(price.len()).min(size.len());
        let (ts, price, size) = (&ts[..n], &price[..n], &size[..n]);
        let (lo, hi) = (self.cur.start, self.fast_hi);
        let mut bar = self.cur;
        let mut j = i;
        // Whole chunks first: one vectorized check that every tick of the chunk is valid and
        // inside the bar, then a check-free accumulation.
        while j + RUN_CHUNK <= n {
            let (t, p, s) = (&ts[j..j + RUN_CHUNK], &price[j..j + RUN_CHUNK], &size[j..j + RUN_CHUNK]);
            if !chunk_fits(t, p, s, lo, hi) {
                break;
            }
            bar.add_chunk(t, p, s);
            j += RUN_CHUNK;
        }
        while j < n {
            let (t, p, s) = (ts[j], price[j], size[j]);
            if !((t >= lo) & (t < hi) & price_size_ok(p, s)) {
                break;
            }
            bar.add(t, p, s);
            j += 1;
        }
        if j > i {
            self.cur = bar;
        }
        j
    }

    /// Full processing of one tick: validation, late detection, bar changes, closing. Closed bars
    /// are passed to `emit` in start order.
    pub fn push_slow(&mut self, cfg: &AggConfig, ts: i64, price: f64, size: f64, rejects: &mut RejectCounts, emit: &mut impl FnMut(&Bar)) {
        if let Some(reason) = classify(ts, price, size) {
            rejects.add(reason);
            return;
        }
        self.sync_watermark();
        if self.has_cur && ts >= self.cur.start && ts < self.cur.end {
            self.cur.add(ts, price, size);
        } else {
            let (start, end) = self.bucket_after_cur(cfg, ts);
            if end <= self.closed_end || cfg.close_at(end) <= self.watermark {
                rejects.add(RejectReason::Late);
                return;
            }
            if !self.has_cur {
                self.cur = Bar::first(start, end, ts, price, size);
                self.has_cur = true;
            } else if start > self.cur.start {
                let prev = std::mem::replace(&mut self.cur, Bar::first(start, end, ts, price, size));
                self.older.push_newest(prev);
            } else {
                self.older.add(start, end, ts, price, size);
            }
        }
        if ts > self.watermark {
            self.watermark = ts;
        }
        self.close_ready(cfg, emit);
    }

    /// Moves the watermark to `ts` (if later) and closes every bar that is due. With gap filling,
    /// also emits empty bars for elapsed intervals after the newest bar.
    pub fn advance(&mut self, cfg: &AggConfig, ts: i64, emit: &mut impl FnMut(&Bar)) {
        self.sync_watermark();
        if ts > self.watermark {
            self.watermark = ts;
        }
        self.close_ready(cfg, emit);
        if cfg.fill_gaps && self.open_bars() == 0 && self.last_close.is_some() {
            let mut n = 0usize;
            loop {
                let (s, e) = cfg.bucket(self.closed_end);
                if cfg.close_at(e) > self.watermark || n >= cfg.max_fill {
                    break;
                }
                let flat = Bar::flat(s, e, self.last_close.unwrap_or_default());
                self.filled_bars += 1;
                self.closed_end = e;
                emit(&flat);
                n += 1;
            }
        }
    }

    /// Closes every open bar regardless of the watermark (end of data).
    pub fn flush(&mut self, cfg: &AggConfig, emit: &mut impl FnMut(&Bar)) {
        self.sync_watermark();
        while let Some(bar) = self.older.pop_first() {
            self.emit_closed(cfg, bar, emit);
        }
        if self.has_cur {
            let bar = self.cur;
            self.clear_cur();
            self.emit_closed(cfg, bar, emit);
        }
    }

    /// Records that bars up to `end` exist already (warm-up history) so ticks for them are late,
    /// and remembers `close` as the last price for gap filling.
    pub fn mark_history(&mut self, end: i64, close: f64) {
        if end > self.closed_end {
            self.closed_end = end;
            self.last_close = Some(close);
        }
    }

    fn sync_watermark(&mut self) {
        if self.has_cur && self.cur.close_ts > self.watermark {
            self.watermark = self.cur.close_ts;
        }
    }

    fn clear_cur(&mut self) {
        self.has_cur = false;
        self.cur = Bar::flat(i64::MAX, i64::MAX, 0.0);
        self.fast_hi = i64::MIN;
    }

    /// The bar containing `ts`; when `ts` falls in the bar right after the newest one on a fixed
    /// grid (the common case of a bar change), without a division.
    #[inline]
    fn bucket_after_cur(&self, cfg: &AggConfig, ts: i64) -> (i64, i64) {
        if let Alignment::Fixed { .. } = cfg.alignment {
            let next = self.cur.end;
            if self.has_cur && ts >= next && ts - next < cfg.interval {
                return (next, next + cfg.interval);
            }
        }
        cfg.bucket(ts)
    }

    fn close_ready(&mut self, cfg: &AggConfig, emit: &mut impl FnMut(&Bar)) {
        if cfg.lateness.is_none() {
            // Batch mode: nothing closes before `flush`; older bars never bound the fast path.
            if self.has_cur {
                self.fast_hi = self.cur.end;
            }
            return;
        }
        while let Some(first) = self.older.first() {
            if cfg.close_at(first.end) > self.watermark {
                break;
            }
            let bar = self.older.pop_first().expect("first() was Some");
            self.emit_closed(cfg, bar, emit);
        }
        if self.has_cur && cfg.close_at(self.cur.end) <= self.watermark {
            let bar = self.cur;
            self.clear_cur();
            self.emit_closed(cfg, bar, emit);
        }
        if self.has_cur {
            let next_close = self.older.first().map_or(i64::MAX, |b| cfg.close_at(b.end));
            self.fast_hi = self.cur.end.min(next_close);
        }
    }

    fn emit_closed(&mut self, cfg: &AggConfig, bar: Bar, emit: &mut impl FnMut(&Bar)) {
        if cfg.fill_gaps {
            if let Some(price) = self.last_close {
                if self.closed_end < bar.start {
                    self.fill_gap(cfg, price, bar.start, emit);
                }
            }
        }
        self.closed_end = bar.end;
        self.last_close = Some(bar.close);
        self.closed_trades += bar.trades as u64;
        emit(&bar);
    }

    fn fill_gap(&mut self, cfg: &AggConfig, price: f64, until: i64, emit: &mut impl FnMut(&Bar)) {
        let mut t = self.closed_end;
        let mut bars = Vec::new();
        while t < until {
            if bars.len() >= cfg.max_fill {
                self.unfilled_gaps += 1;
                return;
            }
            let (s, e) = cfg.bucket(t);
            bars.push(Bar::flat(s, e, price));
            t = e;
        }
        self.filled_bars += bars.len() as u64;
        for b in &bars {
            emit(b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{MINUTE, SECOND};

    const T0: i64 = 1_704_205_800 * SECOND; // 2024-01-02T14:30:00Z

    struct Run {
        cfg: AggConfig,
        agg: BarAggregator,
        rejects: RejectCounts,
        out: Vec<Bar>,
    }

    impl Run {
        fn new(cfg: AggConfig) -> Self {
            Run { cfg, agg: BarAggregator::new(), rejects: RejectCounts::default(), out: vec![] }
        }
        fn tick(&mut self, ts: i64, p: f64, s: f64) {
            let Run { cfg, agg, rejects, out } = self;
            if !agg.try_fast(ts, p, s) {
                agg.push_slow(cfg, ts, p, s, rejects, &mut |b| out.push(*b));
            }
        }
        fn advance(&mut self, ts: i64) {
            let Run { cfg, agg, out, .. } = self;
            agg.advance(cfg, ts, &mut |b| out.push(*b));
        }
        fn flush(&mut self) {
            let Run { cfg, agg, out, .. } = self;
            agg.flush(cfg, &mut |b| out.push(*b));
        }
    }

    #[test]
    fn closes_on_next_bar_with_zero_lateness() {
        let mut r = Run::new(AggConfig::streaming(MINUTE, Alignment::epoch(), 0));
        r.tick(T0 + SECOND, 10.0, 1.0);
        r.tick(T0 + 2 * SECOND, 11.0, 1.0);
        assert!(r.out.is_empty());
        r.tick(T0 + MINUTE, 12.0, 1.0);
        assert_eq!(r.out.len(), 1);
        assert_eq!(r.out[0].start, T0);
        assert_eq!((r.out[0].open, r.out[0].close, r.out[0].trades), (10.0, 11.0, 2));
        // A tick for the closed bar is late.
        r.tick(T0 + 3 * SECOND, 99.0, 1.0);
        assert_eq!(r.rejects.get(RejectReason::Late), 1);
        assert_eq!(r.agg.accepted(), 3);
    }

    #[test]
    fn lateness_keeps_previous_bar_open() {
        let mut r = Run::new(AggConfig::streaming(MINUTE, Alignment::epoch(), 5 * SECOND));
        r.tick(T0 + SECOND, 10.0, 1.0);
        r.tick(T0 + MINUTE + SECOND, 12.0, 1.0);
        assert!(r.out.is_empty());
        r.tick(T0 + 30 * SECOND, 9.0, 1.0); // late-arriving but within lateness
        r.tick(T0 + MINUTE + 4 * SECOND, 12.5, 1.0); // still within, fast path bounded
        assert!(r.out.is_empty());
        r.tick(T0 + MINUTE + 5 * SECOND, 13.0, 1.0); // watermark reaches end + lateness
        assert_eq!(r.out.len(), 1);
        assert_eq!((r.out[0].open, r.out[0].close, r.out[0].low, r.out[0].trades), (10.0, 9.0, 9.0, 2));
        r.tick(T0 + 59 * SECOND, 1.0, 1.0);
        assert_eq!(r.rejects.get(RejectReason::Late), 1);
    }

    #[test]
    fn advance_closes_by_clock_and_fills_gaps() {
        let mut cfg = AggConfig::streaming(MINUTE, Alignment::epoch(), 0);
        cfg.fill_gaps = true;
        let mut r = Run::new(cfg);
        r.tick(T0 + SECOND, 10.0, 2.0);
        r.advance(T0 + MINUTE - 1);
        assert!(r.out.is_empty());
        r.advance(T0 + MINUTE);
        assert_eq!(r.out.len(), 1);
        r.advance(T0 + 3 * MINUTE + 1);
        assert_eq!(r.out.len(), 3);
        assert_eq!(r.out[1], Bar::flat(T0 + MINUTE, T0 + 2 * MINUTE, 10.0));
        r.tick(T0 + 5 * MINUTE, 11.0, 1.0);
        r.flush();
        let starts: Vec<i64> = r.out.iter().map(|b| (b.start - T0) / MINUTE).collect();
        assert_eq!(starts, vec![0, 1, 2, 3, 4, 5]);
        assert_eq!(r.agg.filled_bars(), 4);
    }

    #[test]
    fn batch_mode_accepts_any_order() {
        let mut r = Run::new(AggConfig::batch(MINUTE, Alignment::epoch()));
        for k in (0..10).rev() {
            r.tick(T0 + k * MINUTE + 1, k as f64 + 1.0, 1.0);
        }
        r.tick(T0 + 5 * MINUTE, 100.0, 1.0);
        assert!(r.out.is_empty());
        r.flush();
        assert_eq!(r.out.len(), 10);
        assert!(r.out.windows(2).all(|w| w[0].start < w[1].start));
        assert_eq!(r.out[5].open, 100.0);
        assert_eq!(r.out[5].close, 6.0);
    }

    #[test]
    fn invalid_ticks_are_counted() {
        let mut r = Run::new(AggConfig::streaming(MINUTE, Alignment::epoch(), 0));
        r.tick(T0, 10.0, 1.0);
        r.tick(T0 + 1, f64::NAN, 1.0);
        r.tick(T0 + 2, -1.0, 1.0);
        r.tick(T0 + 3, 10.0, -1.0);
        r.tick(0, 10.0, 1.0);
        assert_eq!(r.rejects.total(), 4);
        assert_eq!(r.agg.accepted(), 1);
    }

    #[test]
    fn history_makes_older_ticks_late() {
        let mut r = Run::new(AggConfig::streaming(MINUTE, Alignment::epoch(), 10 * SECOND));
        r.agg.mark_history(T0 + MINUTE, 10.0);
        r.tick(T0 + 30 * SECOND, 10.0, 1.0);
        assert_eq!(r.rejects.get(RejectReason::Late), 1);
        r.tick(T0 + MINUTE, 10.0, 1.0);
        assert_eq!(r.agg.accepted(), 1);
    }
}
