"""Parameter stability (VALIDATION.md §6, PARAMETER_INSTABILITY): +-20% perturbation of every
constant and window of the strategy, all variants in one sweep.

The strategy tree is walked (its rules, stops, take-profit and time stop; the sizing is left
alone: it scales positions, not the decision) and every numeric literal is replaced by a
parameter whose default is the literal; the strategy's own parameters are perturbed as well. The
variants are then rows of one parameter grid, run by :func:`~quant_engine.research.sweep` (signals
for all rows in one Numba call, fills in parallel Rust threads). Integers stay integers (rounded;
a rounding back onto the original value is dropped) and every value is checked where it is used
(windows >= 1 ...): an invalid variant is dropped and counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.backtester import sweep
from quant_engine.research.config import BacktestConfig
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.nulls._common import DEFAULT, data_reason
from quant_engine.research.redteam.nulls._engine import prepare
from quant_engine.research.redteam.nulls.results import PerturbationResult
from quant_engine.research.redteam.results import FailureType
from quant_engine.strategy.compiled import CompiledStrategy, compile_strategy
from quant_engine.strategy.spec import RULES
from quant_engine.strategy.validate import param_uses

__all__ = ["perturbation", "parametrized"]

_UNSTABLE = (FailureType.PARAMETER_INSTABILITY,)
_SLOTS = RULES + ("stop_loss", "take_profit", "time_stop")


def _full(value: Any) -> Any:
    """A node tree as builtins *with* its default-valued fields (``to_builtins`` omits them, and
    a default window is a window to perturb too)."""
    if isinstance(value, msgspec.Struct):
        cfg = value.__struct_config__
        out: dict[str, Any] = {cfg.tag_field: cfg.tag} if cfg.tag_field else {}
        for name in value.__struct_fields__:
            out[name] = _full(getattr(value, name))
        return out
    if isinstance(value, list):
        return [_full(v) for v in value]
    if isinstance(value, dict):
        return {k: _full(v) for k, v in value.items()}
    return value


def parametrized(cs: CompiledStrategy) -> tuple[CompiledStrategy, list[tuple[str, str, float]]]:
    """``cs`` with every numeric literal of its rules, stops and time stop turned into a
    parameter (default: the literal), and the sites ``(parameter, path, value)`` to perturb:
    the new parameters and the strategy's own."""
    doc = msgspec.to_builtins(cs.strategy)
    own = dict(zip(cs.template.params, cs.template.defaults, strict=True))
    sites: list[tuple[str, str, float]] = [(k, f"$.params.{k}", float(v)) for k, v in own.items()]

    def fresh() -> str:
        i = len(sites)
        while f"_k{i}" in own:
            i += 1
        return f"_k{i}"

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, dict):
            if node.get("op") == "param":
                return node
            return {k: v if k in ("op", "kind") else walk(v, f"{path}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            return node
        name = fresh()
        sites.append((name, path, float(node)))
        return {"op": "param", "name": name}

    for slot in _SLOTS:
        if getattr(cs.strategy, slot) is not None:
            doc[slot] = walk(_full(getattr(cs.strategy, slot)), f"$.{slot}")
    doc["params"] = {**doc.get("params", {}), **{n: v for n, p, v in sites if not p.startswith("$.params.")}}
    return compile_strategy(doc, limits=cs.limits), sites


def _variants(
    cs: CompiledStrategy, sites: list[tuple[str, str, float]], scale: float, points: int, joint: int, seed: int
) -> tuple[npt.NDArray[np.float64], list[str], int]:
    """The grid: the centre, then one-at-a-time levels ``+-scale * j / points``, then ``joint``
    random draws of every site in ``[-scale, scale]``; with the skipped sites and the number of
    invalid variants dropped."""
    names = cs.params
    col = {n: i for i, n in enumerate(names)}
    uses: dict[str, list[Any]] = {}
    for u in param_uses(cs.strategy, cs.limits):
        uses.setdefault(u.name, []).append(u)
    center = np.array(cs.template.defaults, np.float64)
    skipped = [f"{p}: a zero cannot move by a ratio" for n, p, v in sites if v == 0.0]
    movable = [(n, v) for n, p, v in sites if v != 0.0]

    def value(name: str, v: float, delta: float) -> float:
        x = v * (1.0 + delta)
        return float(round(x)) if any(u.integer for u in uses.get(name, ())) else x

    def valid(name: str, x: float) -> bool:
        return all(u.violation(x) is None for u in uses.get(name, ()))

    rows = [center]
    dropped = 0
    levels = [scale * j / points for j in range(1, points + 1)]
    for name, v in movable:
        for d in [-x for x in reversed(levels)] + levels:
            x = value(name, v, d)
            if x == v:
                continue
            if not valid(name, x):
                dropped += 1
                continue
            row = center.copy()
            row[col[name]] = x
            rows.append(row)
    rng = np.random.default_rng(seed)
    for _ in range(joint if movable else 0):
        row = center.copy()
        for name, v in movable:
            x = value(name, v, float(rng.uniform(-scale, scale)))
            row[col[name]] = x if valid(name, x) else v
        rows.append(row)
    return np.unique(np.array(rows[1:]), axis=0) if len(rows) > 1 else np.zeros((0, len(names))), skipped, dropped


def perturbation(
    strategy: Any,
    bars: Any,
    *,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    scale: float = 0.2,
    points: int = 2,
    joint: int = 16,
    seed: int = 0,
    thresholds: RedTeamThresholds | None = None,
) -> PerturbationResult:
    """Neighbourhood stability: ``statistic`` = median Sharpe of the perturbed variants / the
    strategy's own Sharpe (the peak); fails below ``perturbation_min_ratio`` (0.5).

    Every constant, window and parameter is moved one at a time to ``+-scale * j / points``
    (``j = 1..points``: +-10% and +-20% by default), plus ``joint`` seeded draws moving all of
    them at once uniformly within +-``scale``. A variant that never trades has Sharpe 0. Not
    computable (``passed=False`` with a reason): too few bars, constant prices, nothing to
    perturb, no trades, or an own Sharpe that is not positive."""
    th = thresholds or DEFAULT
    if not 0.0 < scale < 1.0:
        raise InvalidArgumentError(f"scale must be in (0, 1), got {scale}")
    if isinstance(points, bool) or not isinstance(points, int) or points < 1 or joint < 0:
        raise InvalidArgumentError(f"points must be a positive integer and joint >= 0, got {points!r}, {joint!r}")
    prep = prepare(strategy, bars, config)
    gate = th.perturbation_min_ratio

    def failed(reason: str, peak: float = math.nan, **kw: Any) -> PerturbationResult:
        return PerturbationResult(name="perturbation", statistic=math.nan, threshold=gate, p_value=None,
                                  passed=False, feeds=_UNSTABLE, reason=reason, peak_sharpe=peak, **kw)  # fmt: skip

    reason = data_reason(prep, th)
    if reason is not None:
        return failed(reason)
    cs, sites = parametrized(prep.cs)
    grid, skipped, dropped = _variants(cs, sites, scale, points, joint, seed)
    paths = tuple(p for _, p, _ in sites)
    order = [cs.params.index(n) for n, _, _ in sites]  # ``values`` columns in ``sites`` order
    if grid.shape[0] == 0:
        return failed("nothing to perturb: the strategy has no non-zero constant, window or parameter",
                      sites=paths, skipped=tuple(skipped))  # fmt: skip
    center = np.array(cs.template.defaults, np.float64)[None, :]
    table = sweep(cs, np.vstack([center, grid]), prep.data, prep.config).table
    sharpe = table.column("sharpe").to_numpy(zero_copy_only=False)
    trades = table.column("trades").to_numpy(zero_copy_only=False)
    peak = float(sharpe[0])
    if trades[0] == 0:
        return failed("no trades: the strategy never trades on the data", sites=paths)
    if not peak > 0.0:
        return failed(f"the strategy's own Sharpe is not positive ({peak:.4g}): there is no peak to be stable around",
                      peak, sites=paths)  # fmt: skip
    nb_sr = np.where(np.isfinite(sharpe[1:]), sharpe[1:], 0.0)
    med = float(np.median(nb_sr))
    ratio = med / peak
    if dropped:
        skipped.append(f"{dropped} variant(s) outside their parameters' valid range were dropped")
    return PerturbationResult(
        name="perturbation", statistic=ratio, threshold=gate, p_value=None, passed=ratio >= gate, feeds=_UNSTABLE,
        peak_sharpe=peak, median_sharpe=med, best_sharpe=float(nb_sr.max()), sites=paths, points=int(grid.shape[0]),
        values=tuple(tuple(float(x) for x in row[order]) for row in grid), sharpes=tuple(float(x) for x in nb_sr),
        skipped=tuple(skipped),
    )  # fmt: skip
