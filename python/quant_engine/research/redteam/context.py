"""What every test of the battery reads: the candidate's backtest and return series, and its family's
trials from the ledger (:class:`ExamContext`, built once per ``examine``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from quant_engine.research.backtester import BacktestResult
from quant_engine.research.config import BacktestConfig
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.store.errors import StoreInputError
from quant_engine.strategy.bar_arrays import BarArrays
from quant_engine.strategy.compiled import CompiledStrategy

__all__ = ["ExamContext", "LedgerView", "load_ledger"]

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class LedgerView:
    """The family's trials as the ledger holds them.

    Attributes:
        family: the family the statistics count.
        n_trials: every trial of the family in the ledger (with or without stored returns).
        matrix: ``T x N`` returns of the family's trials that stored returns *and* match the
            candidate's ``T``, the candidate's own series appended when the ledger lacks it
            (``None`` without a store).
        candidate_column: the candidate's column in ``matrix``.
        reason: why the ledger could not be used (no store, period counts differ ...).
        graduated: returns of the store's graduated / promoted strategies (``hash -> series``),
            the candidate excluded.
        graduated_skipped: graduated strategies without comparable stored returns.
        grid: the family's parameter grid as the ledger's trials tried it (name -> sorted
            distinct values, the candidate's parameters only); WNT-A repeats that fitting.
    """

    family: str
    n_trials: int = 0
    matrix: F64 | None = None
    candidate_column: int = 0
    reason: str | None = None
    graduated: dict[str, F64] = field(default_factory=dict)
    graduated_skipped: int = 0
    grid: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class ExamContext:
    """One examination's inputs, shared by the battery's tests (read-only by convention)."""

    strategy: CompiledStrategy
    data: Any
    bars: BarArrays
    config: BacktestConfig
    thresholds: RedTeamThresholds
    seed: int
    result: BacktestResult
    returns: F64
    ts: npt.NDArray[np.int64]
    ledger: LedgerView
    store: Any = None

    @property
    def returns_reason(self) -> str | None:
        """Why the candidate's returns cannot be tested (non-finite values, constant), or None."""
        r = self.returns
        bad = int(r.size - np.count_nonzero(np.isfinite(r)))
        if bad:
            return f"the strategy's returns hold {bad} non-finite value(s) (NaN or inf)"
        if r.size == 0:
            return "the backtest produced no return periods"
        if float(np.ptp(r)) == 0.0:
            return "zero variance: the strategy's returns are constant (no position ever taken?)"
        return None


def _append_candidate(m: F64, r: F64) -> tuple[F64, int]:
    """``m`` with ``r`` as a column (unless an identical column is there) and ``r``'s column."""
    if m.shape[1]:
        same = np.flatnonzero(np.max(np.abs(m - r[:, None]), axis=0) <= 1e-12)
        if same.size:
            return m, int(same[0])
    return np.ascontiguousarray(np.column_stack([m, r])), m.shape[1]


def load_ledger(store: Any, cs: CompiledStrategy, returns: F64) -> LedgerView:
    """The candidate's family view of ``store`` (``None``: no ledger; the family is the template hash)."""
    from quant_engine.store import UnknownStrategyError, get_strategy, list_strategies, returns_matrix, trial_count
    from quant_engine.store.strategies import template_identity

    if store is None:
        return LedgerView(family=template_identity(cs), reason="no store: the ledger's trials are unknown")
    try:
        family = get_strategy(store, cs.hash).family
    except UnknownStrategyError:
        family = _template_family(store, template_identity(cs))
    n = trial_count(store, family=family)
    grid = _grid(store, family, cs.params)
    graduated, skipped = _graduated(store, cs.hash, returns.shape[0], list_strategies, returns_matrix)
    try:
        m = np.asarray(returns_matrix(store, family=family).values, dtype=np.float64)
    except StoreInputError as exc:
        why = f"the family's trials cannot form one matrix: {exc}"
        return LedgerView(family, n, None, 0, why, graduated, skipped, grid)
    if m.shape[1] and m.shape[0] != returns.shape[0]:
        why = f"the family's stored returns have {m.shape[0]} periods, the candidate's {returns.shape[0]}"
        return LedgerView(family, n, None, 0, why, graduated, skipped, grid)
    m = m.reshape(returns.shape[0], -1) if m.size else np.zeros((returns.shape[0], 0))
    full, col = _append_candidate(m, returns)
    return LedgerView(family, n, full, col, None, graduated, skipped, grid)


def _grid(store: Any, family: str, params: list[str]) -> dict[str, list[float]]:
    """Distinct values per parameter over the family's trials (only the candidate's parameters;
    empty when the trials tried a single combination)."""
    from quant_engine.store import list_trials

    values: dict[str, set[float]] = {p: set() for p in params}
    for t in list_trials(store, family=family, limit=None):
        for p in params:
            v = t.params.get(p)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                values[p].add(float(v))
    grid = {p: sorted(v) for p, v in values.items() if v}
    return grid if any(len(v) > 1 for v in grid.values()) else {}


def _template_family(store: Any, template: str) -> str:
    """The family of a stored strategy sharing the candidate's template (another parameterization
    of it), else the template hash itself."""
    import sqlalchemy as sa

    from quant_engine.store import schema as S

    t = S.strategies
    q = sa.select(t.c.family).where(t.c.template_hash == template).order_by(t.c.created_at).limit(1)
    with store.read() as conn:
        row = conn.execute(q).first()
    return str(row[0]) if row is not None else template


def _graduated(
    store: Any, own: str, periods: int, list_strategies: Any, returns_matrix: Any
) -> tuple[dict[str, F64], int]:
    """Stored return series of graduated / promoted strategies (first trial with ``periods`` rows)."""
    out: dict[str, F64] = {}
    skipped = 0
    for status in ("graduated", "promoted"):
        for rec in list_strategies(store, status=status):
            if rec.hash == own:
                continue
            try:
                m = returns_matrix(store, strategy_hash=rec.hash).values
            except StoreInputError:
                skipped += 1
                continue
            if m.shape[1] and m.shape[0] == periods:
                out[rec.hash] = np.ascontiguousarray(m[:, -1], dtype=np.float64)
            else:
                skipped += 1
    return out, skipped
