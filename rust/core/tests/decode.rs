//! Vendor stream decoding: generated wire streams (random key order, whitespace, unknown keys,
//! arbitrary read boundaries, malformed messages, duplicates) decode to exactly the generated
//! trades, and the gap protocol releases every trade once, in time order.

use chrono::{NaiveDate, TimeZone};
use chrono_tz::America::New_York;
use proptest::prelude::*;
use quant_engine_core::decode::columns::{TradeColumns, NO_I32};
use quant_engine_core::decode::ws::{write_server_frame, Opcode};
use quant_engine_core::decode::{StreamDecoder, Vendor};

const HORIZON: i64 = 60_000_000_000;

#[derive(Debug, Clone)]
struct GenTrade {
    sym: usize,
    ms: i64,
    price_cents: i64,
    size: i64,
    seq: i64,
}

const SYMS: [&str; 3] = ["AAPL", "MSFT", "BRK.B"];

fn utc_ns(date: i64, ms: i64) -> i64 {
    let d = NaiveDate::from_ymd_opt((date / 10000) as i32, (date / 100 % 100) as u32, (date % 100) as u32).unwrap();
    let local = d.and_hms_opt(0, 0, 0).unwrap() + chrono::Duration::milliseconds(ms);
    New_York.from_local_datetime(&local).earliest().unwrap().timestamp_nanos_opt().unwrap()
}

fn theta_trade_json(t: &GenTrade, date: i64, order: &[usize], pad: &str) -> String {
    let fields = [
        format!("\"ms_of_day\":{pad}{}", t.ms),
        format!("\"sequence\":{}", t.seq),
        format!("\"size\":{}", t.size),
        "\"condition\":18".to_string(),
        format!("\"price\":{}.{:02}", t.price_cents / 100, t.price_cents % 100),
        "\"exchange\":31".to_string(),
        format!("\"date\":{date}"),
        "\"ext_condition1\":255".to_string(),
    ];
    let body: Vec<&str> = order.iter().map(|&i| fields[i % fields.len()].as_str()).collect();
    let mut seen = std::collections::HashSet::new();
    let body: Vec<&str> = body.into_iter().filter(|f| seen.insert(*f)).collect();
    let mut all: Vec<&str> = body.clone();
    for f in &fields {
        if !all.contains(&f.as_str()) {
            all.push(f);
        }
    }
    format!(
        "{{ \"header\":{{\"type\":\"TRADE\",\"status\":\"CONNECTED\"}},{pad}\"contract\":{{\"security_type\":\"STOCK\",\"root\":\"{}\"}},\"trade\":{{{}}}}}",
        SYMS[t.sym],
        all.join(&format!(",{pad}"))
    )
}

fn massive_trade_json(t: &GenTrade, base_ms: i64) -> String {
    format!(
        "{{\"ev\":\"T\",\"sym\":\"{}\",\"i\":\"{}\",\"x\":10,\"p\":{}.{:02},\"s\":{},\"c\":[14,41],\"t\":{},\"q\":{},\"z\":3}}",
        SYMS[t.sym],
        t.seq,
        t.price_cents / 100,
        t.price_cents % 100,
        t.size,
        base_ms + t.ms,
        t.seq
    )
}

fn feed_split(dec: &mut StreamDecoder, wire: &[u8], cuts: &[usize]) {
    let mut pos = 0;
    for &c in cuts {
        let c = c % (wire.len() + 1);
        if c > pos {
            dec.feed(&wire[pos..c]).unwrap();
            pos = c;
        }
    }
    dec.feed(&wire[pos..]).unwrap();
}

