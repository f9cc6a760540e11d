"""Compiled strategies: the object backtests, sweeps and live trading evaluate.

``compile_strategy(doc)`` validates a document, computes its identity and lowers it once; the
result evaluates signals on any bars (a whole history, or a live window) and expands parameter
grids for sweeps. The same plan serves research and trading.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Union

import numpy as np
import pyarrow as pa

from quant_engine.errors import StrategyValidationError
from quant_engine.kernels.plan_eval import SIG_ENTRY_LONG, SIG_ENTRY_SHORT, SIG_EXIT_LONG, SIG_EXIT_SHORT
from quant_engine.schema import TIMESTAMP
from quant_engine.strategy import nodes as N
from quant_engine.strategy.bar_arrays import BarArrays, prepare_bars
from quant_engine.strategy.canonical import strategy_hash
from quant_engine.strategy.compiler import Template, _Lowerer, lower_strategy
from quant_engine.strategy.plan import DEFAULT_SLAB_BUDGET, Schedule, SignalChunk, run_schedule, schedule
from quant_engine.strategy.spec import Strategy
from quant_engine.strategy.validate import (
    DEFAULT_LIMITS,
    Limits,
    StrategyCheck,
    param_uses,
    parse_strategy,
    strategy_lookback,
)
from quant_engine.suggest import allowed, did_you_mean

__all__ = ["CompiledStrategy", "compile_strategy", "evaluate_series", "Constraint"]

Constraint = tuple[str, str, Any]
"""``(param, op, other)`` with ``op`` one of ``< <= > >= == !=`` and ``other`` a parameter name or
a number, e.g. ``("fast", "<", "slow")``."""

_CMP = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}


@dataclass
class CompiledStrategy:
    """A validated strategy with its identity and its lowered plan.

    Attributes:
        strategy: the validated document.
        template: the lowered plan (parameters symbolic).
        hash: the canonical identity (:func:`~quant_engine.strategy.strategy_hash`).
        lookback: warm-up bars with the default parameters.
    """

    strategy: Strategy
    template: Template
    hash: str
    lookback: int
    limits: Limits = DEFAULT_LIMITS

    @property
    def params(self) -> list[str]:
        """Parameter names, in grid column order."""
        return list(self.template.params)

    def prepare(self, bars: Any) -> BarArrays:
        """The strategy's instruments out of ``bars`` as :class:`BarArrays`."""
        return prepare_bars(bars, symbols=self.strategy.instruments, timezone=self.strategy.timezone)

    def grid(
        self, values: Mapping[str, Any] | None = None, *, where: Iterable[Constraint] = (), what: str = "grid"
    ) -> np.ndarray:
        """A parameter grid: a ``C x len(params)`` float64 matrix.

        ``values`` maps parameter names to sequences (their Cartesian product is taken) or is a
        table (pyarrow / pandas / dict of equal-length arrays with ``rows=True`` semantics when
        given as a ``pyarrow.Table``) of explicit combinations. Parameters not given keep their
        default. ``where`` filters combinations (``("fast", "<", "slow")``). Every value is
        checked against the places the parameter is used, vectorized.
        """
        names = self.template.params
        defaults = np.array(self.template.defaults, np.float64)
        values = values or {}
        unknown = [k for k in _keys(values) if k not in names]
        if unknown:
            k = str(unknown[0])
            known = f"the strategy's parameters: {allowed(names)}" if names else "the strategy has no parameters"
            raise StrategyValidationError(
                f"{what}: unknown parameter `{k}`{did_you_mean(k, names)}; {known}", f"$.params.{k}"
            )
        if isinstance(values, pa.Table) or _is_frame(values):
            table = values if isinstance(values, pa.Table) else pa.Table.from_pandas(values, preserve_index=False)
            grid = np.tile(defaults, (table.num_rows, 1))
            for k in table.column_names:
                grid[:, names.index(k)] = table.column(k).to_numpy(zero_copy_only=False).astype(np.float64)
        else:
            axes = [
                np.asarray(values[k], np.float64).reshape(-1) if k in values else defaults[i : i + 1]
                for i, k in enumerate(names)
            ]
            if any(a.size == 0 for a in axes):
                raise StrategyValidationError("a grid axis is empty", "$.params")
            mesh = np.meshgrid(*axes, indexing="ij") if axes else []
            grid = np.stack([m.reshape(-1) for m in mesh], axis=1) if axes else np.zeros((1, 0))
        keep = np.ones(grid.shape[0], bool)
        for a, op, b in where:
            if a not in names or op not in _CMP or (isinstance(b, str) and b not in names):
                raise StrategyValidationError(f"invalid constraint {(a, op, b)!r}", "$.params")
            rhs = grid[:, names.index(b)] if isinstance(b, str) else float(b)
            keep &= _CMP[op](grid[:, names.index(a)], rhs)
        grid = np.ascontiguousarray(grid[keep])
        if grid.shape[0] == 0:
            raise StrategyValidationError("the grid is empty after applying the constraints", "$.params")
        return self._checked(grid, what)

    def _checked(self, grid: np.ndarray, what: str) -> np.ndarray:
        """``grid`` after checking every value where its parameter is used."""
        names = self.template.params
        for use in param_uses(self.strategy, self.limits):
            col = grid[:, names.index(use.name)]
            for v in np.unique(col):
                reason = use.violation(float(v))
                if reason is not None:
                    raise StrategyValidationError(f"{what}: {reason}", use.path)
        return grid

    def bind(self, params: Mapping[str, float] | None = None) -> np.ndarray:
        """The one combination of ``params`` (names -> values; others keep their defaults) as a
        ``1 x len(params)`` grid, each value checked where the parameter is used."""
        params = dict(params or {})
        names = self.template.params
        for k, v in params.items():
            if k not in names:
                known = f"the strategy's parameters: {allowed(names)}" if names else "the strategy has no parameters"
                raise StrategyValidationError(
                    f"unknown parameter `{k}`{did_you_mean(k, names)}; {known}", f"$.params.{k}"
                )
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise StrategyValidationError(
                    f"parameter `{k}` must be a number, got {type(v).__name__}", f"$.params.{k}"
                )
        return self.grid({k: [v] for k, v in params.items()}, what="params")

    def schedule(
        self, bars: BarArrays, grid: np.ndarray | None = None, *, slab_budget: int = DEFAULT_SLAB_BUDGET
    ) -> Schedule:
        """Schedules the plan for ``bars`` over ``grid`` (default: the default parameters)."""
        if grid is None:
            grid = np.array(self.template.defaults, np.float64).reshape(1, len(self.template.params))
        return schedule(self.template, grid, len(bars), slab_budget=slab_budget)

    def signal_chunks(
        self, bars: BarArrays, grid: np.ndarray | None = None, *, chunk: int | None = None, threads: int | None = None
    ) -> Iterator[SignalChunk]:
        """Signal bytes for every combination of ``grid``, chunk by chunk (see
        :func:`~quant_engine.strategy.plan.run_schedule`)."""
        sched = self.schedule(bars, grid)
        return run_schedule(sched, bars.fields(self.template.fields), bars.offsets, chunk=chunk, threads=threads)

    def signals(self, bars: Any, params: Mapping[str, float] | None = None) -> pa.Table:
        """The rule signals on every bar: ``symbol, start, entry_long, exit_long, entry_short,
        exit_short`` (booleans; true only when the rule is true, never during warm-up) and, for
        ATR stops, ``stop_distance`` / ``take_distance`` in price units."""
        data = self.prepare(bars)
        grid = self.bind(params)
        chunk = next(iter(self.signal_chunks(data, grid)))
        sig = chunk.signals[0]
        sym_idx = np.repeat(np.arange(len(data.symbols)), np.diff(data.offsets))
        cols: dict[str, Any] = {
            "symbol": pa.array(np.asarray(data.symbols, dtype=object)[sym_idx], pa.string()),
            "start": pa.array(data.start, TIMESTAMP),
            "entry_long": (sig & SIG_ENTRY_LONG) != 0,
            "exit_long": (sig & SIG_EXIT_LONG) != 0,
            "entry_short": (sig & SIG_ENTRY_SHORT) != 0,
            "exit_short": (sig & SIG_EXIT_SHORT) != 0,
        }
        if chunk.stop_distance is not None:
            cols["stop_distance"] = chunk.stop_distance[0].copy()
        if chunk.take_distance is not None:
            cols["take_distance"] = chunk.take_distance[0].copy()
        return pa.table(cols)


