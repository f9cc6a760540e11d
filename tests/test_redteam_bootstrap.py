"""Red Team: stationary bootstrap, Hansen's SPA and White's Reality Check (VALIDATION.md §3),
against the ``arch`` package on the same data and the same bootstrap indices."""

from __future__ import annotations

import math

import numpy as np
import pytest
from arch.bootstrap import SPA, RealityCheck, StationaryBootstrap
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.bootstrap import (
    permutation_indices,
    resampled_means,
    stationary_bootstrap_indices,
)
from quant_engine.kernels.spa import stationary_bootstrap_variance
from quant_engine.research.redteam import FailureType, RedTeamThresholds, bootstrap_mean_interval, reality_check, spa


def _arch_indices(n: int, block: int, reps: int, seed: int) -> np.ndarray:
    """The index rows arch's SPA draws for ``seed`` (bootstrapping ``arange(n)`` yields them)."""
    bs = StationaryBootstrap(block, np.arange(n), seed=seed)
    return np.array([data[0][0] for data in bs.bootstrap(reps)], dtype=np.int64)


def _population(seed: int, t: int, k: int, edge: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    common = rng.standard_normal((t, 1)) * 0.005
    r = common + rng.standard_normal((t, k)) * 0.01 + rng.normal(0, 0.0004, k)
    r[:, 0] += edge
    return r, rng.standard_normal(t) * 0.002


# --- index generation ---------------------------------------------------------------------------


def test_stationary_indices_are_deterministic_and_chunk_invariant() -> None:
    a = stationary_bootstrap_indices(300, 7.0, 40, seed=5)
    b = np.vstack(
        [stationary_bootstrap_indices(300, 7.0, 15, seed=5, first=f) for f in (0, 15)]
        + [stationary_bootstrap_indices(300, 7.0, 10, seed=5, first=30)]
    )
    assert np.array_equal(a, b)
    assert not np.array_equal(a, stationary_bootstrap_indices(300, 7.0, 40, seed=6))
    assert a.min() >= 0 and a.max() < 300


def test_stationary_blocks_have_the_requested_mean_length() -> None:
    n, block = 2000, 8.0
    idx = stationary_bootstrap_indices(n, block, 200, seed=1)
    cont = (idx[:, 1:] == idx[:, :-1] + 1) | ((idx[:, :-1] == n - 1) & (idx[:, 1:] == 0))
    # A new block starts with probability 1/L (a fresh start can also continue by chance: 1/n).
    assert 1.0 - cont.mean() == pytest.approx(1.0 / block, rel=0.03)


def test_permutations_are_permutations() -> None:
    idx = permutation_indices(50, 30, seed=2)
    assert all(np.array_equal(np.sort(row), np.arange(50)) for row in idx)
    assert len({tuple(r) for r in idx}) == 30
    # uniform: each position's value is uniform; position 0 averages (n-1)/2
    big = permutation_indices(20, 4000, seed=3)
    assert big[:, 0].mean() == pytest.approx(9.5, abs=0.35)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31), st.integers(2, 40), st.integers(1, 5), st.integers(1, 6))
def test_resampled_means_equal_direct_gathers(seed: int, n: int, k: int, reps: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, k)) * 3 + rng.standard_normal(k)
    idx = rng.integers(0, n, (reps, n))
    idx[0] = stationary_bootstrap_indices(n, 3.0, 1, seed=seed % 1000)[0]
    got = resampled_means(x, idx)
    want = np.stack([x[row].mean(axis=0) for row in idx])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


# --- SPA / Reality Check against arch -----------------------------------------------------------


@pytest.mark.parametrize(
    "seed, t, k, edge, block", [(1, 400, 30, 0.0, 10), (2, 300, 12, 0.002, 5), (3, 250, 60, 0.004, 15)]
)
def test_unstudentized_spa_equals_arch_exactly_on_arch_indices(
    seed: int, t: int, k: int, edge: float, block: int
) -> None:
    r, bench = _population(seed, t, k, edge)
    ref = SPA(-bench, -r, block_size=block, reps=300, seed=seed)
    ref.compute()
    idx = _arch_indices(t, block, 300, seed)
    th = RedTeamThresholds(bootstrap_mean_block=block)
    res = spa(r, bench, th, studentize=False, indices=idx)
    assert [res.p_lower, res.p_consistent, res.p_upper] == list(ref.pvalues.values)
    assert res.feeds == (FailureType.OVERFITTING,)


