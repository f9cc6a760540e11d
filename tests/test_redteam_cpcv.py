"""Red Team: combinatorial purged cross-validation with embargo (VALIDATION.md §5)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.redteam import cpcv_splits


def test_six_groups_two_test_groups_give_15_splits_and_5_paths() -> None:
    plan = cpcv_splits(600, n_groups=6, n_test_groups=2, embargo_fraction=0.0)
    assert len(plan.splits) == 15 and plan.paths.shape == (5, 6)
    for g in range(6):
        # each path takes group g from a distinct split that tests g
        assert len(set(plan.paths[:, g].tolist())) == 5
        assert all(g in plan.splits[s].test_groups for s in plan.paths[:, g])
    for s in plan.splits:
        assert len(s.test) == 200 and len(s.train) == 400  # no overlap, no embargo: nothing dropped
        assert not set(s.train.tolist()) & set(s.test.tolist())


def _expected_train(n: int, bounds: np.ndarray, test_groups: tuple[int, ...], ends: list[int], h: int) -> list[int]:
    """The purge/embargo rule, observation by observation."""
    out = []
    for i in range(n):
        g = next(j for j in range(len(bounds) - 1) if bounds[j] <= i < bounds[j + 1])
        if g in test_groups:
            continue
        dropped = False
        for tg in test_groups:
            a, b = int(bounds[tg]), int(bounds[tg + 1]) - 1
            span_end = max(ends[a : b + 1])
            if i <= span_end and ends[i] >= a:  # label interval overlaps the test labels
                dropped = True
            if b < i <= b + h:  # embargo after the test block
                dropped = True
        if not dropped:
            out.append(i)
    return out


@settings(max_examples=30, deadline=None)
@given(st.integers(30, 120), st.integers(0, 6), st.floats(0.0, 0.1), st.integers(3, 6), st.data())
def test_purge_and_embargo_rule(n: int, horizon: int, embargo: float, groups: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(1, groups - 1))
    ends = [min(i + horizon, n - 1) for i in range(n)]
    plan = cpcv_splits(n, n_groups=groups, n_test_groups=k, embargo_fraction=embargo, label_end=ends)
    assert len(plan.splits) == math.comb(groups, k)
    assert plan.embargo == math.ceil(embargo * n)
    for s in plan.splits:
        assert s.train.tolist() == _expected_train(n, plan.group_bounds, s.test_groups, ends, plan.embargo)


def test_overlapping_labels_are_purged_before_and_embargo_after() -> None:
    n = 100
    ends = [min(i + 3, n - 1) for i in range(n)]  # each label looks 3 bars ahead
    plan = cpcv_splits(n, n_groups=5, n_test_groups=1, embargo_fraction=0.02, label_end=ends)
    mid = next(s for s in plan.splits if s.test_groups == (2,))  # test rows 40..59
    train = set(mid.train.tolist())
    assert {37, 38, 39}.isdisjoint(train) and 36 in train  # labels of 37..39 reach into the test
    assert {60, 61, 62}.isdisjoint(train) and 63 in train  # test labels reach 62; embargo 2 rows -> 61
    assert 64 in train


def test_bad_arguments_raise() -> None:
    with pytest.raises(InvalidArgumentError):
        cpcv_splits(100, n_groups=4, n_test_groups=4)
    with pytest.raises(InvalidArgumentError):
        cpcv_splits(3, n_groups=6)
    with pytest.raises(InvalidArgumentError):
        cpcv_splits(10, n_groups=2, label_end=[0] * 10)
