"""Graduation: the decision of code that lets a strategy out of research (``docs/redteam.md``).

:func:`graduate` takes a candidate through, in order:

1. ``candidate -> testing`` (a strategy whose graduation was already decided is refused with
   :class:`~quant_engine.errors.AlreadyDecidedError`; nothing is written then);
2. the Red Team's examination (:meth:`RedTeam.examine <quant_engine.research.redteam.examine.RedTeam.examine>`,
   the one battery) on the train and validation rows only (the generator's view), with the
   family's trials from the store; recorded as an ``examination`` verdict;
3. only when every gate passed: the sealed holdout, evaluated once
   (:meth:`ResearchData.evaluate_holdout <quant_engine.research.holdout.ResearchData.evaluate_holdout>`,
   recorded in the trial ledger), gated by :func:`holdout_gate`: per-period Sharpe above
   ``holdout_min_sharpe`` and PSR(0) at least ``holdout_psr_min`` (``RedTeamThresholds``);
4. ``testing -> graduated`` with a ``graduation`` verdict holding the examination, the holdout
   evaluation and the pre-registered :class:`~quant_engine.research.redteam.expectation.Expectation`,
   or ``testing -> failed`` with the failure types, each confirmed type stored as a causal memory
   (detector, statistic, threshold, the detector's evidence) for the Gatekeeper. Either verdict
   carries the latest factory calibration's id.

The expectation is estimated on the **holdout returns only**: the generator selected its pick on
train and validation, so their returns carry the selection's optimism; the holdout is the one
segment nothing was chosen on. Its band is wider (fewer bars) but unbiased.
"""

from __future__ import annotations

import math
from typing import Any

import msgspec
import numpy as np

from quant_engine.errors import AlreadyDecidedError
from quant_engine.research.holdout import HoldoutEvaluation, ResearchData
from quant_engine.research.redteam.config import RedTeamThresholds
from quant_engine.research.redteam.expectation import Expectation, expectation_from_returns
from quant_engine.research.redteam.results import FailureType
from quant_engine.research.redteam.statistics import psr, sharpe_summary
from quant_engine.research.redteam.verdict import TestOutcome, Verdict, finite

__all__ = ["GraduationResult", "graduate", "holdout_gate", "memories_of"]

ACTOR = "graduation"


class GraduationResult(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`graduate` decided.

    Attributes:
        strategy_hash: the strategy.
        status: ``"graduated"`` or ``"failed"``.
        verdict: the Red Team's examination (train + validation).
        holdout: the one holdout evaluation (``None`` when the examination failed: the holdout
            stays sealed).
        holdout_gate: the holdout gate's outcome (``None`` without a holdout evaluation).
        expectation: the pre-registered expectation of a graduate, else ``None``.
        failure_types: why it failed (empty for a graduate).
        examination_id, verdict_id: the store's ``verdicts`` rows (examination, graduation).
        calibration_id: the factory calibration in force (``None``: never calibrated).
        memories: causal memories recorded.
    """

    strategy_hash: str
    status: str
    verdict: Verdict
    holdout: HoldoutEvaluation | None
    holdout_gate: TestOutcome | None
    expectation: Expectation | None
    failure_types: tuple[str, ...]
    examination_id: int
    verdict_id: int
    calibration_id: int | None
    memories: int

    @property
    def graduated(self) -> bool:
        """Whether the strategy graduated."""
        return self.status == "graduated"


def holdout_gate(returns: Any, thresholds: RedTeamThresholds) -> TestOutcome:
    """The holdout gate: per-period Sharpe > ``holdout_min_sharpe`` and PSR(0) >=
    ``holdout_psr_min`` on the holdout returns (feeds OVERFITTING). Returns that cannot be
    summarized (too few, constant, non-finite) fail with a reason."""
    r = np.asarray(returns, dtype=np.float64)
    feeds = (FailureType.OVERFITTING,)
    s = sharpe_summary(r, thresholds)
    if s.reason is not None:
        return TestOutcome(name="holdout", statistic=None, threshold=thresholds.holdout_psr_min, passed=False,
                           feeds=feeds, reason=f"holdout returns: {s.reason}")  # fmt: skip
    p = psr(r, msgspec.structs.replace(thresholds, sr_star=0.0))
    ok = s.sharpe > thresholds.holdout_min_sharpe and p.reason is None and p.statistic >= thresholds.holdout_psr_min
    return TestOutcome(
        name="holdout", statistic=finite(p.statistic), threshold=thresholds.holdout_psr_min, passed=bool(ok),
        feeds=feeds, reason=p.reason,
        details={"sharpe": finite(s.sharpe), "min_sharpe": thresholds.holdout_min_sharpe, "n": float(s.n)},
    )  # fmt: skip


def memories_of(strategy_hash: str, verdict: Verdict, gate: TestOutcome | None) -> list[Any]:
    """One causal memory per failure type raised by the verdict's detectors (and OVERFITTING for
    a failed holdout gate): the failing tests as the detector, the first one's statistic and
    threshold, the detector's evidence."""
    from quant_engine.store.memories import Memory

    out = []
    for ft in verdict.failure_types:
        failing = [t for t in verdict.tests if ft in t.feeds and t.computable and t.gated and not t.passed]
        first = failing[0] if failing else None
        out.append(Memory(
            ft.value, "+".join(t.name for t in failing) or "redteam", strategy_hash=strategy_hash,
            statistic=None if first is None else first.statistic, threshold=None if first is None else first.threshold,
            evidence=dict(verdict.evidence.get(ft, {})), lesson=f"Red Team examination: {ft.value}",
        ))  # fmt: skip
    if gate is not None and not gate.passed and gate.computable:
        evidence = {f"holdout.{k}": v for k, v in gate.details.items()}
        evidence["holdout.statistic"] = gate.statistic
        out.append(Memory(FailureType.OVERFITTING.value, "holdout", strategy_hash=strategy_hash,
                          statistic=gate.statistic, threshold=gate.threshold, evidence=evidence,
                          lesson="passed the battery but not the sealed holdout"))  # fmt: skip
    return out


