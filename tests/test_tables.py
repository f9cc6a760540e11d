"""``quant_engine.tables``: the one "anything table-like into Arrow" conversion, and the entry
points that use it (tick aggregation, bar preparation, regimes, discovery, option chains, live
runners) accepting the same inputs with the same errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from bar_factory import random_bars
from quant_engine.bars import aggregate_ticks
from quant_engine.errors import SchemaError
from quant_engine.regimes import classify
from quant_engine.strategy import prepare_bars
from quant_engine.tables import ACCEPTED, as_arrow, as_table

WANT = pa.table({"a": pa.array([1, 2, 3], pa.int64()), "b": pa.array([0.5, 1.5, 2.5])})


def _inputs() -> dict[str, object]:
    rec = np.zeros(3, dtype=[("a", np.int64), ("b", np.float64)])
    rec["a"], rec["b"] = [1, 2, 3], [0.5, 1.5, 2.5]
    out: dict[str, object] = {
        "table": WANT,
        "record batch": WANT.to_batches()[0],
        "reader": pa.RecordBatchReader.from_batches(WANT.schema, WANT.to_batches()),
        "dict of arrays": {"a": np.array([1, 2, 3]), "b": np.array([0.5, 1.5, 2.5])},
        "dict of lists": {"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]},
        "pandas": pd.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]}, index=[7, 8, 9]),
        "numpy structured": rec,
    }
    try:
        import polars as pl

        out["polars"] = pl.DataFrame({"a": [1, 2, 3], "b": [0.5, 1.5, 2.5]})
    except ImportError:  # pragma: no cover - polars is optional
        pass
    return out


@pytest.mark.parametrize("kind", list(_inputs()))
def test_every_accepted_input_becomes_the_same_table(kind: str) -> None:
    got = as_table(_inputs()[kind], required=("a", "b"))
    assert got.equals(WANT), got  # the pandas index is dropped, types kept


def test_producers_pass_through_unread() -> None:
    reader = pa.RecordBatchReader.from_batches(WANT.schema, WANT.to_batches())
    assert as_arrow(reader) is reader  # a stream is handed on, not read whole
    assert as_arrow(WANT) is WANT
    assert isinstance(as_arrow({"a": [1]}), pa.Table)


@pytest.mark.parametrize("bad", [[1, 2, 3], "a,b\n1,2", 3.5, None, np.arange(3)])
def test_anything_else_is_a_schema_error_naming_what_is_accepted(bad: object) -> None:
    with pytest.raises(SchemaError, match="expected ticks as") as exc:
        as_table(bad, what="ticks")
    assert ACCEPTED in str(exc.value) and type(bad).__name__ in str(exc.value)


def test_unequal_columns_and_missing_columns_are_named() -> None:
    with pytest.raises(SchemaError, match=r"orders: the columns have different lengths \(\{'a': 2, 'b': 3\}\)"):
        as_table({"a": [1, 2], "b": [1, 2, 3]}, what="orders")
    with pytest.raises(SchemaError, match=r"bars: no 'close' column \(columns: \['a', 'b'\]\)"):
        as_table(WANT, what="bars", required=("a", "close"))


def test_entry_points_share_the_conversion_and_its_errors() -> None:
    bars = random_bars(60, ("AAA", "BBB"), seed=4)
    frame = bars.to_pandas()
    assert prepare_bars(frame).symbols == ["AAA", "BBB"]  # pandas into BarArrays
    assert classify(frame).num_rows == 120  # regimes now take a pandas frame too
    ticks = {
        "ts": pa.array(bars.column("start").cast(pa.int64()).to_numpy()[:60], pa.int64()),
        "symbol": ["AAA"] * 60,
        "price": bars.column("close").to_numpy()[:60],
        "size": np.full(60, 10.0),
    }
    assert aggregate_ticks(ticks, "1m").num_rows == 60
    for call in (prepare_bars, classify, lambda x: aggregate_ticks(x, "1m")):
        with pytest.raises(SchemaError, match=f"as {ACCEPTED}, got list"):
            call([1, 2])
