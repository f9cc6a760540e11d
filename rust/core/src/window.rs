//! [`BarWindow`]: the rolling window of the last `capacity` closed bars of one symbol.
//!
//! Columnar ring buffers (8 columns of 8 bytes per bar). Storage grows on demand and never past
//! `capacity`, so a full window costs exactly `64 * capacity` bytes of column data.

use crate::bar::{Bar, BarColumns};

/// A ring buffer of bars in columnar layout, oldest first.
#[derive(Debug, Clone)]
pub struct BarWindow {
    capacity: usize,
    head: usize,
    start: Vec<i64>,
    open: Vec<f64>,
    high: Vec<f64>,
    low: Vec<f64>,
    close: Vec<f64>,
    volume: Vec<f64>,
    vwap: Vec<f64>,
    trades: Vec<i64>,
}

/// One row of a window, as plain values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowRow {
    /// Bar start (ns).
    pub start: i64,
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
    /// VWAP.
    pub vwap: f64,
    /// Trade count.
    pub trades: i64,
}

fn grow<T>(v: &mut Vec<T>, capacity: usize) {
    if v.len() == v.capacity() {
        let want = (v.capacity().max(8) * 2).min(capacity);
        v.reserve_exact(want - v.len());
    }
}

impl BarWindow {
    /// An empty window holding at most `capacity` bars (`capacity >= 1`).
    pub fn new(capacity: usize) -> Self {
        assert!(capacity >= 1, "window capacity must be >= 1");
        BarWindow {
            capacity,
            head: 0,
            start: Vec::new(),
            open: Vec::new(),
            high: Vec::new(),
            low: Vec::new(),
            close: Vec::new(),
            volume: Vec::new(),
            vwap: Vec::new(),
            trades: Vec::new(),
        }
    }

    /// Maximum number of bars kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of bars held.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether the window holds no bars.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// Bytes of column storage currently allocated.
    pub fn allocated_bytes(&self) -> usize {
        8 * (self.start.capacity()
            + self.open.capacity()
            + self.high.capacity()
            + self.low.capacity()
            + self.close.capacity()
            + self.volume.capacity()
            + self.vwap.capacity()
            + self.trades.capacity())
    }

    /// Appends a row, evicting the oldest one when full.
    pub fn push_row(&mut self, r: WindowRow) {
        if self.start.len() < self.capacity {
            grow(&mut self.start, self.capacity);
            grow(&mut self.open, self.capacity);
            grow(&mut self.high, self.capacity);
            grow(&mut self.low, self.capacity);
            grow(&mut self.close, self.capacity);
            grow(&mut self.volume, self.capacity);
            grow(&mut self.vwap, self.capacity);
            grow(&mut self.trades, self.capacity);
            self.start.push(r.start);
            self.open.push(r.open);
            self.high.push(r.high);
            self.low.push(r.low);
            self.close.push(r.close);
            self.volume.push(r.volume);
            self.vwap.push(r.vwap);
            self.trades.push(r.trades);
        } else {
            let h = self.head;
            self.start[h] = r.start;
            self.open[h] = r.open;
            self.high[h] = r.high;
            self.low[h] = r.low;
            self.close[h] = r.close;
            self.volume[h] = r.volume;
            self.vwap[h] = r.vwap;
            self.trades[h] = r.trades;
            self.head = (h + 1) % self.capacity;
        }
    }

    /// Appends a closed bar.
    pub fn push(&mut self, bar: &Bar) {
        self.push_row(WindowRow {
            start: bar.start,
            open: bar.open,
            high: bar.high,
            low: bar.low,
            close: bar.close,
            volume: bar.volume,
            vwap: bar.vwap(),
            trades: bar.trades,
        });
    }

    /// The `i`-th row, oldest first.
    pub fn row(&self, i: usize) -> WindowRow {
        assert!(i < self.len(), "window row {i} out of range");
        let j = (self.head + i) % self.len().max(1);
        WindowRow {
            start: self.start[j],
            open: self.open[j],
            high: self.high[j],
            low: self.low[j],
            close: self.close[j],
            volume: self.volume[j],
            vwap: self.vwap[j],
            trades: self.trades[j],
        }
    }

    /// The newest row, if any.
    pub fn last(&self) -> Option<WindowRow> {
        (!self.is_empty()).then(|| self.row(self.len() - 1))
    }

