//! New York wall-clock to UTC nanoseconds: ThetaData sends `date` (`YYYYMMDD`) and `ms_of_day`
//! in America/New_York local time. The conversion happens once, here, at the edge.
//!
//! Ambiguous local times (the repeated hour when DST ends) take the earlier instant and times in
//! the spring-forward gap use the offset in force before the gap (PEP 495 `fold=0`), the same
//! rules as `quant_engine.times` and pandas' `ambiguous="earliest"`.

use chrono::{DateTime, MappedLocalTime, NaiveDateTime, Offset, TimeZone};
use chrono_tz::America::New_York;

use crate::time::{DAY, SECOND};

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Splits `YYYYMMDD` into a validated `(year, month, day)`.
pub fn split_yyyymmdd(date: i64) -> Option<(i64, u32, u32)> {
    if !(19_000_101..=21_991_231).contains(&date) {
        return None;
    }
    let (y, m, d) = (date / 10_000, (date / 100 % 100) as u32, (date % 100) as u32);
    let dim = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    (1..=dim).contains(&d).then_some((y, m, d))
}

fn naive(ns: i64) -> NaiveDateTime {
    DateTime::from_timestamp(ns.div_euclid(SECOND), ns.rem_euclid(SECOND) as u32).expect("timestamp within chrono's range").naive_utc()
}

/// UTC offset (local minus UTC) of New York at the UTC instant `utc_ns`, in ns.
fn offset_at_utc(utc_ns: i64) -> i64 {
    New_York.offset_from_utc_datetime(&naive(utc_ns)).fix().local_minus_utc() as i64 * SECOND
}

/// The UTC instant of the New York wall-clock time `local_ns` (ns since the local epoch).
pub fn ny_local_to_utc(local_ns: i64) -> i64 {
    match New_York.offset_from_local_datetime(&naive(local_ns)) {
        MappedLocalTime::Single(off) => local_ns - off.fix().local_minus_utc() as i64 * SECOND,
        MappedLocalTime::Ambiguous(a, b) => {
            let ua = local_ns - a.fix().local_minus_utc() as i64 * SECOND;
            let ub = local_ns - b.fix().local_minus_utc() as i64 * SECOND;
            ua.min(ub)
        }
        MappedLocalTime::None => local_ns - offset_at_utc(local_ns - DAY),
    }
}

/// Converts `(YYYYMMDD, ms_of_day)` New York pairs to UTC ns, caching the day's offset: on a
/// day without a DST change (all but two a year) a tick costs an add and a compare.
#[derive(Debug, Clone, Default)]
pub struct NyClock {
    date: i64,
    /// Local midnight of `date` as ns since the local epoch.
    local_midnight: i64,
    /// The day's UTC offset, or `None` on a DST-change day (then every tick is converted exactly).
    fixed_offset: Option<i64>,
}

impl NyClock {
    /// A clock with an empty cache.
    pub fn new() -> Self {
        NyClock { date: -1, local_midnight: 0, fixed_offset: None }
    }

    /// UTC ns of `ms_of_day` milliseconds after local midnight of `date` (`YYYYMMDD`); `None` for
    /// an invalid date or a time of day outside `0..=86_400_000` ms.
    #[inline]
    pub fn utc_ns(&mut self, date: i64, ms_of_day: i64) -> Option<i64> {
        if !(0..=DAY / 1_000_000).contains(&ms_of_day) {
            return None;
        }
        if date != self.date {
            let (y, m, d) = split_yyyymmdd(date)?;
            let local_midnight = days_from_civil(y, m, d) * DAY;
            let a = ny_local_to_utc(local_midnight);
            let b = ny_local_to_utc(local_midnight + DAY - SECOND);
            let (oa, ob) = (local_midnight - a, local_midnight + DAY - SECOND - b);
            self.date = date;
            self.local_midnight = local_midnight;
            self.fixed_offset = (oa == ob).then_some(oa);
        }
        let local = self.local_midnight + ms_of_day * 1_000_000;
        Some(match self.fixed_offset {
            Some(off) => local - off,
            None => ny_local_to_utc(local),
        })
    }
}

/// Converts New York wall-clock instants (ns since the local epoch, as a naive timestamp) to UTC
/// ns: the rules of [`ny_local_to_utc`], the day's offset cached as in [`NyClock`] (an add per
/// value on a day without a DST change). The one conversion of the package: the stream decoder
/// and the REST clients (`quant_engine.feeds.newyork`) both use it.
pub fn ny_local_to_utc_many(local: &[i64]) -> Vec<i64> {
    let mut day = i64::MIN;
    let mut fixed: Option<i64> = None;
    local
        .iter()
        .map(|&l| {
            let d = l.div_euclid(DAY);
            if d != day {
                let midnight = d * DAY;
                let (a, b) = (ny_local_to_utc(midnight), ny_local_to_utc(midnight + DAY - SECOND));
                let (oa, ob) = (midnight - a, midnight + DAY - SECOND - b);
                day = d;
                fixed = (oa == ob).then_some(oa);
            }
            match fixed {
                Some(off) => l - off,
                None => ny_local_to_utc(l),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_days() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 1, 2), 19_724);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert!(split_yyyymmdd(20240230).is_none());
        assert!(split_yyyymmdd(20240229).is_some());
        assert!(split_yyyymmdd(20231301).is_none());
        assert!(split_yyyymmdd(0).is_none());
    }

    #[test]
    fn many_agrees_with_the_clock_across_dst_days() {
        let mut c = NyClock::new();
        for &(date, y, m, d) in &[(20240310_i64, 2024, 3, 10), (20241103, 2024, 11, 3), (20240102, 2024, 1, 2)] {
            let midnight = days_from_civil(y, m, d) * DAY;
            let local: Vec<i64> = (0..=1440).map(|k| midnight + k * 60 * SECOND).collect();
            let many = ny_local_to_utc_many(&local);
            for (k, &u) in many.iter().enumerate() {
                assert_eq!(Some(u), c.utc_ns(date, k as i64 * 60_000));
            }
        }
    }

    #[test]
    fn converts_est_edt_and_dst_days() {
        let mut c = NyClock::new();
        // 2024-01-02 09:30:00.011 EST = 14:30:00.011Z
        assert_eq!(c.utc_ns(20240102, 34_200_011), Some(1_704_205_800_011_000_000));
        // 2024-07-01 09:30 EDT = 13:30Z
        assert_eq!(c.utc_ns(20240701, 34_200_000), Some(1_719_840_600 * SECOND));
        // 2024-03-10 (spring forward at 02:00): 01:00 EST = 06:00Z, 03:00 EDT = 07:00Z
        assert_eq!(c.utc_ns(20240310, 3_600_000), Some(1_710_050_400 * SECOND));
        assert_eq!(c.utc_ns(20240310, 3 * 3_600_000), Some(1_710_054_000 * SECOND));
        // 2024-11-03 01:30 is ambiguous: the earlier instant (EDT) = 05:30Z
        assert_eq!(c.utc_ns(20241103, 5_400_000), Some(1_730_611_800 * SECOND));
        // 2024-03-10 02:30 does not exist: the offset before the gap (EST) = 07:30Z
        assert_eq!(c.utc_ns(20240310, 9_000_000), Some(1_710_055_800 * SECOND));
        assert_eq!(c.utc_ns(20240102, -1), None);
        assert_eq!(c.utc_ns(20240132, 0), None);
    }
}
