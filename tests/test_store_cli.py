"""The store's command line on both engines: store init|upgrade|status, strategies, trials,
missions and memories, with --json, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from quant_engine.store import add_strategy, create_mission, open_store, record_memory, record_trials, transition
from quant_engine.store.engine import create_store_engine
from quant_engine.store.migrate import ensure_schema, head_revision
from store_support import SPEC, pg_server, store_url  # noqa: F401

SCRIPT = Path(sys.executable).parent / "quant-engine"


def qe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


def _fill(url: str) -> str:
    s = open_store(url)
    m = create_mission(s, "edges", "find edges")
    h = add_strategy(s, SPEC, family="sma", mission_id=m.id).hash
    transition(s, h, "testing", reason="red team", actor="gatekeeper")
    record_trials(
        s,
        h,
        params=[{"fast": 5, "slow": 20}, {"fast": 6, "slow": 20}],
        metrics=[{"sharpe": 1.5}, {"sharpe": 0.5}],
        returns=np.zeros((4, 2)),
        config_hash="x",
    )
    record_memory(
        s,
        "OVERFITTING",
        "dsr",
        strategy_hash=h,
        mission_id=m.id,
        statistic=0.3,
        threshold=0.95,
        lesson="too many trials",
    )
    s.close()
    return h


def test_store_commands(store_url: str) -> None:
    engine = create_store_engine(store_url)
    ensure_schema(engine, target="0001")  # an older store
    engine.dispose()
    status = json.loads(qe("store", "status", "--store", store_url, "--json").stdout)
    assert status["revision"] == "0001" and status["head"] == head_revision() and "upgrade" in status["state"]
    up = qe("store", "upgrade", "--store", store_url, "--json")
    assert up.returncode == 0, up.stderr
    assert json.loads(up.stdout)["from"] == "0001" and json.loads(up.stdout)["to"] == head_revision()
    init = qe("store", "init", "--store", store_url)
    assert init.returncode == 0 and "already current" in init.stdout
    _fill(store_url)
    status = json.loads(qe("store", "status", "--store", store_url, "--json").stdout)
    assert status["state"] == "current" and status["rows"]["trials"] == 2 and status["rows"]["strategies"] == 1


def test_listing_and_showing(store_url: str) -> None:
    h = _fill(store_url)
    rows = json.loads(qe("strategies", "list", "--store", store_url, "--json").stdout)
    assert [(r["hash"], r["status"], r["family"]) for r in rows] == [(h, "testing", "sma")]
    assert json.loads(qe("strategies", "list", "--store", store_url, "--status", "failed", "--json").stdout) == []
    shown = json.loads(qe("strategies", "show", h[:10], "--store", store_url, "--json").stdout)
    assert shown["hash"] == h and [t["to_status"] for t in shown["transitions"]] == ["candidate", "testing"]
    assert shown["spec"]["instruments"] == ["AAPL"]
    text = qe("strategies", "show", h[:10], "--store", store_url).stdout
    assert "candidate -> testing" in text and "gatekeeper" in text
    trials = json.loads(qe("trials", "list", "--store", store_url, "--json").stdout)
    assert sorted(t["metrics"]["sharpe"] for t in trials) == [0.5, 1.5] and all(t["has_returns"] for t in trials)
    assert (
        len(
            json.loads(qe("trials", "list", "--store", store_url, "--strategy", h[:8], "--limit", "1", "--json").stdout)
        )
        == 1
    )
    missions = json.loads(qe("missions", "list", "--store", store_url, "--json").stdout)
    assert [m["name"] for m in missions] == ["edges"]
    assert (
        json.loads(qe("missions", "show", "edges", "--store", store_url, "--json").stdout)["directive"] == "find edges"
    )
    mems = json.loads(qe("memories", "list", "--store", store_url, "--type", "overfitting", "--json").stdout)
    assert [(m["failure_type"], m["lesson"]) for m in mems] == [("OVERFITTING", "too many trials")]
    stats = json.loads(qe("memories", "list", "--stats", "--store", store_url, "--json").stdout)
    assert [(s["failure_type"], s["count"], s["trend"]) for s in stats] == [("OVERFITTING", 1, 1)]
    table = qe("memories", "list", "--store", store_url)
    assert table.returncode == 0 and "OVERFITTING" in table.stdout


def test_errors_are_one_line(store_url: str, tmp_path: Path) -> None:
    _fill(store_url)
    for args in (
        ["strategies", "show", "ffff"],
        ["strategies", "show", "zz"],
        ["missions", "show", "nope"],
        ["memories", "list", "--type", "BAD_LUCK"],
        ["strategies", "list", "--status", "weird"],
    ):
        proc = qe(*args, "--store", store_url)
        assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr, (
            args,
            proc.stderr,
        )
    missing = qe("store", "status", "--store", str(tmp_path / "absent.sqlite"))
    assert missing.returncode == 2 and "store init" in missing.stderr
    assert not (tmp_path / "absent.sqlite").exists()
    bad = qe("store", "status", "--store", "mysql://u@h/db")
    assert bad.returncode == 2 and "StoreConfigError" in bad.stderr
