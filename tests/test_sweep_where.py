"""Sweep constraints as text: ``sweep(..., where="fast < slow")``, lists of them, and the CLI's
``--where``, all through one parser whose errors name the bad token and what is allowed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bar_factory import random_bars
from conftest import MINUTE
from quant_engine.cli import main
from quant_engine.errors import InvalidArgumentError
from quant_engine.research import sweep
from quant_engine.research.constraints import OPERATORS, parse_where

PARAMS = ["fast", "slow", "k"]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "strategies"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("fast<slow", ("fast", "<", "slow")),
        ("  fast   <=  slow ", ("fast", "<=", "slow")),
        ("slow >= 20", ("slow", ">=", 20.0)),
        ("k != -1.5e-1", ("k", "!=", -0.15)),
        ("5 < fast", ("fast", ">", 5.0)),
        ("2 >= k", ("k", "<=", 2.0)),
        ("fast == slow", ("fast", "==", "slow")),
    ],
)
def test_text_constraints(text: str, want: tuple[str, str, object]) -> None:
    assert parse_where(text, PARAMS) == [want]


def test_one_tuple_a_list_and_nothing() -> None:
    assert parse_where(("fast", "<", "slow"), PARAMS) == [("fast", "<", "slow")]
    assert parse_where(["fast < slow", ("k", ">", 1)], PARAMS) == [("fast", "<", "slow"), ("k", ">", 1.0)]
    assert parse_where(None, PARAMS) == [] and parse_where((), PARAMS) == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("fsat < slow", "unknown parameter 'fsat' (did you mean 'fast'?); parameters: fast, slow, k"),
        ("fast << slow", "unexpected '<' at position 7, expected a parameter or a number"),
        ("fast = slow", "unexpected '=' at position 6 (use == for equality)"),
        (
            "fast slow",
            "unexpected 'slow' at position 6, expected an operator; parameters: fast, slow, k; operators: < <= > >= == !=",
        ),
        ("fast <", "incomplete, expected a parameter or a number at the end"),
        ("", "empty constraint"),
        ("1 < 2", "compares two numbers"),
        ("fast < slow and k > 1", "unexpected 'and' at position 13: one comparison per constraint"),
        ("fast < slow; drop table", "unexpected ';' at position 12"),
        (("fast", "=<", "slow"), "unknown operator '=<'"),
        (("fast", "<", "slwo"), "unknown parameter 'slwo' (did you mean 'slow'?)"),
        (("fast", "<", None), "compare with a parameter name or a number, not NoneType"),
    ],
)
def test_errors_name_the_token_and_what_is_allowed(where: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as exc:
        parse_where(where, PARAMS)  # type: ignore[arg-type]
    assert message in str(exc.value)


@given(
    st.sampled_from(PARAMS),
    st.sampled_from(OPERATORS),
    st.one_of(st.sampled_from(PARAMS), st.integers(-1000, 1000)),
    st.text(" \t", max_size=3),
    st.text(" \t", max_size=3),
)
def test_formatted_constraints_parse_back(left: str, op: str, right: str | int, pad1: str, pad2: str) -> None:
    text = f"{pad1}{left}{pad2}{op}{pad1}{right}{pad2}"
    assert parse_where(text, PARAMS) == [(left, op, right if isinstance(right, str) else float(right))]


@given(st.text(max_size=30))
def test_any_text_parses_or_fails_with_a_typed_error(text: str) -> None:
    try:
        out = parse_where(text, PARAMS)
    except InvalidArgumentError as exc:
        assert str(exc).startswith("where ")
    else:
        ((left, op, right),) = out
        assert left in PARAMS and op in OPERATORS and (right in PARAMS or isinstance(right, float))


def test_sweep_accepts_text_where() -> None:
    spec = json.loads((EXAMPLES / "sma_cross.json").read_text())
    bars = random_bars(400, symbols=("AAPL", "MSFT"), seed=4, step=5 * MINUTE)
    grid = {"fast": [2, 5, 10, 30], "slow": [5, 10, 30]}
    text = sweep(spec, grid, bars, where="fast < slow").table
    tuples = sweep(spec, grid, bars, where=[("fast", "<", "slow")]).table
    assert text.equals(tuples)
    fast, slow = np.asarray(text.column("fast")), np.asarray(text.column("slow"))
    assert (fast < slow).all() and text.num_rows == 6
    two = sweep(spec, grid, bars, where=["fast < slow", "slow != 30"]).table
    assert two.num_rows == 3 and set(two.column("slow").to_pylist()) == {5.0, 10.0}


def test_cli_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "bars.parquet"
    pq.write_table(random_bars(300, symbols=("AAPL", "MSFT"), seed=5, step=5 * MINUTE), data)
    spec = str(EXAMPLES / "sma_cross.json")
    out = tmp_path / "sweep.csv"
    args = [
        "backtest",
        spec,
        "--data",
        str(data),
        "--grid",
        "fast=2,5,10,30",
        "slow=5,10,30",
        "--where",
        "fast<slow",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert "sweep of 6 combinations where fast<slow" in capsys.readouterr().out
    assert main([*args, "--where", "slow>=30"]) == 0
    assert out.read_text().count("\n") == 1 + 3
    assert main([*args[:4], "--grid", "fast=2,5", "--where", "fast<solw"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown parameter 'solw' (did you mean 'slow'?)" in err[0]
    assert main(["backtest", spec, "--data", str(data), "--where", "fast<slow"]) == 2
    assert "--where filters a sweep: give --grid too" in capsys.readouterr().err
