"""The battery's tests on the candidate's trading: costs (x2 and breakeven), capacity, drawdown,
Sharpe by volatility tercile / trend regime / year, correlation with graduated strategies
(VALIDATION.md §6 #4, #5, #6, #9, #10).

The gates are pure functions of arrays (``*_outcome``) so that each can be tested at its threshold
on constructed inputs; the ``t_*`` functions extract those arrays from an
:class:`~quant_engine.research.redteam.context.ExamContext`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from quant_engine.research.redteam.battery_stats import not_computable
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.context import ExamContext
from quant_engine.research.redteam.results import FailureType
from quant_engine.research.redteam.verdict import TestOutcome, finite

__all__ = [
    "sharpe",
    "cost_outcomes",
    "capacity_outcome",
    "drawdown_outcomes",
    "vol_tercile_outcome",
    "best_year_outcome",
    "regime_outcome",
    "correlation_outcome",
    "t_costs",
    "t_capacity",
    "t_drawdown",
    "t_vol_terciles",
    "t_best_year",
    "t_trend_regimes",
    "t_correlation",
]

F64 = npt.NDArray[np.float64]
_COST = (FailureType.COST_SENSITIVITY,)
_CAP = (FailureType.CAPACITY_LIQUIDITY,)
_DD = (FailureType.EXCESSIVE_DRAWDOWN,)
_REGIME = (FailureType.REGIME_DEPENDENCE,)
_REDUNDANT = (FailureType.REDUNDANCY_DECAY,)


def sharpe(x: F64) -> float:
    """Per-period Sharpe ``mean / sd`` (``ddof = 1``); NaN with fewer than 2 values or zero variance."""
    if x.size < 2:
        return math.nan
    sd = float(np.std(x, ddof=1))
    return float(np.mean(x)) / sd if sd > 0.0 else math.nan


# ---------------------------------------------------------------- costs (COST_SENSITIVITY)


def cost_outcomes(
    returns: F64, cost_return: F64, gross_pnl: float, costs: float, turnover: float, thresholds: RedTeamThresholds
) -> tuple[TestOutcome, TestOutcome]:
    """``costs_x2``: net per-period Sharpe with costs multiplied by ``cost_multiplier`` (``returns -
    (m - 1) * cost_return``, ``cost_return`` the costs paid per period over the previous equity)
    must exceed ``costs_min_sharpe``. ``breakeven_cost``: gross P&L / turnover (bps) must reach
    ``m`` x the assumed cost per unit of turnover (bps)."""
    m = thresholds.cost_multiplier
    if turnover <= 0.0 or not math.isfinite(turnover):
        why = "no fills: turnover is zero"
        return (not_computable("costs_x2", thresholds.costs_min_sharpe, _COST, why),
                not_computable("breakeven_cost", None, _COST, why))  # fmt: skip
    stressed = returns - (m - 1.0) * cost_return
    s = sharpe(stressed)
    x2 = TestOutcome(
        name="costs_x2",
        statistic=finite(s),
        threshold=thresholds.costs_min_sharpe,
        passed=math.isfinite(s) and s > thresholds.costs_min_sharpe,
        feeds=_COST,
        reason=None if math.isfinite(s) else "zero variance of the stressed returns",
        details={"sharpe_net": finite(sharpe(returns)), "multiplier": m},
    )
    breakeven = gross_pnl / turnover * 1e4
    assumed = costs / turnover * 1e4
    be = TestOutcome(
        name="breakeven_cost",
        statistic=finite(breakeven),
        threshold=finite(m * assumed),
        passed=breakeven >= m * assumed,
        feeds=_COST,
        note=None if costs > 0.0 else "no costs configured: the assumed cost is 0",
        details={"assumed_cost_bps": finite(assumed), "turnover": finite(turnover), "gross_pnl": finite(gross_pnl)},
    )
    return x2, be


def _fill_arrays(ctx: ExamContext) -> dict[str, F64]:
    f = ctx.result.fills
    col = {n: np.asarray(f.column(n).to_numpy(zero_copy_only=False), dtype=np.float64) for n in
           ("quantity", "price", "fees", "slippage", "multiplier")}  # fmt: skip
    col["ts"] = np.asarray(f.column("ts").cast("int64").to_numpy(zero_copy_only=False), dtype=np.float64)
    return col


def t_costs(ctx: ExamContext) -> list[TestOutcome]:
    """Costs x2 and the breakeven cost from the backtest's fills and equity."""
    f = _fill_arrays(ctx)
    cost = f["fees"] + f["slippage"]
    notional = np.abs(f["quantity"] * f["price"] * f["multiplier"])
    e = np.asarray(ctx.result.equity.column("equity").to_numpy(zero_copy_only=False), dtype=np.float64)
    prev = np.concatenate([[ctx.config.initial_cash], e[:-1]])
    idx = np.clip(np.searchsorted(ctx.ts, f["ts"].astype(np.int64), side="left"), 0, max(e.size - 1, 0))
    per = np.bincount(idx, weights=cost, minlength=e.size)[: e.size] if e.size else np.zeros(0)
    net = float(e[-1] - ctx.config.initial_cash) if e.size else 0.0
    total = float(cost.sum())
    return list(cost_outcomes(ctx.returns, per / prev, net + total, total, float(notional.sum()), ctx.thresholds))


