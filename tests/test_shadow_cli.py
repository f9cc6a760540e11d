"""``quant-engine shadow``: run on the synthetic market, status, kill, report, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quant_engine.cli import main
from quant_engine.store import open_store, read_events


def test_run_status_kill_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "s.db")
    assert main(["shadow", "run", "--store", db, "--demo", "2", "--symbols", "AAA,BBB", "--ticks-per-day", "8000",
                 "--json"]) == 0  # fmt: skip
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["slots"] == 2 and summary["counters"]["bars"] == 2 * 390 and summary["health"] == "ok"
    assert main(["shadow", "status", "--store", db, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["equity"] == pytest.approx(summary["equity"]) and status["fills"] > 0
    assert main(["shadow", "kill", "--store", db, "--mode", "freeze"]) == 0
    assert "freeze" in capsys.readouterr().out
    assert read_events(open_store(db), kind="shadow.kill")[0].payload["mode"] == "freeze"
    assert main(["shadow", "report", "--store", db, "--out", str(tmp_path / "rep")]) == 0
    index = (tmp_path / "rep" / "index.html").read_text()
    assert "tracking error" in index and index.count("<tr>") == 3
    assert len(list((tmp_path / "rep").glob("*.html"))) == 3


def test_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "empty.db")
    assert main(["shadow", "status", "--store", db]) == 2
    err = capsys.readouterr().err
    assert "no journal for account" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert main(["shadow", "run", "--store", db]) == 2
    assert "no promoted strategy" in capsys.readouterr().err
    assert main(["shadow", "run", "--store", db, "--feed", "replay", "--demo", "1"]) == 2
    assert "--catalog and --day" in capsys.readouterr().err
