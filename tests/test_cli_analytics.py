"""The greeks, regimes and discover subcommands on real files."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.cli import main
from quant_engine.feeds.synthetic import SyntheticMarket

CHAIN = (
    "symbol,expiration,strike,right,bid,ask,underlying_price\r\n"
    "AAPL,2026-01-16,275.000,CALL,1.47,1.50,225.74\r\n"
    "AAPL,2026-01-16,200.000,PUT,3.10,3.20,225.74\r\n"
)


@pytest.fixture(scope="module")
def daily_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ticks = SyntheticMarket(seed=9, symbols=[f"S{i:02d}" for i in range(8)], days=40, ticks_per_day=300).ticks()
    path = tmp_path_factory.mktemp("bars") / "daily.parquet"
    pq.write_table(aggregate_ticks(ticks, interval="1d"), path)
    return path


def test_discover_writes_a_ranked_table(daily_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "scan.parquet"
    assert main(["discover", str(daily_file), "--top", "5", "--out", str(out)]) == 0
    table = pq.read_table(out)
    assert table.num_rows == 5 and table.column("rank").to_pylist() == [1, 2, 3, 4, 5]
    assert "discovery scan" in capsys.readouterr().out


def test_regimes_writes_every_bar(daily_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "regimes.csv"
    assert (
        main(
            [
                "regimes",
                str(daily_file),
                "--trend-window",
                "10",
                "--vol-window",
                "5",
                "--history",
                "20",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert out.read_text().count("\n") == pq.read_table(daily_file).num_rows + 1


def test_greeks_solves_from_quotes(tmp_path: Path) -> None:
    chain = tmp_path / "chain.csv"
    chain.write_text(CHAIN)
    out = tmp_path / "greeks.parquet"
    args = [
        "greeks",
        str(chain),
        "--valuation",
        "2025-08-20T15:59:59-04:00",
        "--rate",
        "0.043",
        "--order",
        "3",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    table = pq.read_table(out)
    assert table.column("iv_status").to_pylist() == ["ok", "ok"]
    assert table.column("implied_vol")[0].as_py() == pytest.approx(0.214, abs=2e-3)
    assert "ultima" in table.column_names


def test_errors_are_one_line_with_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["discover", str(tmp_path / "missing.parquet")]) == 2
    bad = tmp_path / "chain.csv"
    bad.write_text(CHAIN)
    assert main(["greeks", str(bad)]) == 2  # no valuation and no expiry_years column
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("quant-engine ") for line in err)
