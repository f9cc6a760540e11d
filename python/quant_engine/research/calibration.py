"""Factory calibration: the whole research loop on markets whose truth is known.

:func:`calibrate` runs, on each of ``K`` null markets (no edge by construction) and on markets
with a planted edge of known annualized Sharpe (:mod:`quant_engine.feeds.synthetic_daily`), the
loop as it runs for real: split the data (:class:`~quant_engine.research.holdout.ResearchData`,
the holdout sealed), let a :class:`Generator` search the generator view (every trial in the
ledger), then :func:`~quant_engine.research.graduation.graduate` its pick. Each market gets a
fresh in-memory store (markets are independent experiments); the result is stored in the
caller's store with :func:`~quant_engine.store.verdicts.record_calibration`, and every later
graduation verdict carries the latest calibration's id.

It reports the **false-graduation rate** (graduates among null markets) with its exact
Clopper-Pearson interval (:func:`clopper_pearson`) and the **power** (graduates among planted
markets) per planted strength, each with its interval.

Generation: the Swarm is not on this branch; a :class:`Generator` is any object with
``propose(view, store, seed) -> strategy``. The default, :class:`GridGenerator`, sweeps the
long/short SMA-cross family over a parameter grid on the generator view (recorded in the
ledger) and picks the best by the selection metric.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import msgspec
import numpy as np

from quant_engine.errors import InvalidArgumentError

__all__ = [
    "Generator",
    "GridGenerator",
    "SwarmGenerator",
    "SMA_CROSS_FAMILY",
    "CalibrationConfig",
    "CalibrationResult",
    "MarketOutcome",
    "clopper_pearson",
    "calibrate",
    "calibration_red_team",
    "unavailable_tests",
    "NULLS_TESTS",
]

_SMA = {"op": "sma", "x": "close"}


def _sma(name: str) -> dict[str, Any]:
    return {**_SMA, "n": {"op": "param", "name": name}}


SMA_CROSS_FAMILY: dict[str, Any] = {
    "name": "SMA cross long/short",
    "instruments": ["SYN"],
    "timeframe": "1d",
    "entry_long": {"op": "gt", "left": _sma("fast"), "right": _sma("slow")},
    "exit_long": {"op": "lt", "left": _sma("fast"), "right": _sma("slow")},
    "entry_short": {"op": "lt", "left": _sma("fast"), "right": _sma("slow")},
    "exit_short": {"op": "gt", "left": _sma("fast"), "right": _sma("slow")},
    "sizing": {"kind": "equity_fraction", "fraction": 0.95},
    "params": {"fast": 2, "slow": 10},
}
"""The template the default generator searches: long while SMA(fast) > SMA(slow), short while below."""


class Generator(Protocol):
    """Proposes one strategy from the generator view (the Swarm, an LLM, a grid search ...).

    It sees only :class:`~quant_engine.research.holdout.GeneratorView` (no holdout row) and
    records every trial it runs in ``store`` (the ledger: the Red Team's DSR and PBO count them)."""

    def propose(self, view: Any, store: Any, seed: int) -> Any:
        """The strategy (a document, ``Strategy`` or ``CompiledStrategy``) to send to graduation."""
        ...


@dataclass(frozen=True)
class GridGenerator:
    """Sweeps ``template`` over ``grid`` on the view's bars (all trials in the ledger) and
    proposes the combination with the highest ``metric`` (NaN last)."""

    template: Mapping[str, Any] = field(default_factory=lambda: dict(SMA_CROSS_FAMILY))
    grid: Mapping[str, Sequence[float]] = field(default_factory=lambda: {"fast": (2, 3, 5), "slow": (10, 20, 40)})
    metric: str = "sharpe"
    backtest: Mapping[str, Any] = field(default_factory=lambda: {"allow_unlisted_equities": True})

    def propose(self, view: Any, store: Any, seed: int) -> Any:
        """The best combination of the grid on ``view.bars`` as a document."""
        from quant_engine.research.backtester import sweep

        result = sweep(dict(self.template), dict(self.grid), view.bars, dict(self.backtest), ledger=store)
        best = result.best(self.metric).to_pylist()[0]
        params = {k: best[k] for k in result.strategy.params}
        params = {k: int(v) if float(v).is_integer() else float(v) for k, v in params.items()}
        return {**dict(self.template), "params": params}


@dataclass(frozen=True)
class SwarmGenerator:
    """The Swarm (:class:`quant_engine.swarm.Swarm`) as a generator: ``generations`` generations of
    ``population`` children on the view (every evaluation a trial in the ledger, in this process),
    then the admitted candidate with the highest ledger Sharpe. Raises
    :class:`InvalidArgumentError` when nothing was admitted (the market then counts as not graduated)."""

    population: int = 40
    generations: int = 3
    backtest: Mapping[str, Any] = field(default_factory=lambda: {"allow_unlisted_equities": True})

    def propose(self, view: Any, store: Any, seed: int) -> Any:
        """The Swarm's best admitted candidate, as its stored document."""
        from quant_engine.store import get_strategy, list_trials
        from quant_engine.swarm import SerialExecutor, Swarm, SwarmConfig

        cfg = SwarmConfig(population=self.population, timeframe="1d", backtest=dict(self.backtest))
        with Swarm(store, view, config=cfg, seed=seed, executor=SerialExecutor()) as swarm:
            report = swarm.replenish_pool(1, generations=self.generations)

        def sharpe(h: str) -> float:
            values = [t.metrics.get("sharpe") for t in list_trials(store, strategy_hash=h, limit=None)]
            finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            return max(finite, default=-math.inf)

        if not report.admitted:
            raise InvalidArgumentError("the Swarm admitted no candidate on this market")
        best = max(report.admitted, key=sharpe)
        return get_strategy(store, best).document()


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The exact (Clopper-Pearson) two-sided interval of a binomial proportion ``k / n``: the
    bounds solve ``P(X >= k | p_lo) = alpha/2`` and ``P(X <= k | p_hi) = alpha/2`` (exact binomial
    sums in log space, solved by bisection); 0 and 1 at the edges."""
    if not (isinstance(n, int) and n >= 1 and isinstance(k, int) and 0 <= k <= n):
        raise InvalidArgumentError(f"need integers 0 <= k <= n, n >= 1 (got k={k!r}, n={n!r})")
    if not 0.0 < confidence < 1.0:
        raise InvalidArgumentError(f"confidence must be in (0, 1), got {confidence!r}")
    alpha = 1.0 - confidence
    i = np.arange(n + 1, dtype=np.float64)
    j = np.arange(1, n + 1, dtype=np.float64)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log(n - j + 1.0) - np.log(j))])  # ln C(n, i), no overflow

    def cdf(x: int, p: float) -> float:  # P(X <= x), X ~ Binomial(n, p), an exact sum in log space
        if x < 0:
            return 0.0
        if x >= n:
            return 1.0
        terms = log_choose[: x + 1] + i[: x + 1] * math.log(p) + (n - i[: x + 1]) * math.log1p(-p)
        return float(np.exp(terms).sum())

    def solve(f: Callable[[float], float]) -> float:  # f increasing in p, root in (0, 1)
        lo, hi = 0.0, 1.0
        for _ in range(64):
            mid = (lo + hi) / 2
            if f(mid) < 0:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    lower = 0.0 if k == 0 else solve(lambda p: (1.0 - cdf(k - 1, p)) - alpha / 2)
    upper = 1.0 if k == n else solve(lambda p: alpha / 2 - cdf(k, p))
    return lower, upper


NULLS_TESTS = ("wnt_a", "wnt_b", "lag_collapse", "perturbation")
"""Battery entries that need :mod:`quant_engine.research.redteam.nulls`."""


def unavailable_tests() -> tuple[str, ...]:
    """Battery entries whose implementation is not installed here (they could never pass; a
    calibration skips them and says so in its stored config)."""
    import importlib

    try:
        importlib.import_module("quant_engine.research.redteam.nulls")
    except ImportError:
        return NULLS_TESTS
    return ()


def calibration_red_team(skip: Sequence[str] = (), thresholds: Mapping[str, Any] | None = None) -> Any:
    """The Red Team calibration runs: the default battery with the default backtest settings
    of the synthetic market (unlisted ticker allowed), minus ``skip``, with ``thresholds``
    overriding defaults (an unknown name or a bad value raises :class:`InvalidArgumentError`)."""
    from quant_engine.research.redteam.config import RedTeamThresholds
    from quant_engine.research.redteam.examine import RedTeam, RedTeamConfig

    try:
        th = msgspec.convert(dict(thresholds or {}), RedTeamThresholds)
    except msgspec.ValidationError as exc:
        raise InvalidArgumentError(f"invalid Red Team thresholds: {exc}") from None
    return RedTeam(RedTeamConfig(thresholds=th, backtest={"allow_unlisted_equities": True}, skip=tuple(skip)))


class CalibrationConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a calibration runs (stored with its result).

    Attributes:
        null_markets: K, the null markets.
        planted: annualized Sharpe ratios planted (each run on ``planted_markets`` markets).
        planted_markets: markets per planted strength (default: K).
        years: years of daily bars per market.
        seed: base seed (market i of strength S uses a seed derived from it).
        annual_vol: the markets' volatility.
        fractions: train / validation / holdout shares.
        skip: Red Team tests left out (listed in the result).
        thresholds: Red Team threshold overrides.
        confidence: the intervals' coverage.
        generator: ``"grid"`` (:class:`GridGenerator`, the default) or ``"swarm"``
            (:class:`SwarmGenerator`), used when :func:`calibrate` is given no generator.
    """

    null_markets: int = 20
    planted: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0)
    planted_markets: int | None = None
    years: float = 2.0
    seed: int = 0
    annual_vol: float = 0.2
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    skip: tuple[str, ...] = ()
    thresholds: dict[str, Any] = {}
    confidence: float = 0.95
    generator: str = "grid"

    def __post_init__(self) -> None:
        """Rejects impossible settings with :class:`InvalidArgumentError`."""
        if self.null_markets < 1:
            raise InvalidArgumentError(f"null_markets must be >= 1, got {self.null_markets}")
        if self.planted_markets is not None and self.planted_markets < 1:
            raise InvalidArgumentError(f"planted_markets must be >= 1, got {self.planted_markets}")
        if any(not (math.isfinite(s) and 0.0 < s <= 20.0) for s in self.planted):
            raise InvalidArgumentError(f"planted strengths are annualized Sharpe ratios in (0, 20], got {self.planted}")
        if self.generator not in ("grid", "swarm"):
            raise InvalidArgumentError(f"generator must be grid or swarm, got {self.generator!r}")
        if not (math.isfinite(self.years) and 0.25 <= self.years <= 50):
            raise InvalidArgumentError(f"years must be in [0.25, 50], got {self.years}")


class MarketOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """One market of a calibration: its planted strength (0: null), seed, whether the pick
    graduated, the failure types, the gated tests that failed or could not be computed (and
    ``holdout`` for a failed holdout gate), the pick's parameters and its holdout Sharpe."""

    planted: float
    seed: int
    graduated: bool
    failure_types: tuple[str, ...]
    failed_tests: tuple[str, ...]
    params: dict[str, Any]
    holdout_sharpe: float | None
    seconds: float


class CalibrationResult(msgspec.Struct, frozen=True, kw_only=True):
    """A calibration's figures (what :func:`calibrate` stores; ``calibration_id`` is its row)."""

    config: CalibrationConfig
    null_markets: int
    false_graduations: int
    false_graduation_rate: float
    fgr_lower: float
    fgr_upper: float
    power: dict[str, dict[str, float]]
    failure_counts: dict[str, dict[str, int]]
    test_failures: dict[str, dict[str, int]]
    markets: tuple[MarketOutcome, ...]
    seconds: float
    calibration_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready builtins."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out


def _market_seed(base: int, planted: float, i: int) -> int:
    return (int(base) * 1_000_003 + int(round(planted * 1000)) * 10_007 + i) % (2**31)


def _run_market(planted: float, i: int, cfg: CalibrationConfig, generator: Generator, red_team: Any,
                workdir: Path) -> MarketOutcome:  # fmt: skip
    """The research loop on one synthetic market, in a fresh store."""
    from quant_engine.feeds.synthetic_daily import synthetic_daily_bars
    from quant_engine.research.graduation import graduate
    from quant_engine.research.holdout import ResearchData
    from quant_engine.store import open_store

    t0 = time.perf_counter()
    seed = _market_seed(cfg.seed, planted, i)
    bars = synthetic_daily_bars(("SYN",), years=cfg.years, seed=seed, annual_vol=cfg.annual_vol, planted_sharpe=planted)
    path = workdir / f"market-{planted:g}-{i}.sqlite"
    store = open_store(f"sqlite:///{path}")
    try:
        data = ResearchData.split(bars, fractions=cfg.fractions, store=store, source=f"calibration:{seed}")
        try:
            pick = generator.propose(data.generator_view(), store, seed)
        except InvalidArgumentError:  # the generator found nothing to propose: nothing graduates
            return MarketOutcome(planted=planted, seed=seed, graduated=False, failure_types=(),
                                 failed_tests=("generation",), params={}, holdout_sharpe=None,
                                 seconds=time.perf_counter() - t0)  # fmt: skip
        result = graduate(store, pick, data, red_team=red_team, seed=seed)
    finally:
        store.close()
        path.unlink(missing_ok=True)
    hs = None if result.holdout is None or not math.isfinite(result.holdout.sharpe) else result.holdout.sharpe
    params = dict(pick.get("params", {})) if isinstance(pick, Mapping) else {}
    failed = [t.name for t in result.verdict.tests if t.gated and not t.passed]
    if result.holdout_gate is not None and not result.holdout_gate.passed:
        failed.append("holdout")
    return MarketOutcome(planted=planted, seed=seed, graduated=result.graduated, failure_types=result.failure_types,
                         failed_tests=tuple(failed), params=params, holdout_sharpe=hs, seconds=time.perf_counter() - t0)  # fmt: skip


