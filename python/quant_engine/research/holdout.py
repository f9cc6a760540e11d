"""The sealed holdout: research data split by time, and a generator's view that has no holdout.

:meth:`ResearchData.split` cuts a bar table into **train / validation / holdout** at two
timestamps shared by every symbol (chosen on the distinct bar times, so each segment holds the
configured share of them; default 60/20/20) and, with a store, registers each segment in
``data_snapshots`` with its content hash.

What a generator (a parameter search, the Swarm's fitness, an LLM prompt's examples) receives is
:meth:`ResearchData.generator_view`: a :class:`GeneratorView` built from the train and validation
rows only. It holds no reference to the holdout or to the :class:`ResearchData` it came from, so
no method, flag or attribute of it can return a holdout row; a request that names the holdout, or
a time range reaching into it, raises :class:`~quant_engine.errors.HoldoutAccessError`, is logged
(logger ``quant_engine.research.holdout``) and, when the view has a store, recorded as a
``holdout.refused`` event.

The holdout is reachable through one method, :meth:`ResearchData.evaluate_holdout`, which the
graduation path (:func:`quant_engine.research.graduation.graduate`) calls once per strategy: it
backtests the strategy and records that evaluation in the trial ledger (on the holdout snapshot)
before returning it; a second call for the same strategy finds that trial (or the strategy's
graduation verdict) and is refused.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.errors import HoldoutAccessError, InvalidArgumentError

__all__ = ["SEGMENT_NAMES", "Segment", "ResearchData", "GeneratorView", "HoldoutEvaluation", "holdout_evaluations"]

log = logging.getLogger(__name__)

SEGMENT_NAMES = ("train", "validation", "holdout")
"""The segments, in time order."""


@dataclass(frozen=True)
class Segment:
    """One time segment of the research data.

    Attributes:
        name: ``train``, ``validation`` or ``holdout``.
        start_ns: first bar time of the segment (inclusive, UTC ns).
        end_ns: the next segment's first bar time (exclusive); ``None`` for the holdout (open end).
        n_bars: rows of the segment (all symbols).
        content_hash: SHA-256 of the segment's rows (Arrow IPC of the table).
        snapshot_id: its ``data_snapshots`` row, when registered in a store.
    """

    name: str
    start_ns: int
    end_ns: int | None
    n_bars: int
    content_hash: str
    snapshot_id: int | None = None


def _content_hash(table: pa.Table) -> str:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()


def _times(table: pa.Table) -> np.ndarray:
    if "start" not in table.column_names or "symbol" not in table.column_names:
        raise InvalidArgumentError("research data are bars with at least `symbol` and `start` columns")
    col = table.column("start")
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.timestamp(col.type.unit)).cast(pa.int64())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.int64)


def _as_ns(value: Any) -> int:
    """A time bound as UTC ns: an int (ns), a ``datetime``/``date``/ISO string or a NumPy datetime."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value)
    try:
        return int(np.datetime64(value, "ns").astype(np.int64))
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"not a time: {value!r}") from None


def _refuse(store: Any, subject: str, message: str, payload: Mapping[str, Any]) -> HoldoutAccessError:
    """Logs a refused reach for the holdout (and records it as an event when there is a store)."""
    log.warning("holdout access refused: %s", message)
    if store is not None:
        from quant_engine.store.verdicts import record_holdout_refusal

        record_holdout_refusal(store, subject, {**payload, "message": message})
    return HoldoutAccessError(message)