# ---------------------------------------------------------------- capacity (CAPACITY_LIQUIDITY)


def capacity_outcome(participation: F64, impact_bps: F64, thresholds: RedTeamThresholds) -> TestOutcome:
    """Largest fill size / the symbol's average bar volume must not exceed ``max_participation``;
    the square-root impact ``Y * sigma * sqrt(q / V)`` (bps) is reported."""
    thr = thresholds.max_participation
    if participation.size == 0:
        return not_computable("capacity", thr, _CAP, "no fills: nothing to size against volume")
    if not np.all(np.isfinite(participation)):
        return not_computable("capacity", thr, _CAP, "bar volume is zero or missing where the strategy traded")
    worst = float(participation.max())
    return TestOutcome(
        name="capacity",
        statistic=worst,
        threshold=thr,
        passed=worst <= thr,
        feeds=_CAP,
        details={
            "median_participation": finite(np.median(participation)),
            "median_impact_bps": finite(np.median(impact_bps)),
            "max_impact_bps": finite(np.max(impact_bps)),
            "fills": float(participation.size),
        },
    )


def t_capacity(ctx: ExamContext) -> TestOutcome:
    """Fill sizes against each symbol's average bar volume and volatility."""
    f = ctx.result.fills
    qty = np.abs(np.asarray(f.column("quantity").to_numpy(zero_copy_only=False), dtype=np.float64))
    syms = f.column("symbol").to_pylist()
    b = ctx.bars
    avg_vol, sigma = {}, {}
    for i, s in enumerate(b.symbols):  # one step per symbol, vectorized over its bars
        a, z = int(b.offsets[i]), int(b.offsets[i + 1])
        v = float(np.mean(b.volume[a:z])) if z > a else 0.0
        avg_vol[s] = v if v > 0.0 else math.nan
        c = b.close[a:z]
        sigma[s] = float(np.std(np.diff(np.log(c)), ddof=1)) if z - a > 2 else math.nan
    vol = np.array([avg_vol.get(s, math.nan) for s in syms], dtype=np.float64)
    sig = np.array([sigma.get(s, math.nan) for s in syms], dtype=np.float64)
    part = qty / vol if qty.size else qty
    impact = ctx.thresholds.impact_coefficient * sig * np.sqrt(np.where(part >= 0, part, np.nan)) * 1e4
    return capacity_outcome(part, impact, ctx.thresholds)


# ---------------------------------------------------------------- drawdown (EXCESSIVE_DRAWDOWN)


def drawdown_outcomes(equity: F64, thresholds: RedTeamThresholds) -> tuple[TestOutcome, TestOutcome]:
    """``max_drawdown`` (deepest ``1 - equity / running peak``) against ``max_drawdown`` and
    ``drawdown_duration`` (longest spell below the peak / periods) against ``max_drawdown_share``."""
    if equity.size < 2 or not np.all(np.isfinite(equity)) or np.any(equity <= 0.0):
        why = "the equity curve is too short, not finite or not positive"
        return (not_computable("max_drawdown", thresholds.max_drawdown, _DD, why),
                not_computable("drawdown_duration", thresholds.max_drawdown_share, _DD, why))  # fmt: skip
    peak = np.maximum.accumulate(equity)
    dd = 1.0 - equity / peak
    depth = float(dd.max())
    under = dd > 0.0
    # longest run of consecutive periods under water (vectorized run lengths)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], under.astype(np.int8), [0]])))
    longest = int((edges[1::2] - edges[::2]).max()) if edges.size else 0
    share = longest / equity.size
    rets = equity[1:] / equity[:-1] - 1.0
    tail = np.sort(rets)[: max(1, int(0.05 * rets.size))]
    depth_o = TestOutcome(
        name="max_drawdown",
        statistic=depth,
        threshold=thresholds.max_drawdown,
        passed=depth <= thresholds.max_drawdown,
        feeds=_DD,
        details={"cvar_5pct": finite(tail.mean()), "worst_period": finite(rets.min())},
    )
    dur_o = TestOutcome(
        name="drawdown_duration",
        statistic=share,
        threshold=thresholds.max_drawdown_share,
        passed=share <= thresholds.max_drawdown_share,
        feeds=_DD,
        details={"longest_periods": float(longest)},
    )
    return depth_o, dur_o