fn trades_strategy() -> impl Strategy<Value = Vec<GenTrade>> {
    prop::collection::vec((0usize..3, 0i64..1000, 100i64..100_000, 1i64..1000), 1..200).prop_map(|v| {
        let mut ms = 34_200_000;
        v.into_iter()
            .enumerate()
            .map(|(i, (sym, dt, p, s))| {
                ms += dt;
                GenTrade { sym, ms, price_cents: p, size: s, seq: 1000 + i as i64 * 3 }
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn theta_stream_decodes_exactly(
        trades in trades_strategy(),
        order in prop::collection::vec(0usize..8, 8),
        cuts in prop::collection::vec(0usize..100_000, 0..20),
        bad_every in 3usize..50,
        pad in prop::sample::select(vec!["", " ", "\n  "]),
    ) {
        let date = 20240102;
        let mut wire = Vec::new();
        let mut malformed = 0;
        for (i, t) in trades.iter().enumerate() {
            write_server_frame(&mut wire, Opcode::Text, theta_trade_json(t, date, &order, pad).as_bytes());
            if i % bad_every == 0 {
                // a truncated copy, a STATUS heartbeat, and an exact duplicate
                let j = theta_trade_json(t, date, &order, pad);
                write_server_frame(&mut wire, Opcode::Text, &j.as_bytes()[..j.len() / 2]);
                malformed += 1;
                write_server_frame(&mut wire, Opcode::Text, br#"{"header":{"status":"CONNECTED","type":"STATUS"}}"#);
                write_server_frame(&mut wire, Opcode::Text, j.as_bytes());
            }
        }
        let mut dec = StreamDecoder::new(Vendor::ThetaData, HORIZON);
        feed_split(&mut dec, &wire, &cuts);
        let out = dec.take_trades();
        prop_assert_eq!(out.len(), trades.len());
        prop_assert_eq!(dec.state.stats.malformed, malformed);
        prop_assert_eq!(dec.state.stats.duplicates, malformed);
        let names = dec.state.symbols.names().to_vec();
        for (i, t) in trades.iter().enumerate() {
            prop_assert_eq!(out.ts[i], utc_ns(date, t.ms));
            prop_assert_eq!(&names[out.symbol[i] as usize], SYMS[t.sym]);
            prop_assert_eq!(out.price[i], format!("{}.{:02}", t.price_cents / 100, t.price_cents % 100).parse::<f64>().unwrap());
            prop_assert_eq!(out.size[i], t.size as f64);
            prop_assert_eq!(out.sequence[i], t.seq);
            prop_assert_eq!((out.exchange[i], out.condition[i]), (31, 18));
        }
    }

    #[test]
    fn massive_batched_stream_decodes_exactly(
        trades in trades_strategy(),
        batch in 1usize..40,
        cuts in prop::collection::vec(0usize..100_000, 0..20),
    ) {
        let base_ms = 1_704_153_600_000; // 2024-01-02T00:00Z
        let mut wire = Vec::new();
        for chunk in trades.chunks(batch) {
            let mut events: Vec<String> = chunk.iter().map(|t| massive_trade_json(t, base_ms)).collect();
            events.push(r#"{"ev":"LULD","T":"AAPL","h":1.0}"#.to_string());
            events.push(r#"{"ev":"T","sym":"AAPL","p":"x"}"#.to_string()); // malformed event
            write_server_frame(&mut wire, Opcode::Text, format!("[{}]", events.join(",")).as_bytes());
        }
        write_server_frame(&mut wire, Opcode::Text, b"[{\"ev\":\"T\""); // malformed message
        let mut dec = StreamDecoder::new(Vendor::Massive, HORIZON);
        feed_split(&mut dec, &wire, &cuts);
        let out = dec.take_trades();
        let n_batches = trades.chunks(batch).count() as u64;
        prop_assert_eq!(out.len(), trades.len());
        prop_assert_eq!(dec.state.stats.unknown, n_batches);
        prop_assert_eq!(dec.state.stats.malformed, n_batches + 1);
        for (i, t) in trades.iter().enumerate() {
            prop_assert_eq!(out.ts[i], (base_ms + t.ms) * 1_000_000);
            prop_assert_eq!(out.sequence[i], t.seq);
            prop_assert_eq!(out.condition[i], 14);
        }
    }

    /// Trades cut out by a gap come back exactly once, in time order, whatever the overlap of
    /// the backfill with the data received before and after the gap.
    #[test]
    fn gap_backfill_releases_every_trade_once(
        trades in trades_strategy(),
        gap_at in 0usize..200,
        gap_len in 0usize..100,
        overlap_before in 0usize..5,
        overlap_after in 0usize..5,
    ) {
        let n = trades.len();
        let a = gap_at.min(n);
        let b = (a + gap_len).min(n);
        let date = 20240102;
        let frame = |ts: &[GenTrade]| {
            let mut w = Vec::new();
            for t in ts {
                write_server_frame(&mut w, Opcode::Text, theta_trade_json(t, date, &[0, 1, 2, 3, 4, 5, 6, 7], "").as_bytes());
            }
            w
        };
        let mut dec = StreamDecoder::new(Vendor::ThetaData, HORIZON);
        dec.feed(&frame(&trades[..a])).unwrap();
        let mut released = dec.take_trades();
        dec.begin_gap();
        dec.reset_transport();
        dec.feed(&frame(&trades[b..])).unwrap();
        prop_assert!(dec.take_trades().is_empty());
        if b < n {
            let g = &dec.gaps()[0];
            prop_assert_eq!(g.until, Some(utc_ns(date, trades[b].ms)));
        }
        if b == n {
            dec.set_gap_until(i64::MAX).unwrap();
        }
        // The backfill overlaps the trades on both sides of the gap.
        let lo = a.saturating_sub(overlap_before);
        let hi = (b + overlap_after).min(n);
        let mut backfill = TradeColumns::default();
        for t in trades[lo..hi].iter().rev() {
            let symbol = dec.state.symbols.intern(SYMS[t.sym].as_bytes());
            backfill.push(quant_engine_core::decode::columns::Trade {
                ts: utc_ns(date, t.ms), symbol, price: 1.0, size: 1.0, sequence: t.seq, exchange: NO_I32, condition: NO_I32,
            });
        }
        dec.close_gap(&backfill).unwrap();
        let rest = dec.take_trades();
        for i in 0..rest.len() {
            released.push(rest.get(i));
        }
        let seqs: Vec<i64> = released.sequence.clone();
        let expected: Vec<i64> = trades.iter().map(|t| t.seq).collect();
        prop_assert_eq!(seqs, expected);
        prop_assert!(released.ts.windows(2).all(|w| w[0] <= w[1]));
        prop_assert!(dec.gaps().is_empty());
    }
}

#[test]
fn theta_quotes_options_and_control_messages() {
    let mut wire = Vec::new();
    for m in [
        r#"{"header":{"type":"REQ_RESPONSE","status":"CONNECTED","response":"SUBSCRIBED","req_id":0}}"#,
        r#"{"header":{"status":"CONNECTED","type":"QUOTE"},"contract":{"security_type":"STOCK","root":"AAPL"},"quote":{"ms_of_day":34200011,"bid_size":3,"bid_exchange":1,"bid":187.10,"bid_condition":0,"ask_size":1,"ask_exchange":1,"ask":187.20,"ask_condition":0,"date":20240102}}"#,
        r#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"OPTION","root":"AAPL","expiration":20231222,"strike":200000,"right":"C"},"trade":{"ms_of_day":34389945,"sequence":772942264,"size":10,"condition":18,"price":0.31,"exchange":31,"date":20231219}}"#,
        r#"{"header":{"type":"OHLC","status":"CONNECTED"},"contract":{"root":"AAPL"},"ohlc":{"ms_of_day":73971008,"open":28.0,"high":56.1,"low":15.7,"close":40.8,"volume":2763,"count":783,"date":20260518}}"#,
        r#"{"header":{"type":"STATE","status":"CONNECTED","state":"START"}}"#,
        r#"{"header":{"status":"DISCONNECTED","type":"STATUS"}}"#,
        r#"{"header":{"status":"DISCONNECTED","type":"STATUS"}}"#,
        r#"{"header":{"status":"CONNECTED","type":"STATUS"}}"#,
    ] {
        write_server_frame(&mut wire, Opcode::Text, m.as_bytes());
    }
    write_server_frame(&mut wire, Opcode::Ping, b"hb");
    let mut dec = StreamDecoder::new(Vendor::ThetaData, HORIZON);
    dec.feed(&wire).unwrap();
    let q = dec.take_quotes();
    assert_eq!(q.len(), 1);
    assert_eq!((q.bid[0], q.ask[0], q.bid_size[0], q.ask_size[0]), (187.10, 187.20, 3.0, 1.0));
    assert_eq!(q.ts[0], 1_704_205_800_011_000_000);
    let t = dec.take_trades();
    assert_eq!(dec.state.symbols.names()[t.symbol[0] as usize], "AAPL231222C00200000");
    assert_eq!(t.price[0], 0.31);
    let kinds: Vec<&str> = dec.take_events().iter().map(|e| e.0).collect();
    assert_eq!(kinds, ["req_response", "state", "upstream", "gap_open", "upstream", "ping"]);
    assert_eq!(dec.state.stats.ohlc, 1);
    assert_eq!(dec.state.stats.status_frames, 3);
    assert_eq!(dec.upstream(), Some("CONNECTED"));
    assert_eq!(dec.gaps().len(), 1);
}

#[test]
fn massive_quotes_aggregates_and_statuses() {
    let msg = r#"[{"ev":"status","status":"connected","message":"Connected Successfully"},
        {"ev":"Q","sym":"O:SPY241220P00720000","bx":1,"bp":1.5,"bs":10,"ax":2,"ap":1.6,"as":12,"c":1,"t":1704205800000,"q":5},
        {"ev":"AM","sym":"AAPL","v":4110,"av":9470157,"op":185.51,"vw":187.2,"o":187.15,"c":187.83,"h":188.05,"l":186.35,"a":186.9,"z":685,"s":1704205800000,"e":1704205860000},
        {"ev":"FMV","sym":"AAPL","fmv":187.0,"t":1704205800000}]"#;
    let mut dec = StreamDecoder::new(Vendor::Massive, HORIZON);
    dec.feed_message(msg.as_bytes());
    let q = dec.take_quotes();
    assert_eq!(dec.state.symbols.names()[q.symbol[0] as usize], "SPY241220P00720000");
    assert_eq!((q.bid[0], q.ask[0], q.bid_size[0], q.ask_size[0]), (1.5, 1.6, 10.0, 12.0));
    let a = dec.take_aggregates();
    assert_eq!((a.open[0], a.close[0], a.volume[0], a.trades[0]), (187.15, 187.83, 4110.0, 6));
    assert_eq!(a.start[0], 1_704_205_800_000_000_000);
    assert_eq!(dec.take_events()[0].0, "status");
    assert_eq!(dec.state.stats.unknown, 1);
}

/// Pieces of JSON values, some valid and ordinary, some unusual (escapes, exponents, nulls,
/// nesting, wrong types), to build messages that exercise both parsing paths.
fn value_strategy() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "1",
        "0",
        "-7",
        "187.18",
        "187.1800",
        "2.5e2",
        "1E-3",
        "12345678901234567",
        "01",
        "1.",
        "null",
        "true",
        "\"AAPL\"",
        "\"C\"",
        "\"P\"",
        "\"a\\\"b\"",
        "\"\\u0041APL\"",
        "[14,41]",
        "[]",
        "{\"k\":[1,{\"z\":null}]}",
        "\"TRADE\"",
        "\"QUOTE\"",
        "\"STATUS\"",
        "\"CONNECTED\"",
        "20240102",
        "34200011",
        "200000",
        "\"T\"",
        "\"Q\"",
    ])
    .prop_map(str::to_owned)
}

fn object_strategy(keys: &'static [&'static str], depth: u32) -> BoxedStrategy<String> {
    let leaf = (prop::collection::vec((prop::sample::select(keys), value_strategy()), 0..12), any::<bool>()).prop_map(|(kv, spaced)| {
        let sep = if spaced { ", " } else { "," };
        format!("{{{}}}", kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(sep))
    });
    if depth == 0 {
        return leaf.boxed();
    }
    let sub = object_strategy(keys, depth - 1);
    (prop::collection::vec((prop::sample::select(keys), prop_oneof![value_strategy(), sub]), 0..10))
        .prop_map(|kv| format!("{{{}}}", kv.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")))
        .boxed()
}

const THETA_KEYS: &[&str] = &[
    "header",
    "type",
    "status",
    "contract",
    "root",
    "expiration",
    "strike",
    "right",
    "trade",
    "quote",
    "ms_of_day",
    "date",
    "price",
    "size",
    "sequence",
    "exchange",
    "condition",
    "records_back",
    "bid",
    "ask",
    "bid_size",
    "ask_size",
    "bid_exchange",
    "ask_exchange",
    "other",
];
const MASSIVE_KEYS: &[&str] = &["ev", "sym", "t", "q", "e", "x", "bx", "ax", "p", "s", "bp", "ap", "bs", "as", "o", "h", "l", "v", "vw", "z", "c", "i"];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Wherever the fast parser decides, it agrees with serde_json (the reference).
    #[test]
    fn theta_fast_parse_agrees_with_reference(msg in object_strategy(THETA_KEYS, 2), cut in 0usize..400) {
        use quant_engine_core::decode::theta::{parse_fast, parse_reference};
        for m in [msg.as_str(), &msg[..cut.min(msg.len())]] {
            if let Some(fast) = parse_fast(m.as_bytes()) {
                prop_assert_eq!(Some(fast), parse_reference(m.as_bytes()), "{}", m);
            }
        }
    }

    /// The layout matcher agrees with the reference on vendor-layout messages with arbitrary
    /// values, and on every truncation or one-byte corruption of them.
    #[test]
    fn theta_layout_parse_agrees_with_reference(
        root in "[A-Z.]{1,6}", ms in 0i64..86_400_000, seq in any::<i64>(), size in prop::sample::select(vec!["1", "100", "2.5", "0", "1e2"]),
        price in prop::sample::select(vec!["187.1800", "0.31", "3", "1E3", "-1.5", "01.5"]), date in 19000101i64..21991231,
        back in prop::option::of(0i64..5), cut in 0usize..300, flip in 0usize..300, byte in any::<u8>(),
    ) {
        use quant_engine_core::decode::theta::{parse_reference, parse_stock_trade_layout};
        let rb = back.map(|b| format!(",\"records_back\":{b}")).unwrap_or_default();
        let m = format!(
            "{{\"header\":{{\"type\":\"TRADE\",\"status\":\"CONNECTED\"}},\"contract\":{{\"security_type\":\"STOCK\",\"root\":\"{root}\"}},\"trade\":{{\"ms_of_day\":{ms},\"sequence\":{seq},\"size\":{size},\"condition\":18,\"price\":{price},\"exchange\":31,\"date\":{date}{rb}}}}}"
        ).into_bytes();
        let mut variants = vec![m.clone(), m[..cut.min(m.len())].to_vec()];
        let mut flipped = m.clone();
        let k = flip % flipped.len();
        flipped[k] = byte;
        variants.push(flipped);
        for v in variants {
            if let Some(p) = parse_stock_trade_layout(&v) {
                prop_assert_eq!(Some(p), parse_reference(&v), "{}", String::from_utf8_lossy(&v));
            }
        }
    }

    #[test]
    fn massive_fast_parse_agrees_with_reference(events in prop::collection::vec(object_strategy(MASSIVE_KEYS, 1), 0..5), cut in 0usize..600) {
        use quant_engine_core::decode::massive::{parse_fast, parse_reference};
        let msg = format!("[{}]", events.join(","));
        for m in [msg.as_str(), &msg[..cut.min(msg.len())]] {
            let mut fast = Vec::new();
            if parse_fast(m.as_bytes(), &mut fast).is_some() {
                let reference = parse_reference(m.as_bytes());
                prop_assert!(reference.is_some(), "{}", m);
                let reference: Vec<_> = reference.unwrap().into_iter().collect::<Option<Vec<_>>>().unwrap_or_default();
                prop_assert_eq!(fast, reference, "{}", m);
            }
        }
    }
}

#[test]
fn fast_parser_decides_the_vendor_shapes() {
    use quant_engine_core::decode::{massive, theta};
    let t = br#"{"header":{"type":"TRADE","status":"CONNECTED"},"contract":{"security_type":"STOCK","root":"AAPL"},"trade":{"ms_of_day":34200011,"sequence":14920,"size":2,"condition":1,"price":187.1800,"exchange":7,"date":20240102}}"#;
    assert!(theta::parse_fast(t).is_some());
    assert_eq!(theta::parse_fast(t), theta::parse_reference(t));
    assert_eq!(theta::parse_stock_trade_layout(t), theta::parse_reference(t));
    let spaced = br#"{"header":{"type":"TRADE","status":"CONNECTED"}, "contract":{"security_type":"STOCK","root":"AAPL"},"trade":{"ms_of_day":1,"sequence":1,"size":2,"condition":1,"price":1.5,"exchange":7,"date":20240102}}"#;
    assert!(theta::parse_stock_trade_layout(spaced).is_none() && theta::parse_fast(spaced).is_some());
    let m = br#"[{"ev":"T","sym":"AAPL","i":"5096","x":10,"p":161.87,"s":300,"c":[14,41],"t":1651684192462,"q":4009402,"z":3}]"#;
    let mut v = Vec::new();
    assert!(massive::parse_fast(m, &mut v).is_some());
}
