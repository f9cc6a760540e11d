"""``quant-engine bars`` on degenerate input fails with one line that says why, never exits 0 with
an empty file: all ticks rejected (counts by reason), integer timestamps in the wrong unit (a hint
naming the right ``--ts-unit``), an empty file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_engine import _core
from quant_engine.cli import main
from quant_engine.cli.bars import unit_hint
from quant_engine.cli.tables import read_table

UNIT_NS = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}


def fails_with(capsys: pytest.CaptureFixture[str], args: list[str], *fragments: str) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    for fragment in fragments:
        assert fragment in err[0], err[0]


def test_all_nan_prices_fail_with_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "nan.csv"
    csv.write_text(
        "ts,symbol,price,size\n2024-01-02T14:30:01Z,A,NaN,1\n2024-01-02T14:30:02Z,A,nan,1\n2024-01-02T14:30:03Z,A,,1\n"
    )
    out = tmp_path / "bars.parquet"
    fails_with(
        capsys,
        ["bars", str(csv), "--out", str(out)],
        "BadDataError",
        "all 3 ticks were rejected (non_finite_price 2, null_field 1)",
        "nothing written",
    )
    assert not out.exists()


def test_empty_file_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "empty.csv"
    csv.write_text("ts,symbol,price,size\n")
    fails_with(capsys, ["bars", str(csv), "--out", str(tmp_path / "b.csv")], "no ticks in the file")


@pytest.mark.parametrize(("scale", "unit"), [(1, "s"), (1_000, "ms"), (1_000_000, "us")])
def test_integer_timestamps_in_another_unit_get_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], scale: int, unit: str
) -> None:
    t = 1_704_205_801
    csv = tmp_path / "t.csv"
    csv.write_text(f"ts,symbol,price,size\n{t * scale},A,10,1\n{(t + 1) * scale},A,11,1\n{(t + 61) * scale},A,12,1\n")
    fails_with(
        capsys,
        ["bars", str(csv), "--out", str(tmp_path / "b.csv")],
        "all 3 ticks were rejected (ts_out_of_range 3)",
        f"try --ts-unit {unit}",
    )
    assert main(["bars", str(csv), "--ts-unit", unit, "--out", str(tmp_path / "b.csv")]) == 0
    assert read_table(tmp_path / "b.csv").column("trades").to_pylist() == [2, 1]


def test_partly_rejected_input_still_succeeds_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("ts,symbol,price,size\n2024-01-02T14:30:01Z,A,10,1\n2024-01-02T14:30:02Z,A,-1,1\n")
    assert main(["bars", str(csv), "--out", str(tmp_path / "b.parquet")]) == 0
    assert "rejected: non_positive_price 1" in capsys.readouterr().out
    fails_with(
        capsys,
        ["bars", str(csv), "--strict", "--out", str(tmp_path / "c.parquet")],
        "1 of 2 ticks rejected (non_positive_price 1)",
    )


@given(st.integers(_core.MIN_TS, _core.MAX_TS - 1), st.sampled_from(list(UNIT_NS)), st.sampled_from(list(UNIT_NS)))
def test_unit_hint_names_a_unit_that_fits(instant: int, true_unit: str, given_unit: str) -> None:
    raw = instant // UNIT_NS[true_unit]
    hint = unit_hint(raw, given_unit)
    if _core.MIN_TS <= raw * UNIT_NS[given_unit] < _core.MAX_TS:
        assert hint == ""  # the given unit already fits
    else:
        suggested = hint.rsplit("--ts-unit ", 1)[1]
        assert _core.MIN_TS <= raw * UNIT_NS[suggested] < _core.MAX_TS


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("2024-01-02T14:30:01Z,A,1\n", "t.csv: CSV parse error: Expected 4 columns, got 3"),
        ("notatime,A,1,1\n", "column 'ts' has values such as 'notatime' that are not times: use ISO-8601"),
        (
            "2024-01-02T09:30:01,A,1,1\n2024-01-02T09:30:02+01:00,A,1,1\n",
            "column 'ts' mixes times with and without a UTC offset",
        ),
    ],
)
def test_unreadable_rows_are_one_line_naming_the_file_or_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: str, message: str
) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("ts,symbol,price,size\n" + rows)
    fails_with(capsys, ["bars", str(csv), "--out", str(tmp_path / "b.csv")], message)


def test_a_file_that_is_not_parquet_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "g.parquet"
    bad.write_text("not parquet")
    fails_with(capsys, ["bars", str(bad), "--out", str(tmp_path / "b.csv")], f"{bad}: Parquet magic bytes not found")
    fails_with(capsys, ["regimes", str(bad)], str(bad), "Parquet magic bytes not found")
