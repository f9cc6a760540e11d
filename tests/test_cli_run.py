"""``quant-engine run`` (the README's first command) needs only the runtime dependencies: its
per-symbol summary is computed with pyarrow, and it runs in a process where pandas cannot be
imported."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from quant_engine.bars import aggregate_ticks
from quant_engine.cli.run import summarize
from quant_engine.feeds import SyntheticMarket

# A fresh interpreter in which pandas is not installed, as far as any import can tell (a meta-path
# finder that refuses it; ``sys.modules['pandas'] = None`` would break pyarrow's own optional probe).
BLOCK_PANDAS = """
import sys
class NoPandas:
    def find_spec(self, name, path=None, target=None):
        if name == "pandas" or name.startswith("pandas."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, NoPandas())
from quant_engine.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_summary_matches_a_pandas_oracle() -> None:
    import pandas as pd  # the oracle only: the command never imports pandas

    bars = aggregate_ticks(SyntheticMarket(seed=5, symbols=["MSFT", "AAPL", "T"], ticks_per_day=3_000).ticks(), "1m")
    bars = bars.sort_by([("symbol", "ascending"), ("start", "ascending")])
    df = pd.DataFrame(bars.to_pydict())
    rows = summarize(bars)
    assert [r["symbol"] for r in rows] == ["AAPL", "MSFT", "T"]
    for r in rows:
        g = df[df["symbol"] == r["symbol"]]
        assert r["ticks"] == int(g["trades"].sum()) and r["bars"] == len(g)
        assert r["open"] == g["open"].iloc[0] and r["close"] == g["close"].iloc[-1]
        assert r["low"] == g["low"].min() and r["high"] == g["high"].max()
        assert math.isclose(r["vwap"], float((g["vwap"] * g["volume"]).sum() / g["volume"].sum()), rel_tol=1e-12)


def test_run_works_without_pandas(tmp_path: Path) -> None:
    out = tmp_path / "out" / "bars.parquet"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            BLOCK_PANDAS,
            "run",
            "--symbols",
            "AAPL,MSFT",
            "--ticks-per-day",
            "5000",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "pandas" not in proc.stderr
    bars = pq.read_table(out)
    for row in summarize(bars):
        line = next(x for x in proc.stdout.splitlines() if f" {row['symbol']} " in x)
        assert f"{row['ticks']:,}" in line and f"{row['close']:.2f}" in line and f"{row['vwap']:.2f}" in line
    last = proc.stdout.strip().splitlines()[-1]
    assert "ticks ->" in last and f"bars written to {out}" in last


def test_blocking_pandas_really_blocks_it() -> None:
    script = BLOCK_PANDAS.replace("from quant_engine.cli import main", "import pandas")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "No module named 'pandas'" in proc.stderr
