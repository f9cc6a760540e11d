//! `RunSpec`: built and validated once; every bad rule value or configuration is a typed error.

use quant_engine_core::backtest::ConfigDoc;
use quant_engine_core::trading::{Exit, ExitKind, RuleColumns, RunSpec, Sizing, SizingKind};
use quant_engine_core::CoreError;

fn columns<'a>(stop: ExitKind, values: &'a [f64], times: &'a [i64], sizing: SizingKind) -> RuleColumns<'a> {
    RuleColumns { stop, stop_values: values, take: ExitKind::None, take_values: values, time_stops: times, sizing, sizing_values: values }
}

fn symbols() -> Vec<String> {
    vec!["AAPL".to_string()]
}

#[test]
fn builds_one_rule_set_per_combination() {
    let spec = RunSpec::new(&symbols(), ConfigDoc::default(), 252.0, columns(ExitKind::Percent, &[0.01, 0.02], &[0, 5], SizingKind::EquityFraction)).unwrap();
    assert_eq!(spec.combinations(), 2);
    let r = spec.rules_of(1, 1).unwrap()[0];
    assert_eq!(r.stop, Exit::Percent(0.02));
    assert_eq!(r.take, Exit::None);
    assert_eq!(r.time_stop, 5);
    assert_eq!(r.sizing, Sizing::EquityFraction(0.02));
    assert!(r.allow_short && r.close_at_end);
    assert_eq!(spec.setup.instruments[0].symbol, "AAPL");
    assert!(spec.rules_of(1, 2).is_err());
}

#[test]
fn refuses_bad_rules_and_configurations() {
    let bad = |r: Result<RunSpec, CoreError>| assert!(matches!(r, Err(CoreError::InvalidArgument { .. })), "{r:?}");
    let doc = ConfigDoc::default;
    bad(RunSpec::new(&symbols(), doc(), 252.0, columns(ExitKind::Points, &[-1.0], &[0], SizingKind::Fixed)));
    bad(RunSpec::new(&symbols(), doc(), 252.0, columns(ExitKind::Percent, &[f64::NAN], &[0], SizingKind::Fixed)));
    bad(RunSpec::new(&symbols(), doc(), 252.0, columns(ExitKind::None, &[1.0], &[-1], SizingKind::Fixed)));
    bad(RunSpec::new(&symbols(), doc(), 252.0, columns(ExitKind::None, &[1.0], &[0], SizingKind::RiskFraction)));
    bad(RunSpec::new(&symbols(), doc(), 252.0, columns(ExitKind::None, &[], &[], SizingKind::Fixed)));
    bad(RunSpec::new(&symbols(), doc(), 252.0, columns(ExitKind::None, &[1.0], &[0, 0], SizingKind::Fixed)));
    bad(RunSpec::new(&symbols(), doc(), 0.0, columns(ExitKind::None, &[1.0], &[0], SizingKind::Fixed)));
    bad(RunSpec::new(&[], doc(), 252.0, columns(ExitKind::None, &[1.0], &[0], SizingKind::Fixed)));
    bad(RunSpec::new(&symbols(), ConfigDoc { initial_cash: -5.0, ..doc() }, 252.0, columns(ExitKind::None, &[1.0], &[0], SizingKind::Fixed)));
    let unknown = RunSpec::new(&["NOPE123".to_string()], doc(), 252.0, columns(ExitKind::None, &[1.0], &[0], SizingKind::Fixed));
    assert!(matches!(unknown, Err(CoreError::UnknownSymbol(_))), "{unknown:?}");
}