class GeneratorView:
    """The research data a generator may see: the train and validation rows, nothing else.

    Built from those rows alone (it keeps no reference to the holdout). Every accessor returns
    rows before :attr:`holdout_start_ns`; naming the holdout or a range reaching it raises
    :class:`HoldoutAccessError` (logged, and recorded as an event when ``store`` is set)."""

    __slots__ = ("_rows", "_times", "_validation_start", "_holdout_start", "_store", "_subject")

    def __init__(self, rows: pa.Table, validation_start_ns: int, holdout_start_ns: int, store: Any, subject: str):
        times = _times(rows)
        if times.size and int(times.max()) >= holdout_start_ns:
            raise InvalidArgumentError("a generator view cannot be built from rows inside the holdout")
        self._rows = rows
        self._times = times
        self._validation_start = int(validation_start_ns)
        self._holdout_start = int(holdout_start_ns)
        self._store = store
        self._subject = subject

    @property
    def holdout_start_ns(self) -> int:
        """Where the sealed holdout begins (UTC ns): every row of the view is before it."""
        return self._holdout_start

    @property
    def bars(self) -> pa.Table:
        """Train and validation rows (what a generator fits and selects on)."""
        return self._rows

    @property
    def n_rows(self) -> int:
        """Rows in the view."""
        return self._rows.num_rows

    def train(self) -> pa.Table:
        """The train rows."""
        return self._rows.filter(pa.array(self._times < self._validation_start))

    def validation(self) -> pa.Table:
        """The validation rows."""
        return self._rows.filter(pa.array(self._times >= self._validation_start))

    def segment(self, name: str) -> pa.Table:
        """The rows of segment ``name``; ``"holdout"`` raises :class:`HoldoutAccessError`."""
        if name == "train":
            return self.train()
        if name == "validation":
            return self.validation()
        if name == "holdout":
            raise self._refusal("the holdout segment was requested through a generator view", {"segment": name})
        raise InvalidArgumentError(f"unknown segment {name!r}; a generator view has train and validation")

    def holdout(self) -> pa.Table:
        """Always raises :class:`HoldoutAccessError`: a generator view has no holdout."""
        raise self._refusal("the holdout was requested through a generator view", {"segment": "holdout"})

    def between(self, start: Any, end: Any) -> pa.Table:
        """Rows with ``start <= time < end`` (UTC ns ints or anything ``numpy.datetime64`` reads);
        a range whose end is after the holdout's first bar raises :class:`HoldoutAccessError`."""
        lo, hi = _as_ns(start), _as_ns(end)
        if hi > self._holdout_start:
            raise self._refusal(
                f"the time range [{lo}, {hi}) overlaps the sealed holdout (from {self._holdout_start})",
                {"start_ns": lo, "end_ns": hi, "holdout_start_ns": self._holdout_start},
            )
        return self._rows.filter(pa.array((self._times >= lo) & (self._times < hi)))

    def _refusal(self, message: str, payload: Mapping[str, Any]) -> HoldoutAccessError:
        return _refuse(self._store, self._subject, message, payload)

    def __repr__(self) -> str:
        return f"GeneratorView(rows={self.n_rows}, holdout_start_ns={self._holdout_start})"


class HoldoutEvaluation(msgspec.Struct, frozen=True, kw_only=True):
    """A strategy's one evaluation on the holdout (what the graduation verdict stores).

    ``returns`` are the per-period net returns of the holdout periods, from one backtest over the
    whole history (so indicators are warm and a position open at the cut carries over, as it
    would when trading on), kept from the holdout's first bar on. ``sharpe`` is annualized."""

    strategy_hash: str
    snapshot_id: int
    trial_batch_id: int
    n_periods: int
    trades: int
    total_return: float
    sharpe: float
    periods_per_year: float
    returns: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """The evaluation as JSON-ready builtins (non-finite numbers become ``None``)."""
        out: dict[str, Any] = msgspec.to_builtins(self)
        for key in ("total_return", "sharpe"):
            if not math.isfinite(out[key]):
                out[key] = None
        return out


def holdout_evaluations(store: Any, strategy_hash: str, snapshot_id: int) -> int:
    """How many ledger trials evaluated ``strategy_hash`` on the holdout snapshot ``snapshot_id``."""
    import sqlalchemy as sa

    from quant_engine.store import schema as S

    t = S.trials
    q = sa.select(sa.func.count()).where(t.c.strategy_hash == strategy_hash, t.c.snapshot_id == int(snapshot_id))
    with store.read() as conn:
        return int(conn.execute(q).scalar_one())


