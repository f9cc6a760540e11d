"""Jobs: long work answered with 202 and a job to poll (``GET /jobs/{id}``), listed and cancelled
here; the backtest submission (``POST /backtests``) is the first kind. See
:mod:`quant_engine.api.jobs` for the runner's guarantees."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from quant_engine.api.bodies import BacktestJobRequest, JobBody, JobError
from quant_engine.api.errors import ApiError, error_response
from quant_engine.api.io import operation, read_body, reply
from quant_engine.api.jobs import Job, Progress, QueueFull
from quant_engine.api.state import jobs_of

__all__ = ["router", "job_body", "submit_job"]

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]+$")]
RETRY_AFTER_S = 5


def job_body(job: Job) -> JobBody:
    """The :class:`JobBody` of a job record."""
    error = None if job.error is None else JobError(job.error["code"], job.error["message"])
    return JobBody(job.id, job.kind, job.state, job.progress, job.message, job.submitted_at, job.started_at,
                   job.finished_at, f"/jobs/{job.id}", job.result, error)  # fmt: skip


def submit_job(request: Request, kind: str, work: Callable[[Progress], Any]) -> Response:
    """Submits ``work`` as a job of ``kind``: 202 with the job and its ``Location``, or 429 with
    ``Retry-After`` when too many jobs wait."""
    try:
        job = jobs_of(request).submit(kind, work)
    except QueueFull as exc:
        return error_response(429, "too_many_jobs", str(exc), headers={"Retry-After": str(RETRY_AFTER_S)})
    return reply(job_body(job), status=202, headers={"Location": f"/jobs/{job.id}"})


@router.get("/jobs", summary="List jobs", **operation(response=list[JobBody]))
async def list_jobs(
    request: Request,
    kind: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    state: Annotated[str | None, Query(pattern="^(queued|running|succeeded|failed|cancelled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Response:
    """Jobs this server holds, newest first (finished ones are kept until newer ones push them
    out), optionally of one kind and state."""
    return reply([job_body(j) for j in jobs_of(request).list(kind=kind, state=state, limit=limit)])


@router.get("/jobs/{job_id}", summary="One job", **operation(response=JobBody))
async def get_job(request: Request, job_id: JobId) -> Response:
    """The job's state, progress and, once finished, its result or error (404: unknown)."""
    job = jobs_of(request).get(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r} (unknown, or finished long ago and forgotten)")
    return reply(job_body(job))


@router.delete("/jobs/{job_id}", summary="Cancel a job", **operation(response=JobBody))
async def cancel_job(request: Request, job_id: JobId) -> Response:
    """Cancels a queued job at once; a running one stops at its next progress report (its state
    shows when); a finished job is returned unchanged."""
    job = jobs_of(request).cancel(job_id)
    if job is None:
        raise ApiError(404, "not_found", f"no job {job_id!r}")
    return reply(job_body(job))


def _backtest(body: BacktestJobRequest, progress: Progress) -> dict[str, Any]:
    from quant_engine.feeds.synthetic import synthetic_bars
    from quant_engine.research.backtester import BacktestConfig, backtest
    from quant_engine.strategy import compile_strategy

    cs = compile_strategy(body.strategy)
    progress(0.05, "generating synthetic bars")
    bars = synthetic_bars(cs.strategy.instruments, cs.strategy.timeframe, seed=body.seed, start=body.start,
                          days=body.days, ticks_per_day=body.ticks_per_day)  # fmt: skip
    progress(0.6, "backtesting")
    res = backtest(cs, bars, BacktestConfig(initial_cash=body.initial_cash, allow_short=body.allow_short))
    return {
        "strategy_hash": cs.hash,
        "bars": len(res.bars),
        "trades": res.trades.num_rows,
        "fills": res.fills.num_rows,
        "metrics": res.metrics,
        "rejections": res.rejections,
        "timings": res.timings,
    }


@router.post("/backtests", summary="Run a backtest as a job",
             **operation(body=BacktestJobRequest, response=JobBody, status=202, description="Accepted"))  # fmt: skip
async def submit_backtest(request: Request) -> Response:
    """Validates the strategy document now (422 with the path of the first error) and runs the
    backtest on the synthetic market as a job: 202 with the job to poll."""
    from quant_engine.strategy import compile_strategy

    body = await read_body(request, BacktestJobRequest)
    compile_strategy(body.strategy)  # a bad document is a 422 now, not a failed job later
    return submit_job(request, "backtest", lambda progress: _backtest(body, progress))
