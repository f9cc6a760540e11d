//! The instrument registry: symbol in, spec out, or a clear error.

use std::collections::{HashMap, HashSet};

use super::builtin::{self, EQUITIES, FUTURES, INDEXES, INDEX_OPTION_ROOTS, OPTION_MULTIPLIER, OPTION_TICK};
use super::symbols::{self, OptionSymbol};
use super::{FutureTerms, Instrument, InstrumentKind, OptionTerms};
use crate::error::{CoreError, CoreResult};

/// A futures product (root) spec: every contract month of the root shares it.
#[derive(Debug, Clone, PartialEq)]
pub struct FutureRoot {
    /// USD (or `currency`) per point per contract.
    pub multiplier: f64,
    /// Minimum price increment.
    pub tick_size: f64,
    /// Initial margin per contract, when known.
    pub initial_margin: Option<f64>,
    /// ISO currency.
    pub currency: String,
}

/// An option class (root) spec: the underlying, multiplier and tick of every contract on it.
#[derive(Debug, Clone, PartialEq)]
pub struct OptionRoot {
    /// The underlying symbol.
    pub underlying: String,
    /// Units of the underlying per contract (100 for standard options).
    pub multiplier: f64,
    /// Minimum price increment of the premium.
    pub tick_size: f64,
}

/// Resolves symbols to instruments.
///
/// Resolution order: registered instruments (exact symbol), Massive prefixes (`O:` options,
/// `I:` indexes), `^SPX`/`$SPX` indexes, OCC option symbols (padded or compact), futures codes
/// (`ES`, `/ES`, `ESZ4`, `ESZ24`), known equities and indexes. Anything else is
/// [`CoreError::UnknownSymbol`]: a multiplier is never assumed.
#[derive(Debug, Clone)]
pub struct InstrumentRegistry {
    registered: HashMap<String, Instrument>,
    future_roots: HashMap<String, FutureRoot>,
    option_roots: HashMap<String, OptionRoot>,
    equities: HashSet<String>,
    indexes: HashSet<String>,
    allow_unlisted_equities: bool,
    reference_month: u32,
}

/// Whether a registry resolves tickers it does not list as equities (x1) unless told otherwise:
/// the one default of every registry, the backtester's included (`docs/instruments.md`).
pub const DEFAULT_ALLOW_UNLISTED_EQUITIES: bool = false;

impl Default for InstrumentRegistry {
    fn default() -> Self {
        Self::with_builtins()
    }
}

impl InstrumentRegistry {
    /// An empty registry (no built-in specs): only what is registered resolves, plus options
    /// whose OCC/Massive symbol fully describes them.
    pub fn empty() -> Self {
        InstrumentRegistry {
            registered: HashMap::new(),
            future_roots: HashMap::new(),
            option_roots: HashMap::new(),
            equities: HashSet::new(),
            indexes: HashSet::new(),
            allow_unlisted_equities: DEFAULT_ALLOW_UNLISTED_EQUITIES,
            reference_month: symbols::current_month(),
        }
    }

    /// A registry with the built-in US contracts ([`builtin`]).
    pub fn with_builtins() -> Self {
        let mut r = Self::empty();
        for f in FUTURES {
            r.future_roots
                .insert(f.root.to_owned(), FutureRoot { multiplier: f.multiplier, tick_size: f.tick_size, initial_margin: None, currency: "USD".into() });
        }
        for (root, underlying, tick) in INDEX_OPTION_ROOTS {
            r.option_roots.insert((*root).to_owned(), OptionRoot { underlying: (*underlying).to_owned(), multiplier: OPTION_MULTIPLIER, tick_size: *tick });
        }
        r.equities.extend(EQUITIES.iter().map(|s| (*s).to_owned()));
        r.indexes.extend(INDEXES.iter().map(|(s, _)| (*s).to_owned()));
        r
    }

    /// Accepts any well-formed ticker not otherwise known as an equity (x1). Off by default: an
    /// explicit opt-in, so a typo never silently becomes a one-share instrument.
    pub fn set_allow_unlisted_equities(&mut self, allow: bool) {
        self.allow_unlisted_equities = allow;
    }

    /// Whether unlisted tickers resolve as equities.
    pub fn allow_unlisted_equities(&self) -> bool {
        self.allow_unlisted_equities
    }

