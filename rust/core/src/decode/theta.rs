//! ThetaData terminal stream messages (`ws://127.0.0.1:25520/v1/events`): one JSON object per
//! WebSocket message, dispatched on `header.type`.
//!
//! * `TRADE` / `QUOTE`: a `contract` (`root`, and for options `expiration` `YYYYMMDD`, `strike`
//!   in tenths of a cent, `right` `C`/`P`) and a `trade` / `quote` object with `date`
//!   (`YYYYMMDD`) and `ms_of_day` in New York wall-clock time.
//! * `STATUS`: the terminal's heartbeat (every second); `status` is the upstream (FPSS) state.
//! * `REQ_RESPONSE`, `STATE`: passed to the caller as control events.
//! * `OHLC`: session-cumulative bars that come with trade subscriptions: counted and skipped.
//!
//! Unknown keys are ignored. A fast single-pass parser handles the messages it recognizes;
//! anything else goes through `serde_json` (the reference), so both decode alike. Option contracts get the OSI-style symbol
//! `ROOT` + `YYMMDD` + `C|P` + strike in tenths of a cent as 8 digits (`AAPL231222C00200000`).

use std::borrow::Cow;

use serde::Deserialize;

use super::columns::{Quote, Trade, NO_I32, NO_I64};
use super::json::Cursor;
use super::stream::StreamState;

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    header: Header<'a>,
    #[serde(borrow, default)]
    contract: Option<Contract<'a>>,
    #[serde(default)]
    trade: Option<TradeBody>,
    #[serde(default)]
    quote: Option<QuoteBody>,
}

#[derive(Deserialize)]
struct Header<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Contract<'a> {
    #[serde(borrow)]
    root: Cow<'a, str>,
    #[serde(default)]
    expiration: Option<i64>,
    #[serde(default)]
    strike: Option<i64>,
    #[serde(borrow, default)]
    right: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct TradeBody {
    ms_of_day: i64,
    date: i64,
    price: f64,
    size: f64,
    #[serde(default)]
    sequence: Option<i64>,
    #[serde(default)]
    exchange: Option<i32>,
    #[serde(default)]
    condition: Option<i32>,
    #[serde(default)]
    records_back: Option<i64>,
}

#[derive(Deserialize)]
struct QuoteBody {
    ms_of_day: i64,
    date: i64,
    bid: f64,
    ask: f64,
    bid_size: f64,
    ask_size: f64,
    #[serde(default)]
    bid_exchange: Option<i32>,
    #[serde(default)]
    ask_exchange: Option<i32>,
}

/// Writes the symbol of a contract into `buf`; `None` if an option field is missing or invalid.
fn contract_symbol<'b>(c: &Contract<'_>, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    buf.clear();
    buf.extend_from_slice(c.root.as_bytes());
    if let Some(exp) = c.expiration {
        let strike = c.strike?;
        let right = match c.right.as_deref()? {
            "C" | "CALL" | "call" => b'C',
            "P" | "PUT" | "put" => b'P',
            _ => return None,
        };
        if !(19_000_101..=21_991_231).contains(&exp) || !(0..100_000_000).contains(&strike) {
            return None;
        }
        use std::io::Write;
        write!(buf, "{:06}", exp % 1_000_000).ok()?;
        buf.push(right);
        write!(buf, "{strike:08}").ok()?;
    }
    Some(buf.as_slice())
}

/// `trade.{date, ms_of_day, price, size, sequence, exchange, condition, records_back}`.
pub type TradeFields = (i64, i64, f64, f64, Option<i64>, Option<i32>, Option<i32>, Option<i64>);
/// `quote.{date, ms_of_day, bid, ask, bid_size, ask_size, bid_exchange, ask_exchange}`.
pub type QuoteFields = (i64, i64, f64, f64, f64, f64, Option<i32>, Option<i32>);

/// A message reduced to what the decoder uses; both parsing paths produce it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<'a> {
    /// `header.type`.
    pub kind: Cow<'a, str>,
    /// `header.status`.
    pub status: Option<Cow<'a, str>>,
    /// `contract.root`.
    pub root: Option<Cow<'a, str>>,
    /// `contract.expiration`.
    pub expiration: Option<i64>,
    /// `contract.strike` (tenths of a cent).
    pub strike: Option<i64>,
    /// `contract.right`.
    pub right: Option<Cow<'a, str>>,
    /// `trade.{date, ms_of_day, price, size, sequence, exchange, condition, records_back}`.
    pub trade: Option<TradeFields>,
    /// `quote.{date, ms_of_day, bid, ask, bid_size, ask_size, bid_exchange, ask_exchange}`.
    pub quote: Option<QuoteFields>,
}

