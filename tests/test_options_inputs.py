"""Option inputs as a quant passes them: rights from NumPy string, object and Arrow columns
(vectorized), percentages given for fractions flagged, scalars invalid for every row refused."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.cli import main
from quant_engine.errors import BadDataError, InvalidArgumentError
from quant_engine.options import greeks, implied_vol
from quant_engine.options.inputs import as_call_flags

WORDS = ["C", "P", "c", "p", "call", "put", "CALL", "Put", " C", "p "]


def _oracle(values: list[str]) -> list[int]:
    return [1 if v.strip().lower() in ("c", "call") else 0 for v in values]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=200))
def test_every_form_of_a_rights_column_gives_the_same_flags(values: list[str]) -> None:
    want = _oracle(values)
    arr = np.array(values)
    forms = [
        arr,
        arr.astype(object),
        arr.astype("S"),
        pa.array(values),
        pa.array(values).dictionary_encode(),
        pa.chunked_array([pa.array(values[:1], pa.string()), pa.array(values[1:], pa.string())]),
        values,
    ]
    for form in forms:
        assert as_call_flags(form).tolist() == want, type(form)


@pytest.mark.parametrize("n", [1, 65, 1000])
def test_long_columns_take_the_vectorized_paths(n: int) -> None:
    values = (["C", "P", "P"] * n)[:n]
    want = _oracle(values)
    for form in (np.array(values), pa.array(values), pa.array(values).slice(0), pa.array(["X"] + values).slice(1)):
        assert as_call_flags(form).tolist() == want
    with pytest.raises(InvalidArgumentError, match="not 'call'/'put'"):
        as_call_flags(np.array(values + ["X"]))
    with pytest.raises(InvalidArgumentError, match=r"e\.g\. \['X'"):
        as_call_flags(pa.array(values + ["X"] * 70))
    with pytest.raises(InvalidArgumentError, match="null"):
        as_call_flags(pa.array(values + [None]).dictionary_encode())
    with pytest.raises(InvalidArgumentError):
        as_call_flags(np.array(values + ["calls"]))


def _best(f: Any, repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def test_normalizing_rights_costs_little_next_to_the_greeks() -> None:
    """The rights column must not dominate a greeks() call (it did: 95 of 137 ms converting
    "C"/"P" one by one). Measured as a ratio to the first-order kernel in the same process, so
    a loaded machine slows both; vectorized it is a few percent, the per-value conversion was
    above 100 %."""
    n = 200_000
    calls = np.random.default_rng(3).random(n) < 0.5
    strikes = np.linspace(80.0, 120.0, n)
    greeks(100.0, strikes, 0.5, vol=0.2, right=calls, order=1)  # compiled before timing
    kernel = _best(lambda: greeks(100.0, strikes, 0.5, vol=0.2, right=calls, order=1))
    letters = np.where(calls, "C", "P")
    for form in (letters, pa.array(letters), pa.array(letters).dictionary_encode()):
        ratio = _best(lambda: as_call_flags(form)) / kernel  # noqa: B023
        assert ratio < 0.5, (type(form), ratio)


def test_numpy_string_rights_price_like_booleans() -> None:
    rng = np.random.default_rng(1)
    calls = rng.random(500) < 0.5
    strikes = rng.uniform(80, 120, 500)
    by_string = greeks(100.0, strikes, 0.5, 0.01, 0.0, 0.25, np.where(calls, "C", "P"))
    by_flag = greeks(100.0, strikes, 0.5, 0.01, 0.0, 0.25, calls)
    assert by_string.equals(by_flag)


def test_implausible_inputs_are_flagged() -> None:
    t = greeks([100.0, 100.0], 100.0, 0.5, vol=[20.0, 0.2])
    assert t.column("status").to_pylist() == ["implausible_vol", "ok"]
    assert np.isfinite(t.column("price").to_numpy()).all()  # computed, only flagged
    assert greeks(100.0, 100.0, 0.5, rate=5.0).column("status").to_pylist() == ["implausible_rate"]
    with pytest.raises(BadDataError, match="implausible_vol"):
        greeks(100.0, 100.0, 0.5, vol=20.0, strict=True)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [({"vol": -0.2}, "vol"), ({"expiry_years": 0.0}, "expiry_years"), ({"rate": float("nan")}, "rate")],
)
def test_a_scalar_invalid_for_every_row_is_an_error(kwargs: dict[str, float], name: str) -> None:
    args = {"spot": [100.0, 101.0], "strike": 100.0, "expiry_years": 0.5, **kwargs}
    with pytest.raises(InvalidArgumentError, match=f"^{name} = .* is invalid for every contract"):
        greeks(**args)
    # an array with one bad row is still a per-row status
    assert greeks([100.0, 101.0], 100.0, 0.5, vol=[-0.2, 0.2]).column("status").to_pylist() == ["invalid_input", "ok"]
    with pytest.raises(InvalidArgumentError, match="spot = -1 is invalid"):
        implied_vol([1.0, 2.0], -1.0, 100.0, 0.5)
    # a single contract given only as scalars keeps its row status
    assert greeks(100.0, 100.0, 0.5, vol=-0.2).column("status").to_pylist() == ["invalid_input"]


def test_cli_greeks_with_an_invalid_vol_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chain = tmp_path / "chain.csv"
    chain.write_text(
        "symbol,expiration,strike,right,bid,ask,underlying_price\nAAPL,2026-01-16,275,C,1.47,1.50,225.74\n"
    )
    assert main(["greeks", str(chain), "--valuation", "2025-08-20T15:59:59-04:00", "--vol", "-0.2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "vol = -0.2 is invalid for every contract" in err[0]