def t_drawdown(ctx: ExamContext) -> list[TestOutcome]:
    """Drawdown depth and duration of the backtest's equity curve."""
    e = np.asarray(ctx.result.equity.column("equity").to_numpy(zero_copy_only=False), dtype=np.float64)
    return list(drawdown_outcomes(np.concatenate([[ctx.config.initial_cash], e]), ctx.thresholds))


# ---------------------------------------------------------------- regimes (REGIME_DEPENDENCE)


def vol_tercile_outcome(returns: F64, vol: F64, thresholds: RedTeamThresholds) -> TestOutcome:
    """Sharpe of ``returns`` in each tercile of the (causal) market volatility ``vol``: every one
    must exceed ``regime_min_sharpe``. Periods with undefined volatility are left out."""
    thr = thresholds.regime_min_sharpe
    ok = np.isfinite(vol) & np.isfinite(returns)
    if int(ok.sum()) < 3 * max(thresholds.min_observations, 3):
        return not_computable("vol_terciles", thr, _REGIME, f"too few periods with a volatility: {int(ok.sum())}")
    r, v = returns[ok], vol[ok]
    cuts = np.quantile(v, [1.0 / 3.0, 2.0 / 3.0])
    which = np.searchsorted(cuts, v, side="right")
    srs = np.array([sharpe(r[which == k]) for k in range(3)])
    if not np.all(np.isfinite(srs)):
        return not_computable("vol_terciles", thr, _REGIME, "zero variance of the returns in a volatility tercile")
    worst = float(srs.min())
    return TestOutcome(
        name="vol_terciles",
        statistic=worst,
        threshold=thr,
        passed=worst > thr,
        feeds=_REGIME,
        details={"sharpe_low": finite(srs[0]), "sharpe_mid": finite(srs[1]), "sharpe_high": finite(srs[2])},
    )


def _market_returns(ctx: ExamContext) -> F64:
    """Per period, the mean close-to-close log return of the strategy's symbols at that time."""
    b = ctx.bars
    acc = np.zeros(ctx.ts.size)
    cnt = np.zeros(ctx.ts.size)
    for i in range(len(b.symbols)):
        a, z = int(b.offsets[i]), int(b.offsets[i + 1])
        if z - a < 2:
            continue
        r = np.diff(np.log(b.close[a:z]))
        idx = np.clip(np.searchsorted(ctx.ts, b.start[a + 1 : z]), 0, ctx.ts.size - 1)
        acc += np.bincount(idx, weights=r, minlength=ctx.ts.size)[: ctx.ts.size]
        cnt += np.bincount(idx, minlength=ctx.ts.size)[: ctx.ts.size]
    with np.errstate(invalid="ignore"):
        return np.where(cnt > 0, acc / np.where(cnt > 0, cnt, 1.0), np.nan)


def _trailing_std(x: F64, w: int) -> F64:
    """Causal rolling standard deviation (``ddof = 1``) over ``w`` values; NaN before ``w`` values."""
    out = np.full(x.size, np.nan)
    if x.size < w or w < 2:
        return out
    y = np.nan_to_num(x)
    c1 = np.concatenate([[0.0], np.cumsum(y)])
    c2 = np.concatenate([[0.0], np.cumsum(y * y)])
    s1 = c1[w:] - c1[:-w]
    s2 = c2[w:] - c2[:-w]
    out[w - 1 :] = np.sqrt(np.maximum((s2 - s1 * s1 / w) / (w - 1), 0.0))
    return out


def t_vol_terciles(ctx: ExamContext) -> TestOutcome:
    """Sharpe by tercile of the market's trailing realized volatility (known at the period's start)."""
    vol = _trailing_std(_market_returns(ctx), ctx.thresholds.regime_vol_window)
    lagged = np.concatenate([[np.nan], vol[:-1]])  # the volatility known before the period's return
    return vol_tercile_outcome(ctx.returns, lagged, ctx.thresholds)


