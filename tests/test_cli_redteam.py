"""``quant-engine redteam examine|white-noise``: the verdict table, --json, --html, --store, and
bad input as a reasoned verdict or one line with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from quant_engine.research import sweep
from quant_engine.research.redteam import FailureType, TestOutcome, Verdict
from quant_engine.research.redteam.report import figure
from quant_engine.store import add_strategy, open_store
from redteam_markets import momentum_spec, planted_bars

SCRIPT = Path(sys.executable).parent / "quant-engine"


def qe(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("redteam_cli")
    spec = d / "momentum.json"
    spec.write_text(json.dumps(momentum_spec(1)))
    bars = planted_bars(800, seed=1)
    pq.write_table(bars, d / "bars.parquet")
    return {"spec": spec, "bars": d / "bars.parquet", "dir": d}


def _one_line_error(proc: subprocess.CompletedProcess[str], message: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_examine_prints_the_verdict_table(files: dict[str, Path]) -> None:
    proc = qe("redteam", "examine", files["spec"], "--data", files["bars"], "--slippage-bps", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("trades", "dsr", "pbo", "spa", "wnt_c", "cpcv", "capacity", "prefix_invariance", "best_year"):
        assert f" {name} " in out
    assert "EXECUTION_DIVERGENCE: not applicable" in out
    assert "pbo" in out.split("not computed (counted as not passed):")[1]  # no store: no ledger
    assert out.strip().splitlines()[-1].startswith("verdict: FAILED")


def test_examine_json_is_the_verdict_document_and_deterministic(files: dict[str, Path]) -> None:
    a = qe("redteam", "examine", files["spec"], "--data", files["bars"], "--json", "--seed", "5")
    b = qe("redteam", "examine", files["spec"], "--data", files["bars"], "--json", "--seed", "5")
    assert a.returncode == 0 and b.returncode == 0, a.stderr
    va, vb = Verdict.from_dict(json.loads(a.stdout)), Verdict.from_dict(json.loads(b.stdout))
    assert va.seed == 5 and va.test("trades").statistic is not None and va.test("trades").statistic >= 30
    strip = [[(t.name, t.statistic, t.p_value, t.passed, t.reason) for t in v.tests] for v in (va, vb)]
    assert strip[0] == strip[1]


def test_examine_with_a_store_counts_the_family(files: dict[str, Path], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    store = open_store(url)
    add_strategy(store, momentum_spec(1), family="momentum", origin="search")
    sweep(momentum_spec(1), {"k": [1, 2, 3]}, pq.read_table(files["bars"]), ledger=store)
    proc = qe("redteam", "examine", files["spec"], "--data", files["bars"], "--json", "--store", url)
    assert proc.returncode == 0, proc.stderr
    v = Verdict.from_dict(json.loads(proc.stdout))
    assert v.family == "momentum" and v.n_trials == 3
    assert v.test("pbo").computable and v.test("dsr").details["ledger_trials"] == 3.0


def test_white_noise_runs_wnt_a_b_c_only(files: dict[str, Path]) -> None:
    proc = qe("redteam", "white-noise", files["spec"], "--data", files["bars"], "--json")
    assert proc.returncode == 0, proc.stderr
    v = Verdict.from_dict(json.loads(proc.stdout))
    assert [t.name for t in v.tests] == ["wnt_c", "wnt_a", "wnt_b"]


def test_html_report_is_written(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "reports" / "verdict.html"
    proc = qe("redteam", "examine", files["spec"], "--data", files["bars"], "--html", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "Red Team verdict" in page and "threshold" in page and "EXECUTION_DIVERGENCE" in page
    assert any(p.name.startswith("plotly-") for p in out.parent.iterdir())


def test_report_draws_each_null_distribution_with_the_statistic() -> None:
    null = tuple(float(x) for x in np.random.default_rng(0).normal(0.0, 0.02, 1000))
    t = TestOutcome(name="wnt_b", statistic=0.05, threshold=0.01, p_value=0.002, passed=True,
                    feeds=(FailureType.NOISE_FITTING,), null=null)  # fmt: skip
    v = Verdict(strategy_hash="ab" * 32, family="f", seed=0, tests=(t,), passed=True)
    fig = figure(v)
    kinds = [tr.type for tr in fig.data]
    assert kinds == ["table", "histogram", "scatter"]
    assert list(fig.data[1].x) == list(null)
    assert list(fig.data[2].x) == [0.05, 0.05] and "strategy" in fig.data[2].name
    assert fig.layout.xaxis.title.text == "annualized net Sharpe on resampled bars (marked: on the real bars)"
    assert fig.layout.yaxis.title.text == "null runs (count)"


def test_invalid_spec_is_one_line(files: dict[str, Path]) -> None:
    bad = files["dir"] / "bad.json"
    spec = momentum_spec(1)
    spec["entry_long"] = {"op": "gt", "left": "closee", "right": 0.0}
    bad.write_text(json.dumps(spec))
    _one_line_error(qe("redteam", "examine", bad, "--data", files["bars"]), "bad.json")
    _one_line_error(qe("redteam", "examine", files["dir"] / "missing.json"), "no such file")


def test_nan_bars_are_one_line(files: dict[str, Path]) -> None:
    t = pq.read_table(files["bars"])
    close = t.column("close").to_numpy().copy()
    close[100] = np.nan
    path = files["dir"] / "nan.parquet"
    pq.write_table(t.set_column(t.column_names.index("close"), "close", pa.array(close)), path)
    proc = qe("redteam", "examine", files["spec"], "--data", path)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_constant_prices_give_a_reasoned_verdict(files: dict[str, Path]) -> None:
    t = pq.read_table(files["bars"])
    flat = pa.array(np.full(t.num_rows, 100.0))
    for name in ("open", "high", "low", "close", "vwap"):
        t = t.set_column(t.column_names.index(name), name, flat)
    path = files["dir"] / "flat.parquet"
    pq.write_table(t, path)
    proc = qe("redteam", "examine", files["spec"], "--data", path, "--json")
    assert proc.returncode == 0, proc.stderr
    v = Verdict.from_dict(json.loads(proc.stdout))
    assert not v.passed and v.test("trades").statistic == 0.0
    assert FailureType.INSUFFICIENT_EVIDENCE in v.failure_types
    assert "constant" in (v.test("psr").reason or "")
