//! Massive (formerly Polygon) stream messages: every WebSocket message is a JSON array of events
//! of mixed types, dispatched on `ev`.
//!
//! * `T` (trade): `sym, x, i, z, p, s, c[], t` (SIP ms), `q` (sequence).
//! * `Q` (quote): `sym, bx, bp, bs, ax, ap, as, c, t` (ms), `q`, `z`.
//! * `AM` / `A` (minute / second aggregates): `sym, v, vw, o, c, h, l, z` (average trade size),
//!   `s`, `e` (window start / end, ms).
//! * `status`: connection, auth and subscription statuses, passed on as control events.
//! * anything else (`LULD`, `FMV` ...): counted as unknown and skipped.
//!
//! Each event of an array is decoded on its own: a malformed event is counted and skipped and
//! the rest of the array still counts. A message that is not a JSON array is malformed as a whole.
//! Option symbols lose their `O:` prefix (`O:SPY241220P00720000` -> `SPY241220P00720000`), the
//! same OSI-style symbol the ThetaData decoder builds.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::columns::{Quote, Trade, NO_I32, NO_I64};
use super::json::Cursor;
use super::stream::StreamState;

const MS: i64 = 1_000_000;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    ev: Cow<'a, str>,
    #[serde(borrow, default)]
    sym: Option<Cow<'a, str>>,
    #[serde(default)]
    t: Option<i64>,
    #[serde(default)]
    q: Option<i64>,
    #[serde(default)]
    x: Option<i32>,
    #[serde(default)]
    p: Option<f64>,
    /// Trade size (`T`) or window start in ms (`AM`/`A`).
    #[serde(default)]
    s: Option<f64>,
    /// Conditions (`T`: array), condition (`Q`: integer) or close (`AM`: number).
    #[serde(borrow, default)]
    c: Option<&'a RawValue>,
    #[serde(default)]
    bp: Option<f64>,
    #[serde(default)]
    ap: Option<f64>,
    #[serde(default)]
    bs: Option<f64>,
    #[serde(rename = "as", default)]
    ask_size: Option<f64>,
    #[serde(default)]
    bx: Option<i32>,
    #[serde(default)]
    ax: Option<i32>,
    #[serde(default)]
    o: Option<f64>,
    #[serde(default)]
    h: Option<f64>,
    #[serde(default)]
    l: Option<f64>,
    #[serde(default)]
    v: Option<f64>,
    #[serde(default)]
    vw: Option<f64>,
    /// Tape (`T`/`Q`) or average trade size (`AM`/`A`).
    #[serde(default)]
    z: Option<f64>,
    #[serde(default)]
    e: Option<i64>,
}

/// The first integer of a JSON array of integers (`[14,41]` -> 14), or the integer itself.
fn first_int(raw: &str) -> Option<i32> {
    let s = raw.trim_start_matches(|c: char| c == '[' || c.is_ascii_whitespace());
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '-')).unwrap_or(s.len());
    s[..end].parse().ok()
}

fn symbol_bytes(sym: &str) -> &[u8] {
    sym.strip_prefix("O:").unwrap_or(sym).as_bytes()
}

/// One event reduced to what the decoder uses; both parsing paths produce it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParsedEvent<'a> {
    /// `ev`.
    pub ev: Cow<'a, str>,
    /// `sym`.
    pub sym: Option<Cow<'a, str>>,
    /// `t`, `q`, `e`.
    pub t: Option<i64>,
    /// Sequence.
    pub q: Option<i64>,
    /// Window end (aggregates).
    pub e: Option<i64>,
    /// Exchange.
    pub x: Option<i32>,
    /// `bx`, `ax`.
    pub bx: Option<i32>,
    /// Ask exchange.
    pub ax: Option<i32>,
    /// Numbers: `p, s, bp, ap, bs, as, o, h, l, v, vw, z`.
    pub nums: [Option<f64>; 12],
    /// The raw text of `c`.
    pub c: Option<&'a str>,
    /// The event's raw text (status events only).
    pub raw: &'a str,
}

const P: usize = 0;
const S: usize = 1;
const BP: usize = 2;
const AP: usize = 3;
const BS: usize = 4;
const AS: usize = 5;
const O: usize = 6;
const H: usize = 7;
const L: usize = 8;
const V: usize = 9;
const VW: usize = 10;
const Z: usize = 11;

/// The reference parse of one message (`serde_json`): `None` if it is not a JSON array; an
/// element that is not a valid event is `None` in the list.
pub fn parse_reference(msg: &[u8]) -> Option<Vec<Option<ParsedEvent<'_>>>> {
    let events = serde_json::from_slice::<Vec<&RawValue>>(msg).ok()?;
    Some(
        events
            .into_iter()
            .map(|raw| {
                let e = serde_json::from_str::<Event<'_>>(raw.get()).ok()?;
                let is_status = e.ev == "status";
                Some(ParsedEvent {
                    ev: e.ev,
                    sym: e.sym,
                    t: e.t,
                    q: e.q,
                    e: e.e,
                    x: e.x,
                    bx: e.bx,
                    ax: e.ax,
                    nums: [e.p, e.s, e.bp, e.ap, e.bs, e.ask_size, e.o, e.h, e.l, e.v, e.vw, e.z],
                    c: e.c.map(|c| c.get()),
                    raw: if is_status { raw.get() } else { "" },
                })
            })
            .collect(),
    )
}

fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
    if slot.is_some() {
        return None;
    }
    *slot = Some(v);
    Some(())
}

