"""Red Team: PBO by CSCV (VALIDATION.md §2) against a brute-force plain-Python oracle."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.kernels.cscv import cscv, cscv_splits
from quant_engine.research.redteam import FailureType, RedTeamThresholds, pbo


def _sharpe(rows: list[float]) -> float:
    sd = statistics.stdev(rows)
    return statistics.fmean(rows) / sd if sd > 0 else 0.0


def _oracle(x: list[list[float]], s: int) -> tuple[float, list[float], list[float], list[float]]:
    """PBO by brute force: every C(s, s/2) choice of blocks, plain Python lists, midrank."""
    t, n = len(x), len(x[0])
    bounds = [b * t // s for b in range(s + 1)]
    lams, is_best, oos_best = [], [], []
    for chosen in itertools.combinations(range(s), s // 2):
        ins = [r for b in chosen for r in range(bounds[b], bounds[b + 1])]
        outs = [r for b in range(s) if b not in chosen for r in range(bounds[b], bounds[b + 1])]
        is_sr = [_sharpe([x[r][c] for r in ins]) for c in range(n)]
        oos_sr = [_sharpe([x[r][c] for r in outs]) for c in range(n)]
        star = is_sr.index(max(is_sr))
        below = sum(1 for c in range(n) if c != star and oos_sr[c] < oos_sr[star])
        ties = sum(1 for c in range(n) if c != star and oos_sr[c] == oos_sr[star])
        w = (1 + below + 0.5 * ties) / (n + 1)
        lams.append(math.log(w / (1 - w)))
        is_best.append(is_sr[star])
        oos_best.append(oos_sr[star])
    return sum(1 for v in lams if v <= 0) / len(lams), lams, is_best, oos_best


def test_hand_checked_matrix() -> None:
    """4 blocks of 2 rows, column B = -A: C(4,2) = 6 splits, worked by hand.

    With B = -A the in-sample winner n* is A exactly when A's in-sample mean is positive, and n*
    ranks last out of sample (w = 1/3, lambda = -ln 2) exactly when A's out-of-sample mean has the
    other sign. A's block sums are 3, 1, -2, -0.5 (x 0.01; total 1.5), so with ``s`` the in-sample
    sum the split overfits iff s < 0 or s > 1.5: {0,1}: 4 yes; {0,2}: 1 no; {0,3}: 2.5 yes;
    {1,2}: -1 yes; {1,3}: 0.5 no; {2,3}: -2.5 yes. PBO = 4/6.
    """
    a = np.array([0.02, 0.01, 0.015, -0.005, -0.005, -0.015, 0.0, -0.005])
    x = np.c_[a, -a]
    res = pbo(x, RedTeamThresholds(cscv_blocks=4, min_observations=8))
    assert res.n_splits == 6 == len(cscv_splits(4))
    assert res.statistic == pytest.approx(4 / 6)
    assert not res.passed
    _, _, lam = cscv(x, 4)
    # masks ascending: {0,1}=3, {0,2}=5, {1,2}=6, {0,3}=9, {1,3}=10, {2,3}=12
    ln2 = math.log(2.0)
    assert lam.tolist() == pytest.approx([-ln2, ln2, -ln2, -ln2, ln2, -ln2])
    value, lams, _, _ = _oracle(x.tolist(), 4)
    assert value == pytest.approx(4 / 6)
    assert sorted(lam.tolist()) == pytest.approx(sorted(lams))


def test_identical_trials_tie_at_the_midrank() -> None:
    """Columns A, A, -A (A as above): a twin of n* ties with it out of sample (midrank).

    n* = column 0 when A's in-sample sum is positive: OOS A > 0 gives 1 below + 1 tie,
    w = 2.5/4, lambda = ln(5/3); OOS A < 0 gives 0 below + 1 tie, lambda = ln(3/5). n* = column 2
    otherwise: OOS A > 0 puts it last (ln(1/3)), OOS A < 0 first (ln 3).
    """
    a = np.array([0.02, 0.01, 0.015, -0.005, -0.005, -0.015, 0.0, -0.005])
    _, _, lam = cscv(np.c_[a, a, -a], 4)
    expected = [math.log(3 / 5), math.log(5 / 3), math.log(1 / 3), math.log(3 / 5), math.log(5 / 3), math.log(1 / 3)]
    assert lam.tolist() == pytest.approx(expected)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 4, 6]), st.integers(2, 6), st.integers(0, 5))
def test_kernel_matches_brute_force(seed: int, s: int, n: int, extra_rows: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3 * s + extra_rows, n)) * 0.01 + rng.normal(0, 0.002, n)
    value, lams, is_best, oos_best = _oracle(x.tolist(), s)
    is_k, oos_k, lam_k = cscv(x, s)
    masks = cscv_splits(s)
    # Oracle order: itertools.combinations; kernel order: ascending bit masks. Match by mask.
    order = {sum(1 << b for b in c): i for i, c in enumerate(itertools.combinations(range(s), s // 2))}
    for j, m in enumerate(masks):
        i = order[int(m)]
        assert lam_k[j] == pytest.approx(lams[i], abs=1e-9)
        assert is_k[j] == pytest.approx(is_best[i], rel=1e-8, abs=1e-12)
        assert oos_k[j] == pytest.approx(oos_best[i], rel=1e-8, abs=1e-12)
    assert float(np.mean(lam_k <= 0)) == pytest.approx(value)


def test_pure_noise_overfits_about_half_the_time() -> None:
    values = []
    for seed in range(4):
        x = np.random.default_rng(seed).standard_normal((800, 40)) * 0.01
        values.append(pbo(x).statistic)
    assert 0.35 <= float(np.mean(values)) <= 0.75
    assert all(not pbo(np.random.default_rng(9).standard_normal((800, 40))).passed for _ in range(1))


def test_one_planted_signal_gives_pbo_near_zero() -> None:
    x = np.random.default_rng(11).standard_normal((1000, 40)) * 0.01
    x[:, 17] += 0.004  # per-period Sharpe 0.4 among noise
    res = pbo(x)
    assert res.statistic < 0.02 and res.passed and res.feeds == (FailureType.OVERFITTING,)
    assert res.prob_oos_loss < 0.02
    assert res.n_splits == 12870


def test_slope_and_oos_loss_probability_match_their_definitions() -> None:
    x = np.random.default_rng(12).standard_normal((320, 10))
    th = RedTeamThresholds(cscv_blocks=8)
    res = pbo(x, th)
    is_sr, oos_sr, _ = cscv(x, 8)
    slope, intercept = np.polyfit(is_sr, oos_sr, 1)
    assert res.slope == pytest.approx(slope, rel=1e-9)
    assert res.intercept == pytest.approx(intercept, rel=1e-9, abs=1e-12)
    assert res.prob_oos_loss == pytest.approx(float(np.mean(oos_sr < 0)))


def test_uncomputable_matrices_fail_with_a_reason() -> None:
    rng = np.random.default_rng(0)
    assert "at least 2 trials" in (pbo(rng.standard_normal((200, 1))).reason or "")
    assert "too few" in (pbo(rng.standard_normal((20, 5))).reason or "")
    bad = rng.standard_normal((200, 5))
    bad[3, 3] = np.nan
    assert "non-finite" in (pbo(bad).reason or "")
    flat = pbo(np.full((200, 4), 0.001))
    assert "zero variance" in (flat.reason or "") and not flat.passed


def test_constant_columns_score_zero_not_infinity() -> None:
    rng = np.random.default_rng(1)
    x = np.c_[rng.standard_normal((320, 5)) * 0.01, np.full(320, 0.001)]
    is_sr, _, _ = cscv(x, 8)
    assert np.all(np.abs(is_sr) < 10)


def test_bad_block_counts_raise() -> None:
    with pytest.raises(ValueError):
        cscv_splits(5)
