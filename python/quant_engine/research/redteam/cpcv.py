"""Combinatorial purged cross-validation with embargo (López de Prado 2018, "Advances in Financial
Machine Learning", ch. 7 and 12; VALIDATION.md §5).

The ``T`` observations are cut into ``N`` contiguous groups (group ``g`` holds rows
``floor(g T / N) .. floor((g+1) T / N) - 1``). Each of the ``C(N, k)`` splits tests on ``k`` groups
and trains on the rest, minus:

* **purging**: a training observation ``i`` whose label interval ``[i, label_end[i]]`` overlaps a
  test group's label span ``[a, max(label_end[a..b])]`` (``a..b`` the group's rows) is dropped;
* **embargo**: a training observation starting within ``h`` rows after a test group's last row
  (``b < i <= b + h``) is dropped, ``h = ceil(embargo_fraction * T)``.

The splits yield ``k/N * C(N, k)`` backtest paths: path ``p`` takes group ``g``'s out-of-sample
predictions from the ``p``-th split (in split order) that tests ``g``. Feeds OVERFITTING through the
distribution of the paths' out-of-sample Sharpe ratios (computed by the caller).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import numpy.typing as npt

from quant_engine.errors import InvalidArgumentError

__all__ = ["CPCVSplit", "CPCVPlan", "cpcv_splits"]


@dataclass(frozen=True)
class CPCVSplit:
    """One split: the test groups, the test rows and the (purged, embargoed) training rows."""

    test_groups: tuple[int, ...]
    train: npt.NDArray[np.int64]
    test: npt.NDArray[np.int64]


@dataclass(frozen=True)
class CPCVPlan:
    """All splits and the path assembly: ``paths[p, g]`` is the split whose test predictions of
    group ``g`` form path ``p``. ``group_bounds`` has ``N + 1`` row offsets; ``embargo`` is ``h``."""

    splits: tuple[CPCVSplit, ...]
    paths: npt.NDArray[np.int64]
    group_bounds: npt.NDArray[np.int64]
    embargo: int


def cpcv_splits(
    n_obs: int,
    *,
    n_groups: int = 6,
    n_test_groups: int = 2,
    embargo_fraction: float = 0.01,
    label_end: Any = None,
) -> CPCVPlan:
    """The combinatorial purged CV plan for ``n_obs`` observations (see the module docstring).

    ``label_end`` (length ``n_obs``, ``label_end[i] >= i``) is the last row observation ``i``'s label
    depends on (default: ``i``, labels that do not overlap).
    """
    if not 1 <= n_test_groups < n_groups:
        raise InvalidArgumentError(f"need 1 <= k < N, got N={n_groups}, k={n_test_groups}")
    if n_obs < n_groups:
        raise InvalidArgumentError(f"{n_obs} observations cannot form {n_groups} groups")
    if not 0.0 <= embargo_fraction < 0.5:
        raise InvalidArgumentError(f"embargo_fraction must be in [0, 0.5), got {embargo_fraction}")
    rows = np.arange(n_obs, dtype=np.int64)
    if label_end is None:
        ends = rows.copy()
    else:
        ends = np.ascontiguousarray(label_end, dtype=np.int64)
        if ends.shape != (n_obs,) or np.any(ends < rows) or np.any(ends >= n_obs):
            raise InvalidArgumentError("label_end must have one entry per observation with i <= label_end[i] < T")
    h = math.ceil(embargo_fraction * n_obs)
    bounds = (np.arange(n_groups + 1, dtype=np.int64) * n_obs) // n_groups
    drop_by_group = []
    for g in range(n_groups):
        a, b = int(bounds[g]), int(bounds[g + 1]) - 1
        span_end = int(ends[a : b + 1].max())
        purged = (rows <= span_end) & (ends >= a)
        embargoed = (rows > b) & (rows <= b + h)
        drop_by_group.append(purged | embargoed)
    group_of = np.searchsorted(bounds, rows, side="right") - 1
    splits = []
    for tg in combinations(range(n_groups), n_test_groups):
        is_test = np.isin(group_of, tg)
        drop = np.logical_or.reduce([drop_by_group[g] for g in tg])
        splits.append(CPCVSplit(tuple(tg), rows[~is_test & ~drop], rows[is_test]))
    n_paths = n_test_groups * len(splits) // n_groups
    paths = np.empty((n_paths, n_groups), dtype=np.int64)
    for g in range(n_groups):
        paths[:, g] = [i for i, s in enumerate(splits) if g in s.test_groups]
    return CPCVPlan(tuple(splits), paths, bounds, h)
