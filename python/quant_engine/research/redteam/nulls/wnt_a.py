"""WNT-A (VALIDATION.md §4): the whole pipeline, fitting included, on synthetic markets without
edge shaped like the data; feeds LOOKAHEAD_BIAS."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba as nb
import numpy as np
import numpy.typing as npt

from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.null_markets import bar_factors, garch11_fit, market_buffer, simulated_markets
from quant_engine.research.backtester import _bar_args, _reference_month
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.research.metrics import METRIC_NAMES
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.nulls._common import DEFAULT, base_prices, components, data_reason, gross, sharpe_psr
from quant_engine.research.redteam.nulls._engine import (
    TRADES,
    Markets,
    Prepared,
    markets_per_chunk,
    prepare,
    real_markets,
    run_markets,
)
from quant_engine.research.redteam.nulls.results import NullMarketsResult
from quant_engine.research.redteam.results import FailureType
from quant_engine.strategy.bar_arrays import BarArrays

__all__ = ["white_noise_a"]

_LOOKAHEAD = (FailureType.LOOKAHEAD_BIAS,)


def _failed(reason: str, th: RedTeamThresholds, markets: int) -> NullMarketsResult:
    return NullMarketsResult(name="wnt_a", statistic=math.nan, threshold=None, p_value=None, passed=False,
                             feeds=_LOOKAHEAD, reason=reason, markets=markets,
                             max_graduating_share=th.wnt_a_max_graduating, graduation_psr=th.wnt_a_graduation_psr)  # fmt: skip


def _fit_shape(data: BarArrays) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Per symbol: mean and sd of the bar-to-bar log returns, and the GARCH(1,1) fit (``S x 3``)."""
    gap, body, *_ = components(data)
    r = gap + body
    s = len(data.symbols)
    mu, sd, gp = np.empty(s), np.empty(s), np.empty((s, 3))
    for k in range(s):  # one fit per symbol
        seg = r[int(data.offsets[k]) : int(data.offsets[k + 1])]
        mu[k], sd[k] = float(seg.mean()), float(seg.std(ddof=1))
        omega, alpha, beta, _ = garch11_fit(seg)
        gp[k] = (omega, alpha, beta)
    return mu, sd, gp


def _prefix(prep: Prepared, n_fit: int) -> Prepared:
    """``prep`` on the first ``n_fit`` bars of every symbol (aligned symbols)."""
    d = prep.data
    n = int(d.offsets[1] - d.offsets[0])
    idx = (d.offsets[:-1, None] + np.arange(n_fit)[None, :]).reshape(-1)
    cols = [np.ascontiguousarray(getattr(d, f)[idx]) for f in ("open", "high", "low", "close", "volume", "vwap")]
    offsets = np.arange(len(d.symbols) + 1, dtype=np.int64) * n_fit
    start = np.ascontiguousarray(d.start[idx])
    part = BarArrays(list(d.symbols), offsets, start, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], d.timezone)
    assert n_fit <= n
    return Prepared(prep.cs, prep.config, part, prep.grid, _bar_args(part),
                    prep.config.to_json(reference_month=_reference_month(part)), prep.ppy)  # fmt: skip


def _head(mk: Markets, nsym: int, n: int, n_fit: int) -> Markets:
    """The first ``n_fit`` bars of every symbol of every market."""
    m = mk[0].shape[0]
    return tuple(np.ascontiguousarray(a.reshape(m, nsym, n)[:, :, :n_fit].reshape(m, nsym * n_fit)) for a in mk)  # type: ignore[return-value]


