//! Python classes of the instrument registry: `Instrument` and `InstrumentRegistry`.
//! Thin wrappers over `quant_engine_core::instruments`; semantics in `docs/instruments.md`.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use quant_engine_core::instruments::registry::{FutureRoot, OptionRoot};
use quant_engine_core::instruments::symbols::{parse_occ, thetadata_option};
use quant_engine_core::instruments::{FutureTerms, Instrument as CoreInstrument, InstrumentKind, InstrumentRegistry as CoreRegistry, OptionRight, OptionTerms};

use crate::errors::{guard, IntoPyResult};

/// An instrument spec (immutable).
#[pyclass(module = "quant_engine._core", frozen, eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct Instrument {
    pub(crate) inner: CoreInstrument,
}

impl Instrument {
    /// Wraps a core instrument.
    pub fn wrap(inner: CoreInstrument) -> Self {
        Instrument { inner }
    }
}

#[pymethods]
impl Instrument {
    #[new]
    #[pyo3(signature = (symbol, kind, multiplier, tick_size=0.01, lot_size=1.0, currency="USD", initial_margin=None, underlying=None, expiry=None, strike=None, right=None, root=None, contract_month=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        symbol: String,
        kind: &str,
        multiplier: f64,
        tick_size: f64,
        lot_size: f64,
        currency: &str,
        initial_margin: Option<f64>,
        underlying: Option<String>,
        expiry: Option<u32>,
        strike: Option<f64>,
        right: Option<&str>,
        root: Option<String>,
        contract_month: Option<u32>,
    ) -> PyResult<Self> {
        guard(|| {
            let kind = InstrumentKind::parse(kind).py_err()?;
            let option = match kind {
                InstrumentKind::Option => Some(OptionTerms {
                    underlying: underlying.clone().unwrap_or_default(),
                    root: root.clone().or_else(|| underlying.clone()).unwrap_or_default(),
                    expiry: expiry.unwrap_or(0),
                    strike: strike.unwrap_or(f64::NAN),
                    right: OptionRight::parse(right.unwrap_or("")).py_err()?,
                }),
                _ => None,
            };
            let future = match kind {
                InstrumentKind::Future => Some(FutureTerms { root: root.clone().unwrap_or_else(|| symbol.clone()), contract_month }),
                _ => None,
            };
            let inner = CoreInstrument { symbol, kind, multiplier, tick_size, lot_size, currency: currency.to_owned(), initial_margin, option, future };
            inner.validate().py_err()?;
            Ok(Instrument { inner })
        })
    }

    /// The canonical symbol.
    #[getter]
    fn symbol(&self) -> &str {
        &self.inner.symbol
    }

    /// `equity`, `option`, `future` or `index`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// Currency per one point of price per contract.
    #[getter]
    fn multiplier(&self) -> f64 {
        self.inner.multiplier
    }

    /// Minimum price increment.
    #[getter]
    fn tick_size(&self) -> f64 {
        self.inner.tick_size
    }

    /// Quantity grid.
    #[getter]
    fn lot_size(&self) -> f64 {
        self.inner.lot_size
    }

    /// ISO currency.
    #[getter]
    fn currency(&self) -> &str {
        &self.inner.currency
    }

    /// Initial margin per contract, if known.
    #[getter]
    fn initial_margin(&self) -> Option<f64> {
        self.inner.initial_margin
    }

    /// Option underlying.
    #[getter]
    fn underlying(&self) -> Option<&str> {
        self.inner.option.as_ref().map(|o| o.underlying.as_str())
    }

    /// Option expiry as YYYYMMDD.
    #[getter]
    fn expiry(&self) -> Option<u32> {
        self.inner.option.as_ref().map(|o| o.expiry)
    }

    /// Option strike in dollars.
    #[getter]
    fn strike(&self) -> Option<f64> {
        self.inner.option.as_ref().map(|o| o.strike)
    }

    /// Option right, `C` or `P`.
    #[getter]
    fn right(&self) -> Option<String> {
        self.inner.option.as_ref().map(|o| o.right.letter().to_string())
    }

    /// Option root or futures root.
    #[getter]
    fn root(&self) -> Option<&str> {
        self.inner.option.as_ref().map(|o| o.root.as_str()).or_else(|| self.inner.future.as_ref().map(|f| f.root.as_str()))
    }

    /// Futures contract month as YYYYMM.
    #[getter]
    fn contract_month(&self) -> Option<u32> {
        self.inner.future.as_ref().and_then(|f| f.contract_month)
    }

    /// Whether orders can be placed (not an index).
    #[getter]
    fn is_tradable(&self) -> bool {
        self.inner.is_tradable()
    }

    /// `quantity * price * multiplier`.
    fn notional(&self, quantity: f64, price: f64) -> f64 {
        self.inner.notional(quantity, price)
    }

    /// Every field as a dict.
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("symbol", self.symbol())?;
        d.set_item("kind", self.kind())?;
        d.set_item("multiplier", self.multiplier())?;
        d.set_item("tick_size", self.tick_size())?;
        d.set_item("lot_size", self.lot_size())?;
        d.set_item("currency", self.currency())?;
        d.set_item("initial_margin", self.initial_margin())?;
        d.set_item("underlying", self.underlying())?;
        d.set_item("expiry", self.expiry())?;
        d.set_item("strike", self.strike())?;
        d.set_item("right", self.right())?;
        d.set_item("root", self.root())?;
        d.set_item("contract_month", self.contract_month())?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let i = &self.inner;
        format!("Instrument({:?}, kind={}, multiplier={}, tick_size={})", i.symbol, i.kind.name(), i.multiplier, i.tick_size)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.inner.symbol.hash(&mut h);
        h.finish()
    }
}