    /// The oldest row, if any.
    pub fn first(&self) -> Option<WindowRow> {
        (!self.is_empty()).then(|| self.row(0))
    }

    /// Copies the rows, oldest first, into `out` (tagged with `slot`).
    pub fn copy_into(&self, slot: u32, out: &mut BarColumns) {
        let (a, b) = (self.head, self.len());
        fn ext<T: Copy>(dst: &mut Vec<T>, src: &[T], a: usize) {
            dst.extend_from_slice(&src[a..]);
            dst.extend_from_slice(&src[..a]);
        }
        out.slot.extend(std::iter::repeat_n(slot, b));
        ext(&mut out.start, &self.start, a);
        ext(&mut out.open, &self.open, a);
        ext(&mut out.high, &self.high, a);
        ext(&mut out.low, &self.low, a);
        ext(&mut out.close, &self.close, a);
        ext(&mut out.volume, &self.volume, a);
        ext(&mut out.vwap, &self.vwap, a);
        ext(&mut out.trades, &self.trades, a);
    }

    /// Appends the eight columns (`start, open, high, low, close, volume, vwap, trades`), each
    /// oldest first, as raw 64-bit words to `out` (one allocation for a whole window export).
    pub fn copy_columns_raw(&self, out: &mut Vec<u64>) {
        let a = self.head;
        fn ext_i(dst: &mut Vec<u64>, src: &[i64], a: usize) {
            dst.extend(src[a..].iter().chain(&src[..a]).map(|&v| v as u64));
        }
        fn ext_f(dst: &mut Vec<u64>, src: &[f64], a: usize) {
            dst.extend(src[a..].iter().chain(&src[..a]).map(|v| v.to_bits()));
        }
        out.reserve(8 * self.len());
        ext_i(out, &self.start, a);
        ext_f(out, &self.open, a);
        ext_f(out, &self.high, a);
        ext_f(out, &self.low, a);
        ext_f(out, &self.close, a);
        ext_f(out, &self.volume, a);
        ext_f(out, &self.vwap, a);
        ext_i(out, &self.trades, a);
    }

    /// Replaces the content with `rows` (oldest first); keeps only the newest `capacity` of them.
    pub fn replace(&mut self, rows: &[WindowRow]) {
        let keep = &rows[rows.len().saturating_sub(self.capacity)..];
        *self = BarWindow::new(self.capacity);
        for r in keep {
            self.push_row(*r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(i: i64) -> WindowRow {
        WindowRow { start: i, open: i as f64, high: i as f64, low: i as f64, close: i as f64, volume: 1.0, vwap: i as f64, trades: 1 }
    }

    #[test]
    fn ring_keeps_newest_in_order() {
        let mut w = BarWindow::new(5);
        for i in 0..13 {
            w.push_row(row(i));
            let n = w.len();
            assert_eq!(n, (i as usize + 1).min(5));
            let mut out = BarColumns::default();
            w.copy_into(7, &mut out);
            let want: Vec<i64> = ((i + 1 - n as i64)..=i).collect();
            assert_eq!(out.start, want);
            assert!(out.slot.iter().all(|&s| s == 7));
            assert_eq!(w.last().unwrap().start, i);
            assert_eq!(w.first().unwrap().start, want[0]);
        }
    }

    #[test]
    fn raw_columns_match_rows() {
        let mut w = BarWindow::new(4);
        for i in 0..6 {
            w.push_row(row(i));
        }
        let mut raw = Vec::new();
        w.copy_columns_raw(&mut raw);
        assert_eq!(raw.len(), 32);
        assert_eq!(&raw[0..4], &[2, 3, 4, 5]);
        assert_eq!(f64::from_bits(raw[4]), 2.0);
        assert_eq!(&raw[28..32], &[1, 1, 1, 1]);
    }

    #[test]
    fn storage_never_exceeds_capacity() {
        let mut w = BarWindow::new(500);
        for i in 0..2000 {
            w.push_row(row(i));
        }
        assert_eq!(w.allocated_bytes(), 500 * 64);
    }

    #[test]
    fn replace_keeps_newest() {
        let mut w = BarWindow::new(3);
        let rows: Vec<_> = (0..10).map(row).collect();
        w.replace(&rows);
        assert_eq!(w.len(), 3);
        assert_eq!(w.first().unwrap().start, 7);
    }
}
