"""``RedTeam(config).examine(strategy, data, store)``: the whole battery on one candidate, one
:class:`~quant_engine.research.redteam.verdict.Verdict` (VALIDATION.md; ``docs/redteam.md``).

The battery is a registry (:data:`BATTERY`): each entry is a test name and a function of the
:class:`~quant_engine.research.redteam.context.ExamContext` returning one or more outcomes. A test
that raises becomes *not computable* with the error as its reason (never a crash, never a silent
pass). Every resampling derives from the examination's ``seed``: same inputs, same verdict.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
import numpy as np

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.redteam import battery_market as M
from quant_engine.research.redteam import battery_nulls as X
from quant_engine.research.redteam import battery_stats as S
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.context import ExamContext, load_ledger
from quant_engine.research.redteam.detectors import NOT_APPLICABLE, detect
from quant_engine.research.redteam.verdict import TestOutcome, Verdict

__all__ = ["RedTeam", "RedTeamConfig", "BATTERY", "WHITE_NOISE_TESTS", "TestFn"]

TestFn = Callable[[ExamContext], "TestOutcome | Sequence[TestOutcome]"]

BATTERY: tuple[tuple[str, TestFn], ...] = (
    ("trades", S.t_trades),
    ("psr", S.t_psr),
    ("min_trl", S.t_min_trl),
    ("wnt_c", S.t_wnt_c),
    ("dsr", S.t_dsr),
    ("pbo", S.t_pbo),
    ("spa", S.t_spa),
    ("reality_check", S.t_reality_check),
    ("cpcv", S.t_cpcv),
    ("wnt_a", X.t_wnt_a),
    ("wnt_b", X.t_wnt_b),
    ("lag_collapse", X.t_lag_collapse),
    ("prefix_invariance", X.t_prefix),
    ("perturbation", X.t_perturbation),
    ("costs", M.t_costs),
    ("capacity", M.t_capacity),
    ("vol_terciles", M.t_vol_terciles),
    ("trend_regimes", M.t_trend_regimes),
    ("best_year", M.t_best_year),
    ("correlation", M.t_correlation),
    ("drawdown", M.t_drawdown),
)
"""The battery in run order: (registry name, test function). ``costs`` yields ``costs_x2`` and
``breakeven_cost``; ``drawdown`` yields ``max_drawdown`` and ``drawdown_duration``."""

WHITE_NOISE_TESTS: tuple[str, ...] = ("wnt_a", "wnt_b", "wnt_c")
"""The operator's White Noise Test (``quant-engine redteam white-noise``)."""


class RedTeamConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What the Red Team runs and with which settings.

    Attributes:
        thresholds: every gate and setting (:class:`RedTeamThresholds`).
        backtest: the backtest configuration as a JSON mapping (``BacktestConfig`` fields: fees,
            slippage, cash ...); the candidate's returns come from ``backtest()`` with it.
        only: run only these registry names (empty: the whole battery).
        skip: registry names left out (they are absent from the verdict, which says so in
            ``config``; skipped gates are not counted as passed).
    """

    thresholds: RedTeamThresholds = RedTeamThresholds()
    backtest: dict[str, Any] = {}
    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Rejects unknown test names with :class:`InvalidArgumentError`."""
        names = {n for n, _ in BATTERY}
        for n in (*self.only, *self.skip):
            if n not in names:
                raise InvalidArgumentError(f"unknown Red Team test {n!r}; tests: {', '.join(sorted(names))}")

    def selected(self) -> list[tuple[str, TestFn]]:
        """The battery entries this configuration runs, in battery order."""
        return [(n, f) for n, f in BATTERY if (not self.only or n in self.only) and n not in self.skip]


