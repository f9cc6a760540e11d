//! Raw throughput of the risk batch and the execution batch without Python:
//! `cargo run --release --example risk_throughput`. (The benchmark of record is
//! `benches/bench_risk.py`, which measures through the public API and against peers; this one
//! isolates the Rust loops.)

use std::time::Instant;

use quant_engine_core::execution::{BarColumnsRef, ExecutionModel, FillColumns, OrderColumns};
use quant_engine_core::instruments::InstrumentRegistry;
use quant_engine_core::order::InstrumentColumn;
use quant_engine_core::portfolio::CostBasis;
use quant_engine_core::risk::{DecisionColumns, OrderBatch, RiskEngine, RiskLimits};

fn lcg(state: &mut u64) -> f64 {
    *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (*state >> 11) as f64 / (1u64 << 53) as f64
}

/// The fastest of the repeats (the least disturbed by other processes on a shared machine).
fn median(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000_000);
    let reps = (50_000_000 / n).clamp(5, 200);
    let reg = InstrumentRegistry::with_builtins();
    // The benchmark's universe and limits (`benches/bench_risk.py`): 4 equities and 2 futures,
    // whole-lot quantities, prices on the tick grid, one order per ms against a rate limit of
    // 5,000 per second that is checked but never trips.
    let insts: Vec<_> = ["AAPL", "SPY", "MSFT", "QQQ", "ES", "NQ"].iter().map(|s| reg.resolve(s).unwrap()).collect();
    let mut st = 7u64;
    let keys: Vec<i32> = (0..n).map(|_| (lcg(&mut st) * 6.0) as i32).collect();
    let table: Vec<u32> = (0..6).collect();
    let side: Vec<i8> = (0..n).map(|_| if lcg(&mut st) < 0.5 { 1 } else { -1 }).collect();
    let qty: Vec<f64> = (0..n).map(|_| (lcg(&mut st) * 9.0).floor() + 1.0).collect();
    let price: Vec<f64> = keys
        .iter()
        .map(|&k| if k >= 4 { 4500.0 + ((lcg(&mut st) - 0.5) * 8.0).round() * 0.25 } else { 100.0 + ((lcg(&mut st) - 0.5) * 200.0).round() / 100.0 })
        .collect();
    let t0 = 1_704_205_800_000_000_000i64;
    let ts: Vec<i64> = (0..n as i64).map(|k| t0 + k * 1_000_000).collect();
    let mut limits = RiskLimits::default();
    limits.equity.max_order_notional = Some(5e6);
    limits.equity.max_position = Some(1e9);
    limits.future.max_order_notional = Some(5e6);
    limits.future.max_position = Some(1e6);
    limits.max_gross_exposure = Some(1e15);
    limits.max_orders_per_window = Some(5_000);
    let mut out = DecisionColumns::default();
    for commit in [false, true] {
        let mut times = Vec::new();
        for _ in 0..reps {
            let mut e = RiskEngine::new(limits.clone(), 1e15, CostBasis::AverageCost, &insts).unwrap();
            let b = OrderBatch {
                instrument: InstrumentColumn::Keys(&keys, &table),
                side: &side,
                quantity: &qty,
                price: &price,
                ts: &ts,
                order_type: &[],
                reduce_only: &[],
            };
            let t = Instant::now();
            e.validate_batch(&b, commit, &mut out).unwrap();
            times.push(t.elapsed().as_secs_f64());
        }
        let accepted = out.reason.iter().filter(|&&r| r == 0).count();
        println!("risk validate_batch commit={commit}: {:.1} M orders/s ({accepted} accepted)", n as f64 / median(times) / 1e6);
    }
    page_fault_probe(n);
    memory_floor(&keys, &table, &side, &qty, &price, &ts);
    let bars_n = 1000usize;
    let open: Vec<f64> = (0..bars_n).map(|k| 100.0 + (k % 17) as f64 * 0.25).collect();
    let high: Vec<f64> = open.iter().map(|o| o + 1.0).collect();
    let low: Vec<f64> = open.iter().map(|o| o - 1.0).collect();
    let vol: Vec<f64> = vec![1e5; bars_n];
    let bts: Vec<i64> = (0..bars_n as i64).collect();
    let bar: Vec<i64> = (0..n).map(|k| (k % bars_n) as i64).collect();
    let model = ExecutionModel::default();
    let mut fills = FillColumns::default();
    let mut times = Vec::new();
    // `fills` is reused across repeats (as a backtester reuses it across batches).
    for _ in 0..reps {
        let oc = OrderColumns { instrument: InstrumentColumn::Keys(&keys, &table), side: &side, quantity: &qty, order_type: &[], limit_price: &[], bar: &bar };
        let bc = BarColumnsRef { ts: &bts, open: &open, high: &high, low: &low, close: &open, volume: &vol };
        let t = Instant::now();
        model.fill_bars_batch(&insts, &oc, &bc, &mut fills).unwrap();
        times.push(t.elapsed().as_secs_f64());
    }
    println!("execution fill_bars_batch: {:.1} M fills/s", n as f64 / median(times) / 1e6);
}

#[allow(dead_code)]
fn page_fault_probe(n: usize) {
    let t = Instant::now();
    let mut v = vec![0.0f64; n];
    for (i, x) in v.iter_mut().enumerate() {
        *x = i as f64;
    }
    println!("fresh 8-byte column write: {:.1} M/s", n as f64 / t.elapsed().as_secs_f64() / 1e6);
    let t = Instant::now();
    for (i, x) in v.iter_mut().enumerate() {
        *x = i as f64 * 2.0;
    }
    println!("reused 8-byte column write: {:.1} M/s ({})", n as f64 / t.elapsed().as_secs_f64() / 1e6, v[n / 2]);
}

/// The floor: a loop that reads every input column once and writes one byte per order (what
/// any validate_batch must at least do), for comparison with the real loop.
fn memory_floor(keys: &[i32], table: &[u32], side: &[i8], qty: &[f64], price: &[f64], ts: &[i64]) {
    let n = keys.len();
    let mut out = vec![0u8; n];
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        for i in 0..n {
            let slot = table[keys[i] as usize];
            let ok = (side[i] != 0) & (qty[i] > 0.0) & (price[i] > 0.0) & (ts[i] > 0) & (slot < 8);
            out[i] = ok as u8;
        }
        times.push(t.elapsed().as_secs_f64());
        std::hint::black_box(&out);
    }
    println!("memory floor (read 29 B, write 1 B per order): {:.1} M orders/s", n as f64 / median(times) / 1e6);
}
