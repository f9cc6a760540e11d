//! Duplicate suppression by vendor sequence number.
//!
//! Vendors number trades per symbol with increasing, unique (not necessarily consecutive)
//! sequence numbers. A reconnect, a backfill that overlaps the live stream, or a vendor resend
//! delivers some trades twice; counting one twice corrupts volume and VWAP. Per symbol, the
//! filter remembers the sequence numbers of the trades whose timestamps lie within `horizon` of
//! the newest one:
//!
//! * a trade whose `(symbol, sequence)` was seen is a **duplicate** and is dropped;
//! * a trade older than `newest - horizon` cannot be checked and is dropped as **stale** (with a
//!   bar lateness below the horizon it would have been late for the bars anyway);
//! * a trade without a sequence number passes unchecked.
//!
//! Trades arriving in sequence order cost one compare and an append; out-of-order ones a binary
//! search (and a rare insertion).

use std::collections::VecDeque;

use super::columns::NO_I64;

/// What the filter decided about one trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before: keep it.
    New,
    /// Seen before: drop it.
    Duplicate,
    /// Older than the horizon: drop it.
    Stale,
}

#[derive(Debug, Clone, Default)]
struct SlotState {
    newest_ts: i64,
    /// `(sequence, ts)` sorted by sequence.
    recent: VecDeque<(i64, i64)>,
}

/// Per-symbol sequence memory (symbols are dense codes).
#[derive(Debug, Clone)]
pub struct SequenceFilter {
    horizon: i64,
    slots: Vec<SlotState>,
}

impl SequenceFilter {
    /// A filter remembering `horizon` ns of trades per symbol.
    pub fn new(horizon: i64) -> Self {
        SequenceFilter { horizon: horizon.max(0), slots: Vec::new() }
    }

    /// The horizon in ns.
    pub fn horizon(&self) -> i64 {
        self.horizon
    }

    /// Sequence numbers currently remembered (over all symbols).
    pub fn remembered(&self) -> usize {
        self.slots.iter().map(|s| s.recent.len()).sum()
    }

    /// Classifies one trade and remembers it when new.
    #[inline]
    pub fn check(&mut self, slot: u32, ts: i64, sequence: i64) -> Verdict {
        let s = slot as usize;
        if s >= self.slots.len() {
            self.slots.resize_with(s + 1, || SlotState { newest_ts: i64::MIN, recent: VecDeque::new() });
        }
        let st = &mut self.slots[s];
        let floor = st.newest_ts.saturating_sub(self.horizon);
        if st.newest_ts != i64::MIN && ts < floor {
            return Verdict::Stale;
        }
        if sequence != NO_I64 {
            match st.recent.back() {
                Some(&(last, _)) if sequence <= last => match st.recent.binary_search_by_key(&sequence, |e| e.0) {
                    Ok(_) => return Verdict::Duplicate,
                    Err(pos) => st.recent.insert(pos, (sequence, ts)),
                },
                _ => st.recent.push_back((sequence, ts)),
            }
        }
        if ts > st.newest_ts {
            st.newest_ts = ts;
            let floor = ts.saturating_sub(self.horizon);
            while st.recent.front().is_some_and(|&(_, t)| t < floor) {
                st.recent.pop_front();
            }
        }
        Verdict::New
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_duplicates_and_stale() {
        let mut f = SequenceFilter::new(1_000);
        assert_eq!(f.check(0, 100, 1), Verdict::New);
        assert_eq!(f.check(0, 110, 5), Verdict::New);
        assert_eq!(f.check(0, 105, 3), Verdict::New); // out of order, unseen
        assert_eq!(f.check(0, 105, 3), Verdict::Duplicate);
        assert_eq!(f.check(0, 100, 1), Verdict::Duplicate);
        assert_eq!(f.check(1, 100, 1), Verdict::New); // other symbol
        assert_eq!(f.check(0, 5_000, 9), Verdict::New);
        assert_eq!(f.check(0, 3_000, 7), Verdict::Stale);
        assert_eq!(f.check(0, 4_500, NO_I64), Verdict::New);
        assert_eq!(f.check(0, 4_500, NO_I64), Verdict::New); // unchecked without a sequence
        assert_eq!(f.remembered(), 2);
    }
}
