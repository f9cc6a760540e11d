"""What each dashboard panel shows, read from the app's state and the research store (blocking
functions: the routes run them in a worker thread). Each returns the template's context."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from quant_engine.api.routers.health import health_body
from quant_engine.api.state import AppState

__all__ = ["PANELS", "integrity", "swarm", "graduation", "missions", "failures", "shadow", "strategy_page", "rag"]

STAGES = ("candidate", "testing", "graduated", "promoted", "failed", "retired")
"""Lifecycle stages in the order the Graduation Tracker shows them."""

_GREEN = {"online", "ok", "running"}
_AMBER = {"degraded", "not configured", "not running", "paused"}


def rag(state: str) -> str:
    """Red/amber/green of a component's state word."""
    if state in _GREEN:
        return "green"
    if state in _AMBER:
        return "amber"
    return "red"


def _component(name: str, state: str, reason: str) -> dict[str, str]:
    return {"name": name, "state": state, "reason": reason, "rag": rag(state)}


def integrity(app: AppState) -> dict[str, Any]:
    """System Integrity: the store, every market-data engine, the LLM, the shadow trader, jobs."""
    h = health_body(app)
    rows = [_component("research store", h.store.state, h.store.detail)]
    rows += [_component(f"feed: {name}", f.state, f.reason) for name, f in h.feeds.items()]
    rows.append(_component("LLM", h.llm.state, h.llm.detail))
    rows.append(_component("shadow trader", h.shadow_trader.state, h.shadow_trader.detail))
    if app.store is not None:
        from quant_engine.api.routers.shadow import _status

        st = _status(app.store, "shadow")
        if st is not None:
            rate = "" if st.ticks_per_s is None else f"{st.ticks_per_s:,.0f} ticks/s over the session"
            lag = "" if st.bar_latency_ms is None else f"bar close to journal {st.bar_latency_ms:.1f} ms"
            age = f"newest bar {fmt_time(st.last_bar_ns / 1e9)} UTC"
            rows.append(_component("shadow feed", st.state, " · ".join(x for x in (rate, lag, age) if x)))
    jobs = app.jobs.counts() if app.jobs is not None else {}
    last_event = 0
    if app.store is not None:
        from quant_engine.store import latest_event_id

        last_event = latest_event_id(app.store)
    return {"rows": rows, "version": h.version, "jobs": jobs, "last_event": last_event}


def _store(app: AppState) -> Any:
    from quant_engine.api.errors import ApiError

    if app.store is None:
        raise ApiError(503, "store_unavailable", f"the research store is not open: {app.store_error}")
    return app.store


def swarm(app: AppState) -> dict[str, Any]:
    """Swarm Hive: the pool by status and family, trials recorded recently."""
    from quant_engine.store import list_trials, strategy_counts

    counts = strategy_counts(_store(app))
    families = sorted({f for by_family in counts.values() for f in by_family})
    table = [{"family": f, **{s: counts.get(s, {}).get(f, 0) for s in STAGES}} for f in families]
    recent = list_trials(_store(app), limit=200)
    now = time.time()
    last_hour = sum(1 for t in recent if now - t.created_at <= 3600)
    jobs = app.jobs.list(kind="swarm", limit=5) if app.jobs is not None else []
    return {
        "jobs": [{"job": j, **_swarm_rates(j)} for j in jobs],
        "stages": STAGES,
        "table": table,
        "pool": sum(counts.get("candidate", {}).values()) + sum(counts.get("testing", {}).values()),
        "recent_trials": recent[:10],
        "last_hour": last_hour,
        "recent_capped": len(recent) == 200,
    }


def _swarm_rates(job: Any) -> dict[str, Any]:
    """A finished swarm run's candidates/s and its refusals by constraint id (most first)."""
    result = job.result if job.state == "succeeded" and isinstance(job.result, dict) else None
    if result is None:
        return {"rate": None, "refused": []}
    counts = result.get("counts", {})
    made = sum(int(v) for v in dict(counts.get("generated", {})).values())
    took = (job.finished_at or 0.0) - (job.started_at or 0.0)
    refused = sorted(dict(counts.get("constraint_refused", {})).items(), key=lambda kv: (-int(kv[1]), kv[0]))
    return {"rate": made / took if took > 0 else None, "refused": refused[:5], "made": made}


