"""The shipped example strategies compile, backtest and sweep on the synthetic market, and the
README's command lines run as written through the installed ``quant-engine`` command."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.cli.tables import read_table
from quant_engine.feeds import SyntheticMarket
from quant_engine.research import BacktestConfig, backtest, sweep
from quant_engine.strategy import compile_strategy

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples" / "strategies").glob("*.json"))
SCRIPT = Path(sys.executable).parent / "quant-engine"

#: README command lines run by test_readme_commands, in order (later ones read earlier outputs).
README_COMMANDS = [
    "quant-engine run --help",
    "quant-engine run --interval 5m --days 5 --symbols AAPL,MSFT --out out/bars-5m.parquet",
    "quant-engine regimes out/bars-5m.parquet",
    "quant-engine backtest examples/strategies/sma_cross.json --data out/bars-5m.parquet --report out/sma_cross.html",
    'quant-engine backtest examples/strategies/sma_cross.json --grid fast=2:20 slow=20,30,50 --where "fast<slow"',
    "quant-engine backtest examples/strategies/donchian_breakout_atr.json --grid entry_n=10,20,40 exit_n=5,10 --out out/sweep.csv",
]


def readme_commands() -> list[str]:
    """Every ``quant-engine`` line of the README's bash blocks, without trailing comments."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.splitlines():
            command = re.split(r"\s+#", line, maxsplit=1)[0].strip()
            if command.startswith("quant-engine "):
                lines.append(command)
    return lines


def test_there_are_examples_of_several_families() -> None:
    names = {p.name for p in EXAMPLES}
    assert {"sma_cross.json", "rsi_mean_reversion.json", "donchian_breakout_atr.json"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_compiles_backtests_and_sweeps(path: Path) -> None:
    cs = compile_strategy(path.read_text(encoding="utf-8"))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc.get("name") and doc.get("description") and cs.params, (
        "an example names itself and has parameters to sweep"
    )
    ticks = SyntheticMarket(seed=7, symbols=list(cs.strategy.instruments), days=3, ticks_per_day=20_000).ticks()
    bars = aggregate_ticks(ticks, cs.strategy.timeframe)
    res = backtest(cs, bars, BacktestConfig(initial_cash=100_000))
    assert res.trades.num_rows > 0 and "Sharpe" in res.summary()
    defaults = dict(zip(cs.params, cs.template.defaults))
    grid = {
        name: sorted({v, v * 1.5 if isinstance(v, float) and not float(v).is_integer() else v + 2})
        for name, v in defaults.items()
    }
    result = sweep(cs, grid, bars, BacktestConfig(initial_cash=100_000))
    assert len(result) == 2 ** len(cs.params)


def test_readme_and_docs_name_only_shipped_examples() -> None:
    texts = [(ROOT / "README.md").read_text(encoding="utf-8")] + [
        p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")
    ]
    named = set()
    for text in texts:
        named |= set(re.findall(r"examples/strategies/([A-Za-z0-9_]+\.json)", text))
    assert "sma_cross.json" in named
    assert named <= {p.name for p in EXAMPLES}
    for text in texts:  # a bare "sma_cross.json" would not be found from the repository root
        assert re.search(r"[\"' (]sma_cross\.json", text) is None


def test_every_readme_backtest_line_is_run_here() -> None:
    in_readme = readme_commands()
    for command in README_COMMANDS:
        assert command in in_readme, f"README no longer says: {command}"
    for command in in_readme:
        if command.startswith(("quant-engine backtest", "quant-engine run")):
            assert command in README_COMMANDS, f"add the README's new command to README_COMMANDS: {command}"


def test_readme_commands(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    exe = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "quant_engine.cli"]
    outputs = {}
    for command in README_COMMANDS:
        proc = subprocess.run(
            [*exe, *shlex.split(command)[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=600
        )
        assert proc.returncode == 0, f"{command}\n{proc.stderr}"
        outputs[command] = proc.stdout
    assert pq.read_table(tmp_path / "out" / "bars-5m.parquet").num_rows > 0
    assert (tmp_path / "out" / "sma_cross.html").stat().st_size > 0
    assert "where fast<slow" in outputs[README_COMMANDS[4]]
    sweep_table = read_table(tmp_path / "out" / "sweep.csv")
    assert sweep_table.num_rows == 6 and {"entry_n", "exit_n", "sharpe"} <= set(sweep_table.column_names)