def test_variances_equal_arch() -> None:
    r, bench = _population(4, 500, 20, 0.0)
    ref = SPA(-bench, -r, block_size=12, reps=10, seed=0)
    ref._compute_variance()
    np.testing.assert_allclose(stationary_bootstrap_variance(r - bench[:, None], 12), ref._loss_diff_var, rtol=1e-10)


def test_reality_check_equals_arch() -> None:
    r, bench = _population(5, 300, 25, 0.001)
    ref = RealityCheck(-bench, -r, block_size=9, reps=250, seed=11)
    ref.compute()
    res = reality_check(r, bench, RedTeamThresholds(bootstrap_mean_block=9), indices=_arch_indices(300, 9, 250, 11))
    assert res.p_value == ref.pvalues["upper"]
    d = r - bench[:, None]
    assert res.statistic == pytest.approx(math.sqrt(300) * d.mean(axis=0).max())


def test_studentized_spa_equals_an_independent_implementation() -> None:
    """Hansen (2005) written out with direct gathers (no prefix sums) on the same indices."""
    r, bench = _population(6, 350, 20, 0.002)
    d = r - bench[:, None]
    n, block = d.shape[0], 10
    idx = _arch_indices(n, block, 200, 3)
    dbar = d.mean(axis=0)
    dem = d - dbar
    p = 1.0 / block
    var = (dem**2).sum(0) / n
    for i in range(1, n):
        kap = (1 - i / n) * (1 - p) ** i + (i / n) * (1 - p) ** (n - i)
        var += 2 * kap * (dem[: n - i] * dem[i:]).sum(0) / n
    omega = np.sqrt(var)
    t_obs = max(0.0, float(np.max(math.sqrt(n) * dbar / omega)))
    thr = -np.sqrt(var / n * 2 * np.log(np.log(n)))
    centers = [np.maximum(dbar, 0), np.where(dbar >= thr, dbar, 0.0), dbar]
    want = []
    for c in centers:
        sims = [max(0.0, float(np.max(math.sqrt(n) * (d[row].mean(0) - c) / omega))) for row in idx]
        want.append(float(np.mean(np.array(sims) > t_obs)))
    res = spa(r, bench, RedTeamThresholds(bootstrap_mean_block=block), indices=idx)
    assert res.statistic == pytest.approx(t_obs)
    assert [res.p_lower, res.p_consistent, res.p_upper] == pytest.approx(want)


def test_spa_matches_arch_within_monte_carlo_error_on_its_own_seed() -> None:
    r, bench = _population(7, 400, 40, 0.0015)
    ref = SPA(-bench, -r, block_size=12, reps=1000, seed=1)
    ref.compute()
    res = spa(r, bench, RedTeamThresholds(bootstrap_mean_block=12), studentize=False, seed=99)
    for ours, theirs in zip((res.p_lower, res.p_consistent, res.p_upper), ref.pvalues.values, strict=True):
        se = math.sqrt(max(theirs * (1 - theirs), 0.01) / 1000)
        assert abs(ours - theirs) <= 4 * math.sqrt(2) * se


def test_spa_detects_a_real_edge_and_not_noise() -> None:
    r, _ = _population(8, 1000, 50, 0.0)
    noise = spa(r - r.mean(axis=0), seed=1)
    assert not noise.passed and noise.p_value is not None and noise.p_value > 0.2
    r[:, 3] += 0.004
    edge = spa(r, seed=1)
    assert edge.passed and edge.p_value is not None and edge.p_value < 0.01 and edge.best_column == 3


def test_spa_is_deterministic_for_a_seed() -> None:
    r, bench = _population(9, 300, 10, 0.001)
    th = RedTeamThresholds(bootstrap_reps=200)
    assert spa(r, bench, th, seed=4) == spa(r, bench, th, seed=4)


def test_spa_bad_inputs() -> None:
    r, bench = _population(10, 200, 5, 0.0)
    r[7, 2] = np.nan
    res = spa(r, bench)
    assert not res.passed and "non-finite" in (res.reason or "")
    assert "too few" in (reality_check(np.zeros((5, 3))).reason or "")
    with pytest.raises(InvalidArgumentError):
        spa(r[:, :2], bench[:100])
    with pytest.raises(InvalidArgumentError):
        spa(np.nan_to_num(r), bench, indices=np.zeros((3, 5), dtype=np.int64))
    # a strategy identical to the benchmark (omega = 0) contributes 0 to the studentized maximum
    same = np.nan_to_num(r)
    same[:, 0] = bench
    res_same = spa(same, bench, RedTeamThresholds(bootstrap_reps=200), seed=2)
    assert res_same.reason is None and res_same.p_value is not None and math.isfinite(res_same.statistic)


