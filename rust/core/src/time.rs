//! Time: nanosecond durations, the valid timestamp range, and bar alignment.
//!
//! All instants are UTC nanoseconds since the Unix epoch (`i64`). Bars are half-open intervals
//! `[start, end)` produced by an [`Alignment`]:
//!
//! * [`Alignment::Fixed`]: a grid `origin + k * interval` in absolute time (epoch by default).
//! * [`Alignment::Daily`]: a grid restarted every local day at a wall-clock anchor in an IANA time
//!   zone (e.g. 09:30 America/New_York). Day `d` starts at the instant `A_d` where the local clock
//!   reads the anchor; its bars are `A_d + k * interval`, and the last bar of a day is cut at
//!   `A_{d+1}`. Days are 23 or 25 hours long across daylight-saving changes, so a `1d` bar always
//!   spans exactly one local session day and intraday bars keep their local alignment all year.

use chrono::{DateTime, MappedLocalTime, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

use crate::error::{CoreError, CoreResult};

/// One second in nanoseconds.
pub const SECOND: i64 = 1_000_000_000;
/// One minute in nanoseconds.
pub const MINUTE: i64 = 60 * SECOND;
/// One hour in nanoseconds.
pub const HOUR: i64 = 60 * MINUTE;
/// One day in nanoseconds.
pub const DAY: i64 = 24 * HOUR;

/// Earliest accepted tick timestamp: 1980-01-01T00:00:00Z. Earlier values are almost always a unit
/// mistake (milliseconds or microseconds read as nanoseconds) and are rejected.
pub const MIN_TS: i64 = 315_532_800 * SECOND;
/// First rejected tick timestamp: 2200-01-01T00:00:00Z.
pub const MAX_TS: i64 = 7_258_118_400 * SECOND;

/// Smallest bar interval.
pub const MIN_INTERVAL: i64 = SECOND;
/// Largest bar interval.
pub const MAX_INTERVAL: i64 = DAY;

/// Whether `ts` lies in the accepted range `[MIN_TS, MAX_TS)`.
#[inline(always)]
pub fn ts_in_range(ts: i64) -> bool {
    (MIN_TS..MAX_TS).contains(&ts)
}

/// Floor division for `i64` (rounds towards negative infinity).
#[inline(always)]
pub fn floor_div(a: i64, b: i64) -> i64 {
    a.div_euclid(b)
}

/// Parses a duration such as `"500ms"`, `"1s"`, `"5m"`, `"5min"`, `"1h"`, `"1d"` or `"0s"` into
/// nanoseconds. A bare integer string is taken as nanoseconds. Units: `ns, us, ms, s, m, min, h, d`.
pub fn parse_duration(name: &'static str, text: &str) -> CoreResult<i64> {
    let t = text.trim();
    if t.is_empty() {
        return Err(CoreError::invalid(name, "empty duration; expected e.g. '1m', '5s', '1h', '1d'"));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(CoreError::invalid(name, format!("'{text}' does not start with a number; expected e.g. '1m', '5s', '1h', '1d'")));
    }
    let n: i64 = num.parse().map_err(|_| CoreError::invalid(name, format!("'{text}': number too large")))?;
    let unit_ns = match unit.trim() {
        "" | "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" | "sec" => SECOND,
        "m" | "min" | "T" => MINUTE,
        "h" | "H" => HOUR,
        "d" | "D" => DAY,
        other => return Err(CoreError::invalid(name, format!("'{text}': unknown unit '{other}'; use ns, us, ms, s, m (min), h or d"))),
    };
    n.checked_mul(unit_ns).ok_or_else(|| CoreError::invalid(name, format!("'{text}' overflows 64-bit nanoseconds")))
}

/// Validates a bar interval in nanoseconds: any value from 1 s to 1 day.
pub fn check_interval(interval: i64) -> CoreResult<i64> {
    if !(MIN_INTERVAL..=MAX_INTERVAL).contains(&interval) {
        return Err(CoreError::invalid("interval", format!("{interval} ns is outside the supported range 1s..1d")));
    }
    Ok(interval)
}

/// Validates a lateness allowance in nanoseconds: 0 to 1 day.
pub fn check_lateness(lateness: i64) -> CoreResult<i64> {
    if !(0..=DAY).contains(&lateness) {
        return Err(CoreError::invalid("lateness", format!("{lateness} ns is outside the supported range 0s..1d")));
    }
    Ok(lateness)
}

/// How bar boundaries are placed in time.
#[derive(Debug, Clone, PartialEq)]
pub enum Alignment {
    /// Absolute grid `origin + k * interval`; `origin` is stored reduced modulo the interval.
    Fixed {
        /// The grid offset in `[0, interval)`.
        origin: i64,
    },
    /// A grid restarted each local day at `anchor` nanoseconds after local midnight in `tz`.
    Daily {
        /// The IANA time zone.
        tz: Tz,
        /// Nanoseconds after local midnight where each day's first bar starts.
        anchor: i64,
    },
}

impl Alignment {
    /// The epoch-aligned grid.
    pub fn epoch() -> Self {
        Alignment::Fixed { origin: 0 }
    }

    /// A fixed grid through the instant `origin` (any `i64`, reduced modulo `interval`).
    pub fn fixed(origin: i64, interval: i64) -> Self {
        Alignment::Fixed { origin: origin.rem_euclid(interval) }
    }

    /// Parses `"HH:MM[:SS] [Area/City]"` into a daily alignment (UTC when no zone is given).
    pub fn parse_daily(text: &str) -> CoreResult<Self> {
        let mut parts = text.split_whitespace();
        let clock = parts.next().ok_or_else(|| CoreError::invalid("origin", "empty origin; expected e.g. '09:30 America/New_York'"))?;
        let tz_name = parts.next().unwrap_or("UTC");
        if parts.next().is_some() {
            return Err(CoreError::invalid("origin", format!("'{text}': expected 'HH:MM[:SS] [Area/City]'")));
        }
        let fields: Vec<&str> = clock.split(':').collect();
        if !(2..=3).contains(&fields.len()) {
            return Err(CoreError::invalid("origin", format!("'{clock}' is not a wall-clock time HH:MM[:SS]")));
        }
        let mut secs = 0i64;
        let limits = [24i64, 60, 60];
        for (i, f) in fields.iter().enumerate() {
            let v: i64 = f.parse().map_err(|_| CoreError::invalid("origin", format!("'{clock}' is not a wall-clock time HH:MM[:SS]")))?;
            if !(0..limits[i]).contains(&v) {
                return Err(CoreError::invalid("origin", format!("'{clock}': field {v} out of range")));
            }
            secs = secs * 60 + v;
        }
        if fields.len() == 2 {
            secs *= 60;
        }
        let tz: Tz = tz_name.parse().map_err(|_| CoreError::invalid("origin", format!("unknown time zone '{tz_name}' (use an IANA name)")))?;
        Ok(Alignment::Daily { tz, anchor: secs * SECOND })
    }

    /// The bar `[start, end)` containing `ts`.
    #[inline]
    pub fn bucket(&self, ts: i64, interval: i64) -> (i64, i64) {
        match self {
            Alignment::Fixed { origin } => {
                let start = origin + floor_div(ts - origin, interval) * interval;
                (start, start + interval)
            }
            Alignment::Daily { tz, anchor } => daily_bucket(tz, *anchor, ts, interval),
        }
    }

    /// A short human description (used in schema metadata and reprs).
    pub fn describe(&self) -> String {
        match self {
            Alignment::Fixed { origin } => format!("fixed+{origin}ns"),
            Alignment::Daily { tz, anchor } => {
                let s = anchor / SECOND;
                format!("{:02}:{:02}:{:02} {}", s / 3600, (s / 60) % 60, s % 60, tz.name())
            }
        }
    }
}

fn naive(ns: i64) -> NaiveDateTime {
    DateTime::from_timestamp(ns.div_euclid(SECOND), ns.rem_euclid(SECOND) as u32).expect("timestamp within chrono's range").naive_utc()
}

/// UTC offset of `tz` at the UTC instant `ts`, in nanoseconds.
fn offset_at(tz: &Tz, ts: i64) -> i64 {
    tz.offset_from_utc_datetime(&naive(ts)).fix().local_minus_utc() as i64 * SECOND
}

/// The UTC instant of local wall-clock time `local` (ns since the local epoch) in `tz`, with
/// PEP 495 `fold=0` rules: an ambiguous time takes the earlier instant, a nonexistent time (in a
/// spring-forward gap) is mapped with the offset in force before the gap.
fn local_to_utc(tz: &Tz, local: i64) -> i64 {
    match tz.offset_from_local_datetime(&naive(local)) {
        MappedLocalTime::Single(off) => local - off.fix().local_minus_utc() as i64 * SECOND,
        MappedLocalTime::Ambiguous(a, b) => {
            let ua = local - a.fix().local_minus_utc() as i64 * SECOND;
            let ub = local - b.fix().local_minus_utc() as i64 * SECOND;
            ua.min(ub)
        }
        MappedLocalTime::None => local - offset_at(tz, local - DAY),
    }
}

fn daily_bucket(tz: &Tz, anchor: i64, ts: i64, interval: i64) -> (i64, i64) {
    let local = ts + offset_at(tz, ts);
    let mut day = floor_div(local - anchor, DAY);
    let day_start = |d: i64| local_to_utc(tz, d * DAY + anchor);
    let mut a = day_start(day);
    if ts < a {
        day -= 1;
        a = day_start(day);
    }
    let mut b = day_start(day + 1);
    if ts >= b {
        day += 1;
        a = b;
        b = day_start(day + 1);
    }
    let start = a + floor_div(ts - a, interval) * interval;
    (start, (start + interval).min(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("interval", "1m").unwrap(), MINUTE);
        assert_eq!(parse_duration("interval", "5min").unwrap(), 5 * MINUTE);
        assert_eq!(parse_duration("interval", "250ms").unwrap(), 250_000_000);
        assert_eq!(parse_duration("interval", "1d").unwrap(), DAY);
        assert_eq!(parse_duration("interval", "0s").unwrap(), 0);
        assert_eq!(parse_duration("interval", "42").unwrap(), 42);
        for bad in ["", "m", "1x", "-1s", "1.5s", "99999999999999999999s", "9999999999999d"] {
            assert!(parse_duration("interval", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn interval_range() {
        assert!(check_interval(SECOND).is_ok());
        assert!(check_interval(DAY).is_ok());
        assert!(check_interval(SECOND - 1).is_err());
        assert!(check_interval(DAY + 1).is_err());
    }

    #[test]
    fn fixed_alignment_is_half_open() {
        let a = Alignment::epoch();
        assert_eq!(a.bucket(MINUTE, MINUTE), (MINUTE, 2 * MINUTE));
        assert_eq!(a.bucket(2 * MINUTE - 1, MINUTE), (MINUTE, 2 * MINUTE));
        let b = Alignment::fixed(30 * SECOND, MINUTE);
        assert_eq!(b.bucket(MINUTE, MINUTE), (30 * SECOND, 90 * SECOND));
        let c = Alignment::fixed(-30 * SECOND, MINUTE);
        assert_eq!(b, c);
    }

    // 2024-03-08 is a Friday before the US spring-forward (Sunday 2024-03-10).
    const FRI_0930_EST: i64 = 1_709_908_200 * SECOND; // 2024-03-08T14:30:00Z
    const MON_0930_EDT: i64 = 1_710_163_800 * SECOND; // 2024-03-11T13:30:00Z

    #[test]
    fn daily_alignment_follows_dst() {
        let a = Alignment::parse_daily("09:30 America/New_York").unwrap();
        // 1m bars start at 09:30 local on both sides of the change.
        assert_eq!(a.bucket(FRI_0930_EST + 5, MINUTE), (FRI_0930_EST, FRI_0930_EST + MINUTE));
        assert_eq!(a.bucket(MON_0930_EDT + 5, MINUTE), (MON_0930_EDT, MON_0930_EDT + MINUTE));
        // The session day that contains the spring-forward is 23 hours long.
        let sat = a.bucket(FRI_0930_EST + DAY + HOUR, DAY);
        assert_eq!(sat.1 - sat.0, 23 * HOUR);
        // Daily bars tile time with no gaps or overlaps across the change.
        let mut t = FRI_0930_EST;
        for _ in 0..4 {
            let (s, e) = a.bucket(t, DAY);
            assert_eq!(s, t);
            t = e;
        }
        assert_eq!(t, MON_0930_EDT + DAY);
    }

    #[test]
    fn daily_alignment_tiles_hours_across_fall_back() {
        let a = Alignment::parse_daily("09:30 America/New_York").unwrap();
        // 2024-11-02T13:30Z is Saturday 09:30 EDT; the next anchor is Sunday 09:30 EST (25h later).
        let sat = 1_730_554_200 * SECOND;
        let mut t = sat;
        let mut n = 0;
        while t < sat + 25 * HOUR {
            let (s, e) = a.bucket(t, HOUR);
            assert_eq!(s, t);
            assert!(e > s);
            t = e;
            n += 1;
        }
        assert_eq!(n, 25);
        assert_eq!(a.bucket(t, HOUR).0, t);
    }

    #[test]
    fn parse_daily_errors() {
        for bad in ["", "25:00", "09:61", "9", "09:30 Mars/Base", "09:30 UTC extra", "aa:bb"] {
            assert!(Alignment::parse_daily(bad).is_err(), "{bad}");
        }
        assert_eq!(Alignment::parse_daily("09:30").unwrap(), Alignment::Daily { tz: chrono_tz::UTC, anchor: 9 * HOUR + 30 * MINUTE });
    }
}
