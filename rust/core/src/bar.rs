//! Time bars: the accumulating [`Bar`] and the columnar [`BarColumns`] buffer.
//!
//! A bar covers `[start, end)` and is labelled by `start`. Its fields, for the accepted ticks whose
//! timestamps fall in that interval, regardless of the order they arrived in:
//!
//! * `open`: price of the tick with the smallest timestamp (the first to arrive among equal ones);
//! * `close`: price of the tick with the largest timestamp (the last to arrive among equal ones);
//! * `high`, `low`: extreme prices; `volume`: sum of sizes; `trades`: number of ticks;
//! * `vwap`: `sum(price * size) / sum(size)`, both sums taken in arrival order; a bar whose ticks all
//!   have size 0 has `vwap == close`.
//!
//! Floating-point sums are taken in arrival order with plain multiply-then-add (no fused
//! multiply-add), so every implementation that follows these rules agrees bit for bit.

/// A bar being accumulated (or a closed one, before it is written out).
#[derive(Debug, Clone, Copy, PartialEq)]
#[repr(C)]
pub struct Bar {
    /// Inclusive start (ns).
    pub start: i64,
    /// Highest price.
    pub high: f64,
    /// Lowest price.
    pub low: f64,
    /// Closing price.
    pub close: f64,
    /// Timestamp of the tick that set `close`.
    pub close_ts: i64,
    /// Sum of sizes.
    pub volume: f64,
    /// Sum of `price * size`.
    pub pv: f64,
    /// Number of ticks.
    pub trades: i64,
    /// Opening price.
    pub open: f64,
    /// Timestamp of the tick that set `open`.
    pub open_ts: i64,
    /// Exclusive end (ns).
    pub end: i64,
}

impl Bar {
    /// A bar holding one tick.
    #[inline]
    pub fn first(start: i64, end: i64, ts: i64, price: f64, size: f64) -> Self {
        Bar { start, end, open: price, high: price, low: price, close: price, volume: size, pv: price * size, trades: 1, open_ts: ts, close_ts: ts }
    }

    /// An empty (gap-filling) bar, flat at `price`, with no volume and no trades.
    pub fn flat(start: i64, end: i64, price: f64) -> Self {
        Bar { start, end, open: price, high: price, low: price, close: price, volume: 0.0, pv: 0.0, trades: 0, open_ts: start, close_ts: start }
    }

    /// Adds one tick (already known to belong to this bar and to be valid).
    #[inline(always)]
    pub fn add(&mut self, ts: i64, price: f64, size: f64) {
        // Written as unconditional selects so the compiler emits branch-free code (max/min of
        // a price that is known not to be NaN, and timestamp-ordered open/close).
        self.high = if price > self.high { price } else { self.high };
        self.low = if price < self.low { price } else { self.low };
        let earlier = ts < self.open_ts;
        self.open = if earlier { price } else { self.open };
        self.open_ts = if earlier { ts } else { self.open_ts };
        let later = ts >= self.close_ts;
        self.close = if later { price } else { self.close };
        self.close_ts = if later { ts } else { self.close_ts };
        self.volume += size;
        self.pv += price * size;
        self.trades += 1;
    }

