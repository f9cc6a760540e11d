//! Raw throughput of the bar engine without Python: `cargo run --release --example bars_throughput`.
//! (The benchmark of record is `benches/bench_bars.py`, which measures through the public API and
//! against peers; this one isolates the Rust loops.)

use std::time::Instant;

use quant_engine_core::aggregator::AggConfig;
use quant_engine_core::engine::{BarEngine, BatchAggregator, EngineConfig, SymbolKeys, SymbolTable, TickBatch};
use quant_engine_core::time::{Alignment, MINUTE, SECOND};

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let t0 = 1_704_205_800 * SECOND;
    let mut st = 42u64;
    let mut ts: Vec<i64> = (0..n).map(|_| t0 + (lcg(&mut st) * 6.0 * 3600.0 * 1e9) as i64).collect();
    ts.sort_unstable();
    let mut p = 100.0;
    let price: Vec<f64> = (0..n)
        .map(|_| {
            p += (lcg(&mut st) - 0.5) * 0.02;
            p
        })
        .collect();
    let size: Vec<f64> = (0..n).map(|_| (lcg(&mut st) * 500.0).floor() + 1.0).collect();
    let keys: Vec<i32> = (0..n).map(|_| (lcg(&mut st) * 100.0) as i32).collect();
    let names: Vec<String> = (0..100).map(|i| format!("S{i}")).collect();
    let table: Vec<u32> = (0..100).collect();
    let cfg = AggConfig::batch(MINUTE, Alignment::epoch());

    let reps: usize = std::env::var("REPS").ok().and_then(|v| v.parse().ok()).unwrap_or(7);
    let only = std::env::var("ONLY").unwrap_or_default();
    let run = |label: &str, f: &dyn Fn()| {
        if !label.contains(only.as_str()) {
            return;
        }
        let times: Vec<f64> = (0..reps)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed().as_secs_f64()
            })
            .collect();
        println!("{label:40} {:8.1} M ticks/s", n as f64 / median(times) / 1e6);
    };
    run("batch, 1 symbol", &|| {
        let mut a = BatchAggregator::new(cfg.clone(), SymbolTable::fixed(&names[..1]).unwrap());
        a.push(&TickBatch { ts: &ts, price: &price, size: &size, valid: None, symbols: SymbolKeys::One(0) }).unwrap();
        std::hint::black_box(a.finish());
    });
    run("batch, 100 symbols (i32 dictionary)", &|| {
        let mut a = BatchAggregator::new(cfg.clone(), SymbolTable::fixed(&names).unwrap());
        a.push(&TickBatch { ts: &ts, price: &price, size: &size, valid: None, symbols: SymbolKeys::I32(&keys, &table) }).unwrap();
        std::hint::black_box(a.finish());
    });
    run("stream, 1 symbol, batches of 1000", &|| {
        let ecfg = EngineConfig { agg: AggConfig::streaming(MINUTE, Alignment::epoch(), 0), capacity: 500, min_bars: 50 };
        let mut e = BarEngine::new(ecfg, SymbolTable::fixed(&names[..1]).unwrap()).unwrap();
        let mut out = Default::default();
        for c in (0..n).step_by(1000) {
            let r = c..(c + 1000).min(n);
            e.push(&TickBatch { ts: &ts[r.clone()], price: &price[r.clone()], size: &size[r], valid: None, symbols: SymbolKeys::One(0) }, Some(&mut out))
                .unwrap();
        }
        std::hint::black_box(out);
    });
}