    /// Sets the year that one-digit futures years are read against: its January (see
    /// [`set_reference_month`](Self::set_reference_month)).
    pub fn set_reference_year(&mut self, year: i32) {
        self.reference_month = year.max(0) as u32 * 100 + 1;
    }

    /// Sets the month (`YYYYMM`) that one-digit futures years are read against (default: the
    /// current month; a backtest uses its data's first month): see [`symbols::one_digit_year`].
    pub fn set_reference_month(&mut self, yyyymm: u32) -> CoreResult<()> {
        if !(1..=12).contains(&(yyyymm % 100)) || !(1900..=2200).contains(&(yyyymm / 100)) {
            return Err(CoreError::invalid("reference_month", format!("expected YYYYMM, got {yyyymm}")));
        }
        self.reference_month = yyyymm;
        Ok(())
    }

    /// The month (`YYYYMM`) one-digit futures years are read against.
    pub fn reference_month(&self) -> u32 {
        self.reference_month
    }

    /// Registers (or overrides) an instrument under its symbol. Validated first.
    pub fn register(&mut self, instrument: Instrument) -> CoreResult<()> {
        instrument.validate()?;
        self.registered.insert(instrument.symbol.clone(), instrument);
        Ok(())
    }

    /// Registers (or overrides) a futures root: every contract code on it resolves with this spec.
    pub fn register_future_root(&mut self, root: &str, spec: FutureRoot) -> CoreResult<()> {
        let probe = Instrument {
            initial_margin: spec.initial_margin,
            currency: spec.currency.clone(),
            ..Instrument::new(root, InstrumentKind::Future, spec.multiplier, spec.tick_size)
        };
        probe.validate()?;
        self.future_roots.insert(root.trim().to_ascii_uppercase(), spec);
        Ok(())
    }

    /// Registers (or overrides) an option class (e.g. an adjusted root `AAPL1`, or a nickel
    /// tick class).
    pub fn register_option_root(&mut self, root: &str, spec: OptionRoot) -> CoreResult<()> {
        let probe = Instrument::new(root, InstrumentKind::Option, spec.multiplier, spec.tick_size);
        if !(probe.multiplier.is_finite() && probe.multiplier > 0.0 && probe.tick_size.is_finite() && probe.tick_size > 0.0) {
            return Err(CoreError::invalid("option_root", format!("{root}: multiplier and tick_size must be positive")));
        }
        self.option_roots.insert(root.trim().to_ascii_uppercase(), spec);
        Ok(())
    }

    /// Adds tickers to the known equities (x1, tick $0.01).
    pub fn add_equities<S: AsRef<str>>(&mut self, tickers: impl IntoIterator<Item = S>) {
        self.equities.extend(tickers.into_iter().map(|s| s.as_ref().trim().to_ascii_uppercase()));
    }

    /// The future root spec, if the root is known.
    pub fn future_root(&self, root: &str) -> Option<&FutureRoot> {
        self.future_roots.get(root)
    }

    /// Every known futures root, sorted.
    pub fn future_roots(&self) -> Vec<String> {
        let mut v: Vec<String> = self.future_roots.keys().cloned().collect();
        v.sort();
        v
    }

    /// Every explicitly registered symbol, sorted.
    pub fn registered_symbols(&self) -> Vec<String> {
        let mut v: Vec<String> = self.registered.keys().cloned().collect();
        v.sort();
        v
    }

