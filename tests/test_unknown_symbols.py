"""One unknown-symbol rule: the backtester and the risk engine accept and reject the same
symbols from the same configuration; one-digit futures years follow the data's date."""

from __future__ import annotations

from typing import Any

import pytest

from bar_factory import T0, random_bars
from quant_engine.errors import UnknownSymbolError
from quant_engine.instruments import ALLOW_UNLISTED_EQUITIES_DEFAULT, InstrumentRegistry, month_of
from quant_engine.research import BacktestConfig, backtest
from quant_engine.risk import RiskEngine

SYMBOLS = ["AAPL", "SPY", "XYZQ", "ZZTOP", "ES", "ESZ4", "NOPEZ4", "AAPL  240119C00190000", "I:SPX"]


def _doc(symbol: str) -> dict[str, Any]:
    return {
        "instruments": [symbol],
        "sizing": {"kind": "fixed", "quantity": 1},
        "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": 3}},
    }


def _backtest_accepts(symbol: str, config: BacktestConfig) -> bool:
    try:
        backtest(_doc(symbol), random_bars(20, [symbol]), config)
    except UnknownSymbolError:
        return False
    return True


def _risk_accepts(symbol: str, engine: RiskEngine) -> bool:
    """Whether the engine knows the symbol (an unknown one is rejected as ``unknown_instrument``)."""
    return engine.validate(symbol, "buy", 1, 50.0, commit=False).reason != "unknown_instrument"


@pytest.mark.parametrize(
    "config",
    [
        BacktestConfig(),
        BacktestConfig(allow_unlisted_equities=True),
        BacktestConfig(instruments={"ZZTOP": {"kind": "equity", "multiplier": 1}}),
    ],
)
def test_backtest_and_risk_engine_accept_the_same_symbols(config: BacktestConfig) -> None:
    engine = RiskEngine(cash=1e9, registry=config.registry())
    verdicts = {s: (_backtest_accepts(s, config), _risk_accepts(s, engine)) for s in SYMBOLS}
    assert all(b == r for b, r in verdicts.values()), verdicts
    assert verdicts["AAPL"] == (True, True) and verdicts["ES"] == (True, True)
    assert verdicts["XYZQ"][0] is config.allow_unlisted_equities


def test_the_defaults_are_one_rule() -> None:
    assert BacktestConfig().allow_unlisted_equities is ALLOW_UNLISTED_EQUITIES_DEFAULT is False
    assert InstrumentRegistry().allow_unlisted_equities is ALLOW_UNLISTED_EQUITIES_DEFAULT
    engine = RiskEngine(cash=1e9)  # its default registry
    for symbol in ("XYZQ", "AAPL"):
        assert _backtest_accepts(symbol, BacktestConfig()) == _risk_accepts(symbol, engine)
    with pytest.raises(UnknownSymbolError) as info:
        backtest(_doc("XYZQ"), random_bars(20, ["XYZQ"]))
    text = str(info.value)
    assert text.startswith("unknown symbol 'XYZQ': ") and "allow_unlisted_equities=True" in text


def test_one_digit_futures_years_follow_the_reference() -> None:
    assert InstrumentRegistry(reference_date="2024-09-15").resolve("ESZ4").contract_month == 202412
    assert InstrumentRegistry(reference_month=202612).resolve("ESZ4").contract_month == 203412
    assert InstrumentRegistry(reference_month=202409).resolve("ESH3").contract_month == 203303
    assert InstrumentRegistry(reference_year=2024).resolve("ESZ3").contract_month == 202312
    assert month_of(T0) == 202401 and month_of("2024-09-15") == 202409


def test_a_backtest_reads_one_digit_years_against_its_data() -> None:
    """ESZ4 in 2024 data is the December 2024 contract (canonical ``ESZ24``), whatever today's
    date (with today's reference, Z4 would be 2034): a position limit set for ``ESZ24`` binds,
    one set for ``ESZ34`` does not."""
    bars = random_bars(30, ["ESZ4"], start=T0)

    def run(limited: str) -> Any:
        return backtest(
            _doc("ESZ4"),
            bars,
            BacktestConfig(initial_cash=1e7, risk_limits={"symbols": {limited: {"max_position": 0.5}}}),
        )

    bound, free = run("ESZ24"), run("ESZ34")
    assert bound.fills.num_rows == 0 and sum(bound.rejections.values()) > 0, bound.rejections
    assert free.fills.num_rows > 0 and set(free.fills.column("multiplier").to_pylist()) == {50.0}
    assert InstrumentRegistry(reference_month=month_of(T0)).resolve("ESZ4").symbol == "ESZ24"


def test_cli_backtest_follows_the_rule(tmp_path: Any, capsys: Any) -> None:
    import json

    import pyarrow.parquet as pq

    from quant_engine.cli import main

    pq.write_table(random_bars(40, ["XYZQ"]), tmp_path / "bars.parquet")
    (tmp_path / "s.json").write_text(json.dumps(_doc("XYZQ")))
    args = ["backtest", str(tmp_path / "s.json"), "--data", str(tmp_path / "bars.parquet")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown symbol 'XYZQ'" in err[0] and "allow_unlisted_equities" in err[0]
    assert main([*args, "--allow-unlisted-equities"]) == 0
