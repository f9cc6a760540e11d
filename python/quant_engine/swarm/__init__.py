"""The Swarm: candidate generation for the research loop (evolutionary search over the strategy
language, LLM proposals when one is plugged in) and the pool's health (audit and repair).

It sits above research and store, which never import it. ``docs/research-loop.md`` describes the
loop; quick use::

    from quant_engine.swarm import Swarm, SwarmConfig

    with Swarm(store, train_bars, config=SwarmConfig(population=200), seed=7) as swarm:
        report = swarm.replenish_pool(20, mission=None, generations=5)
    report.admitted, report.counts.to_dict(), report.timings
"""

from __future__ import annotations

from quant_engine.swarm.executor import Executor, ProcessExecutor, SerialExecutor
from quant_engine.swarm.grammar import Grammar, GrammarConfig
from quant_engine.swarm.swarm import PoolReport, Proposer, Swarm, SwarmConfig, SwarmCounts, generator_view

__all__ = [
    "Swarm",
    "SwarmConfig",
    "SwarmCounts",
    "PoolReport",
    "Proposer",
    "generator_view",
    "Executor",
    "ProcessExecutor",
    "SerialExecutor",
    "Grammar",
    "GrammarConfig",
]
