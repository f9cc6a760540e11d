//! Instrument registry and symbol grammars: golden specs, parsers, and the rule that a
//! multiplier is never silently 1.

use proptest::prelude::*;
use quant_engine_core::instruments::symbols::{parse_future_code, parse_massive, parse_occ, thetadata_option, MassiveTicker};
use quant_engine_core::instruments::{InstrumentKind, InstrumentRegistry, OptionRight};
use quant_engine_core::CoreError;

fn reg() -> InstrumentRegistry {
    let mut r = InstrumentRegistry::with_builtins();
    r.set_reference_year(2024);
    r
}

#[test]
fn golden_futures_multipliers() {
    let r = reg();
    for (sym, mult, tick) in [
        ("ES", 50.0, 0.25),
        ("MES", 5.0, 0.25),
        ("NQ", 20.0, 0.25),
        ("MNQ", 2.0, 0.25),
        ("RTY", 50.0, 0.1),
        ("YM", 5.0, 1.0),
        ("CL", 1000.0, 0.01),
        ("GC", 100.0, 0.1),
        ("ZN", 1000.0, 0.015625),
        ("ZB", 1000.0, 0.03125),
        ("VX", 1000.0, 0.05),
    ] {
        let i = r.resolve(sym).unwrap();
        assert_eq!(i.kind, InstrumentKind::Future, "{sym}");
        assert_eq!(i.multiplier, mult, "{sym}");
        assert_eq!(i.tick_size, tick, "{sym}");
    }
}

#[test]
fn futures_contract_codes_resolve_to_the_root() {
    let r = reg();
    let a = r.resolve("ESZ4").unwrap();
    let b = r.resolve("ESZ24").unwrap();
    let c = r.resolve("/ESZ4").unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a.symbol, "ESZ24");
    assert_eq!(a.multiplier, 50.0);
    assert_eq!(a.future.as_ref().unwrap().contract_month, Some(202412));
    // Longest root wins: MES, not ME + S.
    let m = r.resolve("MESH25").unwrap();
    assert_eq!(m.multiplier, 5.0);
    assert_eq!(m.future.unwrap().root, "MES");
    // One-digit year relative to the reference month (2024-01): Z3 -> 2023, Z2 -> 2032.
    let is_root = |s: &str| s == "ES";
    assert_eq!(parse_future_code("ESZ3", 202401, &is_root).unwrap().contract_month, Some(202312));
    assert_eq!(parse_future_code("ESZ2", 202401, &is_root).unwrap().contract_month, Some(203212));
    assert!(parse_future_code("ESA4", 202401, &is_root).is_none());
}

#[test]
fn one_digit_years_follow_the_reference_month() {
    let is_root = |s: &str| s == "ES";
    let month = |code: &str, reference: u32| parse_future_code(code, reference, &is_root).unwrap().contract_month.unwrap();
    // Data of September 2024: the December 2024 contract, and one that expired months before.
    assert_eq!(month("ESZ4", 202409), 202412);
    assert_eq!(month("ESZ3", 202409), 202312);
    assert_eq!(month("ESH3", 202409), 203303, "March 2023 is more than 12 months before September 2024");
    // Today (December 2026): Z4 is two years past, so the next decade's contract.
    assert_eq!(month("ESZ4", 202612), 203412);
    assert_eq!(month("ESZ5", 202612), 202512);
    assert_eq!(month("ESH5", 202612), 203503);
    let mut r = InstrumentRegistry::with_builtins();
    r.set_reference_month(202409).unwrap();
    assert_eq!(r.resolve("ESZ4").unwrap().future.unwrap().contract_month, Some(202412));
    assert!(r.set_reference_month(202413).is_err());
}

proptest! {
    #[test]
    fn one_digit_year_is_the_earliest_within_a_year_back(digit in 0i32..10, month in 1u32..=12, year in 1990u32..2100, ref_m in 1u32..=12) {
        let reference = year * 100 + ref_m;
        let y = quant_engine_core::instruments::symbols::one_digit_year(digit, month, reference);
        prop_assert_eq!(y.rem_euclid(10), digit);
        let idx = |y: i32, m: u32| y * 12 + m as i32 - 1;
        let earliest = idx(year as i32, ref_m) - 12;
        prop_assert!(idx(y, month) >= earliest);
        prop_assert!(idx(y - 10, month) < earliest, "a decade earlier would also qualify");
    }
}