    /// Resolves a symbol to its instrument (see the type's documentation for the order).
    pub fn resolve(&self, symbol: &str) -> CoreResult<Instrument> {
        let raw = symbol.trim();
        if let Some(i) = self.registered.get(symbol).or_else(|| self.registered.get(raw)) {
            return Ok(i.clone());
        }
        if raw.is_empty() {
            return Err(CoreError::UnknownSymbol(format!("{symbol:?} (empty symbol)")));
        }
        let upper = raw.to_ascii_uppercase();
        if let Some(i) = self.registered.get(&upper) {
            return Ok(i.clone());
        }
        if let Some(rest) = upper.strip_prefix("O:") {
            return self.option(&symbols::parse_occ(rest)?);
        }
        if let Some(rest) = upper.strip_prefix("I:").or_else(|| upper.strip_prefix('^')).or_else(|| upper.strip_prefix('$')) {
            return self.index(rest, raw);
        }
        if looks_like_occ(symbol) {
            return self.option(&symbols::parse_occ(symbol.trim_start())?);
        }
        let is_root = |r: &str| self.future_roots.contains_key(r);
        if let Some(code) = symbols::parse_future_code(&upper, self.reference_month, &is_root) {
            return Ok(self.future(&code.root, code.contract_month));
        }
        if self.equities.contains(&upper) {
            return Ok(Instrument::equity(upper));
        }
        if self.indexes.contains(&upper) {
            return self.index(&upper, raw);
        }
        if self.allow_unlisted_equities && is_ticker(&upper) {
            return Ok(Instrument::equity(upper));
        }
        Err(CoreError::UnknownSymbol(format!(
            "'{raw}': not a registered instrument, an option symbol (OCC 'AAPL  240119C00190000' or \
             'O:AAPL240119C00190000'), a known futures root or contract ('ES', 'ESZ4'), or a known \
             equity/index; register it (registry.register, an overrides file, a backtest's instruments) or opt in \
             to unlisted equities (allow_unlisted_equities=True) rather than assume x1"
        )))
    }

    /// The instrument of an option contract (OCC/Massive/ThetaData pieces).
    pub fn option(&self, o: &OptionSymbol) -> CoreResult<Instrument> {
        let symbol = o.occ();
        if let Some(i) = self.registered.get(&symbol) {
            return Ok(i.clone());
        }
        let (underlying, multiplier, tick_size) = match self.option_roots.get(&o.root) {
            Some(r) => (r.underlying.clone(), r.multiplier, r.tick_size),
            None if o.root.ends_with(|c: char| c.is_ascii_digit()) => {
                return Err(CoreError::UnknownSymbol(format!(
                    "'{}': root '{}' is an adjusted option (non-standard deliverable); register its \
                     option root with the real multiplier first",
                    symbol.trim_end(),
                    o.root
                )))
            }
            None => (o.root.clone(), OPTION_MULTIPLIER, OPTION_TICK),
        };
        let inst = Instrument {
            option: Some(OptionTerms { underlying, root: o.root.clone(), expiry: o.expiry, strike: o.strike(), right: o.right }),
            ..Instrument::new(symbol, InstrumentKind::Option, multiplier, tick_size)
        };
        inst.validate()?;
        Ok(inst)
    }

    fn future(&self, root: &str, contract_month: Option<u32>) -> Instrument {
        let spec = &self.future_roots[root];
        let symbol = match contract_month {
            Some(ym) => {
                let letter = symbols::MONTH_CODES[(ym % 100 - 1) as usize];
                format!("{root}{letter}{:02}", (ym / 100) % 100)
            }
            None => root.to_owned(),
        };
        Instrument {
            initial_margin: spec.initial_margin,
            currency: spec.currency.clone(),
            future: Some(FutureTerms { root: root.to_owned(), contract_month }),
            ..Instrument::new(symbol, InstrumentKind::Future, spec.multiplier, spec.tick_size)
        }
    }

    fn index(&self, name: &str, raw: &str) -> CoreResult<Instrument> {
        if let Some(i) = self.registered.get(name) {
            return Ok(i.clone());
        }
        if self.indexes.contains(name) {
            return Ok(Instrument::new(name, InstrumentKind::Index, 1.0, 0.01));
        }
        Err(CoreError::UnknownSymbol(format!("'{raw}': unknown index '{name}'")))
    }
}

/// Whether `s` ends like an OCC symbol: `YYMMDD` + `C|P` + 8 digits after a root.
fn looks_like_occ(s: &str) -> bool {
    let t = s.trim().as_bytes();
    t.len() >= 16
        && t[t.len() - 8..].iter().all(u8::is_ascii_digit)
        && matches!(t[t.len() - 9], b'C' | b'P')
        && t[t.len() - 15..t.len() - 9].iter().all(u8::is_ascii_digit)
}

fn is_ticker(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 10
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
        && s.as_bytes()[0].is_ascii_uppercase()
}

/// Description of a built-in futures root, if any.
pub fn future_description(root: &str) -> Option<&'static str> {
    builtin::FUTURES.iter().find(|f| f.root == root).map(|f| f.description)
}
