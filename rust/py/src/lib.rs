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
mod bars;
mod decode;
mod errors;

/// The extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MIN_TS", quant_engine_core::time::MIN_TS)?;
    m.add("MAX_TS", quant_engine_core::time::MAX_TS)?;
    m.add(
        "REJECT_REASONS",
        quant_engine_core::tick::RejectReason::ALL.iter().map(|r| r.code()).collect::<Vec<_>>(),
    )?;
    m.add_function(wrap_pyfunction!(errors::_debug_panic, m)?)?;
    m.add_function(wrap_pyfunction!(parse_duration_ns, m)?)?;
    m.add_class::<bars::StreamBuffer>()?;
    m.add_class::<bars::MultiSymbolBuffer>()?;
    m.add_class::<bars::TickAggregator>()?;
    m.add_class::<decode::StreamDecoder>()?;
    Ok(())
}

/// Parses a duration string (`"500ms"`, `"1m"`, `"1h"`, `"1d"`) into nanoseconds.
#[pyfunction]
fn parse_duration_ns(text: &str) -> PyResult<i64> {
    use errors::IntoPyResult;
    quant_engine_core::time::parse_duration("duration", text).py_err()
}
