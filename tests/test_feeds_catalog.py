"""The Parquet catalog: layout, append without duplicates, pushed-down range reads, DuckDB and
Polars readers, user imports and the ``quant-engine ingest`` command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.errors import InvalidArgumentError, NoDataError
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.synthetic import SyntheticMarket


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    return SyntheticMarket(symbols=["AAPL", "MSFT"], days=3, ticks_per_day=3_000).trades()


def test_layout_and_append_without_duplicates(tmp_path: Path, trades: pa.Table) -> None:
    cat = Catalog(tmp_path)
    first = cat.append("trades", trades.slice(0, 8_000))
    again = cat.append("trades", trades)  # overlaps the first half
    assert first["rows_added"] == 8_000 and again["rows_added"] == trades.num_rows - 8_000
    assert cat.append("trades", trades)["rows_added"] == 0
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet"))
    assert files[0] == "kind=trades/symbol=AAPL/date=2024-01-02/part-0.parquet" and len(files) == 6
    part = pq.read_table(tmp_path / files[0])
    assert "symbol" not in part.column_names and "date" not in part.column_names
    ts = pc.cast(part.column("ts"), pa.int64()).to_numpy()
    assert (ts[1:] >= ts[:-1]).all()
    back = cat.read("trades")
    assert back.num_rows == trades.num_rows
    assert aggregate_ticks(back, "1m").equals(aggregate_ticks(trades, "1m"))
    assert not list(tmp_path.rglob(".tmp-*"))


def test_range_reads_are_pushed_down(tmp_path: Path, trades: pa.Table) -> None:
    cat = Catalog(tmp_path)
    cat.append("trades", trades)
    got = cat.read("trades", ["MSFT"], "2024-01-03T15:00:00Z", "2024-01-03T15:30:00Z")
    names = pc.cast(trades.column("symbol"), pa.string())
    t = pc.cast(trades.column("ts"), pa.int64())
    lo, hi = 1_704_294_000 * 10**9, 1_704_295_800 * 10**9
    want = trades.filter(pc.and_(pc.equal(names, "MSFT"), pc.and_(pc.greater_equal(t, lo), pc.less(t, hi))))
    assert got.num_rows == want.num_rows > 0
    assert got.column("sequence").to_pylist() == want.column("sequence").to_pylist()
    # the date partitions outside the range are never opened
    frag = list(cat.dataset("trades").get_fragments(filter=pc.field("date") == "2024-01-03"))
    assert len(frag) == 2
    with pytest.raises(NoDataError):
        cat.read("quotes")
    with pytest.raises(InvalidArgumentError):
        cat.append(
            "trades",
            pa.table(
                {"ts": pa.array([1], pa.timestamp("ns", tz="UTC")), "symbol": ["A/B"], "price": [1.0], "size": [1.0]}
            ),
        )


def test_duckdb_and_polars_read_it_as_is(tmp_path: Path, trades: pa.Table) -> None:
    cat = Catalog(tmp_path)
    cat.append("trades", trades)
    glob = f"{tmp_path}/kind=trades/**/*.parquet"
    rows = duckdb.sql(
        f"select symbol, count(*) n, sum(size) v from read_parquet('{glob}', hive_partitioning=true) group by symbol order by symbol"
    ).fetchall()
    names = pc.cast(trades.column("symbol"), pa.string())
    for sym, n, v in rows:
        sel = trades.filter(pc.equal(names, sym))
        assert n == sel.num_rows and v == pc.sum(sel.column("size")).as_py()
    df = pl.scan_parquet(glob, hive_partitioning=True).filter(pl.col("date").cast(pl.Utf8) == "2024-01-04").collect()
    assert df.height == cat.read("trades", start="2024-01-04T05:00:00Z", end="2024-01-05T05:00:00Z").num_rows > 0
    assert set(df["symbol"].unique().to_list()) == {"AAPL", "MSFT"}


def test_bars_from_stored_bars_or_trades(tmp_path: Path, trades: pa.Table) -> None:
    cat = Catalog(tmp_path)
    cat.append("trades", trades)
    daily = cat.bars("AAPL", "2024-01-02", "2024-01-05", "1d")
    assert daily.num_rows == 3
    minute = aggregate_ticks(trades, "1m")
    cat.append("bars-1m", minute)
    stored = cat.bars(["AAPL", "MSFT"], "2024-01-02", "2024-01-05", "1m")
    assert (
        stored.num_rows == minute.num_rows and stored.column("close").to_pylist() == minute.column("close").to_pylist()
    )
    assert cat.status().state == "online" and Catalog(tmp_path / "none").status().state == "offline"


def test_ingest_csv_and_parquet_and_the_cli(tmp_path: Path, trades: pa.Table) -> None:
    user = trades.select(["ts", "symbol", "price", "size"]).slice(0, 4_000)
    local = pc.local_timestamp(pc.cast(user.column("ts"), pa.timestamp("ns", tz="America/New_York")))
    csv_in = pa.table(
        {
            "time": pc.strftime(local, "%Y-%m-%dT%H:%M:%S"),
            "ticker": pc.cast(user.column("symbol"), pa.string()),
            "price": user.column("price"),
            "qty": user.column("size"),
        }
    )
    csv_path = tmp_path / "ticks.csv"
    pacsv.write_csv(csv_in, csv_path)
    cat = Catalog(tmp_path / "cat")
    rep = cat.ingest(csv_path, ts_column="time", tz="America/New_York", columns={"ticker": "symbol", "qty": "size"})
    assert rep["rows_added"] == 4_000
    assert (
        cat.ingest(csv_path, ts_column="time", tz="America/New_York", columns={"ticker": "symbol", "qty": "size"})[
            "rows_added"
        ]
        == 0
    )
    got = cat.read("trades")
    assert aggregate_ticks(got, "1m").equals(aggregate_ticks(user, "1m"))
    pq_path = tmp_path / "ticks.parquet"
    pq.write_table(user.select(["ts", "price", "size"]), pq_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "quant_engine.cli",
            "ingest",
            str(pq_path),
            "--symbol",
            "XYZ",
            "--catalog",
            str(tmp_path / "cat"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "4,000 new" in proc.stdout
    assert "XYZ" in cat.symbols()
    bad = subprocess.run(
        [sys.executable, "-m", "quant_engine.cli", "ingest", str(tmp_path / "missing.csv"), "--catalog", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such file" in bad.stderr