def best_year_outcome(returns: F64, years: npt.NDArray[np.int64], thresholds: RedTeamThresholds) -> TestOutcome:
    """Share of the total P&L (sum of period returns) from the best calendar year: at most
    ``best_year_max_share``. A non-positive total counts as share 1; one calendar year: not computable."""
    thr = thresholds.best_year_max_share
    uniq, inv = np.unique(years, return_inverse=True)
    if uniq.size < 2:
        return not_computable("best_year", thr, _REGIME, f"the data span {uniq.size} calendar year(s); 2 are needed")
    pnl = np.bincount(inv, weights=returns)
    total = float(pnl.sum())
    share = float(pnl.max()) / total if total > 0.0 else 1.0
    details: dict[str, float | None] = {f"pnl_{int(y)}": finite(p) for y, p in zip(uniq, pnl)}
    details.update({f"sharpe_{int(y)}": finite(sharpe(returns[inv == k])) for k, y in enumerate(uniq)})
    return TestOutcome(
        name="best_year",
        statistic=share,
        threshold=thr,
        passed=share <= thr,
        feeds=_REGIME,
        note=None if total > 0.0 else "the total P&L is not positive: counted as share 1",
        details=details,
    )


def t_best_year(ctx: ExamContext) -> TestOutcome:
    """Share of P&L from the best calendar year (UTC), with Sharpe by year."""
    years = ctx.ts.astype("datetime64[ns]").astype("datetime64[Y]").astype(np.int64) + 1970
    return best_year_outcome(ctx.returns, years, ctx.thresholds)


def regime_outcome(returns: F64, labels: list[str] | np.ndarray) -> TestOutcome:
    """Sharpe per trend/range regime label (descriptive: reported, not gated; feeds the evidence of
    REGIME_DEPENDENCE)."""
    lab = np.asarray(labels, dtype=object)
    details: dict[str, float | None] = {}
    for name in sorted(set(lab.tolist())):
        sel = lab == name
        details[f"sharpe_{name}"] = finite(sharpe(returns[sel]))
        details[f"periods_{name}"] = float(sel.sum())
    live = [v for k, v in details.items() if k.startswith("sharpe_") and k != "sharpe_warmup" and v is not None]
    return TestOutcome(
        name="trend_regimes",
        statistic=min(live) if live else None,
        threshold=None,
        passed=True,
        gated=False,
        feeds=_REGIME,
        details=details,
    )


def t_trend_regimes(ctx: ExamContext) -> TestOutcome:
    """Sharpe by the first instrument's regime label (:func:`quant_engine.regimes.classify`)."""
    import pyarrow as pa

    from quant_engine.regimes import classify

    b = ctx.bars
    a, z = int(b.offsets[0]), int(b.offsets[1])
    table = pa.table({"symbol": pa.array([b.symbols[0]] * (z - a)), "start": pa.array(b.start[a:z]).cast(
        pa.timestamp("ns", tz="UTC")), "close": b.close[a:z]})  # fmt: skip
    lab = classify(table).column("regime").cast(pa.string()).to_numpy(zero_copy_only=False)
    idx = np.searchsorted(b.start[a:z], ctx.ts, side="right") - 1
    labels = np.where(idx >= 0, lab[np.clip(idx, 0, None)], "warmup")
    return regime_outcome(ctx.returns, labels)


# ---------------------------------------------------------------- redundancy (REDUNDANCY_DECAY)


def correlation_outcome(
    returns: F64, graduated: Mapping[str, F64], thresholds: RedTeamThresholds, *, skipped: int = 0
) -> TestOutcome:
    """Highest Pearson correlation with a graduated strategy's returns: at most ``max_correlation``."""
    thr = thresholds.max_correlation
    if not graduated:
        return TestOutcome(
            name="correlation",
            statistic=0.0,
            threshold=thr,
            passed=True,
            feeds=_REDUNDANT,
            note=f"no graduated strategy with comparable returns in the store ({skipped} skipped)",
            details={"graduated": 0.0, "skipped": float(skipped)},
        )
    g = np.column_stack(list(graduated.values()))
    x = returns - returns.mean()
    y = g - g.mean(axis=0)
    den = np.sqrt((x @ x) * np.einsum("ij,ij->j", y, y))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(den > 0.0, (x @ y) / np.where(den > 0.0, den, 1.0), 0.0)
    k = int(np.argmax(corr))
    worst = float(corr[k])
    return TestOutcome(
        name="correlation",
        statistic=worst,
        threshold=thr,
        passed=worst <= thr,
        feeds=_REDUNDANT,
        note=f"most correlated: {list(graduated)[k][:12]}",
        details={"graduated": float(len(graduated)), "skipped": float(skipped)},
    )


def t_correlation(ctx: ExamContext) -> TestOutcome:
    """Correlation with the store's graduated and promoted strategies' stored returns."""
    if ctx.store is None:
        return not_computable(
            "correlation", ctx.thresholds.max_correlation, _REDUNDANT, "no store: no graduates to compare"
        )
    return correlation_outcome(ctx.returns, ctx.ledger.graduated, ctx.thresholds, skipped=ctx.ledger.graduated_skipped)
