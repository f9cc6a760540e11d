"""Strategy errors: Python-built strategies get exactly the checks JSON gets, and every error
says what would be valid (allowed operators and values, the closest spelling, dict keys in paths)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bar_factory import random_bars
from quant_engine.errors import InvalidArgumentError, StrategyValidationError
from quant_engine.research import backtest, sweep
from quant_engine.strategy import compile_strategy
from quant_engine.strategy import nodes as N
from quant_engine.strategy.spec import Fixed, Strategy
from quant_engine.suggest import closest, did_you_mean

BASE: dict[str, Any] = {
    "instruments": ["AAPL"],
    "entry_long": {
        "op": "cross_above",
        "left": {"op": "sma", "x": "close", "n": 5},
        "right": {"op": "sma", "x": "close", "n": 20},
    },
}


def _doc(**change: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(BASE))
    doc.update(change)
    return doc


def _error(doc: Any) -> StrategyValidationError:
    with pytest.raises(StrategyValidationError) as info:
        compile_strategy(doc)
    return info.value


def test_python_structs_get_the_json_checks() -> None:
    rule = N.CrossAbove(left=N.Sma(x="close", n=5), right=N.Sma(x="close", n=20))
    err = _error(Strategy(instruments=["AAPL"], entry_long=rule, time_stop=-3))
    assert err.path == "$.time_stop" and ">= 1" in err.reason
    err = _error(Strategy(instruments=["AAPL"], entry_long=N.Gt(left=N.Sma(x="clsoe", n=5), right=1.0)))  # type: ignore[arg-type]
    assert err.path == "$.entry_long.left.x" and "did you mean `close`" in err.reason
    err = _error(Strategy(instruments=["AAPL"], entry_long=rule, sizing=Fixed(quantity=-1.0)))
    assert err.path == "$.sizing.quantity"
    # the same document as JSON gives the same error
    assert (
        _error(json.dumps(_doc(time_stop=-3))).reason
        == _error(Strategy(instruments=["AAPL"], entry_long=rule, time_stop=-3)).reason
    )


@pytest.mark.parametrize(
    ("change", "path", "needles"),
    [
        (
            {"entry_long": {**BASE["entry_long"], "op": "cross_abov"}},
            "$.entry_long.op",
            ["unknown operator `cross_abov`", "did you mean `cross_above`"],
        ),
        (
            {"entry_long": {"op": "sma", "x": "close", "n": 5}},
            "$.entry_long.op",
            ["numeric expression where a condition belongs", "cross_above"],
        ),
        ({"entry_long": 3.0}, "$.entry_long", ["a number where a condition belongs"]),
        (
            {"entry_long": {"op": "gt", "left": True, "right": 1}},
            "$.entry_long.left",
            ["condition (true/false) where a numeric expression belongs"],
        ),
        (
            {"entry_long": {"op": "gt", "left": {"op": "bollinger", "x": "close", "n": 5, "band": "uper"}, "right": 1}},
            "$.entry_long.left.band",
            ["did you mean `upper`", "percent_b"],
        ),
        (
            {"entry_long": {"op": "gt", "left": "close", "rigth": 1}},
            "$.entry_long",
            ["unknown field `rigth`", "did you mean `right`"],
        ),
        ({"params": {"j": 1, "k": "x"}}, "$.params.k", ["Expected `float`"]),
        ({"sizing": {"kind": "fixd", "quantity": 1}}, "$.sizing.kind", ["did you mean `fixed`"]),
        (
            {"entry_long": {"op": "gt", "left": {"op": "call", "fn": "nope"}, "right": 0}},
            "$.entry_long.left.fn",
            ["unknown operator `nope`"],
        ),
    ],
)
def test_errors_say_what_would_be_valid(change: dict[str, Any], path: str, needles: list[str]) -> None:
    for doc in (_doc(**change), json.dumps(_doc(**change))):
        err = _error(doc)
        assert err.path == path, str(err)
        for needle in needles:
            assert needle in err.reason, str(err)


def test_compile_strategy_accepts_a_path(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text(json.dumps(BASE))
    assert compile_strategy(p).hash == compile_strategy(BASE).hash
    err = _error(tmp_path / "missing.json")
    assert "missing.json" in err.reason


def test_backtest_params_errors_do_not_talk_of_a_grid() -> None:
    doc = _doc(
        params={"fast": 5.0},
        entry_long={
            "op": "gt",
            "left": "close",
            "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        },
    )
    bars = random_bars(60, ["AAPL"])
    with pytest.raises(StrategyValidationError) as info:
        backtest(doc, bars, {"allow_unlisted_equities": True}, params={"fsat": 3})
    assert (
        "grid" not in str(info.value)
        and "did you mean `fast`" in str(info.value)
        and info.value.path == "$.params.fsat"
    )
    with pytest.raises(StrategyValidationError) as info:
        backtest(doc, bars, params={"fast": 0})
    assert "grid" not in str(info.value) and info.value.path.endswith(".n")


def test_best_suggests_a_metric() -> None:
    doc = _doc(
        params={"fast": 5.0},
        entry_long={
            "op": "gt",
            "left": "close",
            "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
        },
    )
    res = sweep(doc, {"fast": [3, 5]}, random_bars(120, ["AAPL"]))
    assert res.best("sharpe").num_rows == 1
    with pytest.raises(InvalidArgumentError, match="did you mean `sharpe`"):
        res.best("sharp")
    with pytest.raises(InvalidArgumentError, match="unknown metric `fast`"):
        res.best("fast")


def test_did_you_mean() -> None:
    assert closest("sharp", ["sharpe", "sortino"]) == "sharpe"
    assert closest("CLOSE", ["open", "close"]) == "close"
    assert did_you_mean("zzzz", ["open", "close"]) == ""