def _evaluate(
    prep: Prepared, mk: Markets, fit: Prepared | None, metric: int, cut: int, pool: ThreadPoolExecutor
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Sharpe, PSR(0) and trade count of every market, after fitting the grid on each market's
    head when ``fit`` is given (the chosen combination evaluated on periods ``cut:``)."""
    m = mk[0].shape[0]
    if fit is None:
        metrics, rets = run_markets(prep, mk, returns=True, pool=pool)
        assert rets is not None
        sr, ps = sharpe_psr(rets[:, 0, :], prep.ppy)
        return sr, ps, metrics[:, 0, TRADES]
    nsym = len(prep.data.symbols)
    n = prep.n_bars // nsym
    fm, _ = run_markets(fit, _head(mk, nsym, n, fit.n_bars // nsym), pool=pool)
    choice = np.argmax(np.nan_to_num(fm[:, :, metric], nan=-np.inf), axis=1)
    sr, ps, trades = np.empty(m), np.empty(m), np.empty(m)
    for c in np.unique(choice):  # markets that chose the same combination run together
        sel = np.flatnonzero(choice == c)
        sub: Markets = tuple(np.ascontiguousarray(a[sel]) for a in mk)  # type: ignore[assignment]
        metrics, rets = run_markets(prep, sub, prep.grid[c : c + 1], returns=True, pool=pool)
        assert rets is not None
        sr[sel], ps[sel] = sharpe_psr(rets[:, 0, cut:], prep.ppy)
        trades[sel] = metrics[:, 0, TRADES]
    return sr, ps, trades


def white_noise_a(
    strategy: Any,
    bars: Any,
    *,
    config: BacktestConfig | Mapping[str, Any] | None = None,
    markets: int = 200,
    seed: int = 0,
    thresholds: RedTeamThresholds | None = None,
    grid: Mapping[str, Any] | None = None,
    where: str | Iterable[Any] | None = (),
    metric: str = "sharpe",
    drift: bool = False,
) -> NullMarketsResult:
    """WNT-A: the strategy's gross Sharpe on ``markets`` edgeless markets shaped like ``bars``.

    Half the markets have i.i.d. normal log returns with each symbol's variance, half a GARCH(1,1)
    fitted to the symbol (variance-targeted QML), both without drift unless ``drift=True`` (the
    symbol's mean return): a drift pays any long- or short-biased strategy its exposure on every
    null market, which is beta, not an edge, and would fail every such strategy; bars keep consistent OHLC, the real
    bars' shapes (gaps, wicks) and volumes (:mod:`quant_engine.kernels.null_markets`). Costs are
    removed (gross returns). With a family (``grid``: parameter name -> values, ``where``
    constraints, as :func:`sweep` takes them), each market repeats the research loop: the grid is
    swept on the first ``wnt_a_fit_fraction`` of the market, the best combination by ``metric`` is
    kept and its Sharpe is measured on the rest. Fails when the mean Sharpe exceeds
    ``wnt_a_se`` standard errors or more than ``wnt_a_max_graduating`` of the markets clear the
    graduation proxy (PSR(0) >= ``wnt_a_graduation_psr``). A market without trades has Sharpe 0;
    a strategy that never trades on the data (its own parameters) or on any null market is not
    computable. Deterministic for ``seed``.
    """
    th = thresholds or DEFAULT
    if isinstance(markets, bool) or not isinstance(markets, int) or markets < 2:
        raise InvalidArgumentError(f"markets must be an integer >= 2, got {markets!r}")
    if metric not in METRIC_NAMES:
        raise InvalidArgumentError(f"unknown metric `{metric}`; metrics: {', '.join(METRIC_NAMES)}")
    prep = prepare(strategy, bars, gross(as_config(config)), grid=grid, where=where)
    reason = data_reason(prep, th)
    family = prep.grid.shape[0] > 1
    if reason is None and family:
        reason = prep.aligned()
    if reason is None:
        real, _ = run_markets(prep, real_markets(prep.data), prep.cs.bind(None))
        if real[0, 0, TRADES] == 0:
            reason = "no trades: the strategy never trades on the data"
    if reason is not None:
        return _failed(reason, th, markets)
    mu, sd, gp = _fit_shape(prep.data)
    if not drift:
        mu = np.zeros_like(mu)
    factors = bar_factors(components(prep.data), prep.data.volume)
    base = base_prices(prep.data)
    n = prep.n_bars // len(prep.data.symbols)
    n_fit = int(round(th.wnt_a_fit_fraction * n))
    if family and min(n_fit, n - n_fit) < max(th.min_observations, 3):
        return _failed(f"too few bars to fit on {n_fit} and evaluate on {n - n_fit}", th, markets)
    fit = _prefix(prep, n_fit) if family else None
    per_chunk = min(markets, markets_per_chunk(prep, prep.grid))
    buf = market_buffer(per_chunk, prep.n_bars)
    sr, ps, trades = np.empty(markets), np.empty(markets), np.empty(markets)
    with ThreadPoolExecutor(max_workers=prep.config.threads or nb.get_num_threads()) as pool:
        for first in range(0, markets, per_chunk):
            k = min(per_chunk, markets - first)
            flags = (np.arange(first, first + k) % 2) == 1
            mk = simulated_markets(factors, base, prep.data.offsets, mu, sd, gp, flags, seed=seed, first=first, out=buf)
            sl = slice(first, first + k)
            sr[sl], ps[sl], trades[sl] = _evaluate(prep, mk, fit, METRIC_NAMES.index(metric), n_fit, pool)
    return _verdict(th, sr, ps, trades, family, n_fit / n if family else math.nan, gp)


def _verdict(
    th: RedTeamThresholds,
    sr: npt.NDArray[np.float64],
    ps: npt.NDArray[np.float64],
    trades: npt.NDArray[np.float64],
    family: bool,
    fit_fraction: float,
    gp: npt.NDArray[np.float64],
) -> NullMarketsResult:
    k = sr.shape[0]
    if not np.any(trades > 0):
        return _failed("no trades: the strategy never traded on any null market", th, k)
    sr = np.where(np.isfinite(sr), sr, 0.0)
    ps = np.where(np.isfinite(ps), ps, 0.5)
    mean = float(sr.mean())
    se = float(sr.std(ddof=1) / math.sqrt(k))
    grads = int(np.count_nonzero(ps >= th.wnt_a_graduation_psr))
    share = grads / k
    gate = th.wnt_a_se * se
    p = 0.5 * math.erfc(mean / se / math.sqrt(2.0)) if se > 0 else (0.0 if mean > 0 else 1.0)
    return NullMarketsResult(
        name="wnt_a", statistic=mean, threshold=gate, p_value=p,
        passed=bool(mean <= gate and share <= th.wnt_a_max_graduating), feeds=_LOOKAHEAD, markets=k,
        mean_sharpe=mean, se=se, mean_sharpe_iid=float(sr[0::2].mean()), mean_sharpe_garch=float(sr[1::2].mean()),
        n_graduating=grads, share_graduating=share, max_graduating_share=th.wnt_a_max_graduating,
        graduation_psr=th.wnt_a_graduation_psr, fitted=family, fit_fraction=fit_fraction,
        n_no_trades=int(np.count_nonzero(trades == 0)), garch=tuple((float(a), float(b), float(c)) for a, b, c in gp),
        null=tuple(float(v) for v in sr),
    )  # fmt: skip
