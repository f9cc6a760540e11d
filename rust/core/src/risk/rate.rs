//! The order-rate window: timestamps of the most recent accepted orders in a ring.

use crate::time::{MAX_TS, MIN_TS};

/// The last `capacity` accepted orders' timestamps (capacity = `max_orders_per_window`; 0 when
/// there is no rate limit). An order trips the limit when the ring is full and the oldest
/// remembered order lies less than `window` before it.
#[derive(Debug, Clone)]
pub(crate) struct RateRing {
    buf: Vec<i64>,
    head: usize,
    len: usize,
    window: i64,
}

impl RateRing {
    /// An empty ring for `capacity` orders per `window` ns.
    pub(crate) fn new(capacity: usize, window: i64) -> RateRing {
        RateRing { buf: vec![0; capacity], head: 0, len: 0, window }
    }

    /// The limit (0: no rate limit).
    #[inline(always)]
    pub(crate) fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// The window in ns.
    #[inline(always)]
    pub(crate) fn window(&self) -> i64 {
        self.window
    }

    /// The oldest remembered timestamp when the ring is full (the only state in which an order
    /// can trip the limit), else `None`.
    #[inline(always)]
    pub(crate) fn oldest_if_full(&self) -> Option<i64> {
        (self.capacity() > 0 && self.len == self.capacity()).then(|| self.buf[self.head])
    }

    /// Remembers one accepted order (dropping the oldest when full). Wraps by comparison, not
    /// `%`: this runs once per accepted order on the exact path.
    #[inline(always)]
    pub(crate) fn push(&mut self, ts: i64) {
        let cap = self.capacity();
        if cap == 0 {
            return;
        }
        if self.len < cap {
            let mut at = self.head + self.len;
            if at >= cap {
                at -= cap;
            }
            self.buf[at] = ts;
            self.len += 1;
        } else {
            self.buf[self.head] = ts;
            self.head += 1;
            if self.head == cap {
                self.head = 0;
            }
        }
    }

    /// Remembers accepted orders in order: the same state as `push` on each, in at most three
    /// block copies.
    pub(crate) fn push_all(&mut self, ts: &[i64]) {
        let cap = self.capacity();
        if cap == 0 || ts.is_empty() {
            return;
        }
        if ts.len() >= cap {
            // Only the last `cap` survive; the oldest of them lands where the head now is.
            let keep = &ts[ts.len() - cap..];
            let at = (self.head + self.len + ts.len() - cap) % cap;
            self.buf[at..].copy_from_slice(&keep[..cap - at]);
            self.buf[..at].copy_from_slice(&keep[cap - at..]);
            self.head = at;
            self.len = cap;
            return;
        }
        let at = (self.head + self.len) % cap;
        let first = ts.len().min(cap - at);
        self.buf[at..at + first].copy_from_slice(&ts[..first]);
        self.buf[..ts.len() - first].copy_from_slice(&ts[first..]);
        let overflow = (self.len + ts.len()).saturating_sub(cap);
        self.len += ts.len() - overflow;
        self.head = (self.head + overflow) % cap;
    }

    /// The remembered timestamps, oldest first.
    pub(crate) fn to_vec(&self) -> Vec<i64> {
        let (newer, older) = self.buf.split_at(self.head.min(self.buf.len()));
        older.iter().chain(newer).take(self.len).copied().collect()
    }

    /// Whether no order of a block of `orders` can trip the limit, whichever of them are
    /// accepted, when every in-range timestamp of the block is at least `ts_min` (a proof:
    /// `false` only means "not proved").
    ///
    /// While a block runs, the ring holds `len + a` timestamps after `a` acceptances. It is full
    /// only once `len + a >= cap`, and then its oldest entry is the current ring's entry number
    /// `len + a - cap` (oldest first), provided `orders <= cap`. So only the current ring's first
    /// `len + orders - cap` entries can ever be compared. When those and `ts_min` all lie in
    /// `[MIN_TS, MAX_TS)` the differences are exact, and `ts_min - max(entries) >= window` makes
    /// every comparison pass. (Orders with a timestamp out of range are rejected before the
    /// rate check is reached.)
    /// Inlined into the batch kernel, whose instruction set vectorizes the scan.
    #[inline(always)]
    pub(crate) fn cannot_trip(&self, orders: usize, ts_min: i64) -> bool {
        let cap = self.capacity();
        if cap == 0 || self.len + orders <= cap {
            return true;
        }
        if orders > cap || !(MIN_TS..MAX_TS).contains(&ts_min) {
            return false;
        }
        let k = self.len + orders - cap;
        let (newer, older) = self.buf.split_at(self.head);
        let first = k.min(older.len());
        let (lo_a, hi_a) = span(&older[..first]);
        let (lo_b, hi_b) = span(&newer[..k - first]);
        let (lo, hi) = (lo_a.min(lo_b), hi_a.max(hi_b));
        lo >= MIN_TS && hi < MAX_TS && ts_min - hi >= self.window
    }
}

/// Smallest and largest of a slice (`(i64::MAX, i64::MIN)` when empty). Inlined so that it
/// vectorizes with the caller's instruction set (the batch kernel's).
#[inline(always)]
fn span(v: &[i64]) -> (i64, i64) {
    (v.iter().fold(i64::MAX, |a, &b| a.min(b)), v.iter().fold(i64::MIN, |a, &b| a.max(b)))
}
