//! Error mapping and panic containment at the FFI boundary.
//!
//! The exception classes are defined once, in Python (`quant_engine.errors`); this module looks
//! them up by name. Every entry point runs its body through [`guarded`], so a Rust panic surfaces
//! as `quant_engine.errors.InternalError`, never as a crash or a `BaseException`.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use quant_engine_core::CoreError;

static ERRORS_MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The exception class `quant_engine.errors.<name>`.
pub fn exception_class<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyType>> {
    let module = ERRORS_MODULE.get_or_try_init(py, || py.import("quant_engine.errors").map(|m| m.unbind()))?;
    Ok(module.bind(py).getattr(name)?.cast_into::<PyType>()?)
}

/// A `quant_engine.errors.<name>` exception with `message`.
pub fn new_error(name: &str, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| match exception_class(py, name) {
        Ok(cls) => PyErr::from_type(cls, message),
        Err(e) => e,
    })
}

/// Converts a core error into the matching Python exception.
pub fn core_error(e: CoreError) -> PyErr {
    let name = match &e {
        CoreError::InvalidArgument { .. } => "InvalidArgumentError",
        CoreError::Schema { .. } => "SchemaError",
        CoreError::BadData(_) => "BadDataError",
        CoreError::UnknownSymbol(_) => "UnknownSymbolError",
        CoreError::Internal(_) => "InternalError",
    };
    new_error(name, e.to_string())
}

/// `?`-friendly conversion of core results.
pub trait IntoPyResult<T> {
    /// Maps the error to its Python exception.
    fn py_err(self) -> PyResult<T>;
}

impl<T> IntoPyResult<T> for Result<T, CoreError> {
    fn py_err(self) -> PyResult<T> {
        self.map_err(core_error)
    }
}

/// Shorthand for an `InvalidArgumentError`.
pub fn invalid(message: impl Into<String>) -> PyErr {
    new_error("InvalidArgumentError", message)
}

/// Shorthand for a `SchemaError`.
pub fn schema_error(message: impl Into<String>) -> PyErr {
    new_error("SchemaError", message)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs `f`, turning a panic into `InternalError`. The second value tells whether it panicked.
pub fn guarded<T>(f: impl FnOnce() -> PyResult<T>) -> (PyResult<T>, bool) {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => (r, false),
        Err(payload) => (Err(new_error("InternalError", format!("internal error (Rust panic): {}", panic_message(payload.as_ref())))), true),
    }
}

/// Runs `f` with panic containment (for stateless functions).
pub fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    guarded(f).0
}

/// Tracks whether a stateful object saw a panic; such an object refuses further calls, because
/// its state may be half-updated.
#[derive(Debug, Default)]
pub struct Poison(bool);

impl Poison {
    /// Runs `f` unless poisoned; poisons on panic.
    pub fn run<T>(&mut self, what: &str, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
        if self.0 {
            return Err(new_error("InternalError", format!("this {what} is unusable after an internal error; create a new one")));
        }
        let (r, panicked) = guarded(f);
        if panicked {
            self.0 = true;
        }
        r
    }
}

/// Test hook: panics inside Rust so the tests can prove a panic never crashes the interpreter.
#[pyfunction]
pub fn _debug_panic(message: &str) -> PyResult<()> {
    guard(|| panic!("{message}"))
}
