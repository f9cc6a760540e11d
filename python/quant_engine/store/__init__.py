"""The research store: strategies and their lifecycle, the trial ledger, data snapshots, missions,
causal memories, the shadow trader's journal and the events outbox (``docs/store.md``).

SQLite by default (``$QE_STORE_URL`` or ``$XDG_DATA_HOME/quant-engine/store.sqlite``), PostgreSQL
(``postgresql+psycopg://``) for a shared store; schema migrations ship inside the package and run
when a store is opened.

Quick use::

    from quant_engine.store import open_store, add_strategy, record_trials, returns_matrix

    store = open_store()                      # or open_store("postgresql+psycopg://...")
    s = add_strategy(store, spec, family="sma-cross", origin="search")
    batch = record_trials(store, s.hash, params=rows, metrics=metrics, returns=R, config_hash=h)
    trial_count(store, family="sma-cross")    # the N of the Deflated Sharpe Ratio
    returns_matrix(store, family="sma-cross").values   # T x N, for PBO / CSCV

The store sits below research: it imports the strategy language, never research, swarm,
trading or the API.
"""

from __future__ import annotations

from quant_engine.store.engine import create_store_engine, default_url
from quant_engine.store.errors import (
    CorruptBlobError,
    IllegalTransitionError,
    StoreConfigError,
    StoreError,
    StoreInputError,
    StoreVersionError,
    UnknownFailureTypeError,
    UnknownRecordError,
    UnknownStrategyError,
)
from quant_engine.store.events import Event, EventCursor, latest_event_id, read_events
from quant_engine.store.export import export_parquet
from quant_engine.store.journal import JournalEntry, append, append_many, read_journal
from quant_engine.store.ledger import (
    TrialBatch,
    bars_content_hash,
    insert_trials,
    record_run,
    record_trials,
    register_snapshot,
)
from quant_engine.store.lifecycle import TRANSITIONS, Status
from quant_engine.store.llm_requests import (
    EXCERPT_CHARS,
    LLMRequestRecord,
    LLMUsage,
    list_llm_requests,
    llm_usage,
    record_llm_request,
)
from quant_engine.store.memories import (
    Memory,
    MemoryRecord,
    expire_memories,
    failure_type_stats,
    list_memories,
    record_memories,
    record_memory,
)
from quant_engine.store.migrate import head_revision
from quant_engine.store.missions import (
    MissionRecord,
    create_mission,
    find_mission,
    get_mission,
    list_missions,
    update_mission,
)
from quant_engine.store.queries import (
    ReturnsMatrix,
    TrialRecord,
    list_trials,
    returns_correlation,
    returns_matrix,
    trial_count,
    trial_counts,
)
from quant_engine.store.store import Store, open_store
from quant_engine.store.strategies import (
    StrategyRecord,
    TransitionRecord,
    add_strategy,
    find_strategy,
    get_strategy,
    list_strategies,
    parents,
    strategy_counts,
    transition,
    transitions,
)
from quant_engine.store.taxonomy import FAILURE_TYPES, FailureType
from quant_engine.store.verdicts import (
    CalibrationRecord,
    VerdictRecord,
    expectation_for,
    get_calibration,
    latest_calibration,
    latest_verdict,
    list_verdicts,
    record_calibration,
    record_verdict,
)

__all__ = [
    "Store",
    "open_store",
    "default_url",
    "create_store_engine",
    "head_revision",
    "StoreError",
    "StoreVersionError",
    "StoreConfigError",
    "StoreInputError",
    "IllegalTransitionError",
    "UnknownRecordError",
    "UnknownStrategyError",
    "UnknownFailureTypeError",
    "CorruptBlobError",
    "Status",
    "TRANSITIONS",
    "FailureType",
    "FAILURE_TYPES",
    "StrategyRecord",
    "TransitionRecord",
    "add_strategy",
    "get_strategy",
    "find_strategy",
    "list_strategies",
    "transition",
    "transitions",
    "parents",
    "TrialBatch",
    "record_trials",
    "insert_trials",
    "record_run",
    "register_snapshot",
    "bars_content_hash",
    "ReturnsMatrix",
    "TrialRecord",
    "trial_count",
    "trial_counts",
    "returns_matrix",
    "returns_correlation",
    "list_trials",
    "MissionRecord",
    "create_mission",
    "update_mission",
    "get_mission",
    "find_mission",
    "list_missions",
    "Memory",
    "MemoryRecord",
    "record_memory",
    "record_memories",
    "list_memories",
    "expire_memories",
    "failure_type_stats",
    "JournalEntry",
    "append",
    "append_many",
    "read_journal",
    "Event",
    "EventCursor",
    "read_events",
    "latest_event_id",
    "export_parquet",
    "strategy_counts",
    "VerdictRecord",
    "CalibrationRecord",
    "record_verdict",
    "latest_verdict",
    "list_verdicts",
    "expectation_for",
    "record_calibration",
    "latest_calibration",
    "get_calibration",
    "EXCERPT_CHARS",
    "LLMRequestRecord",
    "LLMUsage",
    "record_llm_request",
    "list_llm_requests",
    "llm_usage",
]