class ResearchData:
    """Bars split by time into train / validation / holdout (see the module documentation).

    Build with :meth:`split`. ``segments`` describes the three segments; :meth:`generator_view`
    is what a generator receives; :meth:`evaluate_holdout` is the graduation path's one access."""

    def __init__(self, bars: pa.Table, segments: tuple[Segment, Segment, Segment], store: Any, source: str) -> None:
        self._bars = bars
        self._times = _times(bars)
        self.segments = segments
        self.store = store
        self.source = source

    @classmethod
    def split(
        cls,
        bars: Any,
        *,
        fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
        store: Any = None,
        source: str = "research",
        interval: str = "1d",
    ) -> ResearchData:
        """Splits ``bars`` (an Arrow table or anything ``pyarrow.table`` takes, with ``symbol``
        and ``start``) at two timestamps shared by every symbol: the first ``fractions[0]`` of
        the distinct bar times are train, the next ``fractions[1]`` validation, the rest the
        holdout. With ``store`` each segment is registered in ``data_snapshots`` (``source``,
        ``interval``). Raises :class:`InvalidArgumentError` for fractions that are not positive
        and summing to 1, or data too short for three non-empty segments."""
        table = bars if isinstance(bars, pa.Table) else pa.table(bars)
        if len(fractions) != 3 or not all(math.isfinite(f) and f > 0 for f in fractions):
            raise InvalidArgumentError(
                f"fractions are three positive shares (train, validation, holdout), got {fractions}"
            )
        if abs(sum(fractions) - 1.0) > 1e-9:
            raise InvalidArgumentError(f"fractions must sum to 1, got {sum(fractions)}")
        times = _times(table)
        order = np.argsort(times, kind="stable")
        table, times = table.take(pa.array(order)), times[order]
        distinct = np.unique(times)
        n = distinct.size
        i_val = int(round(n * fractions[0]))
        i_hold = int(round(n * (fractions[0] + fractions[1])))
        if not 0 < i_val < i_hold < n:
            raise InvalidArgumentError(
                f"{n} distinct bar times cannot be split {fractions} into three non-empty segments"
            )
        cuts = (int(distinct[0]), int(distinct[i_val]), int(distinct[i_hold]))
        segments = []
        for k, name in enumerate(SEGMENT_NAMES):
            lo = cuts[k]
            hi = cuts[k + 1] if k < 2 else None
            mask = (times >= lo) & (times < hi) if hi is not None else times >= lo
            rows = table.filter(pa.array(mask))
            digest = _content_hash(rows)
            snap = None
            if store is not None:
                from quant_engine.store.ledger import register_snapshot

                symbols = sorted(set(pc.unique(rows.column("symbol")).to_pylist()))
                seg_times = times[mask]
                snap = register_snapshot(
                    store, content_hash=digest, source=source, symbols=symbols, interval=interval,
                    n_bars=rows.num_rows, start_ns=int(seg_times.min()), end_ns=int(seg_times.max()), segment=name,
                )  # fmt: skip
            segments.append(Segment(name, lo, hi, rows.num_rows, digest, snap))
        return cls(table, (segments[0], segments[1], segments[2]), store, source)

    def segment_info(self, name: str) -> Segment:
        """The :class:`Segment` called ``name``."""
        for s in self.segments:
            if s.name == name:
                return s
        raise InvalidArgumentError(f"unknown segment {name!r}; segments: {', '.join(SEGMENT_NAMES)}")

    @property
    def holdout_start_ns(self) -> int:
        """The first bar time of the holdout."""
        return self.segments[2].start_ns

    def generator_view(self, *, store: Any = None) -> GeneratorView:
        """A :class:`GeneratorView` of the train and validation rows (a new table that holds no
        holdout row); refusals are recorded in ``store`` (default: the split's store)."""
        rows = self._bars.filter(pa.array(self._times < self.holdout_start_ns))
        subject = self.segments[2].content_hash
        return GeneratorView(rows, self.segments[1].start_ns, self.holdout_start_ns, store or self.store, subject)

    def evaluate_holdout(self, store: Any, strategy: Any, config: Any = None) -> HoldoutEvaluation:
        """The graduation path's single look at the holdout: backtests ``strategy`` (compiled)
        with ``config`` over the whole history, keeps the holdout periods' returns and records
        them as one trial of the strategy on the holdout snapshot, then returns the evaluation.

        Raises :class:`HoldoutAccessError` (logged, ``holdout.refused`` event) when the store
        already holds a holdout trial or a graduation verdict of the strategy: the holdout is
        evaluated once per strategy. The strategy must be recorded in ``store``."""
        from quant_engine.research.backtester import _compiled, backtest
        from quant_engine.research.config import as_config
        from quant_engine.research.metrics import METRIC_NAMES, performance_metrics
        from quant_engine.store.ledger import record_trials
        from quant_engine.store.verdicts import latest_verdict

        seg = self.segments[2]
        if seg.snapshot_id is None:
            raise InvalidArgumentError("evaluate_holdout needs research data split with a store (registered snapshots)")
        cs = _compiled(strategy)
        done = holdout_evaluations(store, cs.hash, seg.snapshot_id)
        if done or latest_verdict(store, cs.hash, kind="graduation") is not None:
            raise _refuse(
                store, cs.hash,
                f"the holdout of strategy {cs.hash[:12]} was already evaluated ({done} ledger trial(s)) or its "
                "graduation was decided: the holdout is evaluated once per strategy",
                {"strategy_hash": cs.hash, "snapshot_id": seg.snapshot_id, "previous_evaluations": done},
            )  # fmt: skip
        cfg = as_config(config)
        res = backtest(cs, self._bars, cfg)
        r_all = np.asarray(res.returns.column("return").to_numpy(zero_copy_only=False), dtype=np.float64)
        ts = np.asarray(res.equity.column("ts").cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
        keep = ts >= seg.start_ns
        r = np.ascontiguousarray(r_all[keep])
        ppy = float(cfg.periods_per_year or _periods_per_year(cs))
        m = performance_metrics(r, periods_per_year=ppy) if r.size else {}
        exits = np.asarray(res.trades.column("exit_time").cast(pa.int64()).to_numpy(zero_copy_only=False))
        trades = int(np.count_nonzero(exits >= seg.start_ns))
        sharpe = float(m.get("sharpe", float("nan")))
        total = float(np.prod(1.0 + r) - 1.0) if r.size else float("nan")
        metrics = {k: _finite(m.get(k)) for k in METRIC_NAMES if k in m}
        metrics.update({"trades": float(trades), "total_return": _finite(total), "sharpe": _finite(sharpe)})
        batch = record_trials(
            store, cs.hash, params=[{k: float(v) for k, v in cs.strategy.params.items()}], metrics=[metrics],
            config_hash=hashlib.sha256((cfg.to_json() + "|holdout").encode()).hexdigest(), snapshot_id=seg.snapshot_id,
        )  # fmt: skip
        return HoldoutEvaluation(
            strategy_hash=cs.hash, snapshot_id=seg.snapshot_id, trial_batch_id=batch.id, n_periods=int(r.size),
            trades=trades, total_return=total, sharpe=sharpe, periods_per_year=ppy, returns=tuple(r.tolist()),
        )  # fmt: skip

    def __repr__(self) -> str:
        parts = ", ".join(f"{s.name}={s.n_bars}" for s in self.segments)
        return f"ResearchData({parts})"


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _periods_per_year(cs: Any) -> float:
    from quant_engine.research.metrics import periods_per_year

    return float(periods_per_year(cs.strategy.timeframe))
