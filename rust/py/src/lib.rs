//! `quant_engine._core`: the PyO3 bindings of quant-engine's Rust core.
//!
//! Thin wrappers only: argument parsing, Arrow in/out through the PyCapsule interface
//! (`pyo3-arrow`), GIL release around batch work, and error mapping to the exceptions defined in
//! `quant_engine.errors`. `python/quant_engine/_core.pyi` mirrors this module.

use pyo3::prelude::*;

/// Rust-side allocations (Arrow buffers handed to pyarrow, per-call scratch) use mimalloc: the
/// window export path allocates and frees a few dozen small blocks per call, where glibc's
/// malloc spends as long as the copy itself.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod arrow_in;
mod arrow_out;
mod backtest;
mod bars;
mod decode;
mod errors;
mod execution;
mod instruments;
mod metrics;
mod order_args;
mod portfolio;
mod risk;
mod run_spec;
mod trading;

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    // Large OS allocations (batch outputs of tens of MB) are madvise'd as transparent huge
    // pages, as NumPy does for its large arrays: first-touch page faults otherwise dominate
    // column-writing loops (risk decisions, batch fills).
    // SAFETY: setting a mimalloc option is thread-safe and affects only future OS allocations.
    unsafe { libmimalloc_sys::mi_option_set(libmimalloc_sys::mi_option_large_os_pages, 1) };
    // Keep freed memory committed for a second (mimalloc's default is 10 ms): repeated batch
    // calls then reuse warm pages instead of faulting fresh ones in, as glibc's heap does for
    // NumPy. Option 15 is `mi_option_purge_delay` in mimalloc v2 (not named by the Rust
    // bindings); it is only changed if it holds its documented default of 10.
    // SAFETY: as above.
    unsafe {
        const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
        if libmimalloc_sys::mi_option_get(PURGE_DELAY) == 10 {
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 1000);
        }
    }
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MIN_TS", quant_engine_core::time::MIN_TS)?;
    m.add("MAX_TS", quant_engine_core::time::MAX_TS)?;
    m.add("REJECT_REASONS", quant_engine_core::tick::RejectReason::ALL.iter().map(|r| r.code()).collect::<Vec<_>>())?;
    m.add_function(wrap_pyfunction!(errors::_debug_panic, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration_ns, m)?)?;
    m.add_class::<bars::StreamBuffer>()?;
    m.add_class::<bars::MultiSymbolBuffer>()?;
    m.add_class::<bars::TickAggregator>()?;
    m.add_function(wrap_pyfunction!(metrics::performance_metrics, m)?)?;
    m.add("METRIC_NAMES", quant_engine_core::metrics::Metrics::NAMES.to_vec())?;
    m.add_function(wrap_pyfunction!(backtest::backtest_run, m)?)?;
    m.add_function(wrap_pyfunction!(backtest::backtest_sweep, m)?)?;
    m.add_function(wrap_pyfunction!(backtest::backtest_periods, m)?)?;
    m.add_class::<backtest::RunOutput>()?;
    m.add_class::<run_spec::RunSpec>()?;
    m.add_class::<run_spec::ExitKind>()?;
    m.add_class::<run_spec::SizingKind>()?;
    m.add_class::<run_spec::FillReason>()?;
    m.add_function(wrap_pyfunction!(run_spec::default_risk_limits_json, m)?)?;
    m.add_class::<trading::TradingStepper>()?;
    m.add("CPU_X86_64_V3", quant_engine_core::cpu::has_x86_64_v3())?;
    m.add("RISK_REASONS", risk::reason_codes())?;
    m.add("FILL_STATUSES", execution::fill_status_codes())?;
    m.add("DEFAULT_ALLOW_UNLISTED_EQUITIES", quant_engine_core::instruments::DEFAULT_ALLOW_UNLISTED_EQUITIES)?;
    m.add_class::<instruments::Instrument>()?;
    m.add_class::<instruments::InstrumentRegistry>()?;
    m.add_function(wrap_pyfunction!(instruments::parse_option_symbol, m)?)?;
    m.add_class::<risk::RiskEngine>()?;
    m.add_class::<risk::Decision>()?;
    m.add_class::<risk::SizeResult>()?;
    m.add_class::<execution::ExecutionModel>()?;
    m.add_class::<execution::Fill>()?;
    m.add_class::<portfolio::Portfolio>()?;
    m.add_class::<decode::StreamDecoder>()?;
    Ok(())
}

/// Parses a duration string (`"500ms"`, `"1m"`, `"1h"`, `"1d"`) into nanoseconds.
#[pyfunction]
fn parse_duration_ns(text: &str) -> PyResult<i64> {
    use errors::IntoPyResult;
    quant_engine_core::time::parse_duration("duration", text).py_err()
}
