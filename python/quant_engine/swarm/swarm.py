"""The Swarm: replenishes the pool of candidate strategies by evolutionary search (and an LLM when
one is plugged in), bound by the Gatekeeper's constraints.

``Swarm(store, data, config=..., seed=...).replenish_pool(n, mission)`` runs generations until
``n`` new candidates entered the pool or the generation limit is reached. A generation:

1. makes children: random strategies from the grammar, subtree and operator mutation, crossover
   and parameter jitter of the best candidates so far (and LLM proposals, if configured);
2. validates every child with the strategy validator and the constraints hook
   (``Constraints.check``): an invalid child or one breaking a constraint is counted (by the
   constraint's id) and never evaluated;
3. drops duplicates by canonical hash (of this run and of the whole store);
4. evaluates the rest through the executor on the data given (train/validation only: see
   :func:`generator_view`), every evaluation a trial in the ledger;
5. screens them, best first: post-backtest constraints (minimum trades, holding period), minimum
   fitness, and correlation of their return fingerprints with the pool (above the threshold:
   dropped and counted);
6. records the generation in one transaction (:mod:`.record`).
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec
import numpy as np

from quant_engine.errors import ConstraintViolationError, InvalidArgumentError, StrategyValidationError
from quant_engine.research.config import BacktestConfig, as_config
from quant_engine.research.gatekeeper import Constraints, get_swarm_constraints, shape_family
from quant_engine.research.metrics import METRIC_NAMES
from quant_engine.store import Store, bars_content_hash, get_mission, register_snapshot
from quant_engine.strategy import CompiledStrategy, Limits, Strategy, compile_strategy
from quant_engine.swarm.evaluate import Evaluation, evaluate_batch, init_worker, operator_specs
from quant_engine.swarm.executor import Executor, ProcessExecutor
from quant_engine.swarm.grammar import Grammar, GrammarConfig
from quant_engine.swarm.record import Outcome, known_hashes, record_generation
from quant_engine.swarm.variation import crossover, jitter, mutate_operator, mutate_subtree

__all__ = ["Swarm", "SwarmConfig", "SwarmCounts", "PoolReport", "Proposer", "generator_view"]


def generator_view(data: Any) -> Any:
    """THE SEAM where the sealed holdout plugs in: the bars a generator may see.

    Today the Swarm is given train/validation bars and uses them as they are. When the graduation
    branch's sealed holdout lands, this function returns its generator view (the data without the
    holdout rows); nothing else in the Swarm reads bars."""
    from quant_engine.strategy import prepare_bars

    return prepare_bars(data)


class Proposer(Protocol):
    """An LLM generator: ``propose(k, prompt, mission)`` returns up to ``k`` strategy documents."""

    def propose(self, k: int, prompt: str, mission: int | None) -> Sequence[Any]:
        """Documents (JSON text, mappings or ``Strategy``); each is validated like any child."""
        ...


@dataclass(frozen=True)
class SwarmConfig:
    """How the Swarm searches.

    Attributes:
        population: children made per generation.
        parents: the best evaluated candidates kept as parents.
        p_random, p_mutate_subtree, p_mutate_operator, p_crossover, p_jitter: how children are made
            (normalised; random ones always while there are no parents).
        min_fitness: the lowest Sharpe (annualised, on the data given) admitted to the pool.
        max_correlation: a candidate whose return fingerprint correlates above this with a pool
            member is dropped.
        llm_share: the share of each generation asked of the LLM proposer, when there is one.
        timeframe: the strategies' bar interval.
        backtest: the screening backtest configuration (a ``BacktestConfig`` or its dict).
        grammar: bounds of random strategies.
        limits: the strategy validator's limits.
        batch: candidates per executor task (0: population / (4 x workers)).
    """

    population: int = 200
    parents: int = 50
    p_random: float = 0.2
    p_mutate_subtree: float = 0.25
    p_mutate_operator: float = 0.15
    p_crossover: float = 0.2
    p_jitter: float = 0.2
    min_fitness: float = 0.0
    max_correlation: float = 0.9
    llm_share: float = 0.0
    timeframe: str = "1m"
    backtest: BacktestConfig | dict[str, Any] | None = None
    grammar: GrammarConfig = field(default_factory=GrammarConfig)
    limits: Limits | None = None
    batch: int = 0


@dataclass
class SwarmCounts:
    """Counts of everything a run did; every child lands in exactly one bucket::

        sum(generated) == no_site + invalid + sum(constraint_refused) + duplicates + evaluated + errors
        evaluated == admitted + correlated + sum(screened)

    ``constraint_refused`` counts refusals before any backtest by constraint id; ``screened`` the
    refusals after it (a post-backtest constraint's id, or ``fitness``); ``no_site``: an operator
    found nothing to vary; ``errors``: evaluations that failed (implementation errors, not recorded
    as trials)."""

    generated: Counter[str] = field(default_factory=Counter)
    no_site: int = 0
    invalid: int = 0
    constraint_refused: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    evaluated: int = 0
    errors: int = 0
    screened: Counter[str] = field(default_factory=Counter)
    correlated: int = 0
    admitted: int = 0
    trials_recorded: int = 0
    llm_proposed: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON builtins."""
        out = dataclasses.asdict(self)
        for k in ("generated", "constraint_refused", "screened"):
            out[k] = dict(sorted(getattr(self, k).items()))
        return out


@dataclass
class PoolReport:
    """The outcome of :meth:`Swarm.replenish_pool`: the hashes admitted, the counts, the seconds
    per stage (generation, validation, signals, fills, ledger, evaluate wall time) and the
    generations run."""

    admitted: list[str]
    counts: SwarmCounts
    timings: dict[str, float]
    generations: int


@dataclass
class _Child:
    cs: CompiledStrategy
    family: str
    parents: tuple[str, ...]


@dataclass
class _Member:
    hash: str
    strategy: Strategy
    fitness: float


class Swarm:
    """Candidate generation for the research loop (see the module doc).

    Args:
        store: the research store (ledger, pool, memories).
        data: train/validation bars (any table ``prepare_bars`` accepts); never the holdout.
        config: a :class:`SwarmConfig`.
        seed: the seed of every random choice (same seed, same store, same run).
        executor: where evaluation runs (default: a :class:`ProcessExecutor`).
        llm: an optional :class:`Proposer`.
        constraints: fixed constraints (default: the Gatekeeper's, re-read every generation).
    """

    def __init__(self, store: Store, data: Any, *, config: SwarmConfig | None = None, seed: int = 0,
                 executor: Executor | None = None, llm: Proposer | None = None,
                 constraints: Constraints | None = None) -> None:  # fmt: skip
        self.store = store
        self.config = config or SwarmConfig()
        self.data = generator_view(data)
        if len(self.data) == 0:
            raise InvalidArgumentError("the Swarm needs bars to evaluate candidates on")
        self.rng = np.random.default_rng(seed)
        self.grammar = Grammar(self.rng, list(self.data.symbols), config=self.config.grammar,
                               timeframe=self.config.timeframe)  # fmt: skip
        self.executor: Executor = executor or ProcessExecutor()
        self.llm = llm
        self.fixed_constraints = constraints
        self.counts = SwarmCounts()
        self.timings: defaultdict[str, float] = defaultdict(float)
        self._members: list[_Member] = []
        self._pool_fp: list[np.ndarray] = []
        self._started_with: tuple[Any, ...] | None = None
        self._snapshot: int | None = None

    def _constraints(self, mission: int | None) -> Constraints:
        if self.fixed_constraints is not None:
            return self.fixed_constraints
        return get_swarm_constraints(self.store, mission)

    def _ensure_started(self, config: BacktestConfig) -> None:
        key = (config.to_json(), tuple(sorted(n for n, *_ in operator_specs())))
        if self._started_with != key:
            self.executor.start(init_worker, (self.data, config, operator_specs()))
            self._started_with = key

    def close(self) -> None:
        """Stops the executor's workers."""
        self.executor.close()

    def __enter__(self) -> Swarm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- making children -------------------------------------------------------------------------

    def _parent(self) -> _Member:
        k = min(len(self._members), 3)
        picks = self.rng.choice(len(self._members), size=k, replace=False)
        return max((self._members[int(i)] for i in picks), key=lambda m: m.fitness)

    def _make(self) -> tuple[str, Strategy | None, tuple[str, ...]]:
        c = self.config
        if not self._members:
            return "random", self.grammar.strategy(), ()
        weights = np.array([c.p_random, c.p_mutate_subtree, c.p_mutate_operator, c.p_crossover, c.p_jitter])
        op = ("random", "mutate_subtree", "mutate_operator", "crossover", "jitter")[
            int(self.rng.choice(5, p=weights / weights.sum()))
        ]
        if op == "random":
            return op, self.grammar.strategy(), ()
        a = self._parent()
        if op == "crossover":
            b = self._parent()
            return op, crossover(a.strategy, b.strategy, self.rng), tuple(dict.fromkeys((a.hash, b.hash)))
        if op == "jitter":
            return op, jitter(a.strategy, self.rng), (a.hash,)
        fn = mutate_subtree if op == "mutate_subtree" else mutate_operator
        return op, fn(a.strategy, self.grammar), (a.hash,)

    def _admit_child(self, op: str, child: Any, parents: tuple[str, ...], constraints: Constraints,
                     seen: set[str], out: list[_Child]) -> Constraints:  # fmt: skip
        self.counts.generated[op] += 1
        if child is None:
            self.counts.no_site += 1
            return constraints
        t = time.perf_counter()
        try:
            cs = compile_strategy(child, limits=self.config.limits, checks=[constraints.check])
        except ConstraintViolationError as exc:
            self.counts.constraint_refused[exc.constraint_id] += 1
            return constraints
        except StrategyValidationError:
            self.counts.invalid += 1
            return constraints
        finally:
            self.timings["validation"] += time.perf_counter() - t
        if cs.hash in seen:
            self.counts.duplicates += 1
            return constraints
        seen.add(cs.hash)
        family = shape_family(cs.strategy)
        out.append(_Child(cs, family, parents))
        return constraints.with_budget_use(family)

    def _children(self, size: int, constraints: Constraints, seen: set[str], mission: int | None) -> list[_Child]:
        out: list[_Child] = []
        if self.llm is not None and self.config.llm_share > 0:
            k = int(round(size * self.config.llm_share))
            t = time.perf_counter()
            docs = list(self.llm.propose(k, constraints.prompt, mission))[:k]
            self.timings["generation"] += time.perf_counter() - t
            self.counts.llm_proposed += len(docs)
            for doc in docs:
                constraints = self._admit_child("llm", doc, (), constraints, seen, out)
        attempts = 0
        while len(out) < size and attempts < 20 * size:
            attempts += 1
            t = time.perf_counter()
            op, child, parents = self._make()
            self.timings["generation"] += time.perf_counter() - t
            constraints = self._admit_child(op, child, parents, constraints, seen, out)
        return out

    # -- evaluating and screening ----------------------------------------------------------------

    def _evaluate(self, children: list[_Child]) -> list[Evaluation]:
        docs = [msgspec.json.encode(ch.cs.strategy) for ch in children]
        workers = int(getattr(self.executor, "workers", 1))
        size = self.config.batch or max(1, -(-len(docs) // (4 * workers)))
        batches = [docs[i : i + size] for i in range(0, len(docs), size)]
        t = time.perf_counter()
        results = [ev for batch in self.executor.map(evaluate_batch, batches) for ev in batch]
        self.timings["evaluate_wall"] += time.perf_counter() - t
        self.timings["signals"] += sum(ev.signals_s for ev in results)
        self.timings["fills"] += sum(ev.fills_s for ev in results)
        return results

    def _correlated(self, fp: np.ndarray) -> float:
        if not self._pool_fp or fp.size == 0 or not np.std(fp) > 0:
            return 0.0
        pool = np.vstack(self._pool_fp)
        a = (fp - fp.mean()) / fp.std()
        sd = pool.std(axis=1)
        ok = sd > 0
        if not ok.any():
            return 0.0
        b = (pool[ok] - pool[ok].mean(axis=1, keepdims=True)) / sd[ok, None]
        return float(np.max(np.abs(b @ a) / a.size))

    def _screen(self, children: list[_Child], results: list[Evaluation], constraints: Constraints) -> list[Outcome]:
        sharpe_col = METRIC_NAMES.index("sharpe")
        order = np.argsort([-np.nan_to_num(ev.metrics[sharpe_col], nan=-np.inf) for ev in results], kind="stable")
        outcomes: list[Outcome] = []
        for i in order:
            ch, ev = children[int(i)], results[int(i)]
            if ev.error:
                self.counts.errors += 1
                continue
            self.counts.evaluated += 1
            metrics = dict(zip(METRIC_NAMES, ev.metrics.tolist()))
            fitness = float(np.nan_to_num(metrics["sharpe"], nan=-np.inf))
            rejection = constraints.screen(metrics) or ""
            if rejection:
                self.counts.screened[rejection] += 1
            elif not fitness > self.config.min_fitness:
                rejection = f"fitness {fitness:.3g} <= {self.config.min_fitness:g}"
                self.counts.screened["fitness"] += 1
            else:
                rho = self._correlated(ev.fingerprint)
                if rho > self.config.max_correlation:
                    rejection = f"correlated {rho:.3f} with the pool"
                    self.counts.correlated += 1
            if not rejection:
                self._pool_fp.append(ev.fingerprint)
                self.counts.admitted += 1
            if np.isfinite(fitness) and not constraints.screen(metrics):
                self._members.append(_Member(ch.cs.hash, ch.cs.strategy, fitness))
            outcomes.append(Outcome(ch.cs, ch.family, ch.parents, ev.metrics, ev.signals_s + ev.fills_s, rejection))
        self._members.sort(key=lambda m: -m.fitness)
        del self._members[self.config.parents :]
        return outcomes

    # -- the loop --------------------------------------------------------------------------------

    def generation(self, mission: int | None = None, *, size: int | None = None) -> list[str]:
        """Runs one generation of ``size`` children (default ``config.population``) and returns
        the hashes admitted to the pool. An unknown ``mission`` raises
        :class:`~quant_engine.store.UnknownRecordError` before anything runs."""
        if mission is not None:
            get_mission(self.store, mission)
        constraints = self._constraints(mission)
        config = constraints.screening_config(as_config(self.config.backtest))
        self._ensure_started(config)
        if self._snapshot is None:
            start = np.asarray(self.data.start)
            self._snapshot = register_snapshot(
                self.store, content_hash=bars_content_hash(self.data), source="swarm", symbols=list(self.data.symbols),
                interval=self.config.timeframe, n_bars=int(start.size), start_ns=int(start.min()),
                end_ns=int(start.max()), segment="train",
            )  # fmt: skip
        seen = known_hashes(self.store)
        children = self._children(size or self.config.population, constraints, seen, mission)
        results = self._evaluate(children) if children else []
        outcomes = self._screen(children, results, constraints)
        t = time.perf_counter()
        self.counts.trials_recorded += record_generation(
            self.store, outcomes, snapshot_id=self._snapshot, config_json=config.to_json(), mission_id=mission
        )
        self.timings["ledger"] += time.perf_counter() - t
        return [o.cs.hash for o in outcomes if not o.rejection]

    def replenish_pool(
        self, n: int, mission: int | None = None, *, generations: int = 10,
        progress: Callable[[int, SwarmCounts], None] | None = None,
    ) -> PoolReport:  # fmt: skip
        """Runs generations until ``n`` new candidates entered the pool or ``generations`` ran.

        Raises :class:`~quant_engine.errors.InvalidArgumentError` for ``n < 1`` or ``generations < 1``."""
        if n < 1 or generations < 1:
            raise InvalidArgumentError("replenish_pool needs n >= 1 and generations >= 1")
        admitted: list[str] = []
        ran = 0
        for g in range(generations):
            admitted += self.generation(mission)
            ran = g + 1
            if progress is not None:
                progress(ran, self.counts)
            if len(admitted) >= n:
                break
        return PoolReport(admitted, self.counts, dict(self.timings), ran)
