"""Input checks shared by the Red Team's statistics: wrong shapes and types raise
:class:`~quant_engine.errors.InvalidArgumentError`; data a statistic cannot be computed on (too few
observations, non-finite values, zero variance) yields a *reason* string instead."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from quant_engine.errors import InvalidArgumentError

__all__ = ["as_series", "as_matrix", "finite_reason"]


def _as_float(x: Any, name: str) -> npt.NDArray[np.float64]:
    try:
        return np.ascontiguousarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"{name} must be numeric: {exc}") from None


def as_series(x: Any, name: str = "returns") -> npt.NDArray[np.float64]:
    """``x`` as a contiguous 1-D float64 array (an ``InvalidArgumentError`` for any other shape)."""
    a = _as_float(x, name)
    if a.ndim != 1:
        raise InvalidArgumentError(f"{name} must be 1-D, got shape {a.shape}")
    return a


def as_matrix(x: Any, name: str = "returns") -> npt.NDArray[np.float64]:
    """``x`` as a contiguous ``T x N`` float64 array (1-D input is one column)."""
    a = _as_float(x, name)
    if a.ndim == 1:
        a = a.reshape(-1, 1)
    if a.ndim != 2:
        raise InvalidArgumentError(f"{name} must be T x N, got shape {a.shape}")
    return a


def finite_reason(a: npt.NDArray[np.float64], min_obs: int, name: str = "returns") -> str | None:
    """Why ``a`` (rows = periods) cannot be used, or ``None``: too few rows or non-finite values."""
    n = a.shape[0]
    if n < min_obs:
        return f"too few observations: {n} < {min_obs}"
    bad = int(a.size - np.count_nonzero(np.isfinite(a)))
    if bad:
        return f"{name} hold {bad} non-finite value(s) (NaN or inf)"
    return None
