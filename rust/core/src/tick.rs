//! Trade ticks: validation and reason-coded rejection counters.

use crate::time::ts_in_range;

/// Why a tick was not aggregated. The discriminants are stable and appear in `stats()` output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RejectReason {
    /// A required field (`ts`, `symbol`, `price` or `size`) is null.
    NullField = 0,
    /// `price` is NaN or infinite.
    NonFinitePrice = 1,
    /// `price` is zero or negative.
    NonPositivePrice = 2,
    /// `size` is NaN or infinite.
    NonFiniteSize = 3,
    /// `size` is negative.
    NegativeSize = 4,
    /// `ts` is outside `[MIN_TS, MAX_TS)` (1980-01-01 .. 2200-01-01 UTC).
    TsOutOfRange = 5,
    /// The symbol is not in the fixed symbol set.
    UnknownSymbol = 6,
    /// The tick's bar was already closed by the watermark (or already present from warm-up).
    Late = 7,
}

impl RejectReason {
    /// All reasons, in discriminant order.
    pub const ALL: [RejectReason; 8] = [
        RejectReason::NullField,
        RejectReason::NonFinitePrice,
        RejectReason::NonPositivePrice,
        RejectReason::NonFiniteSize,
        RejectReason::NegativeSize,
        RejectReason::TsOutOfRange,
        RejectReason::UnknownSymbol,
        RejectReason::Late,
    ];

    /// The stable snake_case code used in stats and docs.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::NullField => "null_field",
            RejectReason::NonFinitePrice => "non_finite_price",
            RejectReason::NonPositivePrice => "non_positive_price",
            RejectReason::NonFiniteSize => "non_finite_size",
            RejectReason::NegativeSize => "negative_size",
            RejectReason::TsOutOfRange => "ts_out_of_range",
            RejectReason::UnknownSymbol => "unknown_symbol",
            RejectReason::Late => "late",
        }
    }
}

/// Counters of rejected ticks by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RejectCounts(pub [u64; 8]);

impl RejectCounts {
    /// Counts one rejection.
    #[inline]
    pub fn add(&mut self, reason: RejectReason) {
        self.0[reason as usize] += 1;
    }

    /// The count for one reason.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason as usize]
    }

    /// The sum over all reasons.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds another set of counters into this one.
    pub fn merge(&mut self, other: &RejectCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// `(code, count)` pairs for every reason, including zeros.
    pub fn items(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        RejectReason::ALL.iter().map(move |r| (r.code(), self.get(*r)))
    }
}

/// The fast validity predicate for price and size: finite, `price > 0`, `size >= 0`.
/// NaN fails every comparison, so it is rejected without a separate check.
#[inline(always)]
pub fn price_size_ok(price: f64, size: f64) -> bool {
    (price > 0.0) & (price < f64::INFINITY) & (0.0..f64::INFINITY).contains(&size)
}

/// Classifies a tick; `None` means it is valid. Checked in the documented order: timestamp range,
/// price, size.
#[inline]
pub fn classify(ts: i64, price: f64, size: f64) -> Option<RejectReason> {
    if !ts_in_range(ts) {
        Some(RejectReason::TsOutOfRange)
    } else if !price.is_finite() {
        Some(RejectReason::NonFinitePrice)
    } else if price <= 0.0 {
        Some(RejectReason::NonPositivePrice)
    } else if !size.is_finite() {
        Some(RejectReason::NonFiniteSize)
    } else if size < 0.0 {
        Some(RejectReason::NegativeSize)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{MAX_TS, MIN_TS};

    #[test]
    fn classify_orders_reasons() {
        let t = MIN_TS;
        assert_eq!(classify(t, 1.0, 1.0), None);
        assert_eq!(classify(t, 1.0, 0.0), None);
        assert_eq!(classify(MIN_TS - 1, 1.0, 1.0), Some(RejectReason::TsOutOfRange));
        assert_eq!(classify(MAX_TS, 1.0, 1.0), Some(RejectReason::TsOutOfRange));
        assert_eq!(classify(t, f64::NAN, 1.0), Some(RejectReason::NonFinitePrice));
        assert_eq!(classify(t, f64::INFINITY, 1.0), Some(RejectReason::NonFinitePrice));
        assert_eq!(classify(t, 0.0, 1.0), Some(RejectReason::NonPositivePrice));
        assert_eq!(classify(t, -1.0, 1.0), Some(RejectReason::NonPositivePrice));
        assert_eq!(classify(t, 1.0, f64::NAN), Some(RejectReason::NonFiniteSize));
        assert_eq!(classify(t, 1.0, -0.5), Some(RejectReason::NegativeSize));
    }

    #[test]
    fn fast_predicate_matches_classify() {
        let vals = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, -0.0, 0.0, 1e-300, 1.0, 1e300];
        for &p in &vals {
            for &s in &vals {
                assert_eq!(price_size_ok(p, s), classify(MIN_TS, p, s).is_none(), "{p} {s}");
            }
        }
    }
}