def _run(name: str, fn: TestFn, ctx: ExamContext) -> list[TestOutcome]:
    """One battery entry, timed; an exception becomes a not-computable outcome naming it."""
    t0 = time.perf_counter()
    try:
        out = fn(ctx)
        outs = [out] if isinstance(out, TestOutcome) else list(out)
    except Exception as exc:  # noqa: BLE001 - a failing test is reported, never a crash
        outs = [S.not_computable(name, None, (), f"{type(exc).__name__}: {exc}")]
    dt = time.perf_counter() - t0
    return [msgspec.structs.replace(o, seconds=dt / len(outs)) for o in outs]


class RedTeam:
    """The Red Team: ``RedTeam(config).examine(strategy, data, store, seed=0) -> Verdict``."""

    def __init__(self, config: RedTeamConfig | RedTeamThresholds | Mapping[str, Any] | None = None) -> None:
        if config is None:
            config = RedTeamConfig()
        elif isinstance(config, RedTeamThresholds):
            config = RedTeamConfig(thresholds=config)
        elif isinstance(config, Mapping):
            try:
                config = msgspec.convert(dict(config), RedTeamConfig)
            except msgspec.ValidationError as exc:
                raise InvalidArgumentError(f"invalid Red Team configuration: {exc}") from None
        if not isinstance(config, RedTeamConfig):
            raise InvalidArgumentError(f"config must be a RedTeamConfig, got {type(config).__name__}")
        self.config = config

    def context(self, strategy: Any, data: Any, store: Any = None, *, seed: int = 0) -> ExamContext:
        """Backtests ``strategy`` on ``data`` and reads its family from ``store``: the inputs of
        every test. Bad strategies and bars raise typed errors here."""
        from quant_engine.research.backtester import _compiled, backtest
        from quant_engine.research.config import as_config

        cs = _compiled(strategy)
        config = as_config(dict(self.config.backtest))
        res = backtest(cs, data, config)
        r = np.ascontiguousarray(res.returns.column("return").to_numpy(zero_copy_only=False), dtype=np.float64)
        ts = np.asarray(res.equity.column("ts").cast("int64").to_numpy(zero_copy_only=False), dtype=np.int64)
        ledger = load_ledger(store, cs, r)
        return ExamContext(cs, data, res.bars, config, self.config.thresholds, int(seed), res, r, ts, ledger, store)

    def examine(self, strategy: Any, data: Any, store: Any = None, *, seed: int = 0) -> Verdict:
        """Runs the configured battery on ``strategy`` (a document, ``Strategy`` or
        ``CompiledStrategy``) backtested on ``data`` (bars), with its family's trials from
        ``store`` (a :class:`quant_engine.store.Store`, or ``None``: no ledger, N = 1)."""
        t0 = time.perf_counter()
        ctx = self.context(strategy, data, store, seed=seed)
        t_ctx = time.perf_counter() - t0
        tests: list[TestOutcome] = []
        for name, fn in self.config.selected():
            tests.extend(_run(name, fn, ctx))
        failure_types, evidence = detect(tests)
        missing = tuple(t.name for t in tests if t.gated and not t.computable)
        passed = bool(tests) and all(t.passed for t in tests if t.gated)
        timings = {"backtest_and_ledger": t_ctx, **{t.name: t.seconds for t in tests}}
        timings["total"] = time.perf_counter() - t0
        returns_note = ctx.returns_reason
        cfg: dict[str, Any] = {
            "thresholds": msgspec.to_builtins(self.config.thresholds),
            "backtest": dict(self.config.backtest),
            "tests": [n for n, _ in self.config.selected()],
            "skipped": list(self.config.skip)
            + [n for n, _ in BATTERY if self.config.only and n not in self.config.only],
        }
        if returns_note:
            cfg["returns_note"] = returns_note
        return Verdict(
            strategy_hash=ctx.strategy.hash,
            family=ctx.ledger.family,
            seed=int(seed),
            config=cfg,
            n_periods=int(ctx.returns.size),
            n_trials=int(ctx.ledger.n_trials),
            tests=tuple(tests),
            passed=passed,
            failure_types=failure_types,
            evidence=evidence,
            not_computable=missing,
            not_applicable=dict(NOT_APPLICABLE),
            timings=timings,
        )