def graduation(app: AppState, per_stage: int = 8) -> dict[str, Any]:
    """Graduation Tracker: the newest strategies of each lifecycle stage, with their counts."""
    from quant_engine.store import list_strategies, strategy_counts

    store = _store(app)
    counts = strategy_counts(store)
    columns = [
        {
            "stage": stage,
            "count": sum(counts.get(stage, {}).values()),
            "strategies": list_strategies(store, status=stage, limit=per_stage),
        }
        for stage in STAGES
    ]
    return {"columns": columns}


def missions(app: AppState) -> dict[str, Any]:
    """Mission Control: missions with status, progress and budget, and their graduates."""
    from quant_engine.store import list_missions, list_strategies

    store = _store(app)
    rows = []
    for m in list_missions(store)[:20]:
        graduates = [
            s for stage in ("graduated", "promoted") for s in list_strategies(store, status=stage, mission_id=m.id)
        ]
        rows.append({"mission": m, "graduates": graduates})
    return {"rows": rows}


def failures(app: AppState) -> dict[str, Any]:
    """Failure taxonomy: active memories per failure type (all missions), share and trend, with a
    bar chart (plotly figure as JSON)."""
    from quant_engine.store import FAILURE_TYPES, failure_type_stats

    totals: dict[str, dict[str, float]] = {t: {"count": 0, "recent": 0, "prior": 0} for t in FAILURE_TYPES}
    for row in failure_type_stats(_store(app)):
        t = totals[row["failure_type"]]
        t["count"] += row["count"]
        t["recent"] += row["recent_count"]
        t["prior"] += row["prior_count"]
    total = sum(t["count"] for t in totals.values())
    rows = [
        {"type": name, "count": int(t["count"]), "share": t["count"] / total if total else 0.0,
         "trend": int(t["recent"] - t["prior"])}
        for name, t in totals.items()
    ]  # fmt: skip
    figure = {
        "data": [
            {"type": "bar", "name": "last 30 days", "x": list(totals),
             "y": [int(t["recent"]) for t in totals.values()]},
            {"type": "bar", "name": "30 to 60 days ago", "x": list(totals),
             "y": [int(t["prior"]) for t in totals.values()]},
        ],
        "layout": {
            "barmode": "group", "height": 320, "margin": {"l": 50, "r": 10, "t": 30, "b": 120},
            "title": {"text": "Active causal memories by failure type", "font": {"size": 14}},
            "xaxis": {"title": {"text": "failure type"}, "tickangle": -35},
            "yaxis": {"title": {"text": "memories (count)"}, "rangemode": "tozero"},
            "legend": {"orientation": "h", "y": 1.12},
        },
    }  # fmt: skip
    return {"rows": rows, "total": total, "figure": figure}


def shadow(app: AppState, account: str = "shadow") -> dict[str, Any]:
    """Shadow: the paper session's state, positions, latest fills, its equity curve (a plotly
    figure) and the kill switch."""
    from quant_engine.api.queries import journal_newest, shadow_positions
    from quant_engine.api.routers.shadow import _status, equity_curve

    store = _store(app)
    status = _status(store, account)
    curve = equity_curve(store, account, 2000)
    figure = None
    if len(curve) >= 2:
        x = [time.strftime("%Y-%m-%d %H:%M", time.gmtime(p.ts_ns / 1e9)) for p in curve]
        figure = {
            "data": [{"type": "scatter", "mode": "lines", "name": "equity", "x": x, "y": [p.equity for p in curve]}],
            "layout": {
                "height": 300, "margin": {"l": 70, "r": 10, "t": 30, "b": 50},
                "title": {"text": f"Paper equity ({account})", "font": {"size": 14}},
                "xaxis": {"title": {"text": "bar close (UTC)"}},
                "yaxis": {"title": {"text": "equity (account currency)"}},
                "showlegend": True, "legend": {"orientation": "h", "y": 1.12},
            },
        }  # fmt: skip
    state = "not running" if status is None else status.state
    reason = "no paper session in the store" if status is None else status.reason
    return {
        "account": account,
        "trader": _component("shadow trader", state, reason),
        "status": status,
        "positions": shadow_positions(store, account),
        "fills": journal_newest(store, account=account, kind="fill", limit=10),
        "orders": journal_newest(store, account=account, kind="order", limit=10),
        "figure": figure,
    }


