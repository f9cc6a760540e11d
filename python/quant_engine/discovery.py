"""Discovery scan: one call ranks a whole market's daily bars by what is unusual today.

``scan(bars)`` takes market-wide bars in the project's bar schema (e.g. Massive grouped daily bars
or the catalog's daily bars, many symbols) and, for the scan date ``asof`` (default: the latest
``start`` in the data), measures every symbol that has a bar at ``asof`` against its own history
(the features of :mod:`quant_engine.kernels.discovery`): top gainers and losers, gaps, unusual
volume, new highs and lows, volatility and range expansion. It returns one ranked
``pyarrow.Table``; ``docs/discovery.md`` is the reference.

Signals (the ``signals`` column lists those that fire, comma-separated):
``gainer`` / ``loser`` (``move_z >= z`` / ``<= -z``), ``gap_up`` / ``gap_down`` (``gap_z``),
``unusual_volume`` (``volume_z >= z`` and ``rel_volume >= 2``), ``new_high`` / ``new_low``,
``vol_expansion`` (``vol_expansion >= 2`` or ``range_expansion >= 2``); ``z`` is ``z_threshold``.

``score = max(|move_z|, |gap_z|, volume_z, 0) + (new_high or new_low) +
max(vol_expansion - 1, 0)``: a unitless "how unusual" used by ``rank_by="score"``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quant_engine.bar_segments import (
    bars_table,
    float_column,
    positive_column,
    sorted_segments,
)
from quant_engine.errors import InvalidArgumentError
from quant_engine.kernels.discovery import FEATURES, discovery_features
from quant_engine.schema import TIMESTAMP
from quant_engine.times import instant_ns

__all__ = ["scan", "RANKINGS", "SIGNALS"]

RANKINGS: dict[str, tuple[str, str]] = {
    "score": ("score", "descending"),
    "gainers": ("change_pct", "descending"),
    "losers": ("change_pct", "ascending"),
    "volume": ("volume_z", "descending"),
    "gaps": ("abs_gap_z", "descending"),
    "volatility": ("vol_expansion", "descending"),
}
"""``rank_by`` choices: the column and order used to rank."""
SIGNALS: tuple[str, ...] = (
    "gainer",
    "loser",
    "gap_up",
    "gap_down",
    "unusual_volume",
    "new_high",
    "new_low",
    "vol_expansion",
)
"""Signal names of the ``signals`` column."""


def scan(
    bars: Any,
    *,
    asof: Any = None,
    lookback: int = 20,
    high_low_window: int = 252,
    z_threshold: float = 2.0,
    rank_by: str = "score",
    top: int | None = 50,
    signals_only: bool = False,
) -> pa.Table:
    """Ranks every symbol with a bar at ``asof`` by how unusual that bar is.

    Args:
        bars: bars of many symbols (``symbol, start, open, high, low, close, volume``).
        asof: the scan bar's ``start`` (any instant accepted by
            :func:`quant_engine.times.instant_ns`); default: the latest ``start`` in ``bars``.
        lookback: bars of history each feature is measured against (>= 5).
        high_low_window: bars searched for new highs and lows.
        z_threshold: how many standard deviations make a signal fire.
        rank_by: one of ``RANKINGS`` (``score``, ``gainers``, ``losers``, ``volume``, ``gaps``,
            ``volatility``).
        top: keep the first ``top`` rows (None: all).
        signals_only: keep only symbols with at least one signal.

    Returns:
        ``rank, symbol, start, close, volume``, the features, ``score`` and ``signals``, ranked.
        The schema metadata counts the symbols left out: ``excluded_no_bar_at_asof`` (no bar at
        ``asof``) and ``excluded_short_history`` (fewer than ``lookback + 1`` earlier bars).
    """
    if not isinstance(lookback, int) or lookback < 5:
        raise InvalidArgumentError(f"invalid lookback: {lookback!r} (expected an integer >= 5)")
    if not isinstance(high_low_window, int) or high_low_window < 1:
        raise InvalidArgumentError(f"invalid high_low_window: {high_low_window!r}")
    if rank_by not in RANKINGS:
        raise InvalidArgumentError(f"invalid rank_by {rank_by!r} (expected one of {sorted(RANKINGS)})")
    if top is not None and (not isinstance(top, int) or top < 1):
        raise InvalidArgumentError(f"invalid top: {top!r} (expected a positive integer or None)")
    required = ("symbol", "start", "open", "high", "low", "close", "volume")
    table, seg_start, seg_end = sorted_segments(bars_table(bars, required))
    starts = np.asarray(pc.cast(table.column("start"), pa.int64()).to_numpy(), dtype=np.int64)
    if table.num_rows == 0:
        return _empty_result()
    when = int(starts.max()) if asof is None else instant_ns(asof, "asof")
    # The last bar of each symbol at or before `asof`.
    last = np.array(
        [a + np.searchsorted(starts[a:b], when, side="right") - 1 for a, b in zip(seg_start, seg_end)], dtype=np.int64
    )
    has_bar = (last >= seg_start) & (starts[np.maximum(last, 0)] == when)
    enough = has_bar & (last - seg_start >= lookback + 1)
    rows = last[enough]
    seg = seg_start[enough]
    columns = {name: positive_column(table, name) for name in ("open", "high", "low", "close")}
    volume = float_column(table, "volume")
    out = np.empty((len(FEATURES), rows.size), dtype=np.float64)
    if rows.size:
        discovery_features(
            columns["open"],
            columns["high"],
            columns["low"],
            columns["close"],
            volume,
            rows,
            seg,
            lookback,
            high_low_window,
            out,
        )
    f = dict(zip(FEATURES, out))
    z = float(z_threshold)
    fired = {
        "gainer": f["move_z"] >= z,
        "loser": f["move_z"] <= -z,
        "gap_up": f["gap_z"] >= z,
        "gap_down": f["gap_z"] <= -z,
        "unusual_volume": (f["volume_z"] >= z) & (f["rel_volume"] >= 2.0),
        "new_high": f["new_high"] > 0,
        "new_low": f["new_low"] > 0,
        "vol_expansion": (f["vol_expansion"] >= 2.0) | (f["range_expansion"] >= 2.0),
    }
    extreme = np.maximum.reduce([np.abs(f["move_z"]), np.abs(f["gap_z"]), np.maximum(f["volume_z"], 0.0)])
    score = extreme + (fired["new_high"] | fired["new_low"]) + np.maximum(np.nan_to_num(f["vol_expansion"]) - 1.0, 0.0)
    labels = np.array([",".join(name for name in SIGNALS if fired[name][i]) for i in range(rows.size)], dtype=object)
    result = pa.table(
        {
            "symbol": table.column("symbol").take(pa.array(rows)),
            "start": pa.array(starts[rows], TIMESTAMP),
            "close": columns["close"][rows],
            "volume": volume[rows],
            **{name: f[name] if not name.startswith("new_") else f[name] > 0 for name in FEATURES},
            "score": score,
            "signals": pa.array(labels.tolist(), pa.string()),
            "abs_gap_z": np.abs(f["gap_z"]),
        }
    )
    if signals_only:
        result = result.filter(pc.not_equal(result.column("signals"), ""))
    column, order = RANKINGS[rank_by]
    result = result.sort_by([(column, order), ("symbol", "ascending")]).drop_columns(["abs_gap_z"])
    if top is not None:
        result = result.slice(0, top)
    result = result.add_column(0, "rank", pa.array(np.arange(1, result.num_rows + 1, dtype=np.int64)))
    meta = {
        b"asof": str(when).encode(),
        b"excluded_no_bar_at_asof": str(int((~has_bar).sum())).encode(),
        b"excluded_short_history": str(int((has_bar & ~enough).sum())).encode(),
    }
    return result.replace_schema_metadata(meta)


def _empty_result() -> pa.Table:
    fields = [pa.field("rank", pa.int64()), pa.field("symbol", pa.string()), pa.field("start", TIMESTAMP)]
    fields += [pa.field(n, pa.float64()) for n in ("close", "volume")]
    fields += [pa.field(n, pa.bool_() if n.startswith("new_") else pa.float64()) for n in FEATURES]
    fields += [pa.field("score", pa.float64()), pa.field("signals", pa.string())]
    return pa.schema(fields).empty_table()
