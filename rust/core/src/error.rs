//! The one error type of the core. The Python bindings map every variant to an exception class
//! defined once in `quant_engine.errors` (see `rust/py/src/errors.rs`).

use thiserror::Error;

/// Every failure the core can report. Variants are grouped by the Python exception they map to.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum CoreError {
    /// A parameter has an invalid value (a bad interval string, a negative capacity ...).
    /// Maps to `quant_engine.errors.InvalidArgumentError` (a `ValueError`).
    #[error("invalid {name}: {reason}")]
    InvalidArgument {
        /// The parameter's name as the user wrote it.
        name: &'static str,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// Input data lacks a column or has a column of an unsupported type.
    /// Maps to `quant_engine.errors.SchemaError`.
    #[error("column '{column}': {reason}")]
    Schema {
        /// The column name.
        column: String,
        /// What is wrong and what is accepted.
        reason: String,
    },
    /// Input rows were rejected where the caller asked for strict handling.
    /// Maps to `quant_engine.errors.BadDataError`.
    #[error("{0}")]
    BadData(String),
    /// A symbol is not part of a fixed symbol set, or was never seen. The message starts with the
    /// quoted symbol (`'XYZ': ...`).
    /// Maps to `quant_engine.errors.UnknownSymbolError` (a `KeyError`).
    #[error("unknown symbol {0}")]
    UnknownSymbol(String),
    /// An invariant of the core was violated: a bug. Maps to `quant_engine.errors.InternalError`.
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    /// Shorthand for [`CoreError::InvalidArgument`].
    pub fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        CoreError::InvalidArgument { name, reason: reason.into() }
    }

    /// Shorthand for [`CoreError::Schema`].
    pub fn schema(column: impl Into<String>, reason: impl Into<String>) -> Self {
        CoreError::Schema { column: column.into(), reason: reason.into() }
    }
}

/// Result alias used across the core.
pub type CoreResult<T> = Result<T, CoreError>;