def _equity_figure(returns: np.ndarray) -> dict[str, Any]:
    equity = np.cumprod(1.0 + returns)
    drawdown = equity / np.maximum.accumulate(equity) - 1.0
    x = list(range(1, len(returns) + 1))
    return {
        "data": [
            {"type": "scatter", "mode": "lines", "name": "equity (x initial)", "x": x, "y": equity.tolist()},
            {"type": "scatter", "mode": "lines", "name": "drawdown (%)", "x": x, "y": (100 * drawdown).tolist(),
             "yaxis": "y2", "fill": "tozeroy"},
        ],
        "layout": {
            "height": 360, "margin": {"l": 60, "r": 60, "t": 30, "b": 50},
            "title": {"text": "Equity and drawdown of the latest trial with returns", "font": {"size": 14}},
            "xaxis": {"title": {"text": "period (bar)"}},
            "yaxis": {"title": {"text": "equity (x initial)"}, "domain": [0.38, 1.0]},
            "yaxis2": {"title": {"text": "drawdown (%)"}, "domain": [0.0, 0.3], "anchor": "x"},
            "legend": {"orientation": "h", "y": 1.1},
        },
    }  # fmt: skip


def _null_figures(verdicts: list[Any]) -> list[dict[str, Any]]:
    """The null distributions of the newest verdict that has any (a document that does not decode
    as a current verdict shows none)."""
    from quant_engine.errors import InvalidArgumentError
    from quant_engine.research.redteam.report import null_figures
    from quant_engine.research.redteam.verdict import Verdict

    for record in reversed(verdicts):
        try:
            figures = null_figures(Verdict.from_dict(record.document))
        except InvalidArgumentError:  # an older or foreign document: its table still shows
            continue
        if figures:
            return figures
    return []


def strategy_page(app: AppState, key: str) -> dict[str, Any]:
    """A strategy's page: spec, verdicts, transitions, lineage, memories, equity and drawdown."""
    import json

    from quant_engine.store import (
        find_strategy,
        get_strategy,
        list_memories,
        list_trials,
        list_verdicts,
        parents,
        returns_matrix,
        transitions,
    )

    store = _store(app)
    record = get_strategy(store, key.lower()) if len(key) == 64 else find_strategy(store, key)
    trials = list_trials(store, strategy_hash=record.hash, limit=50)
    figure = None
    with_returns = [t for t in trials if t.has_returns]
    if with_returns:
        m = returns_matrix(store, batch_id=with_returns[0].batch_id)
        column = int(np.flatnonzero(m.trial_ids == with_returns[0].id)[0])
        r = np.asarray(m.values[:, column], dtype=np.float64)
        if r.size and bool(np.all(np.isfinite(r))):
            figure = _equity_figure(r)
    verdicts = list_verdicts(store, record.hash)
    return {
        "s": record,
        "nulls": _null_figures(verdicts),
        "spec": json.dumps(record.document(), indent=2, sort_keys=True),
        "verdicts": verdicts,
        "transitions": transitions(store, record.hash),
        "parents": parents(store, record.hash),
        "memories": list_memories(store, strategy_hash=record.hash, limit=50),
        "trials": trials[:10],
        "figure": figure,
        "promotable": record.status == "graduated",
        "retirable": record.status in ("graduated", "promoted"),
    }


PANELS = {
    "integrity": integrity,
    "swarm": swarm,
    "graduation": graduation,
    "missions": missions,
    "failures": failures,
    "shadow": shadow,
}
"""Panel name -> its context function (the template is ``panels/<name>.html``)."""


def fmt_time(ts: float | None) -> str:
    """UTC ``YYYY-MM-DD HH:MM:SS`` of Unix seconds ('' for None)."""
    if ts is None or not math.isfinite(ts):
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def fmt_number(value: Any) -> str:
    """A statistic for a table cell: 4 significant digits, '—' for a missing or non-finite one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return "—"
    return f"{value:.4g}"
