"""RedTeam(config).examine -> Verdict: a planted edge against a noise-fitted candidate, every gate at
its threshold on constructed inputs, determinism, not-computable cases and the JSON round-trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pytest

from quant_engine.research import sweep
from quant_engine.research.redteam import (
    BATTERY,
    DETECTORS,
    FailureType,
    RedTeam,
    RedTeamConfig,
    RedTeamThresholds,
    TestOutcome,
    Verdict,
)
from quant_engine.research.redteam import battery_market as M
from quant_engine.research.redteam import battery_nulls as X
from quant_engine.research.redteam import battery_stats as S
from quant_engine.research.redteam.detectors import NOT_APPLICABLE, detect
from quant_engine.research.redteam.examine import _run
from quant_engine.store import add_strategy, open_store
from redteam_markets import momentum_spec, planted_bars

TH = RedTeamThresholds()
NULLS = ("wnt_a", "wnt_b", "lag_collapse", "perturbation")
COSTS = {"execution": {"slippage": {"fixed_bps": 1.0}}}


def _nulls_available() -> bool:
    try:
        import quant_engine.research.redteam.nulls  # noqa: F401
    except ImportError:
        return False
    return True


def _config(**kw: object) -> RedTeamConfig:
    skip = () if _nulls_available() else NULLS
    return RedTeamConfig(backtest=COSTS, skip=skip, **kw)  # type: ignore[arg-type]


def _family_store(tmp: Path, bars: pa.Table, ks: list[float]) -> object:
    store = open_store(f"sqlite:///{tmp / 'store.sqlite'}")
    add_strategy(store, momentum_spec(1), family="momentum", origin="search")
    sweep(momentum_spec(1), {"k": ks}, bars, COSTS, ledger=store)
    return store


# ---------------------------------------------------------------- planted edge vs noise fitting


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    # a persistent drift: momentum over 5 days has an annualized Sharpe of 2.7, the family's long
    # lookbacks (100 to 300 days) lag the drift and do worse: PBO 0.04
    bars = planted_bars(1500, seed=1)
    store = _family_store(tmp_path_factory.mktemp("planted"), bars, [5, 100, 200, 300])
    return RedTeam(_config()).examine(momentum_spec(5), bars, store, seed=3)


@pytest.fixture(scope="module")
def noise_fit(tmp_path_factory: pytest.TempPathFactory) -> Verdict:
    bars = planted_bars(1000, edge=0.0, seed=7)  # no edge; the best of 40 lookbacks has an annualized Sharpe of 0.95
    ks = [float(k) for k in range(1, 41)]
    store = _family_store(tmp_path_factory.mktemp("noise"), bars, ks)
    res = sweep(momentum_spec(1), {"k": ks}, bars, COSTS)
    best = float(res.best("sharpe").column("k")[0].as_py())
    return RedTeam(_config()).examine(momentum_spec(best), bars, store, seed=3)


def test_planted_edge_passes_the_battery(planted: Verdict) -> None:
    failed = [(t.name, t.statistic, t.threshold, t.reason) for t in planted.tests if t.gated and not t.passed]
    assert planted.failure_types == (), failed
    assert planted.not_computable == (), failed
    assert planted.passed
    assert planted.n_trials == 4
    assert planted.test("dsr").details["ledger_trials"] == 4.0
    assert planted.test("pbo").statistic is not None and planted.test("pbo").statistic <= TH.pbo_max
    if _nulls_available():
        wnt_b = planted.test("wnt_b")
        assert wnt_b.p_value is not None and wnt_b.p_value <= TH.wnt_b_p_max
        assert wnt_b.null is not None and len(wnt_b.null) == TH.wnt_b_reps  # exposed for the report


def test_noise_fitted_candidate_is_overfitting(noise_fit: Verdict) -> None:
    assert not noise_fit.passed
    assert FailureType.OVERFITTING in noise_fit.failure_types
    ev = noise_fit.evidence[FailureType.OVERFITTING]
    assert ev["dsr.statistic"] is not None and ev["dsr.statistic"] < TH.dsr_min
    assert ev["dsr.n_trials"] is not None and ev["dsr.n_trials"] > 2.0  # the ledger's effective N, not 1
    assert noise_fit.test("dsr").details["ledger_trials"] == 40.0
    assert noise_fit.test("pbo").computable  # over the 40 trials (neighbouring lookbacks: PBO alone may pass)
    if _nulls_available():  # its own noise explains it (WNT-B p = 0.036 > 0.01)
        assert FailureType.NOISE_FITTING in noise_fit.failure_types
        assert noise_fit.evidence[FailureType.NOISE_FITTING]["wnt_b.p_value"] > TH.wnt_b_p_max  # type: ignore[operator]
    # in-sample it looks fine: the selection, not the sample, gives it away
    assert noise_fit.test("psr").passed and noise_fit.test("trades").passed


def test_verdict_names_every_failure_type_or_says_why_not(planted: Verdict) -> None:
    covered = {d.failure_type for d in DETECTORS} | set(planted.not_applicable)
    assert covered == set(FailureType)
    assert set(planted.not_applicable) == {FailureType.EXECUTION_DIVERGENCE}


def test_json_round_trip(planted: Verdict, noise_fit: Verdict) -> None:
    for v in (planted, noise_fit):
        doc = json.loads(json.dumps(v.to_dict(), allow_nan=False))
        back = Verdict.from_dict(doc)
        assert back == v
        assert back.evidence.get("OVERFITTING") == v.evidence.get(FailureType.OVERFITTING)
        assert json.loads(v.to_json()) == doc


def test_bad_verdict_document_is_a_typed_error() -> None:
    from quant_engine.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="invalid verdict"):
        Verdict.from_dict({"strategy_hash": "x", "family": "f", "seed": "zero"})


# ---------------------------------------------------------------- determinism and not computable


def _strip_times(v: Verdict) -> dict[str, object]:
    d = v.to_dict()
    d.pop("timings")
    for t in d["tests"]:
        t.pop("seconds")
    return d


def test_deterministic_for_a_seed() -> None:
    bars = planted_bars(600, seed=5)
    rt = RedTeam(_config())
    a, b = rt.examine(momentum_spec(2), bars, seed=9), rt.examine(momentum_spec(2), bars, seed=9)
    assert _strip_times(a) == _strip_times(b)
    c = rt.examine(momentum_spec(2), bars, seed=10)
    assert c.test("spa").p_value is not None
    assert c.seed == 10


def test_without_store_ledger_tests_say_so() -> None:
    v = RedTeam(_config()).examine(momentum_spec(1), planted_bars(600, seed=4))
    pbo = v.test("pbo")
    assert not pbo.passed and pbo.reason is not None and "no store" in pbo.reason
    dsr = v.test("dsr")
    assert dsr.computable and dsr.note is not None and dsr.note.startswith("N = 1")
    assert "pbo" in v.not_computable and "correlation" in v.not_computable
    assert not v.passed  # a test not computed never passes


def test_pbo_with_one_trial_is_not_computable(tmp_path: Path) -> None:
    bars = planted_bars(600, seed=4)
    store = _family_store(tmp_path, bars, [1])
    v = RedTeam(_config(only=("pbo", "dsr"))).examine(momentum_spec(1), bars, store)
    assert "2 trials" in (v.test("pbo").reason or "")
    assert [t.name for t in v.tests] == ["dsr", "pbo"]


def test_no_trades_gives_a_reasoned_verdict() -> None:
    spec = momentum_spec(1)
    never = {"op": "gt", "left": {"op": "returns", "x": "close", "n": 1}, "right": 10.0}
    spec.update(entry_long=never, exit_long=never, entry_short=never, exit_short=never)
    v = RedTeam(_config()).examine(spec, planted_bars(300, seed=6))
    assert not v.passed
    assert v.test("trades").statistic == 0.0
    assert FailureType.INSUFFICIENT_EVIDENCE in v.failure_types
    assert "constant" in (v.test("psr").reason or "")
    assert "no fills" in (v.test("capacity").reason or "")
    assert "constant" in v.config["returns_note"]


def test_a_test_that_raises_is_not_computable_with_the_error() -> None:
    def broken(ctx: object) -> TestOutcome:
        raise ZeroDivisionError("boom")

    (out,) = _run("broken", broken, None)  # type: ignore[arg-type]
    assert not out.passed and out.reason == "ZeroDivisionError: boom"


def test_nulls_plug_in_or_say_they_are_missing() -> None:
    v = RedTeam(RedTeamConfig(only=NULLS)).examine(momentum_spec(1), planted_bars(300, seed=6))
    for t in v.tests:
        if _nulls_available():
            assert t.reason is None or "not available" not in t.reason
        else:
            assert not t.passed and "not available" in (t.reason or "")


def test_unknown_test_name_is_rejected() -> None:
    from quant_engine.errors import InvalidArgumentError

    with pytest.raises(InvalidArgumentError, match="unknown Red Team test 'psrr'"):
        RedTeamConfig(only=("psrr",))


# ---------------------------------------------------------------- detectors and gates at their thresholds


def test_every_battery_test_feeds_its_detector() -> None:
    registered = {n for n, _ in BATTERY} | {"costs_x2", "breakeven_cost", "max_drawdown", "drawdown_duration"}
    for d in DETECTORS:
        assert set(d.tests) <= registered, d
    assert FailureType.EXECUTION_DIVERGENCE in NOT_APPLICABLE
    assert [d.failure_type for d in DETECTORS] == [t for t in FailureType if t is not FailureType.EXECUTION_DIVERGENCE]


def test_detect_routes_failed_computed_tests_only() -> None:
    ok = TestOutcome(name="pbo", statistic=0.1, threshold=0.2, passed=True, feeds=(FailureType.OVERFITTING,))
    bad = TestOutcome(name="dsr", statistic=0.5, threshold=0.95, p_value=0.5, passed=False,
                      feeds=(FailureType.OVERFITTING,), details={"n_trials": 7.0})  # fmt: skip
    missing = S.not_computable("capacity", 0.05, (FailureType.CAPACITY_LIQUIDITY,), "no fills")
    desc = TestOutcome(name="trend_regimes", statistic=-1.0, threshold=None, passed=False, gated=False,
                       feeds=(FailureType.REGIME_DEPENDENCE,))  # fmt: skip
    types, ev = detect([ok, bad, missing, desc])
    assert types == (FailureType.OVERFITTING,)
    assert ev[FailureType.OVERFITTING]["dsr.statistic"] == 0.5
    assert ev[FailureType.OVERFITTING]["dsr.n_trials"] == 7.0
    assert ev[FailureType.OVERFITTING]["pbo.statistic"] == 0.1
    assert detect([ok, missing, desc]) == ((), {})


def test_trade_count_gate() -> None:
    assert S.trade_count_outcome(30, TH).passed
    assert not S.trade_count_outcome(29, TH).passed


def test_cost_gates_at_threshold() -> None:
    r = np.array([0.01, -0.005, 0.007, 0.002] * 10)
    cost = np.full(r.size, 0.001)
    # breakeven = gross / turnover = 2 x the assumed cost exactly: passes; a hair lower: fails
    _, be = M.cost_outcomes(r, cost, gross_pnl=200.0, costs=100.0, turnover=1e6, thresholds=TH)
    assert be.passed and be.statistic == pytest.approx(2.0) and be.threshold == pytest.approx(2.0)
    _, be = M.cost_outcomes(r, cost, gross_pnl=199.9, costs=100.0, turnover=1e6, thresholds=TH)
    assert not be.passed
    # net Sharpe at 2x costs: mean(r - cost) > 0 passes, <= 0 fails
    x2, _ = M.cost_outcomes(r, np.full(r.size, r.mean() - 1e-6), 1.0, 1.0, 1.0, TH)
    assert x2.passed and x2.statistic is not None and x2.statistic > 0
    x2, _ = M.cost_outcomes(r, np.full(r.size, r.mean() + 1e-6), 1.0, 1.0, 1.0, TH)
    assert not x2.passed
    x2, be = M.cost_outcomes(r, cost, 1.0, 1.0, 0.0, TH)
    assert not x2.computable and not be.passed


def test_capacity_gate() -> None:
    impact = np.array([1.0, 2.0])
    assert M.capacity_outcome(np.array([0.01, 0.05]), impact, TH).passed
    assert not M.capacity_outcome(np.array([0.01, 0.0501]), impact, TH).passed
    assert "volume" in (M.capacity_outcome(np.array([np.inf]), impact[:1], TH).reason or "")


def test_drawdown_gates() -> None:
    depth, dur = M.drawdown_outcomes(np.array([100.0, 110.0, 82.5, 120.0]), TH)
    assert depth.statistic == pytest.approx(0.25) and depth.passed
    depth, _ = M.drawdown_outcomes(np.array([100.0, 110.0, 82.4, 120.0]), TH)
    assert not depth.passed
    _, dur = M.drawdown_outcomes(np.array([100.0, 99.0, 99.5, 101.0]), TH)  # 2 of 4 under water
    assert dur.statistic == pytest.approx(0.5) and dur.passed
    _, dur = M.drawdown_outcomes(np.array([100.0, 99.0, 99.5, 99.8, 101.0]), TH)  # 3 of 5
    assert not dur.passed


def _terciles(shift_high: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n = 300
    vol = np.repeat([1.0, 2.0, 3.0], n)
    r = rng.normal(0.0, 1.0, 3 * n)
    for k in range(3):
        seg = slice(k * n, (k + 1) * n)
        r[seg] = (r[seg] - r[seg].mean()) / r[seg].std(ddof=1) + 0.2  # Sharpe 0.2 exactly
    r[2 * n :] += shift_high - 0.2
    return r, vol


def test_vol_tercile_gate() -> None:
    r, vol = _terciles(1e-6)
    o = M.vol_tercile_outcome(r, vol, TH)
    assert o.passed and o.statistic == pytest.approx(1e-6, abs=1e-9)
    r, vol = _terciles(0.0)
    assert not M.vol_tercile_outcome(r, vol, TH).passed  # Sharpe <= 0 in a tercile trips


def test_best_year_gate() -> None:
    years = np.array([2019, 2019, 2020, 2020])
    assert M.best_year_outcome(np.array([0.25, 0.25, 0.25, 0.25]), years, TH).passed  # 50%
    o = M.best_year_outcome(np.array([0.26, 0.25, 0.25, 0.25]), years, TH)
    assert not o.passed and o.statistic == pytest.approx(0.51 / 1.01)
    o = M.best_year_outcome(np.array([0.1, 0.1, -0.3, 0.0]), years, TH)
    assert not o.passed and o.statistic == 1.0 and o.note is not None
    assert "1 calendar year" in (M.best_year_outcome(np.ones(4), np.full(4, 2020), TH).reason or "")


def _correlated(rho: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x, z = rng.normal(size=500), rng.normal(size=500)
    x = (x - x.mean()) / x.std()
    z = z - z.mean() - (z @ x) / (x @ x) * x
    z /= z.std()
    return x, rho * x + math.sqrt(1 - rho * rho) * z


def test_correlation_gate() -> None:
    x, y = _correlated(0.6999)
    o = M.correlation_outcome(x, {"a" * 64: y}, TH)
    assert o.statistic == pytest.approx(0.6999) and o.passed
    x, y = _correlated(0.7001)
    assert not M.correlation_outcome(x, {"a" * 64: y, "b" * 64: -y}, TH).passed
    assert M.correlation_outcome(x, {}, TH).passed  # no graduate: nothing to be redundant with


def test_cpcv_gate() -> None:
    rng = np.random.default_rng(3)
    good = rng.normal(0.1, 1.0, (600, 3))
    bad = rng.normal(-0.1, 1.0, (600, 3))
    o = S.cpcv_outcome(good, TH)
    assert o.passed and o.details["n_paths"] == 5.0
    assert not S.cpcv_outcome(bad, TH).passed
    assert not S.cpcv_outcome(np.full((600, 2), np.nan), TH).computable


def test_cpcv_path_sharpes_match_a_direct_computation() -> None:
    from quant_engine.research.redteam import cpcv_splits

    rng = np.random.default_rng(4)
    m = rng.normal(0.0, 1.0, (240, 4)) + np.array([0.0, 0.05, 0.1, -0.1])
    got = S.cpcv_path_sharpes(m, TH)
    plan = cpcv_splits(240, n_groups=6, n_test_groups=2, embargo_fraction=0.01)
    chosen = [int(np.argmax(m[s.train].mean(0) / m[s.train].std(0, ddof=1))) for s in plan.splits]
    b = plan.group_bounds
    want = []
    for p in range(plan.paths.shape[0]):
        seg = np.concatenate([m[b[g] : b[g + 1], chosen[plan.paths[p, g]]] for g in range(6)])
        want.append(seg.mean() / seg.std(ddof=1))
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_prefix_invariance_catches_a_peeking_signal() -> None:
    bars = planted_bars(200, seed=7)

    def causal(t: pa.Table) -> pa.Table:
        c = t.column("close").to_numpy()
        up = np.concatenate([[False], c[1:] > c[:-1]])
        return pa.table({"entry_long": up, "exit_long": ~up})

    def peeking(t: pa.Table) -> pa.Table:  # looks one bar ahead
        c = t.column("close").to_numpy()
        up = np.concatenate([c[1:] > c[:-1], [False]])
        return pa.table({"entry_long": up, "exit_long": ~up})

    c = bars.column("close").to_numpy()
    rises = np.flatnonzero(c[1:] > c[:-1])  # a peek is visible where the next bar rises
    at = [int(rises[rises >= 50][0]), int(rises[rises >= 120][0])]
    cut = bars.column("start").cast(pa.int64()).to_numpy()[at]
    bad, compared = X.prefix_mismatches(causal, bars, cut)
    assert bad == 0 and compared == at[0] + 1 + at[1] + 1
    bad, _ = X.prefix_mismatches(peeking, bars, cut)
    assert bad >= 1
    assert not X.prefix_outcome(bad, 10, 2).passed
    assert X.prefix_outcome(0, 10, 2).passed


def _gate(name: str, field: str, value: float) -> RedTeamThresholds:
    return msgspec.structs.replace(TH, **{field: value})


@pytest.mark.parametrize(
    ("test", "field", "upper"),
    [("psr", "psr_min", False), ("dsr", "dsr_min", False), ("pbo", "pbo_max", True), ("spa", "spa_p_max", True)],
)
def test_ledger_gates_trip_at_their_threshold(test: str, field: str, upper: bool, tmp_path: Path) -> None:
    """Moving the default to the computed value passes (gates are inclusive); one ulp further trips."""
    bars = planted_bars(600, edge=0.002, seed=4)  # a weak edge: every statistic strictly inside (0, 1)
    store = _family_store(tmp_path, bars, [3, 5, 10, 20])
    first = RedTeam(_config(only=(test,))).examine(momentum_spec(5), bars, store).test(test)
    gated = first.p_value if test == "spa" else first.statistic
    assert gated is not None and 0.0 < gated < 1.0
    beyond = math.nextafter(gated, 0.0 if upper else 1.0)
    at = RedTeam(_config(only=(test,), thresholds=_gate(test, field, gated)))
    past = RedTeam(_config(only=(test,), thresholds=_gate(test, field, beyond)))
    v_at, v_past = at.examine(momentum_spec(5), bars, store), past.examine(momentum_spec(5), bars, store)
    assert v_at.test(test).passed and v_at.failure_types == ()
    assert not v_past.test(test).passed and v_past.failure_types == (
        FailureType.OVERFITTING if test != "psr" else FailureType.INSUFFICIENT_EVIDENCE,
    )
