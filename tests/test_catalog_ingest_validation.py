"""``Catalog.ingest`` stores only rows the bar engine accepts: the others are counted by the engine's
reason codes (the Rust aggregator's counts are the oracle), and a file with no valid row fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from conftest import SECOND, T0
from quant_engine import _core
from quant_engine.cli import main
from quant_engine.errors import BadDataError
from quant_engine.feeds.catalog import Catalog


def dirty_trades(n: int = 400, seed: int = 1) -> pa.Table:
    """Trades where about a third of the rows break one or more of the engine's rules."""
    rng = np.random.default_rng(seed)
    ts = T0 + np.arange(n, dtype=np.int64) * SECOND
    price = 100.0 + rng.normal(0, 1, n)
    size = rng.integers(1, 100, n).astype(np.float64)
    kind = rng.integers(0, 9, n)
    price[kind == 1] = -price[kind == 1]
    price[kind == 2] = 0.0
    price[kind == 3] = np.nan
    price[kind == 4] = np.inf
    size[kind == 5] = -1.0
    size[kind == 6] = np.nan
    ts[kind == 7] = 1_704_205_800  # seconds given as nanoseconds: 1970
    null = kind == 8
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("ns", tz="UTC")),
            "symbol": pa.array(["A", "B"] * (n // 2), pa.string()),
            "price": pa.array(price, mask=null),
            "size": size,
        }
    )


def engine_rejections(trades: pa.Table) -> dict[str, int]:
    agg = _core.TickAggregator(60 * SECOND, 0, False, None)
    agg.push(trades)
    agg.finish()
    return {k: v for k, v in agg.stats()["rejected"].items() if v}


def test_ingest_counts_what_the_bar_engine_rejects(tmp_path: Path) -> None:
    trades = dirty_trades()
    path = tmp_path / "t.parquet"
    pq.write_table(trades, path)
    cat = Catalog(tmp_path / "cat")
    report = cat.ingest(path, batch_size=97)
    want = engine_rejections(trades)
    assert report["rejected"] == want and report["rows_rejected"] == sum(want.values()) > 100
    assert report["rows_in"] == trades.num_rows
    stored = cat.read("trades")
    assert stored.num_rows == report["rows_added"] == trades.num_rows - report["rows_rejected"]
    assert engine_rejections(stored.select(["ts", "symbol", "price", "size"])) == {}


def test_bars_kind_rejects_non_positive_prices(tmp_path: Path) -> None:
    path = tmp_path / "bars.csv"
    path.write_text(
        "start,symbol,open,high,low,close,volume,vwap,trades\n"
        "2024-01-02T14:30:00Z,A,10,11,9,10.5,100,10.2,3\n"
        "2024-01-02T14:31:00Z,A,10,11,-9,10.5,100,10.2,3\n"
        "2024-01-02T14:32:00Z,A,10,11,9,10.5,-5,10.2,3\n"
    )
    report = Catalog(tmp_path / "cat").ingest(path, "bars-1m")
    assert report["rejected"] == {"non_positive_price": 1, "negative_size": 1} and report["rows_added"] == 1


def test_nothing_valid_is_an_error_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    pacsv.write_csv(
        pa.table({"ts": ["2024-01-02T14:30:00Z"] * 2, "symbol": ["A", "A"], "price": [-1.0, 0.0], "size": [1.0, 1.0]}),
        path,
    )
    cat = Catalog(tmp_path / "cat")
    with pytest.raises(
        BadDataError, match=r"bad.csv: all 2 rows were rejected \(non_positive_price 2\); nothing stored"
    ):
        cat.ingest(path)
    assert cat.kinds() == []


def test_cli_ingest_reports_rejections_and_fails_when_nothing_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "t.csv"
    good.write_text(
        "ts,symbol,price,size\n2024-01-02T14:30:01Z,A,-1,1\n2024-01-02T14:30:02Z,A,NaN,1\n2024-01-02T14:30:03Z,A,5,1\n"
    )
    assert main(["ingest", str(good), "--catalog", str(tmp_path / "cat")]) == 0
    out = capsys.readouterr().out
    assert "3 rows read, 1 new" in out and "rejected: non_finite_price 1, non_positive_price 1" in out
    bad = tmp_path / "nan.csv"
    bad.write_text("ts,symbol,price,size\n2024-01-02T14:30:01Z,A,NaN,1\n2024-01-02T14:30:02Z,A,nan,1\n")
    assert main(["ingest", str(bad), "--catalog", str(tmp_path / "cat")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "all 2 rows were rejected (non_finite_price 2)" in err[0]


def test_cli_ingest_hints_the_unit_of_integer_timestamps(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secs = tmp_path / "secs.csv"
    secs.write_text("time,symbol,price,size\n1704205801,A,10,1\n1704205802,A,11,1\n")
    args = ["ingest", str(secs), "--catalog", str(tmp_path / "cat"), "--rename", "time=ts"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "all 2 rows were rejected (ts_out_of_range 2)" in err[0] and "try --ts-unit s" in err[0]
    assert main([*args, "--ts-unit", "s"]) == 0
    assert "2 rows read, 2 new" in capsys.readouterr().out
