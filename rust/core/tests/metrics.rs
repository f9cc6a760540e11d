//! The metrics accumulator's bulk paths (`push_flat`, `push_equity_with`, `push_equity_series`)
//! leave exactly the state that one `push_equity` per period leaves.

use proptest::prelude::*;
use quant_engine_core::metrics::MetricsAccumulator;

const T0: i64 = 1_704_205_800_000_000_000;
const MIN: i64 = 60_000_000_000;

/// The whole state, every field (Debug prints each float exactly, -0.0 included).
fn state(a: &MetricsAccumulator) -> String {
    format!("{a:?}")
}

/// An accumulator that has already seen `history` (so the bulk paths start mid-run: after a
/// peak, in a drawdown, after a ruin ...).
fn after(history: &[f64]) -> MetricsAccumulator {
    let mut a = MetricsAccumulator::new(1_000.0, T0);
    for (k, &e) in history.iter().enumerate() {
        a.push_equity(T0 + (k as i64 + 1) * MIN, e, k % 3 == 0);
    }
    a
}

fn times(from: usize, n: usize) -> Vec<i64> {
    (0..n).map(|k| T0 + (from + k) as i64 * MIN).collect()
}

/// Equity levels that exercise every branch: around the start, far below (drawdown), zero,
/// negative (ruin) and non-finite.
fn level() -> impl Strategy<Value = f64> {
    prop_oneof![
        8 => 500.0f64..1_500.0,
        1 => Just(0.0),
        1 => -100.0f64..0.0,
        1 => Just(f64::NAN),
        1 => Just(f64::INFINITY),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn flat_run_equals_one_push_per_period(history in prop::collection::vec(level(), 0..12), e in level(), n in 0usize..40) {
        let ts = times(history.len() + 1, n);
        let mut bulk = after(&history);
        let mut one = bulk.clone();
        bulk.push_flat(&ts, e);
        for &t in &ts {
            one.push_equity(t, e, false);
        }
        prop_assert_eq!(state(&bulk), state(&one));
    }

    #[test]
    fn equity_series_equals_one_push_per_period(history in prop::collection::vec(level(), 0..12), series in prop::collection::vec(level(), 0..200), in_market in 0u64..5) {
        let ts = times(history.len() + 1, series.len());
        // the bulk paths add the periods in the market at the end; one push per period marks the
        // first `in_market` of them
        let in_market = in_market.min(series.len() as u64);
        let mut bulk = after(&history);
        let mut with = bulk.clone();
        let mut one = bulk.clone();
        bulk.push_equity_series(&ts, &series, in_market);
        with.push_equity_with(&ts, |k| series[k], in_market);
        for (k, (&t, &e)) in ts.iter().zip(&series).enumerate() {
            one.push_equity(t, e, (k as u64) < in_market);
        }
        prop_assert_eq!(state(&bulk), state(&with));
        prop_assert_eq!(state(&bulk), state(&one));
    }
}
