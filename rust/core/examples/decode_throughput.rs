//! Raw throughput of the vendor stream decoders without Python:
//! `cargo run --release --example decode_throughput`. (The benchmark of record is
//! `benches/bench_feeds.py`, end to end against the local vendor servers.)

use std::time::Instant;

use quant_engine_core::decode::ws::{write_server_frame, Opcode};
use quant_engine_core::decode::{StreamDecoder, Vendor};

const SYMS: [&str; 10] = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "XOM", "SPY"];

fn theta_wire(n: usize) -> Vec<u8> {
    let mut w = Vec::new();
    for i in 0..n {
        let msg = format!(
            r#"{{"header":{{"type":"TRADE","status":"CONNECTED"}},"contract":{{"security_type":"STOCK","root":"{}"}},"trade":{{"ms_of_day":{},"sequence":{},"size":100,"condition":18,"price":{:.2},"exchange":31,"date":20240102}}}}"#,
            SYMS[i % 10],
            34_200_000 + i / 20,
            i,
            187.18 + (i % 50) as f64 * 0.01
        );
        write_server_frame(&mut w, Opcode::Text, msg.as_bytes());
    }
    w
}

fn massive_wire(n: usize, batch: usize) -> Vec<u8> {
    let mut w = Vec::new();
    for j in (0..n).step_by(batch) {
        let ev: Vec<String> = (j..(j + batch).min(n))
            .map(|i| {
                format!(
                    r#"{{"ev":"T","sym":"{}","i":"{}","x":10,"p":{:.2},"s":100,"c":[14,41],"t":{},"q":{},"z":3}}"#,
                    SYMS[i % 10],
                    i,
                    187.18 + (i % 50) as f64 * 0.01,
                    1_704_205_800_000i64 + (i / 20) as i64,
                    i
                )
            })
            .collect();
        write_server_frame(&mut w, Opcode::Text, format!("[{}]", ev.join(",")).as_bytes());
    }
    w
}

fn run(name: &str, vendor: Vendor, wire: &[u8], n: usize) {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let mut d = StreamDecoder::new(vendor, 60_000_000_000);
        let t0 = Instant::now();
        for chunk in wire.chunks(1 << 20) {
            d.feed(chunk).unwrap();
            let _ = d.take_trades();
        }
        best = best.min(t0.elapsed().as_secs_f64());
        assert_eq!(d.state.stats.trades_released as usize, n);
    }
    println!("{name:<10} {:>6.2} M trades/s  ({:.0} MB/s)", n as f64 / best / 1e6, wire.len() as f64 / best / 1e6);
}

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    run("thetadata", Vendor::ThetaData, &theta_wire(n), n);
    run("massive", Vendor::Massive, &massive_wire(n, 200), n);
}