#[test]
fn occ_and_vendor_option_symbols() {
    let r = reg();
    let occ = r.resolve("AAPL  240119C00190000").unwrap();
    assert_eq!(occ.kind, InstrumentKind::Option);
    assert_eq!(occ.multiplier, 100.0);
    let o = occ.option.as_ref().unwrap();
    assert_eq!((o.underlying.as_str(), o.expiry, o.strike, o.right), ("AAPL", 20240119, 190.0, OptionRight::Call));
    // Compact OCC and Massive forms are the same contract.
    assert_eq!(r.resolve("AAPL240119C00190000").unwrap(), occ);
    assert_eq!(r.resolve("O:AAPL240119C00190000").unwrap(), occ);
    let m = r.resolve("O:AAPL230616C00150000").unwrap();
    assert_eq!(m.option.as_ref().unwrap().strike, 150.0);
    assert_eq!(m.symbol, "AAPL  230616C00150000");
    // ThetaData: root, YYYYMMDD, strike in tenths of a cent, right.
    let t = thetadata_option("AAPL", 20240119, 190_000, "C").unwrap();
    assert_eq!(r.option(&t).unwrap(), occ);
    let spxw = r.option(&thetadata_option("SPXW", 20240315, 4_800_000, "call").unwrap()).unwrap();
    assert_eq!(spxw.option.as_ref().unwrap().underlying, "SPX");
    assert_eq!(spxw.option.as_ref().unwrap().strike, 4800.0);
    assert_eq!(spxw.multiplier, 100.0);
    assert_eq!(spxw.tick_size, 0.05);
    // Put, fractional strike.
    let p = parse_occ("SPY   240621P00512500").unwrap();
    assert_eq!((p.right, p.strike()), (OptionRight::Put, 512.5));
    assert_eq!(p.occ(), "SPY   240621P00512500");
    assert_eq!(p.massive(), "O:SPY240621P00512500");
    assert_eq!(parse_massive("I:SPX").unwrap(), MassiveTicker::Index("SPX".into()));
}

#[test]
fn bad_option_symbols_are_errors() {
    for bad in ["AAPL  241319C00190000", "AAPL  240119X00190000", "AAPL  240119C0019000A", "TOOLONGROOT240119C00190000", "240119C00190000"] {
        assert!(parse_occ(bad).is_err(), "{bad}");
    }
    assert!(thetadata_option("AAPL", 20240230, 190_000, "C").is_err());
    assert!(thetadata_option("AAPL", 20240119, 0, "C").is_err());
    assert!(thetadata_option("AAPL", 20240119, 190_000, "X").is_err());
}

#[test]
fn unknown_symbols_are_errors_never_x1() {
    let r = reg();
    for sym in ["XYZQ", "ESQQ", "", "  ", "I:NOPE", "^NOPE", "ZZZZZ9"] {
        match r.resolve(sym) {
            Err(CoreError::UnknownSymbol(msg)) => assert!(!msg.is_empty()),
            other => panic!("{sym:?} resolved to {other:?}"),
        }
    }
    // Adjusted option roots have non-standard deliverables: never assumed x100.
    assert!(matches!(r.resolve("AAPL1 240119C00190000"), Err(CoreError::UnknownSymbol(_))));
    // Unlisted equities only with the explicit opt-in.
    let mut open = reg();
    open.set_allow_unlisted_equities(true);
    assert_eq!(open.resolve("XYZQ").unwrap().multiplier, 1.0);
}

#[test]
fn overrides_win_and_are_validated() {
    let mut r = reg();
    let mut es = r.resolve("ES").unwrap();
    es.initial_margin = Some(15_000.0);
    r.register(es.clone()).unwrap();
    assert_eq!(r.resolve("ES").unwrap().initial_margin, Some(15_000.0));
    let mut bad = es.clone();
    bad.multiplier = 0.0;
    assert!(r.register(bad).is_err());
    let mut bad = es;
    bad.multiplier = f64::NAN;
    assert!(r.register(bad).is_err());
}

proptest! {
    /// Every OCC symbol round-trips, and every option resolves to x100 (never 1).
    #[test]
    fn occ_round_trip(root in "[A-Z]{1,5}", y in 20u32..40, m in 1u32..13, d in 1u32..29, call in any::<bool>(), strike in 1u64..99_999_999) {
        let s = format!("{:<6}{:02}{:02}{:02}{}{:08}", root, y, m, d, if call { 'C' } else { 'P' }, strike);
        let p = parse_occ(&s).unwrap();
        prop_assert_eq!(p.occ(), s.clone());
        let r = reg();
        let i = r.resolve(&s).unwrap();
        prop_assert_eq!(i.multiplier, 100.0);
        prop_assert_eq!(r.resolve(&p.massive()).unwrap(), i);
    }

    /// Whatever string resolves, resolves with the multiplier of its spec; random strings that
    /// are not known never resolve to a default.
    #[test]
    fn multiplier_never_silently_one(s in "[A-Z0-9:/ ^$]{0,12}") {
        let r = reg();
        if let Ok(i) = r.resolve(&s) {
            prop_assert!(i.multiplier > 0.0);
            match i.kind {
                InstrumentKind::Future => {
                    let root = &i.future.as_ref().unwrap().root;
                    prop_assert_eq!(i.multiplier, r.future_root(root).unwrap().multiplier);
                }
                InstrumentKind::Option => prop_assert_eq!(i.multiplier, 100.0),
                InstrumentKind::Equity | InstrumentKind::Index => prop_assert_eq!(i.multiplier, 1.0),
            }
        }
    }
}