/// Resolves symbols to instruments (core of `quant_engine.instruments.InstrumentRegistry`).
#[pyclass(module = "quant_engine._core", subclass, from_py_object)]
#[derive(Clone)]
pub struct InstrumentRegistry {
    pub(crate) inner: CoreRegistry,
}

#[pymethods]
impl InstrumentRegistry {
    /// `allow_unlisted_equities=None` takes the one default (`DEFAULT_ALLOW_UNLISTED_EQUITIES`).
    #[new]
    #[pyo3(signature = (builtins=true, allow_unlisted_equities=None, reference_year=None, reference_month=None))]
    fn new(builtins: bool, allow_unlisted_equities: Option<bool>, reference_year: Option<i32>, reference_month: Option<u32>) -> PyResult<Self> {
        let mut inner = if builtins { CoreRegistry::with_builtins() } else { CoreRegistry::empty() };
        inner.set_allow_unlisted_equities(allow_unlisted_equities.unwrap_or(quant_engine_core::instruments::DEFAULT_ALLOW_UNLISTED_EQUITIES));
        if let Some(y) = reference_year {
            inner.set_reference_year(y);
        }
        if let Some(m) = reference_month {
            guard(|| inner.set_reference_month(m).py_err())?;
        }
        Ok(InstrumentRegistry { inner })
    }

    /// The month (`YYYYMM`) one-digit futures years are read against.
    #[getter]
    fn reference_month(&self) -> u32 {
        self.inner.reference_month()
    }

    /// The instrument of `symbol`; raises `UnknownSymbolError` when it cannot be resolved.
    fn resolve(&self, symbol: &str) -> PyResult<Instrument> {
        guard(|| self.inner.resolve(symbol).map(Instrument::wrap).py_err())
    }

    /// Registers (or overrides) an instrument under its symbol.
    fn register(&mut self, instrument: Instrument) -> PyResult<()> {
        guard(|| self.inner.register(instrument.inner).py_err())
    }

    /// Registers (or overrides) a futures root.
    #[pyo3(signature = (root, multiplier, tick_size, initial_margin=None, currency="USD"))]
    fn register_future_root(&mut self, root: &str, multiplier: f64, tick_size: f64, initial_margin: Option<f64>, currency: &str) -> PyResult<()> {
        guard(|| self.inner.register_future_root(root, FutureRoot { multiplier, tick_size, initial_margin, currency: currency.to_owned() }).py_err())
    }

    /// Registers (or overrides) an option class (root).
    #[pyo3(signature = (root, underlying, multiplier=100.0, tick_size=0.01))]
    fn register_option_root(&mut self, root: &str, underlying: &str, multiplier: f64, tick_size: f64) -> PyResult<()> {
        guard(|| self.inner.register_option_root(root, OptionRoot { underlying: underlying.to_owned(), multiplier, tick_size }).py_err())
    }

    /// Adds tickers to the known equities (x1).
    fn add_equities(&mut self, tickers: Vec<String>) {
        self.inner.add_equities(tickers);
    }

    /// The option instrument of ThetaData's contract fields: root, expiration `YYYYMMDD`,
    /// strike in tenths of a cent (`190000` = $190), right (`C`/`P`/`call`/`put`).
    fn thetadata_option(&self, root: &str, expiration: u32, strike: i64, right: &str) -> PyResult<Instrument> {
        guard(|| {
            let o = thetadata_option(root, expiration, strike, right).py_err()?;
            self.inner.option(&o).map(Instrument::wrap).py_err()
        })
    }

    /// Known futures roots, sorted.
    fn future_roots(&self) -> Vec<String> {
        self.inner.future_roots()
    }

    /// Explicitly registered symbols, sorted.
    fn registered(&self) -> Vec<String> {
        self.inner.registered_symbols()
    }

    /// Whether unlisted tickers resolve as equities.
    #[getter]
    fn allow_unlisted_equities(&self) -> bool {
        self.inner.allow_unlisted_equities()
    }

    fn __contains__(&self, symbol: &str) -> bool {
        self.inner.resolve(symbol).is_ok()
    }

    fn __repr__(&self) -> String {
        format!(
            "InstrumentRegistry(future_roots={}, registered={}, allow_unlisted_equities={})",
            self.inner.future_roots().len(),
            self.inner.registered_symbols().len(),
            self.inner.allow_unlisted_equities()
        )
    }
}

/// Parses an OCC option symbol (padded or compact; `O:` Massive prefix accepted) into a dict:
/// root, expiry (YYYYMMDD), strike (dollars), strike_milli, right, occ, massive.
#[pyfunction]
pub fn parse_option_symbol<'py>(py: Python<'py>, symbol: &str) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let t = symbol.trim_start();
        let o = parse_occ(t.strip_prefix("O:").unwrap_or(t)).py_err()?;
        let d = PyDict::new(py);
        d.set_item("root", &o.root)?;
        d.set_item("expiry", o.expiry)?;
        d.set_item("strike", o.strike())?;
        d.set_item("strike_milli", o.strike_milli)?;
        d.set_item("right", o.right.letter().to_string())?;
        d.set_item("occ", o.occ())?;
        d.set_item("massive", o.massive())?;
        Ok(d)
    })
}