def _begin(store: Any, cs: Any, family: str | None, origin: str) -> None:
    """Records the strategy if new and moves it ``candidate -> testing``; a decided one raises."""
    from quant_engine.store.strategies import add_strategy, get_strategy, transition
    from quant_engine.store.verdicts import latest_verdict

    add_strategy(store, cs, family=family, origin=origin, actor=ACTOR)
    status = get_strategy(store, cs.hash).status
    decided = latest_verdict(store, cs.hash, kind="graduation")
    if status not in ("candidate", "testing") or decided is not None:
        raise AlreadyDecidedError(
            f"strategy {cs.hash[:12]} was already decided (status {status}"
            f"{'' if decided is None else f', graduation verdict {decided.id}'}): graduation runs once per strategy"
        )
    if status == "candidate":
        transition(store, cs.hash, "testing", reason="graduation: Red Team examination", actor=ACTOR)


def graduate(
    store: Any,
    strategy: Any,
    data: ResearchData,
    *,
    red_team: Any = None,
    seed: int = 0,
    family: str | None = None,
    origin: str = "search",
) -> GraduationResult:
    """Decides a strategy's graduation (see the module documentation) and returns the decision.

    Args:
        store: the research store (verdicts, ledger, memories, lifecycle).
        strategy: a document, ``Strategy`` or ``CompiledStrategy`` (recorded if new, with
            ``family`` and ``origin``).
        data: the split research data (:meth:`ResearchData.split` with this store).
        red_team: a :class:`~quant_engine.research.redteam.examine.RedTeam` (default: the
            default configuration); its backtest configuration is used for the holdout too.
        seed: the examination's seed.

    Raises :class:`AlreadyDecidedError` for a strategy already decided and
    :class:`~quant_engine.errors.HoldoutAccessError` when its holdout was already evaluated. An
    error before the decision (a typed error from the backtest, say) leaves the strategy in
    ``testing`` with no graduation verdict: calling again resumes, and the holdout's once-only
    rule still holds."""
    from quant_engine.research.backtester import _compiled
    from quant_engine.research.redteam.examine import RedTeam
    from quant_engine.store.memories import record_memories
    from quant_engine.store.strategies import transition
    from quant_engine.store.verdicts import latest_calibration, record_verdict

    cs = _compiled(strategy)
    rt = red_team if red_team is not None else RedTeam()
    _begin(store, cs, family, origin)
    view = data.generator_view()
    verdict = rt.examine(cs, view.bars, store, seed=seed)
    exam_id = record_verdict(store, cs.hash, kind="examination", passed=verdict.passed, document=verdict.to_dict(),
                             failure_types=[f.value for f in verdict.failure_types], seed=seed,
                             snapshot_id=data.segment_info("validation").snapshot_id)  # fmt: skip
    holdout: HoldoutEvaluation | None = None
    gate: TestOutcome | None = None
    if verdict.passed:
        holdout = data.evaluate_holdout(store, cs, dict(rt.config.backtest))
        gate = holdout_gate(holdout.returns, rt.config.thresholds)
    passed = verdict.passed and gate is not None and gate.passed
    types = [f.value for f in verdict.failure_types]
    if gate is not None and not gate.passed and FailureType.OVERFITTING.value not in types:
        types.append(FailureType.OVERFITTING.value)
    expectation = None
    if passed and holdout is not None:
        expectation = expectation_from_returns(holdout.returns, periods_per_year=holdout.periods_per_year,
                                               source="holdout")  # fmt: skip
    calibration = latest_calibration(store)
    calibration_id = None if calibration is None else calibration.id
    holdout_doc = None if holdout is None else {**holdout.to_dict(), "gate": msgspec.to_builtins(gate)}
    verdict_id = record_verdict(
        store, cs.hash, kind="graduation", passed=passed, document=verdict.to_dict(), failure_types=types, seed=seed,
        expectation=None if expectation is None else expectation.to_dict(), holdout=holdout_doc,
        snapshot_id=data.segment_info("holdout").snapshot_id if holdout is not None else
        data.segment_info("validation").snapshot_id,
        calibration_id=calibration_id,
    )  # fmt: skip
    n_memories = 0
    if passed:
        transition(store, cs.hash, "graduated", reason=_reason(verdict_id, gate), actor=ACTOR)
    else:
        n_memories = record_memories(store, memories_of(cs.hash, verdict, gate))
        transition(store, cs.hash, "failed", reason=f"graduation verdict {verdict_id}: {', '.join(types) or 'not computable'}",
                   actor=ACTOR)  # fmt: skip
    return GraduationResult(
        strategy_hash=cs.hash, status="graduated" if passed else "failed", verdict=verdict, holdout=holdout,
        holdout_gate=gate, expectation=expectation, failure_types=tuple(types), examination_id=exam_id,
        verdict_id=verdict_id, calibration_id=calibration_id, memories=n_memories,
    )  # fmt: skip


def _reason(verdict_id: int, gate: TestOutcome | None) -> str:
    stat = None if gate is None else gate.statistic
    shown = "n/a" if stat is None or not math.isfinite(stat) else f"{stat:.3f}"
    return f"graduation verdict {verdict_id}: every gate passed, holdout PSR(0) {shown}"