/// The fast parse (single pass); `None` when it cannot decide (the reference parse decides).
pub fn parse_fast<'a>(msg: &'a [u8], out: &mut Vec<ParsedEvent<'a>>) -> Option<()> {
    let text = |a: usize, b: usize| std::str::from_utf8(&msg[a..b]).ok();
    let mut c = Cursor::new(msg);
    c.eat(b'[')?;
    if c.eat(b']').is_some() {
        return c.at_end().then_some(());
    }
    loop {
        c.ws();
        let start = c.pos();
        let mut e = ParsedEvent::default();
        let mut ev = None;
        c.object(|key, c| {
            let num = match key {
                b"p" => P,
                b"s" => S,
                b"bp" => BP,
                b"ap" => AP,
                b"bs" => BS,
                b"as" => AS,
                b"o" => O,
                b"h" => H,
                b"l" => L,
                b"v" => V,
                b"vw" => VW,
                b"z" => Z,
                b"ev" => return once(&mut ev, Cow::Borrowed(std::str::from_utf8(c.str_raw()?).ok()?)),
                b"sym" => return once(&mut e.sym, Cow::Borrowed(std::str::from_utf8(c.str_raw()?).ok()?)),
                b"t" => return once(&mut e.t, c.i64()?),
                b"q" => return once(&mut e.q, c.i64()?),
                b"e" => return once(&mut e.e, c.i64()?),
                b"x" => return once(&mut e.x, i32::try_from(c.i64()?).ok()?),
                b"bx" => return once(&mut e.bx, i32::try_from(c.i64()?).ok()?),
                b"ax" => return once(&mut e.ax, i32::try_from(c.i64()?).ok()?),
                b"c" => {
                    c.ws();
                    let s = c.pos();
                    c.skip()?;
                    return once(&mut e.c, text(s, c.pos())?);
                }
                _ => return c.skip(),
            };
            once(&mut e.nums[num], c.f64()?)
        })?;
        e.ev = ev?;
        e.raw = if e.ev == "status" { text(start, c.pos())? } else { "" };
        out.push(e);
        match c.peek()? {
            b',' => {
                c.eat(b',')?;
            }
            b']' => {
                c.eat(b']')?;
                return c.at_end().then_some(());
            }
            _ => return None,
        }
    }
}

/// Decodes one message (a JSON array of events) into `st`.
pub fn decode_message(msg: &[u8], st: &mut StreamState) {
    let mut events = Vec::new();
    if parse_fast(msg, &mut events).is_some() {
        for e in &events {
            apply(e, st);
        }
        return;
    }
    match parse_reference(msg) {
        Some(events) => {
            for e in &events {
                match e {
                    Some(e) => apply(e, st),
                    None => st.malformed(),
                }
            }
        }
        None => st.malformed(),
    }
}

fn apply(e: &ParsedEvent<'_>, st: &mut StreamState) {
    let n = &e.nums;
    match e.ev.as_ref() {
        "T" => {
            let (Some(sym), Some(t), Some(p), Some(s)) = (e.sym.as_deref(), e.t, n[P], n[S]) else {
                return st.malformed();
            };
            let symbol = st.symbols.intern(symbol_bytes(sym));
            st.on_trade(Trade {
                ts: t.saturating_mul(MS),
                symbol,
                price: p,
                size: s,
                sequence: e.q.unwrap_or(NO_I64),
                exchange: e.x.unwrap_or(NO_I32),
                condition: e.c.and_then(first_int).unwrap_or(NO_I32),
            });
        }
        "Q" => {
            let (Some(sym), Some(t), Some(bp), Some(ap)) = (e.sym.as_deref(), e.t, n[BP], n[AP]) else {
                return st.malformed();
            };
            let symbol = st.symbols.intern(symbol_bytes(sym));
            st.on_quote(Quote {
                ts: t.saturating_mul(MS),
                symbol,
                bid: bp,
                ask: ap,
                bid_size: n[BS].unwrap_or(f64::NAN),
                ask_size: n[AS].unwrap_or(f64::NAN),
                bid_exchange: e.bx.unwrap_or(NO_I32),
                ask_exchange: e.ax.unwrap_or(NO_I32),
            });
        }
        "AM" | "A" => {
            let close = e.c.and_then(|c| serde_json::from_str::<f64>(c).ok());
            let (Some(sym), Some(s), Some(end), Some(o), Some(h), Some(l), Some(c)) = (e.sym.as_deref(), n[S], e.e, n[O], n[H], n[L], close) else {
                return st.malformed();
            };
            let symbol = st.symbols.intern(symbol_bytes(sym));
            let v = n[V].unwrap_or(0.0);
            let trades = match n[Z] {
                Some(z) if z > 0.0 => (v / z).round() as i64,
                _ => 0,
            };
            let a = &mut st.out_aggs;
            a.symbol.push(symbol);
            a.start.push((s as i64).saturating_mul(MS));
            a.end.push(end.saturating_mul(MS));
            a.open.push(o);
            a.high.push(h);
            a.low.push(l);
            a.close.push(c);
            a.volume.push(v);
            a.vwap.push(n[VW].unwrap_or(c));
            a.trades.push(trades);
            st.stats.aggregates += 1;
        }
        "status" => st.event("status", e.raw.as_bytes()),
        _ => st.stats.unknown += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_int_forms() {
        assert_eq!(first_int("[14,41]"), Some(14));
        assert_eq!(first_int("[ 7 ]"), Some(7));
        assert_eq!(first_int("3"), Some(3));
        assert_eq!(first_int("[]"), None);
    }
}
