"""Crash recovery with a real process: ``quant-engine shadow run`` trading a catalog replay is
killed with SIGKILL at seeded random points (20 in the default run, more with ``-m slow``) and
restarted each time. After every kill the journal is a prefix of an uninterrupted run's journal
(fills, orders, positions with armed stops, account snapshots with cash and equity) and, once the
last run ends, equal to it: no fill repeated, none missing."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from quant_engine.feeds.catalog import Catalog
from quant_engine.store import open_store
from shadow_support import demo, journal_view, make_store, session

DAY = "2024-01-03"
CLI = [sys.executable, "-m", "quant_engine.cli"]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("catalog")
    history, live, _ = session(days=2)
    Catalog(root).append("trades", pa.concat_tables([history, live]))
    return root


def _run_args(db: Path, catalog: Path) -> list[str]:
    return [*CLI, "shadow", "run", "--feed", "replay", "--catalog", str(catalog), "--day", DAY, "--store", str(db),
            "--symbols", "AAA,BBB", "--batch", "400", "--stale-after", "600", "--json"]  # fmt: skip


def _count(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as c:
            return int(c.execute("SELECT count(*) FROM journal").fetchone()[0])
    except sqlite3.Error:
        return 0


def _view(db: Path) -> dict[str, list]:
    store = open_store(f"sqlite:///{db}")
    try:
        return journal_view(store)
    finally:
        store.close()


def _is_prefix(part: dict[str, list], whole: dict[str, list]) -> None:
    for kind in ("fill", "order", "position"):
        assert part[kind] == whole[kind][: len(part[kind])], kind
    # account snapshots: the session record, then one per bar close (cash and equity by then)
    got = [(a[1], a[2].get("cash"), a[2].get("equity")) for a in part["account"]]
    want = [(a[1], a[2].get("cash"), a[2].get("equity")) for a in whole["account"]]
    assert got == want[: len(got)]


def _no_duplicate_fill(view: dict[str, list]) -> None:
    seqs: dict[str, list[int]] = {}
    for _, _, p in view["fill"]:
        seqs.setdefault(p["slot"], []).append(p["seq"])
    for slot, s in seqs.items():
        assert s == list(range(1, len(s) + 1)), slot


def _crash_loop(tmp_path: Path, catalog: Path, kills: int, seed: int) -> None:
    docs = demo(4)
    ref = tmp_path / "reference.db"
    make_store(ref, docs).close()
    env = {**os.environ, "QE_LOG_LEVEL": "WARNING"}
    subprocess.run(_run_args(ref, catalog), check=True, capture_output=True, env=env, timeout=600)
    whole = _view(ref)
    total = sum(len(v) for v in whole.values())
    assert len(whole["fill"]) > 50

    db = tmp_path / "crashed.db"
    make_store(db, docs).close()
    rng = random.Random(seed)
    points = sorted(rng.sample(range(1, total), kills))  # journal sizes at which to kill
    killed_mid_run = 0
    for at in points:
        proc = subprocess.Popen(_run_args(db, catalog), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        while proc.poll() is None and _count(db) < at:
            time.sleep(0.002)
        if proc.poll() is None:
            time.sleep(rng.random() * 0.05)  # somewhere inside the next bar close, or between two
            proc.send_signal(signal.SIGKILL)
            killed_mid_run += 1
        proc.wait(timeout=120)
        part = _view(db)
        _is_prefix(part, whole)
        _no_duplicate_fill(part)
    done = subprocess.run(_run_args(db, catalog), capture_output=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    final = _view(db)
    assert final == whole
    _no_duplicate_fill(final)
    assert killed_mid_run >= kills * 3 // 4


def test_sigkill_at_20_random_points_loses_and_repeats_nothing(tmp_path: Path, catalog: Path) -> None:
    _crash_loop(tmp_path, catalog, kills=20, seed=2026)


@pytest.mark.slow
def test_sigkill_soak(tmp_path: Path, catalog: Path) -> None:
    _crash_loop(tmp_path, catalog, kills=60, seed=7)
