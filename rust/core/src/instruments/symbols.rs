//! Symbol grammars: OCC option symbols, Massive tickers, ThetaData option contracts and futures
//! contract codes. Parsers return the pieces; the registry turns them into instruments.

use chrono::{Datelike, NaiveDate};

use super::OptionRight;
use crate::error::{CoreError, CoreResult};

/// The pieces of an option contract symbol.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionSymbol {
    /// The option root (`AAPL`, `SPXW`), 1 to 6 characters.
    pub root: String,
    /// Expiration as `YYYYMMDD`.
    pub expiry: u32,
    /// Strike in thousandths of a dollar (tenths of a cent): `190000` is $190.
    pub strike_milli: u64,
    /// Call or put.
    pub right: OptionRight,
}

impl OptionSymbol {
    /// Strike in dollars.
    pub fn strike(&self) -> f64 {
        self.strike_milli as f64 / 1000.0
    }

    /// The OCC form: root padded to 6 characters, `YYMMDD`, `C`/`P`, strike x1000 on 8 digits
    /// (`AAPL  240119C00190000`).
    pub fn occ(&self) -> String {
        format!("{:<6}{:06}{}{:08}", self.root, self.expiry % 1_000_000, self.right.letter(), self.strike_milli)
    }

    /// The Massive ticker (`O:AAPL240119C00190000`).
    pub fn massive(&self) -> String {
        format!("O:{}{:06}{}{:08}", self.root, self.expiry % 1_000_000, self.right.letter(), self.strike_milli)
    }
}

/// Checks a `YYYYMMDD` date (a real calendar day between 1900 and 2199).
pub fn check_date(yyyymmdd: u32) -> CoreResult<NaiveDate> {
    let (y, m, d) = (yyyymmdd / 10_000, (yyyymmdd / 100) % 100, yyyymmdd % 100);
    match NaiveDate::from_ymd_opt(y as i32, m, d) {
        Some(date) if (1900..2200).contains(&y) => Ok(date),
        _ => Err(CoreError::invalid("expiry", format!("{yyyymmdd} is not a valid YYYYMMDD date"))),
    }
}

fn bad(text: &str, why: &str) -> CoreError {
    CoreError::invalid("symbol", format!("'{text}' is not an option symbol: {why}"))
}

/// Parses an OCC option symbol: padded (`AAPL  240119C00190000`, 21 characters) or compact
/// (`AAPL240119C00190000`). Two-digit years are 20YY.
pub fn parse_occ(text: &str) -> CoreResult<OptionSymbol> {
    let t = text.trim_end();
    if !t.is_ascii() || t.len() < 16 {
        return Err(bad(text, "expected ROOT + YYMMDD + C/P + 8-digit strike"));
    }
    let (root, tail) = t.split_at(t.len() - 15);
    let root = root.trim_end();
    if root.is_empty() || root.len() > 6 || !root.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(bad(text, "the root must be 1 to 6 upper-case letters or digits"));
    }
    let (date, rest) = tail.split_at(6);
    let (right, strike) = rest.split_at(1);
    if !date.bytes().all(|b| b.is_ascii_digit()) || !strike.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(text, "expected YYMMDD and an 8-digit strike"));
    }
    let right = OptionRight::parse(right).map_err(|_| bad(text, "the right must be C or P"))?;
    let expiry = 20_000_000 + date.parse::<u32>().map_err(|_| bad(text, "bad date"))?;
    check_date(expiry).map_err(|_| bad(text, "the expiration is not a calendar date"))?;
    let strike_milli: u64 = strike.parse().map_err(|_| bad(text, "bad strike"))?;
    if strike_milli == 0 {
        return Err(bad(text, "zero strike"));
    }
    Ok(OptionSymbol { root: root.to_owned(), expiry, strike_milli, right })
}

/// A Massive ticker, split by its prefix.
#[derive(Debug, Clone, PartialEq)]
pub enum MassiveTicker {
    /// `O:` option contract.
    Option(OptionSymbol),
    /// `I:` index.
    Index(String),
    /// No prefix: a stock ticker.
    Stock(String),
}

/// Parses a Massive ticker: `O:AAPL230616C00150000`, `I:SPX`, or a bare stock ticker.
pub fn parse_massive(text: &str) -> CoreResult<MassiveTicker> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("O:") {
        return parse_occ(rest).map(MassiveTicker::Option);
    }
    if let Some(rest) = t.strip_prefix("I:") {
        if rest.is_empty() {
            return Err(CoreError::invalid("symbol", format!("'{text}': empty index ticker")));
        }
        return Ok(MassiveTicker::Index(rest.to_owned()));
    }
    Ok(MassiveTicker::Stock(t.to_owned()))
}

