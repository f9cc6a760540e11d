"""The bar validation kernel agrees with a NumPy statement of each rule, and bad bars are refused
with the symbol and row named."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import BadDataError
from quant_engine.kernels.bar_checks import BAR_PROBLEMS, check_bars
from quant_engine.strategy import prepare_bars

MINUTE = 60_000_000_000


def reference(
    start: np.ndarray,
    offsets: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    vw: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each rule of BAR_PROBLEMS over whole arrays."""
    n = start.shape[0]
    seg_first = np.zeros(n, bool)
    seg_first[offsets[:-1][offsets[:-1] < n]] = True
    prev = np.concatenate([[0], start[:-1]])
    with np.errstate(invalid="ignore"):
        bad0 = ~seg_first & (start <= prev)
        ok = (o > 0) & (h > 0) & (lo > 0) & (c > 0) & (h < np.inf) & (o < np.inf) & (c < np.inf)
        bad2 = ok & ((lo > o) | (lo > c) | (h < o) | (h < c))
        bad3 = ~((v >= 0) & (v < np.inf) & (vw > 0) & (vw < np.inf))
    flags = [bad0, ~ok, bad2, bad3]
    counts = np.array([f.sum() for f in flags], np.int64)
    first = np.array([int(np.argmax(f)) if f.any() else -1 for f in flags], np.int64)
    return counts, first


_SPECIAL = st.sampled_from([np.nan, np.inf, -np.inf, 0.0, -1.0, 1e-9, 1e9])


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40), min_size=1, max_size=4),
    seed=st.integers(0, 2**32 - 1),
    n_bad=st.integers(0, 6),
    data=st.data(),
)
def test_check_bars_matches_the_rules(sizes: list[int], seed: int, n_bad: int, data: st.DataObject) -> None:
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    start = np.concatenate([np.arange(k, dtype=np.int64) * MINUTE for k in sizes]) if n else np.zeros(0, np.int64)
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    o = c * (1 + rng.normal(0, 0.005, n))
    h = np.maximum(o, c) * (1 + rng.uniform(0, 0.01, n))
    lo = np.minimum(o, c) * (1 - rng.uniform(0, 0.01, n))
    v = rng.uniform(0, 1000, n)
    vw = c.copy()
    cols = [start, o, h, lo, c, v, vw]
    for _ in range(n_bad if n else 0):
        which = data.draw(st.integers(0, len(cols) - 1))
        row = data.draw(st.integers(0, n - 1))
        if which == 0:
            start[row] = start[row - 1] if row else start[row]
        else:
            cols[which][row] = (
                data.draw(_SPECIAL) if data.draw(st.booleans()) else cols[which][row] * data.draw(st.floats(0.5, 1.5))
            )
    counts, first = check_bars(start, offsets, o, h, lo, c, v, vw)
    want_counts, want_first = reference(start, offsets, o, h, lo, c, v, vw)
    assert counts.tolist() == want_counts.tolist()
    assert first.tolist() == want_first.tolist()


def test_bad_bars_are_refused_with_symbol_and_row() -> None:
    n = 50
    close = np.full(n, 100.0)
    high = close + 1
    high[17] = 99.0  # below the close
    table = pa.table(
        {
            "symbol": ["AAA"] * n,
            "start": pa.array(np.arange(n, dtype=np.int64) * MINUTE, pa.timestamp("ns", tz="UTC")),
            "open": close,
            "high": high,
            "low": close - 1,
            "close": close,
            "volume": np.ones(n),
        }
    )
    with pytest.raises(
        BadDataError, match=r"1 bar\(s\) with high/low not containing open/close \(first: symbol 'AAA', row 17\)"
    ):
        prepare_bars(table)
    assert BAR_PROBLEMS[2] == "high/low not containing open/close"


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(st.sampled_from(["", "A", "AB", "BA", "AAPL", "AAPM", "é"]), min_size=1, max_size=30),
    cut=st.integers(0, 5),
    large=st.booleans(),
)
def test_single_symbol_detection_matches_python(values: list[str], cut: int, large: bool) -> None:
    from quant_engine.strategy.bar_arrays import _single_value

    arr = pa.array(["X"] * cut + values, pa.large_string() if large else pa.string()).slice(cut)
    assert _single_value(arr) == (len(set(values)) == 1)


@pytest.mark.parametrize("pos", [0, 1, 65_535, 65_536, 131_071, 199_999])
@pytest.mark.parametrize("other", ["SYM", "SY", "SYNN"])
def test_single_symbol_detection_finds_one_odd_value_in_any_block(pos: int, other: str) -> None:
    """The check runs in blocks across threads: one differing value (same or other length) is
    found wherever it sits, block edges included."""
    from quant_engine.strategy.bar_arrays import _single_value

    values = ["SYN"] * 200_000
    assert _single_value(pa.array(values).slice(3))
    values[pos] = other
    assert not _single_value(pa.array(values))
