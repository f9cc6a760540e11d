"""The ``quant-engine`` command: the main job, ``bars`` on Parquet and CSV, help and errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import SECOND, T0
from quant_engine.bars import aggregate_ticks
from quant_engine.feeds import SyntheticMarket

SCRIPT = Path(sys.executable).parent / "quant-engine"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "quant_engine.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_console_script_is_installed() -> None:
    assert SCRIPT.exists()


@pytest.mark.parametrize("sub", [[], ["run"], ["bars"]])
def test_help_on_every_subcommand(sub: list[str]) -> None:
    proc = run(*sub, "--help")
    assert proc.returncode == 0 and "usage: quant-engine" in proc.stdout


def test_main_job_streams_synthetic_market_to_parquet(tmp_path: Path) -> None:
    out = tmp_path / "bars.parquet"
    proc = run("run", "--ticks-per-day", "20000", "--symbols", "AAPL,MSFT,SPY", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "AAPL" in proc.stdout and "bars written to" in proc.stdout
    bars = pq.read_table(out)
    # The streamed bars equal a batch aggregation of the same seeded ticks.
    ticks = SyntheticMarket(seed=7, symbols=["AAPL", "MSFT", "SPY"], ticks_per_day=20_000).ticks()
    assert bars.equals(aggregate_ticks(ticks, "1m"))


def test_bars_from_parquet_and_csv(tmp_path: Path) -> None:
    ticks = SyntheticMarket(seed=3, symbols=["A", "B"], ticks_per_day=5_000).ticks()
    want = aggregate_ticks(ticks, "5m")
    src = tmp_path / "ticks.parquet"
    pq.write_table(ticks, src)
    proc = run("bars", str(src), "--interval", "5m", "--out", str(tmp_path / "a.parquet"), "--batch-size", "1000")
    assert proc.returncode == 0, proc.stderr
    assert pq.read_table(tmp_path / "a.parquet").equals(want)
    # CSV with integer ms timestamps and a plain symbol column.
    csv_table = pa.table(
        {
            "time_ms": pa.compute.divide(ticks.column("ts").cast(pa.int64()), 1_000_000),
            "symbol": ticks.column("symbol").cast(pa.string()),
            "price": ticks.column("price"),
            "size": ticks.column("size"),
        }
    )
    csv = tmp_path / "ticks.csv"
    pacsv.write_csv(csv_table, csv)
    proc = run(
        "bars",
        str(csv),
        "--interval",
        "5m",
        "--ts-column",
        "time_ms",
        "--ts-unit",
        "ms",
        "--out",
        str(tmp_path / "b.parquet"),
    )
    assert proc.returncode == 0, proc.stderr
    got = pq.read_table(tmp_path / "b.parquet")
    assert got.num_rows == want.num_rows
    assert got.column("trades").equals(want.column("trades"))


def test_csv_with_iso_strings_in_new_york_time(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text(
        "ts,price,size\n2024-01-02T09:30:01,10.0,1\n2024-01-02T09:30:59,11.0,2\n2024-01-02T09:31:00,12.0,3\n"
    )
    out = tmp_path / "o.parquet"
    proc = run("bars", str(csv), "--symbol", "X", "--tz", "America/New_York", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    bars = pq.read_table(out)
    assert bars.column("start").cast(pa.int64()).to_pylist() == [T0, T0 + 60 * SECOND]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["bars", "/nonexistent.parquet", "--out", "x.parquet"], "no such file"),
        (["bars", "{csv}", "--out", "x.parquet", "--interval", "7x"], "InvalidArgumentError"),
        (["bars", "{csv}", "--out", "x.parquet"], "symbol"),
        (["bars", "{bad}", "--out", "x.parquet"], "unsupported file type"),
    ],
)
def test_errors_print_one_line_and_exit_nonzero(tmp_path: Path, args: list[str], message: str) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("ts,price,size\n2024-01-02T09:30:01,10.0,1\n")
    bad = tmp_path / "t.xlsx"
    bad.write_text("x")
    proc = run(*[a.format(csv=csv, bad=bad) for a in args], cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr


def test_strict_mode_fails_on_rejected_ticks(tmp_path: Path) -> None:
    csv = tmp_path / "t.csv"
    csv.write_text("ts,symbol,price,size\n2024-01-02T09:30:01,A,10.0,1\n2024-01-02T09:30:02,A,-1,1\n")
    proc = run("bars", str(csv), "--strict", "--out", str(tmp_path / "o.parquet"))
    assert proc.returncode == 2 and "non_positive_price" in proc.stderr
