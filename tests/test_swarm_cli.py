"""The swarm and gatekeeper commands: a run records its counts, audit exits 1 on a pool that needs
repair and 0 after `swarm repair`, stats and constraints read the store, bad input is one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from quant_engine.research.gatekeeper import conduct_post_mortem
from quant_engine.research.redteam.verdict import Verdict
from quant_engine.store import open_store, trial_count
from quant_engine.strategy import compile_strategy
from swarm_support import bars

SCRIPT = Path(sys.executable).parent / "quant-engine"


def qe(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600)


def test_run_audit_repair_stats_and_constraints(tmp_path: Path) -> None:
    data = tmp_path / "bars.parquet"
    import pyarrow.parquet as pq

    pq.write_table(bars(1500), data)
    url = str(tmp_path / "s.sqlite")
    run = qe("swarm", "run", "--generations", "2", "--pool", "1000", "--population", "12", "--workers", "1",
             "--data", str(data), "--allow-unlisted-equities", "--store", url, "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["generations"] == 2 and out["counts"]["evaluated"] == out["counts"]["trials_recorded"] > 0
    with open_store(url) as store:
        assert trial_count(store) == out["counts"]["evaluated"]

    healthy = qe("swarm", "audit", "--store", url)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    stale = qe("swarm", "audit", "--store", url, "--stale-days", "-1", "--json")
    assert stale.returncode == 1 and json.loads(stale.stdout)["summary"]["stale"] == len(out["admitted"])
    fixed = qe("swarm", "repair", "--store", url, "--stale-days", "-1")
    assert fixed.returncode == 0 and "repaired" in fixed.stdout
    assert qe("swarm", "audit", "--store", url).returncode == 0

    with open_store(url) as store:
        cs = compile_strategy({"instruments": ["SYN"], "entry_long": {"op": "lt", "left": {"op": "rsi", "n": 5},
                                                                      "right": 25.0}})  # fmt: skip
        verdict = Verdict(strategy_hash=cs.hash, family="f", seed=0, failure_types=("NOISE_FITTING",),  # type: ignore[arg-type]
                          evidence={"NOISE_FITTING": {"wnt_b.passed": 0.0}})  # type: ignore[dict-item]  # fmt: skip
        conduct_post_mortem(store, cs, verdict)
    stats = qe("gatekeeper", "stats", "--store", url, "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)[0]["failure_type"] == "NOISE_FITTING"
    cons = qe("gatekeeper", "constraints", "--store", url)
    assert cons.returncode == 0 and ".banned_subtree" in cons.stdout and "rsi" in cons.stdout


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    res = qe("swarm", "run", "--data", str(tmp_path / "missing.parquet"), "--store", str(tmp_path / "s.sqlite"))
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert qe("swarm", "run", "--generations", "0").returncode == 2
    unknown = qe("swarm", "run", "--mission", "999", "--store", str(tmp_path / "s.sqlite"), "--days", "1")
    assert unknown.returncode == 2 and "unknown mission 999" in unknown.stderr, unknown.stderr