/// The reference parse (`serde_json`); `None` if the message is not valid JSON of the shape.
pub fn parse_reference(msg: &[u8]) -> Option<Parsed<'_>> {
    let m = serde_json::from_slice::<Message<'_>>(msg).ok()?;
    let (root, expiration, strike, right) = match m.contract {
        Some(c) => (Some(c.root), c.expiration, c.strike, c.right),
        None => (None, None, None, None),
    };
    Some(Parsed {
        kind: m.header.kind,
        status: m.header.status,
        root,
        expiration,
        strike,
        right,
        trade: m.trade.map(|t| (t.date, t.ms_of_day, t.price, t.size, t.sequence, t.exchange, t.condition, t.records_back)),
        quote: m.quote.map(|q| (q.date, q.ms_of_day, q.bid, q.ask, q.bid_size, q.ask_size, q.bid_exchange, q.ask_exchange)),
    })
}

fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None; // a duplicate key: leave it to the reference parser
    }
    *slot = Some(v);
    Some(())
}

fn utf8(b: &[u8]) -> Option<Cow<'_, str>> {
    std::str::from_utf8(b).ok().map(Cow::Borrowed)
}

/// The fast parse (a single pass with [`Cursor`]); `None` when it cannot decide, and then the
/// reference parse decides.
pub fn parse_fast(msg: &[u8]) -> Option<Parsed<'_>> {
    let mut c = Cursor::new(msg);
    let mut kind = None;
    let mut status = None;
    let (mut root, mut expiration, mut strike, mut right) = (None, None, None, None);
    let mut contract_seen = false;
    let mut trade = None;
    let mut quote = None;
    c.object(|key, c| match key {
        b"header" => c.object(|k, c| match k {
            b"type" => once(&mut kind, utf8(c.str_raw()?)?),
            b"status" => once(&mut status, utf8(c.str_raw()?)?),
            _ => c.skip(),
        }),
        b"contract" => {
            if std::mem::replace(&mut contract_seen, true) {
                return None;
            }
            c.object(|k, c| match k {
                b"root" => once(&mut root, utf8(c.str_raw()?)?),
                b"expiration" => once(&mut expiration, c.i64()?),
                b"strike" => once(&mut strike, c.i64()?),
                b"right" => once(&mut right, utf8(c.str_raw()?)?),
                _ => c.skip(),
            })
        }
        b"trade" => {
            let (mut ms, mut date, mut price, mut size) = (None, None, None, None);
            let (mut seq, mut exch, mut cond, mut back) = (None, None, None, None);
            c.object(|k, c| match k {
                b"ms_of_day" => once(&mut ms, c.i64()?),
                b"date" => once(&mut date, c.i64()?),
                b"price" => once(&mut price, c.f64()?),
                b"size" => once(&mut size, c.f64()?),
                b"sequence" => once(&mut seq, c.i64()?),
                b"exchange" => once(&mut exch, i32::try_from(c.i64()?).ok()?),
                b"condition" => once(&mut cond, i32::try_from(c.i64()?).ok()?),
                b"records_back" => once(&mut back, c.i64()?),
                _ => c.skip(),
            })?;
            once(&mut trade, (date?, ms?, price?, size?, seq, exch, cond, back))
        }
        b"quote" => {
            let (mut ms, mut date, mut bid, mut ask, mut bs, mut asz, mut bx, mut ax) = (None, None, None, None, None, None, None, None);
            c.object(|k, c| match k {
                b"ms_of_day" => once(&mut ms, c.i64()?),
                b"date" => once(&mut date, c.i64()?),
                b"bid" => once(&mut bid, c.f64()?),
                b"ask" => once(&mut ask, c.f64()?),
                b"bid_size" => once(&mut bs, c.f64()?),
                b"ask_size" => once(&mut asz, c.f64()?),
                b"bid_exchange" => once(&mut bx, i32::try_from(c.i64()?).ok()?),
                b"ask_exchange" => once(&mut ax, i32::try_from(c.i64()?).ok()?),
                _ => c.skip(),
            })?;
            once(&mut quote, (date?, ms?, bid?, ask?, bs?, asz?, bx, ax))
        }
        _ => c.skip(),
    })?;
    if !c.at_end() || (contract_seen && root.is_none()) {
        return None;
    }
    Some(Parsed { kind: kind?, status, root, expiration, strike, right, trade, quote })
}

/// Expects the literal `lit` at the cursor (no whitespace skipping).
#[inline(always)]
fn lit(b: &[u8], at: &mut usize, lit: &[u8]) -> Option<()> {
    (b.get(*at..*at + lit.len())? == lit).then(|| *at += lit.len())
}