    /// Adds a run of ticks known to be valid and inside this bar. Bit-identical to calling
    /// [`Bar::add`] on each in order: extremes are order-free (computed in four lanes), while
    /// open/close and the two sums are taken strictly in order.
    #[inline(always)]
    pub fn add_chunk(&mut self, ts: &[i64], price: &[f64], size: &[f64]) {
        let n = ts.len().min(price.len()).min(size.len());
        let (ts, price, size) = (&ts[..n], &price[..n], &size[..n]);
        let mut hi = [self.high; 4];
        let mut lo = [self.low; 4];
        let mut k = 0;
        while k + 4 <= n {
            for l in 0..4 {
                let p = price[k + l];
                hi[l] = if p > hi[l] { p } else { hi[l] };
                lo[l] = if p < lo[l] { p } else { lo[l] };
            }
            k += 4;
        }
        for &p in &price[k..] {
            hi[0] = if p > hi[0] { p } else { hi[0] };
            lo[0] = if p < lo[0] { p } else { lo[0] };
        }
        let h01 = if hi[1] > hi[0] { hi[1] } else { hi[0] };
        let h23 = if hi[3] > hi[2] { hi[3] } else { hi[2] };
        self.high = if h23 > h01 { h23 } else { h01 };
        let l01 = if lo[1] < lo[0] { lo[1] } else { lo[0] };
        let l23 = if lo[3] < lo[2] { lo[3] } else { lo[2] };
        self.low = if l23 < l01 { l23 } else { l01 };
        let (mut vol, mut pv) = (self.volume, self.pv);
        let (mut open, mut open_ts, mut close, mut close_ts) = (self.open, self.open_ts, self.close, self.close_ts);
        for i in 0..n {
            let (t, p, s) = (ts[i], price[i], size[i]);
            vol += s;
            pv += p * s;
            let earlier = t < open_ts;
            open = if earlier { p } else { open };
            open_ts = if earlier { t } else { open_ts };
            let later = t >= close_ts;
            close = if later { p } else { close };
            close_ts = if later { t } else { close_ts };
        }
        self.volume = vol;
        self.pv = pv;
        self.open = open;
        self.open_ts = open_ts;
        self.close = close;
        self.close_ts = close_ts;
        self.trades += n as i64;
    }

    /// Volume-weighted average price (`close` when the volume is zero).
    #[inline]
    pub fn vwap(&self) -> f64 {
        if self.volume > 0.0 {
            self.pv / self.volume
        } else {
            self.close
        }
    }
}

/// Closed bars in columnar form, plus the symbol slot of each row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BarColumns {
    /// Symbol slot (index into the owner's symbol table).
    pub slot: Vec<u32>,
    /// Bar start (ns).
    pub start: Vec<i64>,
    /// Open prices.
    pub open: Vec<f64>,
    /// High prices.
    pub high: Vec<f64>,
    /// Low prices.
    pub low: Vec<f64>,
    /// Close prices.
    pub close: Vec<f64>,
    /// Volumes.
    pub volume: Vec<f64>,
    /// VWAPs.
    pub vwap: Vec<f64>,
    /// Trade counts.
    pub trades: Vec<i64>,
}

impl BarColumns {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.start.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.start.is_empty()
    }

    /// Reserves room for `n` more rows.
    pub fn reserve(&mut self, n: usize) {
        self.slot.reserve(n);
        self.start.reserve(n);
        self.open.reserve(n);
        self.high.reserve(n);
        self.low.reserve(n);
        self.close.reserve(n);
        self.volume.reserve(n);
        self.vwap.reserve(n);
        self.trades.reserve(n);
    }

    /// Removes every row, keeping the allocations.
    pub fn clear(&mut self) {
        self.slot.clear();
        self.start.clear();
        self.open.clear();
        self.high.clear();
        self.low.clear();
        self.close.clear();
        self.volume.clear();
        self.vwap.clear();
        self.trades.clear();
    }

    /// Appends one closed bar.
    #[inline]
    pub fn push(&mut self, slot: u32, bar: &Bar) {
        self.slot.push(slot);
        self.start.push(bar.start);
        self.open.push(bar.open);
        self.high.push(bar.high);
        self.low.push(bar.low);
        self.close.push(bar.close);
        self.volume.push(bar.volume);
        self.vwap.push(bar.vwap());
        self.trades.push(bar.trades);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_close_follow_timestamps_not_arrival() {
        let mut b = Bar::first(0, 100, 50, 10.0, 1.0);
        b.add(20, 9.0, 1.0); // earlier: new open
        b.add(80, 11.0, 2.0); // later: new close
        b.add(80, 12.0, 0.0); // equal ts: the later arrival closes
        b.add(20, 8.0, 1.0); // equal to open ts: keeps the first arrival as open
        assert_eq!((b.open, b.high, b.low, b.close), (9.0, 12.0, 8.0, 12.0));
        assert_eq!(b.trades, 5);
        assert_eq!(b.volume, 5.0);
        assert_eq!(b.vwap(), (10.0 + 9.0 + 22.0 + 0.0 + 8.0) / 5.0);
    }

    #[test]
    fn zero_volume_vwap_is_close() {
        let mut b = Bar::first(0, 100, 1, 10.0, 0.0);
        b.add(2, 11.0, 0.0);
        assert_eq!(b.vwap(), 11.0);
    }
}
