"""Graduation with a real SQLite store: a planted edge graduates with an expectation, noise fails
with failure types and memories, the holdout is evaluated exactly once, a decided strategy is
refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from quant_engine.errors import AlreadyDecidedError, HoldoutAccessError
from quant_engine.feeds.synthetic_daily import synthetic_daily_bars
from quant_engine.research.calibration import GridGenerator, calibration_red_team, clopper_pearson, unavailable_tests
from quant_engine.research.graduation import graduate, holdout_gate
from quant_engine.research.holdout import ResearchData, holdout_evaluations
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.store import get_strategy, list_memories, list_trials, open_store, transitions
from quant_engine.store.verdicts import expectation_for, list_verdicts, record_calibration


def _setup(tmp_path: Path, planted: float, *, years: float = 6.0, seed: int = 0) -> tuple[Any, ResearchData, Any]:
    store = open_store(f"sqlite:///{tmp_path}/s.sqlite")
    data = ResearchData.split(synthetic_daily_bars(years=years, seed=seed, planted_sharpe=planted), store=store)
    pick = GridGenerator().propose(data.generator_view(), store, seed)
    return store, data, pick


def _red_team() -> Any:
    return calibration_red_team(unavailable_tests())


def test_a_planted_edge_graduates_with_an_expectation(tmp_path: Path) -> None:
    store, data, pick = _setup(tmp_path, 3.0)
    with store:
        lo, hi = clopper_pearson(0, 10)
        cal = record_calibration(store, null_markets=10, false_graduations=0, fgr_lower=lo, fgr_upper=hi, power={})
        res = graduate(store, pick, data, red_team=_red_team())
        assert res.status == "graduated" and res.graduated, (res.failure_types, res.verdict.not_computable)
        assert pick["params"] == {"fast": 2, "slow": 10}  # the generator found the planted member
        assert res.failure_types == () and res.memories == 0
        assert res.holdout is not None and res.holdout.n_periods == data.segments[2].n_bars
        assert res.expectation is not None and res.expectation.source == "holdout"
        assert res.expectation.n_obs == res.holdout.n_periods
        assert res.expectation.sharpe_low < res.expectation.sharpe < res.expectation.sharpe_high
        assert get_strategy(store, res.strategy_hash).status == "graduated"
        assert [t.to_status for t in transitions(store, res.strategy_hash)] == ["candidate", "testing", "graduated"]
        stored = expectation_for(store, res.strategy_hash)
        assert stored is not None and stored["mean"] == pytest.approx(res.expectation.mean)
        grad = list_verdicts(store, res.strategy_hash, kind="graduation")
        assert len(grad) == 1 and grad[0].calibration_id == cal == res.calibration_id
        assert grad[0].holdout is not None and grad[0].holdout["gate"]["passed"] is True
        assert grad[0].snapshot_id == data.segments[2].snapshot_id
        assert len(list_verdicts(store, res.strategy_hash, kind="examination")) == 1
        snap = data.segments[2].snapshot_id
        assert snap is not None and holdout_evaluations(store, res.strategy_hash, snap) == 1


def test_noise_fails_with_failure_types_and_memories_and_a_sealed_holdout(tmp_path: Path) -> None:
    store, data, pick = _setup(tmp_path, 0.0)
    with store:
        res = graduate(store, pick, data, red_team=_red_team())
        assert res.status == "failed" and not res.graduated
        assert res.failure_types and "OVERFITTING" in res.failure_types
        assert res.holdout is None and res.expectation is None  # the examination failed: the holdout stays sealed
        memories = list_memories(store, strategy_hash=res.strategy_hash)
        assert len(memories) == res.memories == len(res.failure_types)
        assert {m.failure_type for m in memories} == set(res.failure_types)
        assert all(m.evidence for m in memories)  # the detector's values
        assert get_strategy(store, res.strategy_hash).status == "failed"
        snap = data.segments[2].snapshot_id
        assert snap is not None and holdout_evaluations(store, res.strategy_hash, snap) == 0
        assert expectation_for(store, res.strategy_hash) is None
        assert list_verdicts(store, res.strategy_hash, kind="graduation")[0].calibration_id is None


def test_a_decided_strategy_is_refused_and_the_holdout_is_not_evaluated_again(tmp_path: Path) -> None:
    store, data, pick = _setup(tmp_path, 3.0)
    with store:
        res = graduate(store, pick, data, red_team=_red_team())
        assert res.graduated
        before = len(list_trials(store, strategy_hash=res.strategy_hash))
        with pytest.raises(AlreadyDecidedError, match="already decided"):
            graduate(store, pick, data, red_team=_red_team())
        with pytest.raises(HoldoutAccessError):
            data.evaluate_holdout(store, pick, {"allow_unlisted_equities": True})
        assert len(list_trials(store, strategy_hash=res.strategy_hash)) == before
        assert len(list_verdicts(store, res.strategy_hash, kind="graduation")) == 1


def test_the_holdout_gate() -> None:
    import numpy as np

    th = RedTeamThresholds()
    rng = np.random.default_rng(5)
    good = holdout_gate(rng.normal(0.003, 0.01, 100), th)
    bad = holdout_gate(rng.normal(-0.003, 0.01, 100), th)
    assert good.passed and good.statistic is not None and good.statistic >= th.holdout_psr_min
    assert not bad.passed and bad.reason is None
    flat = holdout_gate(np.zeros(100), th)
    assert not flat.passed and flat.reason is not None and "holdout" in flat.reason


def test_an_error_before_the_decision_leaves_testing_and_a_retry_decides(tmp_path: Path) -> None:
    from quant_engine.errors import UnknownSymbolError

    store, data, pick = _setup(tmp_path, 0.0, years=2.0)
    with store:
        with pytest.raises(UnknownSymbolError):  # the default Red Team backtest refuses the unlisted ticker
            graduate(store, pick, data)
        h = transitions(store, get_strategy_hash(store, pick))[-1]
        assert h.to_status == "testing"
        res = graduate(store, pick, data, red_team=_red_team())
        assert res.status == "failed"
        assert [t.to_status for t in transitions(store, res.strategy_hash)] == ["candidate", "testing", "failed"]


def get_strategy_hash(store: Any, doc: Any) -> str:
    from quant_engine.strategy import compile_strategy

    return compile_strategy(doc).hash