/// The stock trade message exactly as the terminal lays it out (the vendor's documented key
/// order, no whitespace): literal segments compared in bulk, numbers parsed in between. Any
/// difference returns `None` and the general parsers decide, so this changes speed only.
pub fn parse_stock_trade_layout(msg: &[u8]) -> Option<Parsed<'_>> {
    const HEAD: &[u8] = br#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","root":""#;
    let mut at = 0usize;
    lit(msg, &mut at, HEAD)?;
    let rest = &msg[at..];
    let end = rest.iter().position(|&c| c == b'"' || c == b'\\' || !(0x20..0x80).contains(&c))?;
    if rest[end] != b'"' {
        return None;
    }
    let root = std::str::from_utf8(&rest[..end]).ok()?;
    at += end;
    let num = |at: &mut usize, key: &[u8]| -> Option<Cursor<'_>> {
        lit(msg, at, key)?;
        let mut c = Cursor::new(msg);
        c.seek(*at);
        Some(c)
    };
    let mut c = num(&mut at, br#""},"trade":{"ms_of_day":"#)?;
    let ms = c.i64()?;
    at = c.pos();
    let mut c = num(&mut at, br#","sequence":"#)?;
    let seq = c.i64()?;
    at = c.pos();
    let mut c = num(&mut at, br#","size":"#)?;
    let size = c.f64()?;
    at = c.pos();
    let mut c = num(&mut at, br#","condition":"#)?;
    let cond = i32::try_from(c.i64()?).ok()?;
    at = c.pos();
    let mut c = num(&mut at, br#","price":"#)?;
    let price = c.f64()?;
    at = c.pos();
    let mut c = num(&mut at, br#","exchange":"#)?;
    let exch = i32::try_from(c.i64()?).ok()?;
    at = c.pos();
    let mut c = num(&mut at, br#","date":"#)?;
    let date = c.i64()?;
    at = c.pos();
    let mut back = None;
    if msg.get(at) == Some(&b',') {
        let mut c = num(&mut at, br#","records_back":"#)?;
        back = Some(c.i64()?);
        at = c.pos();
    }
    lit(msg, &mut at, b"}}")?;
    if at != msg.len() {
        return None;
    }
    Some(Parsed {
        kind: Cow::Borrowed("TRADE"),
        status: Some(Cow::Borrowed("CONNECTED")),
        root: Some(Cow::Borrowed(root)),
        expiration: None,
        strike: None,
        right: None,
        trade: Some((date, ms, price, size, Some(seq), Some(exch), Some(cond), back)),
        quote: None,
    })
}

/// Decodes one message into `st`; a message that is not valid JSON of a known shape is counted
/// as malformed and skipped.
pub fn decode_message(msg: &[u8], st: &mut StreamState) {
    match parse_stock_trade_layout(msg).or_else(|| parse_fast(msg)).or_else(|| parse_reference(msg)) {
        Some(p) => apply(&p, msg, st),
        None => st.malformed(),
    }
}

fn symbol_code(p: &Parsed<'_>, st: &mut StreamState) -> Option<u32> {
    let c = Contract { root: p.root.clone()?, expiration: p.expiration, strike: p.strike, right: p.right.clone() };
    let mut buf = std::mem::take(&mut st.scratch);
    let code = contract_symbol(&c, &mut buf).map(|s| st.symbols.intern(s));
    st.scratch = buf;
    code
}

fn apply(p: &Parsed<'_>, msg: &[u8], st: &mut StreamState) {
    match p.kind.as_ref() {
        "TRADE" => {
            let Some((date, ms, price, size, seq, exch, cond, back)) = p.trade else {
                return st.malformed();
            };
            let (Some(symbol), Some(ts)) = (symbol_code(p, st), st.clock.utc_ns(date, ms)) else {
                return st.malformed();
            };
            if back.is_some_and(|r| r > 0) {
                st.stats.records_back += 1;
            }
            st.on_trade(Trade {
                ts,
                symbol,
                price,
                size,
                sequence: seq.unwrap_or(NO_I64),
                exchange: exch.unwrap_or(NO_I32),
                condition: cond.unwrap_or(NO_I32),
            });
        }
        "QUOTE" => {
            let Some((date, ms, bid, ask, bid_size, ask_size, bx, ax)) = p.quote else {
                return st.malformed();
            };
            let (Some(symbol), Some(ts)) = (symbol_code(p, st), st.clock.utc_ns(date, ms)) else {
                return st.malformed();
            };
            st.on_quote(Quote { ts, symbol, bid, ask, bid_size, ask_size, bid_exchange: bx.unwrap_or(NO_I32), ask_exchange: ax.unwrap_or(NO_I32) });
        }
        "STATUS" => {
            st.stats.status_frames += 1;
            st.on_upstream_status(p.status.as_deref().unwrap_or("UNKNOWN"));
        }
        "REQ_RESPONSE" => st.event("req_response", msg),
        "STATE" => st.event("state", msg),
        "OHLC" => st.stats.ohlc += 1,
        _ => st.stats.unknown += 1,
    }
}