# --- coverage -----------------------------------------------------------------------------------


def _coverage(n: int, k: int, block: float, seed: int, phi: float = 0.3) -> float:
    """Share of ``k`` AR(1) series whose 95% stationary-bootstrap interval covers the true mean 0."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal((n, k))
    x = np.empty_like(e)
    x[0] = e[0] / math.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    lo, hi = bootstrap_mean_interval(x, level=0.95, reps=499, mean_block=block, seed=seed)
    return float(np.mean((lo <= 0.0) & (hi >= 0.0)))


def test_bootstrap_interval_covers_the_true_mean() -> None:
    cov = _coverage(400, 300, 8.0, 1)
    # binomial sd at 300 draws ~ 0.0126; block bootstraps under-cover slightly in small samples
    assert 0.89 <= cov <= 0.99


@pytest.mark.slow
def test_bootstrap_interval_coverage_many_seeds() -> None:
    # i.i.d. data, i.i.d. bootstrap: 3000 intervals, 3 binomial sd = 0.012 (+0.005 percentile bias)
    iid = float(np.mean([_coverage(800, 500, 1.0, s, phi=0.0) for s in range(6)]))
    assert abs(iid - 0.95) <= 0.017
    # AR(1) 0.3 with mean block 10: the stationary bootstrap's variance is biased down by
    # O(1/L) (Politis & Romano 1994), measured 0.932 here; a broken resampler (i.i.d. on
    # autocorrelated data) gives 0.847
    ar = float(np.mean([_coverage(800, 500, 10.0, s) for s in range(6)]))
    assert 0.915 <= ar <= 0.965


@pytest.mark.parametrize("mean_block", [None, 4.0])
def test_fused_null_sharpes_equal_the_index_sets(mean_block: float | None) -> None:
    from quant_engine.kernels.bootstrap import permuted_pnl_sharpes

    rng = np.random.default_rng(6)
    r = rng.standard_normal(257) * 0.01
    pos = np.sign(rng.standard_normal(257))
    got = permuted_pnl_sharpes(pos, r, 40, seed=8, mean_block=mean_block)
    if mean_block is None:
        idx = permutation_indices(257, 40, seed=8)
    else:
        idx = stationary_bootstrap_indices(257, mean_block, 40, seed=8)
    pnl = pos[None, :] * r[idx]
    np.testing.assert_allclose(got, pnl.mean(1) / pnl.std(1, ddof=1), rtol=1e-9)


def test_index_sets_do_not_depend_on_the_thread_count() -> None:
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = stationary_bootstrap_indices(500, 6.0, 16, seed=21), permutation_indices(500, 16, seed=21)
        numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
        many = stationary_bootstrap_indices(500, 6.0, 16, seed=21), permutation_indices(500, 16, seed=21)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one[0], many[0]) and np.array_equal(one[1], many[1])


def test_each_kernel_compiles_one_specialization() -> None:
    from quant_engine.kernels import bootstrap, cscv, sharpe_stats, spa, whiteness
    from quant_engine.research import redteam as rt

    r = np.random.default_rng(0).standard_normal((300, 6)).astype(np.float32)  # converted once, at the API
    rt.spa(r, seed=1)
    rt.pbo(np.asfortranarray(r))
    blob = r.astype(np.float64)  # a store blob's view is read-only: the same specialization
    blob.flags.writeable = False
    rt.spa(blob, seed=1)
    rt.pbo(blob)
    rt.effective_trials(blob)
    rt.whiteness(blob[:, 0])
    rt.whiteness(r[:, 0])
    rt.fixed_position_null_test(np.sign(r[:, 1]), r[:, 0], RedTeamThresholds(wnt_b_reps=50))
    rt.dsr_from_trials(r[:, 0], r)
    for mod in (bootstrap, cscv, sharpe_stats, spa, whiteness):
        for name in dir(mod):
            sigs = getattr(getattr(mod, name), "signatures", None)
            if sigs is not None:
                assert len(sigs) <= 1, f"{mod.__name__}.{name} compiled {len(sigs)} specializations"