def _keys(values: Any) -> list[str]:
    if isinstance(values, pa.Table):
        return list(values.column_names)
    if _is_frame(values):
        return [str(c) for c in values.columns]
    return list(values)


def _is_frame(obj: Any) -> bool:
    return type(obj).__name__ == "DataFrame" and hasattr(obj, "columns")


def compile_strategy(
    doc: Any, *, limits: Limits | None = None, checks: Iterable[StrategyCheck] = ()
) -> CompiledStrategy:
    """Validates ``doc`` (JSON text, a ``pathlib.Path`` to a JSON file, a mapping or a
    :class:`Strategy`, all through the one validator, with the extra ``checks`` of the
    constraints hook) and compiles it."""
    limits = limits or DEFAULT_LIMITS
    if isinstance(doc, PurePath):
        doc = _read_document(doc)
    strategy = parse_strategy(doc, limits=limits, checks=checks)
    return CompiledStrategy(
        strategy, lower_strategy(strategy), strategy_hash(strategy), strategy_lookback(strategy), limits
    )


def _read_document(path: PurePath) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StrategyValidationError(f"cannot read strategy file {path}: {exc.strerror or exc}", "$") from None


def evaluate_series(
    expr: Any, bars: Any, *, params: Mapping[str, float] | None = None, timezone: str = "America/New_York"
) -> np.ndarray:
    """Evaluates one numeric or condition expression (a node, a field name, a constant, or its
    JSON) on ``bars`` and returns the float64 series (conditions as 1.0 / 0.0 / NaN).

    Useful to inspect indicators and in tests; the expression is validated like a rule."""
    expr = _decode_expression(expr)
    params = dict(params or {})
    data = prepare_bars(bars, timezone=timezone) if not isinstance(bars, BarArrays) else bars
    is_cond = isinstance(expr, (bool, *N.COND_NODES))
    # validate the expression as the entry rule of a throw-away strategy
    doc = Strategy(
        instruments=list(data.symbols),
        entry_long=expr if is_cond else N.Gt(left=expr, right=0.0),
        params=params,
        timezone=timezone,
    )
    from quant_engine.strategy.validate import validate_strategy

    validate_strategy(doc)
    t = Template(params=sorted(params), defaults=[params[k] for k in sorted(params)])
    lw = _Lowerer(t)
    root = lw.cond(expr) if is_cond else lw.series(expr)
    t.roots[4] = root
    sched = schedule(t, np.array(t.defaults, np.float64).reshape(1, len(t.params)), len(data))
    chunk = next(iter(run_schedule(sched, data.fields(t.fields), data.offsets)))
    assert chunk.stop_distance is not None
    return chunk.stop_distance[0].copy()


_EXPRESSION = Union[N.Num, N.Cond]


def _decode_expression(expr: Any) -> Any:
    """A node, field name or constant from itself, its JSON text or its parsed mapping."""
    import msgspec

    try:
        if isinstance(expr, (bytes, bytearray)) or (isinstance(expr, str) and expr not in N.FIELDS):
            return msgspec.json.decode(expr, type=_EXPRESSION)
        if isinstance(expr, Mapping):
            return msgspec.convert(expr, type=_EXPRESSION)
    except msgspec.ValidationError as exc:
        text = str(exc)
        path = text.rsplit("`", 2)[-2] if text.endswith("`") else "$"
        raise StrategyValidationError(text.split(" - at ")[0], path) from None
    return expr
