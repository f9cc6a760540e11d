"""The msgspec Structs of every request and response body (their JSON Schemas are the OpenAPI
components). Times are UTC nanoseconds since the epoch (``*_ns``) or Unix seconds (store rows,
``*_at``), as the layer they come from counts them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "EngineStatusBody",
    "ComponentHealth",
    "HealthBody",
    "MarketRequest",
    "MarketResponse",
    "Tried",
    "RegimeRow",
    "RegimesBody",
    "DiscoveryBody",
    "StrategySummary",
    "StrategyPage",
    "TransitionBody",
    "StrategyDetail",
    "TransitionRequest",
    "TrialBody",
    "TrialPage",
    "MissionBody",
    "MissionCreate",
    "MemoryBody",
    "FailureTypeStat",
    "EventBody",
    "JobError",
    "JobBody",
    "BacktestJobRequest",
]

Symbol = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^\S+$")]
Instant = Annotated[str, Meta(min_length=1, max_length=64)] | Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
"""A time: an ISO date/time string or Unix nanoseconds (a 64-bit integer)."""
Text = Annotated[str, Meta(max_length=2000)]


class EngineStatusBody(msgspec.Struct):
    """The health of one market-data engine."""

    engine: str
    state: Literal["online", "degraded", "offline"]
    reason: str
    configured: bool
    checked_at: float
    details: dict[str, Any]


class ComponentHealth(msgspec.Struct):
    """The state of one part of the system, and why."""

    state: str
    detail: str = ""


class HealthBody(msgspec.Struct):
    """``/health``: ``ok`` when the store is open, ``degraded`` otherwise."""

    status: Literal["ok", "degraded"]
    version: str
    store: ComponentHealth
    feeds: dict[str, EngineStatusBody]
    llm: ComponentHealth
    shadow_trader: ComponentHealth


class MarketRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /data/market``: the arguments of ``DataRouter.get_market_data``. ``start`` and
    ``end`` are ISO-8601 instants or UTC nanoseconds; ``timeframe`` is ``trades``, ``quotes`` or a
    bar interval (``1s`` .. ``1d``)."""

    symbol: Symbol
    start: Instant
    end: Instant
    asset_type: Literal["stock", "option", "index"] = "stock"
    use_case: Literal["discovery", "execution"] = "discovery"
    timeframe: Annotated[str, Meta(min_length=1, max_length=16)] = "1m"


class Tried(msgspec.Struct):
    """An engine tried (or skipped) before the one that answered, and why."""

    engine: str
    reason: str


class MarketResponse(msgspec.Struct):
    """Routed market data as columns (times in UTC nanoseconds)."""

    engine: str
    timeframe: str
    rows: int
    tried: list[Tried]
    columns: dict[str, list[Any]]


class RegimeRow(msgspec.Struct):
    """A symbol's regime at its latest bar, with the features behind it (null while undefined)."""

    symbol: str
    start_ns: int
    close: float
    regime: str
    character: str
    features: dict[str, float | None]


class RegimesBody(msgspec.Struct):
    """``/regimes``: the current regime of every symbol."""

    source: str
    timeframe: str
    bars: int
    symbols: list[RegimeRow]


class DiscoveryBody(msgspec.Struct):
    """``/discovery``: the ranked scan (one object per symbol; see ``docs/discovery.md``)."""

    source: str
    asof_ns: int | None
    rows: list[dict[str, Any]]
    excluded_no_bar_at_asof: int
    excluded_short_history: int


class StrategySummary(msgspec.Struct):
    """A strategy row (``spec`` left out)."""

    hash: str
    name: str
    family: str
    template_hash: str
    origin: str
    mission_id: int | None
    status: str
    created_at: float
    updated_at: float


class StrategyPage(msgspec.Struct):
    """A page of strategies, newest first; ``next_offset`` is null on the last page."""

    items: list[StrategySummary]
    limit: int
    offset: int
    next_offset: int | None


class TransitionBody(msgspec.Struct):
    """A recorded lifecycle transition."""

    id: int
    from_status: str | None
    to_status: str
    at: float
    reason: str
    actor: str


class StrategyDetail(msgspec.Struct):
    """One strategy with its canonical spec, transitions (oldest first) and parents."""

    strategy: StrategySummary
    spec: dict[str, Any]
    transitions: list[TransitionBody]
    parents: list[str]


class TransitionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``promote`` / ``retire``: why (recorded with the transition)."""

    reason: Text = ""


class TrialBody(msgspec.Struct):
    """A trial of the ledger (returns are not included)."""

    id: int
    batch_id: int
    seq: int
    strategy_hash: str
    family: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    snapshot_id: int | None
    config_hash: str
    engine_version: str
    wall_time_s: float
    has_returns: bool
    created_at: float


class TrialPage(msgspec.Struct):
    """A page of trials, newest first; pass ``next_before`` as ``before`` for the next page (null:
    last page)."""

    items: list[TrialBody]
    next_before: int | None


class MissionBody(msgspec.Struct):
    """A mission."""

    id: int
    name: str
    directive: str
    scope: dict[str, Any]
    budget: dict[str, Any]
    status: str
    progress: dict[str, Any]
    created_at: float
    updated_at: float


class MissionCreate(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /missions``: a directive for the research loop. ``name`` must be unique (default:
    derived from the time)."""

    directive: Annotated[str, Meta(min_length=1, max_length=4000, pattern=r"\S")]
    scope: dict[str, Any] = {}
    budget: dict[str, Any] = {}
    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None


class MemoryBody(msgspec.Struct):
    """A causal memory (a failure the research loop should not repeat)."""

    id: int
    strategy_hash: str | None
    mission_id: int | None
    failure_type: str
    detector: str
    statistic: float | None
    threshold: float | None
    evidence: dict[str, Any]
    lesson: str
    created_at: float
    expires_at: float | None


class FailureTypeStat(msgspec.Struct):
    """A row of the ``failure_type_stats`` view."""

    mission_id: int | None
    failure_type: str
    count: int
    share: float | None
    recent_count: int
    prior_count: int
    trend: float | None


class EventBody(msgspec.Struct):
    """An outbox event, as sent on ``/ws/events``."""

    id: int
    kind: str
    subject: str
    payload: dict[str, Any]
    created_at: float


class JobError(msgspec.Struct):
    """Why a job failed: the error code (as in :class:`~quant_engine.api.errors.ErrorBody`) and a
    one-line message."""

    code: str
    message: str


class JobBody(msgspec.Struct):
    """A job: ``state`` is ``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``;
    ``progress`` in [0, 1] with a ``message``; ``result`` once it succeeded (its shape depends on
    ``kind``), ``error`` once it failed; times in Unix seconds; ``status_url`` to poll."""

    id: str
    kind: str
    state: str
    progress: float
    message: str
    submitted_at: float
    started_at: float | None
    finished_at: float | None
    status_url: str
    result: Any = None
    error: JobError | None = None


class BacktestJobRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A backtest of a strategy document on the seeded synthetic market (its instruments and
    timeframe from the document): ``days`` sessions of ``ticks_per_day`` trades per symbol from
    ``start`` (YYYY-MM-DD)."""

    strategy: dict[str, Any]
    seed: Annotated[int, Meta(ge=0, le=2**62)] = 7
    start: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] = "2024-01-02"
    days: Annotated[int, Meta(ge=1, le=250)] = 5
    ticks_per_day: Annotated[int, Meta(ge=100, le=200_000)] = 50_000
    initial_cash: Annotated[float, Meta(gt=0)] = 1_000_000.0
    allow_short: bool = True
