"""Verdicts, expectations and calibrations in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.redteam.expectation import Expectation, expectation_from_returns
from quant_engine.store import (
    StoreInputError,
    UnknownFailureTypeError,
    UnknownRecordError,
    UnknownStrategyError,
    add_strategy,
    expectation_for,
    get_calibration,
    latest_calibration,
    latest_verdict,
    list_verdicts,
    open_store,
    read_events,
    record_calibration,
    record_verdict,
)
from store_support import SPEC, pg_server, store_url  # noqa: F401


def test_verdicts_round_trip_and_expectation(store_url: str) -> None:
    store = open_store(store_url)
    s = add_strategy(store, SPEC)
    assert latest_verdict(store, s.hash) is None and expectation_for(store, s.hash) is None
    first = record_verdict(
        store, s.hash, kind="examination", passed=False, document={"tests": []}, failure_types=["NOISE_FITTING"], seed=7
    )
    rng = np.random.default_rng(3)
    exp = expectation_from_returns(rng.normal(0.001, 0.01, 500), periods_per_year=252, source="holdout")
    cal = record_calibration(
        store, null_markets=200, false_graduations=1, fgr_lower=0.0001, fgr_upper=0.0275, power={"2.0": 0.85}
    )
    second = record_verdict(
        store,
        s.hash,
        kind="graduation",
        passed=True,
        document={"tests": []},
        expectation=exp.to_dict(),
        holdout={"sharpe": 1.2},
        calibration_id=cal,
    )
    assert second > first
    assert [v.kind for v in list_verdicts(store, s.hash)] == ["examination", "graduation"]
    exam = latest_verdict(store, s.hash, kind="examination")
    assert exam is not None and exam.failure_types == ("NOISE_FITTING",) and exam.seed == 7 and not exam.passed
    stored = expectation_for(store, s.hash)
    assert stored is not None and Expectation.from_dict(stored) == exp
    c = latest_calibration(store)
    assert c is not None and c.id == cal and c.false_graduation_rate == pytest.approx(1 / 200)
    assert get_calibration(store, cal).power == {"2.0": 0.85}
    kinds = [e.kind for e in read_events(store, limit=1000)]
    assert kinds.count("verdict.recorded") == 2 and kinds.count("calibration.recorded") == 1
    store.close()


def test_verdict_refusals(store_url: str) -> None:
    store = open_store(store_url)
    s = add_strategy(store, SPEC)
    with pytest.raises(StoreInputError, match="unknown verdict kind"):
        record_verdict(store, s.hash, kind="graduated", passed=True, document={})
    with pytest.raises(StoreInputError, match="names no failure types"):
        record_verdict(store, s.hash, kind="examination", passed=True, document={}, failure_types=["OVERFITTING"])
    with pytest.raises(StoreInputError, match="pre-registered expectation"):
        record_verdict(store, s.hash, kind="graduation", passed=False, document={}, expectation={"mean": 0.0})
    with pytest.raises(UnknownFailureTypeError):
        record_verdict(store, s.hash, kind="examination", passed=False, document={}, failure_types=["BAD_LUCK"])
    with pytest.raises(UnknownStrategyError):
        record_verdict(store, "0" * 64, kind="examination", passed=False, document={})
    with pytest.raises(UnknownRecordError, match="calibration"):
        record_verdict(store, s.hash, kind="examination", passed=False, document={}, calibration_id=99)
    with pytest.raises(StoreInputError, match="does not contain"):
        record_calibration(store, null_markets=10, false_graduations=5, fgr_lower=0.0, fgr_upper=0.1, power={})
    with pytest.raises(StoreInputError, match="null_markets"):
        record_calibration(store, null_markets=0, false_graduations=0, fgr_lower=0.0, fgr_upper=0.1, power={})
    assert list_verdicts(store, s.hash) == [] and latest_calibration(store) is None
    store.close()


def test_expectation_band() -> None:
    rng = np.random.default_rng(11)
    r = rng.normal(0.0005, 0.01, 2000)
    e = expectation_from_returns(r, periods_per_year=252, source="validation")
    sr = r.mean() / r.std(ddof=1)
    assert e.sharpe == pytest.approx(sr * math.sqrt(252))
    # normal returns: se ~ sqrt((1 + SR^2/2) / (n - 1)) per period
    se = math.sqrt((1 + sr**2 / 2) / (len(r) - 1)) * math.sqrt(252)
    assert e.sharpe_high - e.sharpe_low == pytest.approx(2 * 1.959964 * se, rel=0.02)
    assert e.contains_sharpe(e.sharpe) and not e.contains_sharpe(e.sharpe_high + 0.01)
    with pytest.raises(InvalidArgumentError, match="constant"):
        expectation_from_returns(np.zeros(100), periods_per_year=252, source="holdout")
    with pytest.raises(InvalidArgumentError, match="periods_per_year"):
        expectation_from_returns(r, periods_per_year=0, source="holdout")
    with pytest.raises(InvalidArgumentError, match="not an expectation"):
        Expectation.from_dict({"mean": "x"})
