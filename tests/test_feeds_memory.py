"""The memory bound (quant_engine.memory): requests whose size is known up front are estimated and
refused above ``QE_MEMORY_CAP`` with one clear line, instead of growing until the kernel kills them."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from quant_engine.errors import InvalidArgumentError, ResourceLimitError
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.synthetic import SyntheticMarket
from quant_engine.memory import machine_memory, memory_cap

SCRIPT = Path(sys.executable).parent / "quant-engine"


def test_cap_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QE_MEMORY_CAP", raising=False)
    total = machine_memory()
    assert total > 0 and memory_cap() == int(total * 0.5)
    assert memory_cap("8GiB") == 8 * 2**30 and memory_cap("512MB") == 512 * 10**6 and memory_cap("2e9") == 2 * 10**9
    assert memory_cap("0.25") == int(total * 0.25) and memory_cap("off") is None
    for bad in ("lots", "-1GiB", "8XB", "0"):
        with pytest.raises(InvalidArgumentError, match="QE_MEMORY_CAP"):
            memory_cap(bad)


def test_synthetic_market_is_refused_above_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QE_MEMORY_CAP", "1GiB")
    with pytest.raises(ResourceLimitError, match=r"needs about .* above the cap of 1\.0 GiB.*QE_MEMORY_CAP"):
        SyntheticMarket(symbols=["AAPL"], ticks_per_day=100_000_000)
    m = SyntheticMarket(symbols=["AAPL", "MSFT"], ticks_per_day=200_000, days=100)  # one day at a time fits
    with pytest.raises(ResourceLimitError, match="ticks of a synthetic market"):
        m.ticks()  # the whole table does not
    assert next(m.day_batches()).num_rows > 0
    monkeypatch.setenv("QE_MEMORY_CAP", "off")
    SyntheticMarket(symbols=["AAPL"], ticks_per_day=100_000_000)  # lazy: nothing allocated yet


def test_catalog_read_is_refused_above_the_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cat = Catalog(tmp_path)
    cat.append("trades", SyntheticMarket(symbols=["AAPL", "MSFT"], days=2, ticks_per_day=5_000).trades())
    rows = cat.read("trades").num_rows
    monkeypatch.setenv("QE_MEMORY_CAP", "2MiB")  # one partition fits, four do not
    with pytest.raises(ResourceLimitError, match=f"reading {rows:,} catalog rows of trades"):
        cat.read("trades")
    assert cat.read("trades", ["AAPL"], "2024-01-02", "2024-01-02T15:00:00Z").num_rows > 0  # pruned to one partition


def test_cli_refuses_a_huge_request_fast_with_one_line(tmp_path: Path) -> None:
    spec = tmp_path / "sma_cross.json"
    spec.write_text(
        json.dumps(
            {
                "instruments": ["AAPL"],
                "entry_long": {
                    "op": "cross_above",
                    "left": {"op": "sma", "x": "close", "n": 5},
                    "right": {"op": "sma", "x": "close", "n": 20},
                },
                "exit_long": {
                    "op": "cross_below",
                    "left": {"op": "sma", "x": "close", "n": 5},
                    "right": {"op": "sma", "x": "close", "n": 20},
                },
                "sizing": {"kind": "fixed", "quantity": 10},
            }
        )
    )
    cmd = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "quant_engine.cli"]
    t0 = time.monotonic()
    proc = subprocess.run(
        [*cmd, "backtest", str(spec), "--ticks-per-day", "100000000", "--days", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**_env(), "QE_MEMORY_CAP": "4GiB"},
    )
    elapsed = time.monotonic() - t0
    assert proc.returncode != 0, proc.stdout
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "needs about" in lines[0] and "QE_MEMORY_CAP" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert elapsed < 60  # refused before simulating (the unbounded run took minutes and 24 GB)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k != "QE_MEMORY_CAP"}