def _counts(outcomes: Sequence[MarketOutcome], what: str = "failure_types") -> dict[str, int]:
    out: dict[str, int] = {}
    for o in outcomes:
        for t in getattr(o, what):
            out[t] = out.get(t, 0) + 1
    return dict(sorted(out.items()))


def calibrate(
    config: CalibrationConfig | None = None,
    *,
    store: Any = None,
    generator: Generator | None = None,
    red_team: Any = None,
    progress: Callable[[MarketOutcome], None] | None = None,
) -> CalibrationResult:
    """Runs the factory calibration (see the module documentation) and, with ``store``, records it
    (``record_calibration``); returns the figures. ``generator`` defaults to :class:`GridGenerator`,
    ``red_team`` to :func:`calibration_red_team` of the config's ``skip`` and ``thresholds``;
    ``progress`` is called after each market."""
    cfg = config or CalibrationConfig()
    missing = [t for t in unavailable_tests() if t not in cfg.skip]
    if missing and red_team is None:
        cfg = msgspec.structs.replace(cfg, skip=(*cfg.skip, *missing))
    gen = generator or (SwarmGenerator() if cfg.generator == "swarm" else GridGenerator())
    rt = red_team or calibration_red_team(cfg.skip, cfg.thresholds)
    t0 = time.perf_counter()
    per_strength = cfg.planted_markets or cfg.null_markets
    outcomes: list[MarketOutcome] = []
    with tempfile.TemporaryDirectory(prefix="qe-calibrate-") as tmp:
        for planted, count in [(0.0, cfg.null_markets), *[(s, per_strength) for s in cfg.planted]]:
            for i in range(count):
                outcome = _run_market(planted, i, cfg, gen, rt, Path(tmp))
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
    nulls = [o for o in outcomes if o.planted == 0.0]
    k = sum(o.graduated for o in nulls)
    lo, hi = clopper_pearson(k, len(nulls), cfg.confidence)
    power: dict[str, dict[str, float]] = {}
    failures: dict[str, dict[str, int]] = {"0": _counts(nulls)}
    tests: dict[str, dict[str, int]] = {"0": _counts(nulls, "failed_tests")}
    for s in cfg.planted:
        group = [o for o in outcomes if o.planted == s]
        g = sum(o.graduated for o in group)
        plo, phi = clopper_pearson(g, len(group), cfg.confidence)
        power[f"{s:g}"] = {"markets": float(len(group)), "graduated": float(g), "power": g / len(group),
                           "lower": plo, "upper": phi}  # fmt: skip
        failures[f"{s:g}"] = _counts(group)
        tests[f"{s:g}"] = _counts(group, "failed_tests")
    result = CalibrationResult(
        config=cfg, null_markets=len(nulls), false_graduations=k, false_graduation_rate=k / len(nulls),
        fgr_lower=lo, fgr_upper=hi, power=power, failure_counts=failures, test_failures=tests, markets=tuple(outcomes),
        seconds=time.perf_counter() - t0,
    )  # fmt: skip
    if store is None:
        return result
    from quant_engine.store.verdicts import record_calibration

    doc = result.to_dict()
    doc.pop("config")
    cid = record_calibration(
        store, null_markets=len(nulls), false_graduations=k, fgr_lower=lo, fgr_upper=hi, power=power,
        config=msgspec.to_builtins(cfg), document=doc,
    )  # fmt: skip
    return msgspec.structs.replace(result, calibration_id=cid)