/// Builds an option symbol from ThetaData's contract fields: root, expiration as integer
/// `YYYYMMDD`, strike in tenths of a cent (`190000` = $190; the v3 REST strike in dollars can be
/// given as `strike_dollars * 1000`), right `C`/`P`/`call`/`put` (any case).
pub fn thetadata_option(root: &str, expiration: u32, strike_tenths_of_cent: i64, right: &str) -> CoreResult<OptionSymbol> {
    let root = root.trim();
    if root.is_empty() || root.len() > 6 || !root.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CoreError::invalid("root", format!("'{root}': expected 1 to 6 letters or digits")));
    }
    check_date(expiration)?;
    if strike_tenths_of_cent <= 0 || strike_tenths_of_cent >= 100_000_000 {
        return Err(CoreError::invalid("strike", format!("{strike_tenths_of_cent}: expected a positive strike in tenths of a cent (190000 = $190)")));
    }
    Ok(OptionSymbol { root: root.to_ascii_uppercase(), expiry: expiration, strike_milli: strike_tenths_of_cent as u64, right: OptionRight::parse(right)? })
}

/// A futures contract code split into root and contract month.
#[derive(Debug, Clone, PartialEq)]
pub struct FutureCode {
    /// The product root (`ES`).
    pub root: String,
    /// `YYYYMM`, or `None` when the symbol is the bare root.
    pub contract_month: Option<u32>,
}

/// The CME month letters, January to December.
pub const MONTH_CODES: [char; 12] = ['F', 'G', 'H', 'J', 'K', 'M', 'N', 'Q', 'U', 'V', 'X', 'Z'];

/// Parses a futures code: `ES`, `/ES`, `ESZ4`, `ESZ24`, `/MESH25`. `is_root` says which roots
/// exist (the longest matching root wins, so `MESZ4` is `MES`, not `ME`). A two-digit year is
/// 20YY. A one-digit year is read against `reference_month` (`YYYYMM`, see [`one_digit_year`]):
/// the earliest contract month ending in that digit that is at most 12 months before the
/// reference month (so against 2024-09, `ESZ4` is Dec 2024; against 2026-12 it is Dec 2034, Dec
/// 2024 being two years past).
pub fn parse_future_code(text: &str, reference_month: u32, is_root: &dyn Fn(&str) -> bool) -> Option<FutureCode> {
    let t = text.trim();
    let t = t.strip_prefix('/').unwrap_or(t);
    if t.is_empty() || !t.is_ascii() {
        return None;
    }
    if is_root(t) {
        return Some(FutureCode { root: t.to_owned(), contract_month: None });
    }
    let digits = t.bytes().rev().take_while(|b| b.is_ascii_digit()).count();
    if !(1..=2).contains(&digits) || t.len() < digits + 2 {
        return None;
    }
    let (head, year) = t.split_at(t.len() - digits);
    let (root, month) = head.split_at(head.len() - 1);
    let month = MONTH_CODES.iter().position(|&c| month.starts_with(c))? as u32 + 1;
    if !is_root(root) {
        return None;
    }
    let y: i32 = year.parse().ok()?;
    let year = if digits == 2 { 2000 + y } else { one_digit_year(y, month, reference_month) };
    Some(FutureCode { root: root.to_owned(), contract_month: Some(year as u32 * 100 + month) })
}

/// The year of a contract whose code gives only the last digit `digit` of its year, for the
/// contract month `month` (1..=12), read against `reference_month` (`YYYYMM`): the earliest year
/// ending in `digit` whose contract month is not more than 12 months before the reference month.
/// A contract is named this way while it trades (at most a few years ahead), and a backtest's data
/// may hold a contract that expired up to a year before the data starts; a decade later the same
/// code names the next contract.
pub fn one_digit_year(digit: i32, month: u32, reference_month: u32) -> i32 {
    let ref_index = (reference_month / 100) as i32 * 12 + (reference_month % 100) as i32 - 1;
    let earliest = ref_index - 12; // months since year 0 of the earliest contract month allowed
    let first_year = earliest.div_euclid(12);
    let mut year = first_year + (digit - first_year.rem_euclid(10)).rem_euclid(10);
    if year * 12 + month as i32 - 1 < earliest {
        year += 10;
    }
    year
}

/// The current UTC month as `YYYYMM` (the default reference of one-digit futures years).
pub fn current_month() -> u32 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    chrono::DateTime::from_timestamp(secs, 0).map_or(202601, |d| d.year() as u32 * 100 + d.month())
}
