"""The strategy language: JSON round trip, schema, validation paths, limits, canonical form,
hashing and user operators."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import numpy as np
import pytest

from bar_factory import random_bars
from quant_engine.errors import InvalidArgumentError, StrategyValidationError
from quant_engine.strategy import (
    Limits,
    Strategy,
    canonical_json,
    canonicalize,
    compile_strategy,
    evaluate_series,
    parse_strategy,
    register_operator,
    strategy_hash,
    strategy_json_schema,
    unregister_operator,
)

SMA_CROSS = {
    "instruments": ["AAA"],
    "timeframe": "1m",
    "entry_long": {
        "op": "cross_above",
        "left": {"op": "sma", "x": "close", "n": 10},
        "right": {"op": "sma", "x": "close", "n": 30},
    },
    "exit_long": {
        "op": "cross_below",
        "left": {"op": "sma", "x": "close", "n": 10},
        "right": {"op": "sma", "x": "close", "n": 30},
    },
    "stop_loss": {"kind": "percent", "value": 0.02},
    "sizing": {"kind": "risk_fraction", "fraction": 0.01},
}


def _with(**changes: object) -> dict[str, object]:
    doc = json.loads(json.dumps(SMA_CROSS))
    doc.update(changes)
    return doc


def test_json_round_trip_is_lossless() -> None:
    s = parse_strategy(json.dumps(SMA_CROSS))
    text = msgspec.json.encode(s)
    again = parse_strategy(text)
    assert again == s
    assert parse_strategy(SMA_CROSS) == s  # a parsed mapping decodes the same


def test_every_operator_round_trips_and_compiles() -> None:
    rule = {
        "op": "and",
        "args": [
            {"op": "gt", "left": {"op": "rsi", "n": 14}, "right": 30},
            {"op": "lt", "left": {"op": "macd", "output": "hist"}, "right": 0},
            {
                "op": "ge",
                "left": {"op": "bollinger", "band": "percent_b"},
                "right": {"op": "zscore", "x": "close", "n": 20},
            },
            {"op": "le", "left": {"op": "atr", "n": 5}, "right": {"op": "mul", "args": [2, {"op": "bar_range"}]}},
            {
                "op": "or",
                "args": [
                    {
                        "op": "cross_above",
                        "left": {"op": "ema", "x": "close", "n": 5},
                        "right": {"op": "wma", "x": "close", "n": 9},
                    },
                    {
                        "op": "not",
                        "x": {
                            "op": "gt",
                            "left": {"op": "rolling_max", "x": "high", "n": 20},
                            "right": {"op": "rolling_min", "x": "low", "n": 20},
                        },
                    },
                ],
            },
            {"op": "gt", "left": {"op": "returns", "n": 5, "log": True}, "right": {"op": "realized_vol", "n": 10}},
            {"op": "gt", "left": {"op": "vwap_distance"}, "right": {"op": "vwap_distance", "n": 15}},
            {"op": "gt", "left": {"op": "volume_ratio", "n": 10}, "right": 1.5},
            {"op": "ge", "left": {"op": "time_of_day"}, "right": 600},
            {
                "op": "gt",
                "left": {"op": "lag", "x": {"op": "div", "left": "close", "right": "open"}, "n": 2},
                "right": {
                    "op": "sub",
                    "left": {"op": "abs", "x": {"op": "neg", "x": "vwap"}},
                    "right": {"op": "log", "x": "volume"},
                },
            },
            {
                "op": "gt",
                "left": {"op": "add", "args": ["high", "low"]},
                "right": {"op": "max", "args": ["open", {"op": "min", "args": ["close", "vwap"]}]},
            },
        ],
    }
    doc = _with(
        entry_long=rule,
        stop_loss={"kind": "atr", "n": 14, "mult": 2.5},
        take_profit={"kind": "points", "value": 3},
        time_stop=30,
    )
    cs = compile_strategy(doc)
    assert parse_strategy(msgspec.json.encode(cs.strategy)) == cs.strategy
    signals = cs.signals(random_bars(600, seed=1))
    assert signals.num_rows == 600 and "stop_distance" in signals.column_names


@pytest.mark.parametrize(
    ("change", "path", "needle"),
    [
        (
            {"entry_long": {"op": "sma", "x": "close", "n": 3}},
            "$.entry_long.op",
            "numeric expression where a condition belongs",
        ),
        (
            {"entry_long": {"op": "gt", "left": {"op": "sma", "x": "close", "n": 0}, "right": 1}},
            "$.entry_long.left.n",
            ">= 1",
        ),
        (
            {"entry_long": {"op": "gt", "left": {"op": "sma", "x": "clse", "n": 3}, "right": 1}},
            "$.entry_long.left.x",
            "clse",
        ),
        ({"entry_long": {"op": "gt", "left": "close", "right": 1, "extra": 2}}, "$.entry_long", "unknown field"),
        (
            {"entry_long": {"op": "gt", "left": "close", "right": {"op": "lag", "x": "close", "n": -1}}},
            "$.entry_long.right.n",
            ">= 1",
        ),
        ({"entry_long": {"op": "gt", "left": "close", "right": 1e300}}, "$.entry_long.right", "exceeds"),
        (
            {
                "entry_long": {
                    "op": "and",
                    "args": [True, {"op": "gt", "left": "close", "right": {"op": "param", "name": "nope"}}],
                }
            },
            "$.entry_long.args[1].right",
            "not declared",
        ),
        (
            {"entry_long": {"op": "gt", "left": {"op": "macd", "fast": 30, "slow": 10}, "right": 0}},
            "$.entry_long.left",
            "fast < slow",
        ),
        ({"stop_loss": None}, "$.sizing", "needs a stop_loss"),
        ({"stop_loss": {"kind": "percent", "value": 1.5}}, "$.stop_loss.value", "< 1"),
        ({"timeframe": "7 parsecs"}, "$.timeframe", "timeframe"),
        ({"timezone": "Mars/Olympus"}, "$.timezone", "time zone"),
        ({"entry_long": None}, "$", "entry_long or entry_short"),
        ({"instruments": []}, "$.instruments", "length >= 1"),
        (
            {"entry_long": {"op": "gt", "left": {"op": "call", "fn": "not_registered"}, "right": 0}},
            "$.entry_long.left.fn",
            "unknown operator",
        ),
    ],
)
def test_validation_errors_name_the_path(change: dict[str, object], path: str, needle: str) -> None:
    doc = _with(**change)
    if change.get("stop_loss", 0) is None:
        del doc["stop_loss"]
    if change.get("entry_long", 0) is None:
        del doc["entry_long"]
    with pytest.raises(StrategyValidationError) as info:
        parse_strategy(json.dumps(doc))
    assert info.value.path == path, str(info.value)
    assert needle in str(info.value)


def test_limits_on_depth_nodes_windows_and_size() -> None:
    deep: object = "close"
    for _ in range(30):
        deep = {"op": "neg", "x": deep}
    with pytest.raises(StrategyValidationError, match="deeper than 24"):
        parse_strategy(_with(entry_long={"op": "gt", "left": deep, "right": 0}))
    wide = {
        "op": "and",
        "args": [{"op": "gt", "left": {"op": "add", "args": ["close"] * 16}, "right": i} for i in range(16)],
    }
    with pytest.raises(StrategyValidationError, match="more than 20 expression nodes") as info:
        parse_strategy(_with(entry_long=wide), limits=Limits(max_nodes=20))
    assert info.value.path.startswith("$.entry_long.args[")
    with pytest.raises(StrategyValidationError) as info:
        parse_strategy(
            _with(entry_long={"op": "gt", "left": {"op": "sma", "x": "close", "n": 500}, "right": 0}),
            limits=Limits(max_window=100),
        )
    assert info.value.path == "$.entry_long.left.n"
    nested = {"op": "sma", "x": {"op": "sma", "x": {"op": "sma", "x": "close", "n": 20000}, "n": 20000}, "n": 20000}
    with pytest.raises(StrategyValidationError, match="warm-up of 59997 bars"):
        parse_strategy(_with(entry_long={"op": "gt", "left": nested, "right": 0}))
    with pytest.raises(StrategyValidationError, match="exceeds the limit"):
        parse_strategy(json.dumps(_with(description="x" * 300_000)))
    very_deep = '{"instruments":["A"],"entry_long":' + '{"op":"not","x":' * 5000 + "true" + "}" * 5000 + "}"
    with pytest.raises(StrategyValidationError, match="too deep"):
        parse_strategy(very_deep)
    with pytest.raises(StrategyValidationError, match="malformed JSON"):
        parse_strategy('{"instruments": [')


def test_json_schema_describes_the_language() -> None:
    schema = strategy_json_schema()
    defs = schema["$defs"]
    for name in (
        "Sma",
        "Ema",
        "Wma",
        "Rsi",
        "Macd",
        "Atr",
        "Bollinger",
        "ZScore",
        "RollingMin",
        "RollingMax",
        "Returns",
        "RealizedVol",
        "VwapDistance",
        "VolumeRatio",
        "BarRange",
        "TimeOfDay",
        "Lag",
        "CrossAbove",
        "CrossBelow",
        "And",
        "Or",
        "Not",
        "Param",
        "Call",
        "PercentStop",
        "AtrStop",
        "RiskFraction",
        "Strategy",
    ):
        assert name in defs, name
    assert defs["Sma"]["properties"]["n"]["anyOf"][0]["maximum"] == 20_000
    assert defs["Strategy"]["additionalProperties"] is False
    json.dumps(schema)  # serializable
    # the numeric and condition unions are defined once and referenced (what an LLM is sent)
    assert defs["Sma"]["properties"]["x"] == {"$ref": "#/$defs/Num"}
    assert defs["Not"]["properties"]["x"] == {"$ref": "#/$defs/Cond"} and "anyOf" in defs["Num"]
    assert len(json.dumps(schema)) < 40_000
    # a validator written against the schema accepts what the decoder accepts
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(SMA_CROSS, schema)
    for path in sorted(Path(__file__).parents[1].joinpath("examples", "strategies").glob("*.json")):
        jsonschema.validate(json.loads(path.read_text()), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            _with(entry_long={"op": "gt", "left": {"op": "sma", "x": "close", "n": 0}, "right": 1}), schema
        )


def test_canonical_form_sorts_folds_and_normalizes() -> None:
    a = _with(
        entry_long={
            "op": "and",
            "args": [
                {
                    "op": "lt",
                    "left": {"op": "sma", "x": "close", "n": 30},
                    "right": {"op": "sma", "x": "close", "n": 10},
                },
                {
                    "op": "gt",
                    "left": "close",
                    "right": {"op": "mul", "args": [2, 3, {"op": "sub", "left": 10, "right": 5}]},
                },
                True,
            ],
        },
        name="first",
        description="free text is not identity",
    )
    b = _with(
        entry_long={
            "op": "and",
            "args": [
                {"op": "gt", "left": "close", "right": 30},
                {
                    "op": "gt",
                    "left": {"op": "sma", "x": "close", "n": 10},
                    "right": {"op": "sma", "x": "close", "n": 30},
                },
            ],
        },
        name="second",
    )
    sa, sb = parse_strategy(a), parse_strategy(b)
    assert canonicalize(sa) == canonicalize(sb)
    assert strategy_hash(sa) == strategy_hash(sb)
    # key order and whitespace of the input do not matter
    shuffled = json.dumps(dict(reversed(list(a.items()))), indent=3)
    assert strategy_hash(parse_strategy(shuffled)) == strategy_hash(sa)
    # a real change does
    c = _with(entry_long={"op": "gt", "left": "close", "right": 31})
    assert strategy_hash(parse_strategy(c)) != strategy_hash(sa)
    # cross_below(a, b) is cross_above(b, a); x + 0 and x * 1 vanish; not(not(x)) is x
    d1 = parse_strategy(
        _with(entry_long={"op": "cross_below", "left": "close", "right": {"op": "add", "args": ["open", 0]}})
    )
    d2 = parse_strategy(
        _with(
            entry_long={
                "op": "not",
                "x": {
                    "op": "not",
                    "x": {"op": "cross_above", "left": {"op": "mul", "args": [1, "open"]}, "right": "close"},
                },
            }
        )
    )
    assert canonical_json(d1) == canonical_json(d2)


def test_hash_is_stable_across_versions_of_the_process() -> None:
    """The identity of a fixed document is pinned: changing it breaks every stored trial."""
    s = parse_strategy(SMA_CROSS)
    assert canonical_json(s) == (
        b'{"entry_long":{"left":{"n":10,"op":"sma","x":"close"},"op":"cross_above","right":{"n":30,"op":"sma","x":"close"}},'
        b'"exit_long":{"left":{"n":30,"op":"sma","x":"close"},"op":"cross_above","right":{"n":10,"op":"sma","x":"close"}},'
        b'"instruments":["AAA"],"sizing":{"fraction":0.01,"kind":"risk_fraction"},"stop_loss":{"kind":"percent","value":0.02}}'
    )
    assert strategy_hash(s) == "b9e244475f05249e0bf96dca0539d8bbab4a28c6bacf8518c65ace7cbc0ecfc3"


def test_params_bind_into_the_identity() -> None:
    t = _with(
        entry_long={
            "op": "gt",
            "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
            "right": {"op": "param", "name": "level"},
        },
        params={"fast": 10, "level": 100.5},
    )
    concrete = _with(entry_long={"op": "gt", "left": {"op": "sma", "x": "close", "n": 10}, "right": 100.5})
    assert strategy_hash(parse_strategy(t)) == strategy_hash(parse_strategy(concrete))
    assert strategy_hash(parse_strategy(t), bind=False) != strategy_hash(parse_strategy(concrete), bind=False)
    with pytest.raises(StrategyValidationError) as info:
        parse_strategy(_with(entry_long=t["entry_long"], params={"fast": 0.5, "level": 1}))
    assert info.value.path == "$.entry_long.left.n" and "integer" in info.value.reason


def test_constant_expression_errors_are_reported() -> None:
    with pytest.raises(StrategyValidationError, match="undefined") as info:
        canonicalize(
            parse_strategy(
                _with(entry_long={"op": "gt", "left": "close", "right": {"op": "div", "left": 1, "right": 0}})
            )
        )
    assert info.value.path == "$.entry_long.right"


def test_grid_checks_values_where_they_are_used() -> None:
    cs = compile_strategy(
        _with(
            entry_long={
                "op": "gt",
                "left": {"op": "sma", "x": "close", "n": {"op": "param", "name": "fast"}},
                "right": {"op": "sma", "x": "close", "n": {"op": "param", "name": "slow"}},
            },
            params={"fast": 5, "slow": 20},
        )
    )
    g = cs.grid({"fast": [2, 5, 10], "slow": [5, 10, 20]}, where=[("fast", "<", "slow")])
    assert g.tolist() == [[2, 5], [2, 10], [2, 20], [5, 10], [5, 20], [10, 20]]
    with pytest.raises(StrategyValidationError, match="grid: parameter 'fast' = 0") as info:
        cs.grid({"fast": [0, 5]})
    assert info.value.path == "$.entry_long.left.n"
    with pytest.raises(StrategyValidationError, match="unknown parameter"):
        cs.grid({"medium": [3]})


def _double_kernel(inputs, iparams, fparams, out):  # type: ignore[no-untyped-def]
    x = inputs[0]
    n = iparams[0]
    for i in range(x.shape[0]):
        out[i] = np.nan if i < n else x[i] * fparams[0] - x[i - n]


def _peeking_kernel(inputs, iparams, fparams, out):  # type: ignore[no-untyped-def]
    x = inputs[0]
    m = x.shape[0]
    for i in range(m):
        out[i] = x[i + 1] if i + 1 < m else np.nan


def test_user_operator_registration_and_use() -> None:
    op = register_operator(
        "lagdiff",
        _double_kernel,
        inputs=1,
        int_params={"n": (1, 100)},
        float_params={"scale": (0.0, 10.0)},
        description="scale*x - x[n]",
        replace=True,
    )
    try:
        assert op.warmup_bars({"n": 7}) == 7
        bars = random_bars(300, seed=2)
        got = evaluate_series(
            {"op": "call", "fn": "lagdiff", "args": ["close"], "params": {"n": 3, "scale": 2.0}}, bars
        )  # type: ignore[arg-type]
        close = bars.column("close").to_numpy()
        expected = np.concatenate([[np.nan] * 3, 2.0 * close[3:] - close[:-3]])
        np.testing.assert_array_equal(got, expected)
        doc = _with(
            entry_long={
                "op": "gt",
                "left": {
                    "op": "call",
                    "fn": "lagdiff",
                    "args": ["close"],
                    "params": {"n": {"op": "param", "name": "k"}, "scale": 1.0},
                },
                "right": 0,
            },
            params={"k": 5},
        )
        cs = compile_strategy(doc)
        assert cs.lookback == 30 and cs.signals(bars).num_rows == 300
        assert "lagdiff" in strategy_json_schema()["$defs"]["Call"]["properties"]["fn"]["enum"]
        with pytest.raises(StrategyValidationError) as info:
            parse_strategy(
                _with(
                    entry_long={
                        "op": "gt",
                        "left": {"op": "call", "fn": "lagdiff", "args": ["close"], "params": {"n": 500, "scale": 1.0}},
                        "right": 0,
                    }
                )
            )
        assert info.value.path == "$.entry_long.left.params.n"
        with pytest.raises(StrategyValidationError, match="needs parameter 'scale'"):
            parse_strategy(
                _with(
                    entry_long={
                        "op": "gt",
                        "left": {"op": "call", "fn": "lagdiff", "args": ["close"], "params": {"n": 5}},
                        "right": 0,
                    }
                )
            )
        with pytest.raises(StrategyValidationError, match="takes 1 input"):
            parse_strategy(
                _with(
                    entry_long={
                        "op": "gt",
                        "left": {"op": "call", "fn": "lagdiff", "args": [], "params": {"n": 5, "scale": 1}},
                        "right": 0,
                    }
                )
            )
    finally:
        unregister_operator("lagdiff")


def test_user_operator_that_looks_ahead_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not causal"):
        register_operator("peek", _peeking_kernel, inputs=1)
    with pytest.raises(InvalidArgumentError, match="invalid operator name"):
        register_operator("Bad-Name", _double_kernel)


def test_strategy_struct_api_builds_the_same_document() -> None:
    from quant_engine.strategy import CrossAbove, CrossBelow, PercentStop, RiskFraction, Sma

    s = Strategy(
        instruments=["AAA"],
        entry_long=CrossAbove(left=Sma(x="close", n=10), right=Sma(x="close", n=30)),
        exit_long=CrossBelow(left=Sma(x="close", n=10), right=Sma(x="close", n=30)),
        stop_loss=PercentStop(value=0.02),
        sizing=RiskFraction(fraction=0.01),
    )
    assert strategy_hash(parse_strategy(s)) == strategy_hash(parse_strategy(SMA_CROSS))
