"""Factory calibration: the Clopper-Pearson interval against scipy's beta quantiles, the planted
signal's Sharpe against an independent computation, a short calibration recorded in the store
(the full one is marked slow)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import beta

from quant_engine.errors import InvalidArgumentError
from quant_engine.feeds.synthetic_daily import synthetic_daily_bars
from quant_engine.research.calibration import CalibrationConfig, calibrate, calibration_red_team, clopper_pearson
from quant_engine.research.graduation import graduate
from quant_engine.research.holdout import ResearchData
from quant_engine.store import open_store
from quant_engine.store.verdicts import latest_calibration, list_verdicts


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 300).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))), st.sampled_from([0.9, 0.95, 0.99])
)
def test_clopper_pearson_matches_the_beta_quantiles(kn: tuple[int, int], confidence: float) -> None:
    k, n = kn
    a = 1 - confidence
    want_lo = 0.0 if k == 0 else beta.ppf(a / 2, k, n - k + 1)
    want_hi = 1.0 if k == n else beta.ppf(1 - a / 2, k + 1, n - k)
    lo, hi = clopper_pearson(k, n, confidence)
    assert lo == pytest.approx(want_lo, abs=1e-9) and hi == pytest.approx(want_hi, abs=1e-9)


def test_clopper_pearson_edges_and_errors() -> None:
    assert clopper_pearson(0, 72)[1] == pytest.approx(1 - 0.025 ** (1 / 72))  # zero of 72: upper bound 5%
    assert clopper_pearson(0, 72)[1] < 0.05 < clopper_pearson(0, 71)[1]
    for k, n in ((-1, 5), (6, 5), (0, 0)):
        with pytest.raises(InvalidArgumentError):
            clopper_pearson(k, n)


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(x.size, np.nan)
    c = np.cumsum(np.concatenate([[0.0], x]))
    out[n - 1 :] = (c[n:] - c[:-n]) / n
    return out


def test_the_planted_signal_has_its_annualized_sharpe() -> None:
    """Over many markets, the SMA(2)/SMA(10) cross sign times the next log-return has annualized
    Sharpe S (computed here from the closes, not by the generator's kernel); null markets give 0."""
    for planted in (0.0, 2.0):
        pooled = []
        for seed in range(40):
            t = synthetic_daily_bars(years=2, seed=seed, planted_sharpe=planted)
            close = t.column("close").to_numpy()
            opens = t.column("open").to_numpy()
            assert np.allclose(opens[1:], close[:-1])  # no overnight gap
            d = _sma(close, 2) - _sma(close, 10)
            s = np.sign(np.nan_to_num(d))[:-1]
            r = np.diff(np.log(close))
            pooled.append((s * r)[9:])
        x = np.concatenate(pooled)
        sharpe = x.mean() / x.std(ddof=1) * math.sqrt(252)
        se = math.sqrt(252 / x.size)  # about 0.11
        assert abs(sharpe - planted) < 3.5 * se, (planted, sharpe)


def test_synthetic_daily_bars_are_seeded_and_checked() -> None:
    a = synthetic_daily_bars(("X", "Y"), years=1, seed=4, planted_sharpe=1.0)
    assert a.equals(synthetic_daily_bars(("X", "Y"), years=1, seed=4, planted_sharpe=1.0))
    assert a.num_rows == 2 * 252
    hi, lo = a.column("high").to_numpy(), a.column("low").to_numpy()
    o, c = a.column("open").to_numpy(), a.column("close").to_numpy()
    assert np.all(hi >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c))
    for bad in ({"planted_sharpe": -1.0}, {"years": 0.0}, {"fast": 10, "slow": 5}, {"annual_vol": 0.0}):
        with pytest.raises(InvalidArgumentError):
            synthetic_daily_bars(**bad)  # type: ignore[arg-type]


def test_a_short_calibration_is_recorded_and_carried_by_later_graduations(tmp_path: Path) -> None:
    cfg = CalibrationConfig(null_markets=3, planted=(3.0,), planted_markets=2, seed=1)
    with open_store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        seen = []
        res = calibrate(cfg, store=store, progress=seen.append)
        assert len(seen) == len(res.markets) == 5
        assert res.null_markets == 3 and 0 <= res.false_graduations <= 3
        assert res.fgr_lower <= res.false_graduation_rate <= res.fgr_upper
        assert set(res.power) == {"3"} and res.power["3"]["markets"] == 2
        rec = latest_calibration(store)
        assert rec is not None and rec.id == res.calibration_id and rec.null_markets == 3
        assert rec.config["planted"] == [3.0] and len(rec.document["markets"]) == 5
        data = ResearchData.split(synthetic_daily_bars(years=1, seed=9), store=store)
        out = graduate(
            store, {**cfg_strategy(), "params": {"fast": 2, "slow": 10}}, data, red_team=calibration_red_team()
        )
        assert out.calibration_id == rec.id
        assert list_verdicts(store, out.strategy_hash, kind="graduation")[0].calibration_id == rec.id


def cfg_strategy() -> dict[str, object]:
    from quant_engine.research.calibration import SMA_CROSS_FAMILY

    return dict(SMA_CROSS_FAMILY)


@pytest.mark.slow
def test_full_calibration() -> None:
    """The documented calibration (docs/redteam.md): 100 null markets, planted 2 and 3 on 40 each.
    The false-graduation rate must meet the target (upper 95% bound <= 5%)."""
    res = calibrate(CalibrationConfig(null_markets=100, planted=(2.0, 3.0), planted_markets=40, seed=0))
    assert res.fgr_upper <= 0.05, res.false_graduation_rate


def test_the_calibrate_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from quant_engine.cli import main

    url = f"sqlite:///{tmp_path}/s.sqlite"
    args = ["calibrate", "--null-markets", "1", "--planted", "3", "--planted-markets", "1", "--seed", "2"]
    assert main([*args, "--json", "--store", url]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["null_markets"] == 1 and set(doc["power"]) == {"3"} and doc["calibration_id"] == 1
    assert main([*args, "--no-record"]) == 0
    out = capsys.readouterr().out
    assert "Factory calibration" in out and "0 (null)" in out and "not recorded" in out
    for bad in (["--skip", "nope"], ["--threshold", "nope=1"], ["--null-markets", "0"]):
        assert main(["calibrate", "--no-record", *bad]) == 2
        assert "error" in capsys.readouterr().err


def test_the_swarm_as_generator_and_a_generator_with_nothing_to_propose() -> None:
    from typing import Any

    from quant_engine.research.calibration import SwarmGenerator

    res = calibrate(CalibrationConfig(null_markets=1, planted=(3.0,), planted_markets=1, seed=3, generator="swarm"))
    assert len(res.markets) == 2 and all(m.failed_tests or m.graduated for m in res.markets)

    class Empty:
        def propose(self, view: Any, store: Any, seed: int) -> Any:
            raise InvalidArgumentError("nothing found")

    empty = calibrate(CalibrationConfig(null_markets=2, planted=(1.0,), planted_markets=1), generator=Empty())
    assert [m.failed_tests for m in empty.markets] == [("generation",)] * 3
    assert empty.false_graduations == 0 and empty.power["1"]["graduated"] == 0
    assert isinstance(SwarmGenerator().population, int)
    with pytest.raises(InvalidArgumentError, match="generator"):
        CalibrationConfig(generator="llm")
