"""Research work as jobs: the Red Team's examination and White Noise Test of a strategy, and a
swarm run that replenishes the candidate pool. Each answers 202 with a job to poll
(:mod:`quant_engine.api.routers.jobs`); ``DELETE /jobs/{id}`` stops a swarm after its current
generation (what it recorded stays in the store)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Request
from msgspec import Meta
from starlette.responses import Response

from quant_engine.api.bodies import JobBody
from quant_engine.api.errors import ApiError
from quant_engine.api.io import operation, read_body
from quant_engine.api.jobs import Progress
from quant_engine.api.routers.jobs import submit_job
from quant_engine.api.state import run_sync, store_of

__all__ = ["router", "RedTeamJobRequest", "SwarmJobRequest"]

router = APIRouter(tags=["research"])

Hash = Annotated[str, Meta(min_length=4, max_length=64, pattern="^[0-9a-fA-F]+$")]
Seed = Annotated[int, Meta(ge=0, le=2**62)]


class RedTeamJobRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A strategy to examine: ``strategy_hash`` (a stored strategy, hash or unique prefix; the
    verdict is recorded with it) or a ``strategy`` document; on ``days`` sessions of the seeded
    synthetic market (its instruments and timeframe from the strategy)."""

    strategy_hash: Hash | None = None
    strategy: dict[str, Any] | None = None
    seed: Seed = 0
    market_seed: Seed = 7
    start: Annotated[str, Meta(pattern=r"^\d{4}-\d{2}-\d{2}$")] = "2024-01-02"
    days: Annotated[int, Meta(ge=1, le=250)] = 20
    ticks_per_day: Annotated[int, Meta(ge=100, le=200_000)] = 20_000


class SwarmJobRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A swarm run: up to ``generations`` generations of ``population`` children until ``pool``
    new candidates entered the pool, screened on the seeded synthetic market at ``timeframe``."""

    generations: Annotated[int, Meta(ge=1, le=100)] = 5
    pool: Annotated[int, Meta(ge=1, le=1000)] = 20
    population: Annotated[int, Meta(ge=2, le=5000)] = 100
    mission_id: Annotated[int, Meta(ge=1, le=2**62)] | None = None
    timeframe: Annotated[str, Meta(min_length=2, max_length=8)] = "5m"
    seed: Seed = 0
    market_seed: Seed = 7
    days: Annotated[int, Meta(ge=1, le=60)] = 5
    ticks_per_day: Annotated[int, Meta(ge=100, le=200_000)] = 20_000
    workers: Annotated[int, Meta(ge=1, le=64)] = 1


def _strategy(store: Any, body: RedTeamJobRequest) -> tuple[Any, str | None]:
    """The compiled strategy and, when it is a stored one, its hash."""
    from quant_engine.store import find_strategy, get_strategy
    from quant_engine.strategy import compile_strategy

    if (body.strategy_hash is None) == (body.strategy is None):
        raise ApiError(422, "validation_error", "give exactly one of strategy_hash and strategy", "$")
    if body.strategy is not None:
        return compile_strategy(body.strategy), None
    key = body.strategy_hash or ""
    record = get_strategy(store, key.lower()) if len(key) == 64 else find_strategy(store, key)
    return compile_strategy(record.document()), record.hash


def _examine(store: Any, body: RedTeamJobRequest, only: tuple[str, ...], progress: Progress) -> dict[str, Any]:
    from quant_engine.feeds.synthetic import synthetic_bars
    from quant_engine.research.redteam import RedTeam, RedTeamConfig
    from quant_engine.store import record_verdict

    cs, stored = _strategy(store, body)
    progress(0.05, "generating synthetic bars")
    bars = synthetic_bars(cs.strategy.instruments, cs.strategy.timeframe, seed=body.market_seed, start=body.start,
                          days=body.days, ticks_per_day=body.ticks_per_day)  # fmt: skip
    progress(0.2, "examining")
    verdict = RedTeam(RedTeamConfig(only=only)).examine(cs, bars, store, seed=body.seed)
    document = verdict.to_dict()
    recorded = None
    if stored is not None:
        recorded = record_verdict(store, stored, kind="examination", passed=verdict.passed, document=document,
                                  failure_types=[f.value for f in verdict.failure_types], seed=body.seed)  # fmt: skip
    return {"strategy_hash": stored or cs.hash, "passed": verdict.passed,
            "failure_types": [f.value for f in verdict.failure_types], "verdict_id": recorded, "verdict": document}  # fmt: skip


async def _submit_examination(request: Request, kind: str, only: tuple[str, ...]) -> Response:
    body = await read_body(request, RedTeamJobRequest)
    store = store_of(request)
    await run_sync(_strategy, store, body)  # a bad document (422) or an unknown hash (404) is refused now
    return submit_job(request, kind, lambda progress: _examine(store, body, only, progress))


@router.post("/redteam/examine", summary="Run the Red Team's whole battery on a strategy (job)",
             **operation(body=RedTeamJobRequest, response=JobBody, status=202, description="Accepted"))  # fmt: skip
async def examine(request: Request) -> Response:
    """Every test of the battery (``docs/redteam.md``) on the synthetic market, DSR/PBO/SPA over the
    store's ledger; the job's result holds the verdict (recorded in the store for a stored
    strategy)."""
    return await _submit_examination(request, "redteam.examine", ())


@router.post("/redteam/white-noise", summary="Run the White Noise Test on a strategy (job)",
             **operation(body=RedTeamJobRequest, response=JobBody, status=202, description="Accepted"))  # fmt: skip
async def white_noise(request: Request) -> Response:
    """WNT-A, WNT-B and WNT-C only (the operator's White Noise Test)."""
    from quant_engine.research.redteam.examine import WHITE_NOISE_TESTS

    return await _submit_examination(request, "redteam.white_noise", tuple(WHITE_NOISE_TESTS))


def _swarm(store: Any, body: SwarmJobRequest, progress: Progress) -> dict[str, Any]:
    from quant_engine.feeds.synthetic import DEFAULT_SYMBOLS, synthetic_bars
    from quant_engine.swarm import ProcessExecutor, SerialExecutor, Swarm, SwarmConfig

    progress(0.0, "generating synthetic bars")
    bars = synthetic_bars(DEFAULT_SYMBOLS, body.timeframe, seed=body.market_seed, days=body.days,
                          ticks_per_day=body.ticks_per_day)  # fmt: skip
    config = SwarmConfig(population=body.population, timeframe=body.timeframe)
    executor = SerialExecutor() if body.workers == 1 else ProcessExecutor(body.workers)

    def tick(generation: int, counts: Any) -> None:
        made = sum(counts.generated.values())
        refused = sum(counts.constraint_refused.values())
        progress(generation / body.generations,
                 f"generation {generation}: {made} made, {refused} refused by constraints, pool +{counts.admitted}")  # fmt: skip

    with Swarm(store, bars, config=config, seed=body.seed, executor=executor) as swarm:
        report = swarm.replenish_pool(body.pool, body.mission_id, generations=body.generations, progress=tick)
    return {"generations": report.generations, "admitted": report.admitted, "counts": report.counts.to_dict(),
            "timings": report.timings}  # fmt: skip


@router.post("/swarm", summary="Launch a swarm run (job)",
             **operation(body=SwarmJobRequest, response=JobBody, status=202, description="Accepted"))  # fmt: skip
async def launch_swarm(request: Request) -> Response:
    """Replenishes the candidate pool (``docs/research-loop.md``) as a job; its progress is the
    share of generations run; stop it with ``DELETE /jobs/{id}`` (after the current generation)."""
    body = await read_body(request, SwarmJobRequest)
    store = store_of(request)
    if body.mission_id is not None:
        from quant_engine.store import get_mission

        get_mission(store, body.mission_id)  # an unknown mission is a 404 now
    return submit_job(request, "swarm", lambda progress: _swarm(store, body, progress))
