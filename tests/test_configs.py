"""Configurations given as objects or dicts: one validator, unknown keys are errors (never a
silently cost-free backtest), messages name the path and the allowed keys."""

from __future__ import annotations

from typing import Any

import pytest

from bar_factory import random_bars
from quant_engine.errors import InvalidArgumentError
from quant_engine.execution import ExecutionConfig, ExecutionModel, FeeSchedule, Slippage
from quant_engine.research import BacktestConfig, backtest
from quant_engine.risk import RiskEngine, RiskLimits

DOC = {
    "instruments": ["AAPL"],
    "sizing": {"kind": "fixed", "quantity": 10},
    "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
    "exit_long": {"op": "lt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
}
LEAKS = ("line 1", "column", "FeeSchedule {", "Slippage {", "serde", "msgspec", "Object contains")


def _error(make: Any) -> str:
    with pytest.raises(InvalidArgumentError) as info:
        make()
    text = str(info.value)
    assert not any(leak in text for leak in LEAKS), text
    return text


@pytest.mark.parametrize(
    ("execution", "path", "suggestion"),
    [
        ({"slipage": {"fixed_bps": 50}}, "execution.slipage", "slippage"),
        ({"slippage": {"fixed_bsp": 50}}, "execution.slippage.fixed_bsp", "fixed_bps"),
        ({"equity_fee": {"per_unit": 0.01}}, "execution.equity_fee", "equity_fees"),
        ({"equity_fees": {"per_units": 0.01}}, "execution.equity_fees.per_units", "per_unit"),
    ],
)
def test_a_typo_in_a_cost_setting_is_an_error_everywhere(execution: dict[str, Any], path: str, suggestion: str) -> None:
    for make in (
        lambda: BacktestConfig(execution=execution),
        lambda: BacktestConfig.from_mapping({"execution": execution}),
        lambda: backtest(DOC, random_bars(50, ["AAPL"]), {"execution": execution}),
        lambda: ExecutionModel(execution),
    ):
        text = _error(make)
        assert f"`{path}`" in text and f"did you mean `{suggestion}`" in text and "allowed:" in text, text


def test_objects_holding_dicts_go_through_the_same_validator() -> None:
    text = _error(lambda: BacktestConfig(execution=ExecutionConfig(slippage={"fixed_bsp": 5})))  # type: ignore[arg-type]
    assert "`execution.slippage.fixed_bsp`" in text
    text = _error(lambda: ExecutionModel(ExecutionConfig(slippage=Slippage(fixed_bps="5"))))  # type: ignore[arg-type]
    assert "`execution.slippage.fixed_bps`" in text and "expected" in text


def test_risk_limits_and_instrument_overrides_reject_unknown_keys() -> None:
    text = _error(lambda: BacktestConfig(risk_limits={"equity": {"max_order_qty": 5}}))
    assert "`risk_limits.equity.max_order_qty`" in text and "max_order_quantity" in text
    text = _error(lambda: RiskEngine({"symbols": {"ES": {"max_postion": 3}}}))
    assert "`risk_limits.symbols.ES.max_postion`" in text and "did you mean `max_position`" in text
    text = _error(lambda: RiskLimits.from_json('{"max_daily_los": 5}'))
    assert "`risk_limits.max_daily_los`" in text
    text = _error(lambda: BacktestConfig(instruments={"XYZ": {"kind": "equity", "multipler": 1}}))
    assert "`instruments.XYZ.multipler`" in text and "did you mean `multiplier`" in text
    text = _error(lambda: BacktestConfig.from_mapping({"intial_cash": 5}))
    assert "`config.intial_cash`" in text and "initial_cash" in text


def test_values_are_checked_at_construction_without_internals() -> None:
    text = _error(lambda: BacktestConfig(execution={"equity_fees": {"per_unit": -1.0}}))
    assert "per_unit" in text and "-1" in text
    text = _error(lambda: ExecutionModel(ExecutionConfig(future_fees=FeeSchedule(bps=float("nan")))))
    assert "future_fees" in text and "bps" in text
    _error(lambda: BacktestConfig(initial_cash=0))
    _error(lambda: BacktestConfig(risk_limits={"max_drawdown": "a lot"}))


def test_a_whole_config_may_be_a_dict_and_costs_apply() -> None:
    bars = random_bars(200, ["AAPL"], seed=3)
    free = backtest(DOC, bars, {"initial_cash": 100_000.0})
    costly = backtest(
        DOC,
        bars,
        {"initial_cash": 100_000.0, "execution": {"slippage": {"fixed_bps": 50}, "equity_fees": {"per_unit": 0.01}}},
    )
    assert free.metrics["trades"] == costly.metrics["trades"] > 0
    assert sum(costly.fills.column("fees").to_pylist()) > 0 and sum(costly.fills.column("slippage").to_pylist()) > 0
    assert costly.metrics["total_return"] < free.metrics["total_return"]
    assert isinstance(costly.config.execution, ExecutionConfig) and costly.config.execution.slippage.fixed_bps == 50
