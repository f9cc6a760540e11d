"""Tear sheets: a text summary and a self-contained interactive HTML report (plotly).

The HTML report has the equity curve, the drawdown, and each instrument's close with entry and
exit markers, above a table of the metrics. Long series are decimated for display (min and max per
bucket, so spikes and drawdown troughs survive); the numbers in the table come from the full data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

if TYPE_CHECKING:  # pragma: no cover
    from quant_engine.research.backtester import BacktestResult

__all__ = ["summary_text", "figure", "write_html", "format_metric", "MAX_POINTS"]

MAX_POINTS = 4000
"""Points per plotted series at most (min/max decimation beyond that)."""

_PCT = {"total_return", "annualized_return", "volatility", "max_drawdown", "win_rate", "exposure"}
_MONEY = {"average_trade", "fees", "slippage", "costs", "final_equity"}
_LABELS = {
    "total_return": "Total return",
    "annualized_return": "Annualized return",
    "volatility": "Volatility (ann.)",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "calmar": "Calmar",
    "max_drawdown": "Max drawdown",
    "max_drawdown_periods": "Max drawdown (bars)",
    "max_drawdown_ns": "Max drawdown (time)",
    "win_rate": "Win rate",
    "profit_factor": "Profit factor",
    "average_trade": "Average trade",
    "exposure": "Exposure",
    "turnover": "Turnover",
    "trades": "Trades",
    "fees": "Fees",
    "slippage": "Slippage",
    "costs": "Costs paid",
    "final_equity": "Final equity",
    "periods": "Bars",
}


def _duration(ns: float) -> str:
    seconds = ns / 1e9
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} d"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} h"
    return f"{seconds / 60:.0f} min"


def format_metric(name: str, value: float) -> str:
    """A metric value for display."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if name in _PCT:
        return f"{value * 100:.2f}%"
    if name in _MONEY:
        return f"{value:,.2f}"
    if name == "max_drawdown_ns":
        return _duration(float(value))
    if name in ("trades", "periods", "max_drawdown_periods"):
        return f"{int(value):,}"
    return f"{value:.3f}"


def summary_text(result: BacktestResult) -> str:
    """A plain-text summary: identity, period, metrics, rejections."""
    s = result.strategy.strategy
    eq = result.equity
    lines = [
        f"strategy {s.name or '(unnamed)'}  id {result.strategy.hash[:16]}",
        f"instruments {', '.join(s.instruments)}  timeframe {s.timeframe}  bars {len(result.bars):,}",
    ]
    if eq.num_rows:
        ts = eq.column("ts")
        lines.append(f"period {ts[0].as_py()} .. {ts[eq.num_rows - 1].as_py()}")
    width = max(len(v) for v in _LABELS.values())
    for name, label in _LABELS.items():
        if name in result.metrics:
            lines.append(f"  {label:<{width}}  {format_metric(name, result.metrics[name]):>16}")
    rejected = {k: v for k, v in result.rejections.items() if v}
    lines.append(f"rejected orders: {rejected or 'none'}")
    return "\n".join(lines)


def _decimate(x: np.ndarray, y: np.ndarray, max_points: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    n = len(x)
    if n <= max_points:
        return x, y
    buckets = max_points // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    idx = []
    for a, b in zip(edges[:-1], edges[1:]):
        if b <= a:
            continue
        seg = y[a:b]
        i, j = a + int(np.argmin(seg)), a + int(np.argmax(seg))
        idx.extend(sorted({i, j}))
    sel = np.array(idx, dtype=np.int64)
    return x[sel], y[sel]


def figure(result: BacktestResult, *, symbols: list[str] | None = None) -> Any:
    """The tear sheet as a ``plotly.graph_objects.Figure``."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    syms = symbols or list(result.bars.symbols)[:4]
    rows = 2 + len(syms)
    fig = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        row_heights=[0.35, 0.15] + [0.5 / max(len(syms), 1)] * len(syms),
        subplot_titles=["Equity", "Drawdown"] + [f"{s} close" for s in syms],
    )
    eq = result.equity
    t = eq.column("ts").to_numpy()
    e = eq.column("equity").to_numpy(zero_copy_only=False)
    x, y = _decimate(t, e)
    fig.add_trace(go.Scattergl(x=x, y=y, name="equity", line={"width": 1.4}), row=1, col=1)
    peak = np.maximum.accumulate(e) if len(e) else e
    dd = e / peak - 1.0 if len(e) else e
    x, y = _decimate(t, dd)
    fig.add_trace(go.Scattergl(x=x, y=y * 100, name="drawdown %", fill="tozeroy", line={"width": 1, "color": "firebrick"}), row=2, col=1)
    trades = result.trades
    for k, sym in enumerate(syms, start=3):
        seg = result.bars.segment(sym)
        st = result.bars.start[seg]
        px = np.asarray(result.bars.close[seg])
        x, y = _decimate(st.astype("datetime64[ns]"), px)
        fig.add_trace(go.Scattergl(x=x, y=y, name=f"{sym}", line={"width": 1, "color": "gray"}), row=k, col=1)
        if trades.num_rows:
            mine = trades.filter(pa.compute.equal(trades.column("symbol"), sym))
            if mine.num_rows:
                long_ = np.asarray(mine.column("quantity").to_numpy(zero_copy_only=False)) > 0
                entry_t = mine.column("entry_time").to_numpy()
                exit_t = mine.column("exit_time").to_numpy()
                entry_p = mine.column("entry_price").to_numpy(zero_copy_only=False)
                exit_p = mine.column("exit_price").to_numpy(zero_copy_only=False)
                fig.add_trace(go.Scattergl(x=entry_t[long_], y=entry_p[long_], mode="markers", name=f"{sym} long entry",
                                           marker={"symbol": "triangle-up", "color": "green", "size": 8}), row=k, col=1)
                fig.add_trace(go.Scattergl(x=entry_t[~long_], y=entry_p[~long_], mode="markers", name=f"{sym} short entry",
                                           marker={"symbol": "triangle-down", "color": "red", "size": 8}), row=k, col=1)
                fig.add_trace(go.Scattergl(x=exit_t, y=exit_p, mode="markers", name=f"{sym} exit",
                                           marker={"symbol": "x", "color": "black", "size": 7}), row=k, col=1)
    title = result.strategy.strategy.name or "backtest"
    fig.update_layout(title=f"{title}  ({result.strategy.hash[:12]})", height=300 + 220 * rows, showlegend=True,
                      template="plotly_white", margin={"l": 60, "r": 20, "t": 80, "b": 40})
    fig.update_yaxes(title_text="%", row=2, col=1)
    return fig


def _metrics_html(metrics: Mapping[str, float]) -> str:
    cells = "".join(
        f"<tr><td>{label}</td><td style='text-align:right'>{format_metric(name, metrics[name])}</td></tr>"
        for name, label in _LABELS.items()
        if name in metrics
    )
    return f"<table style='font-family:sans-serif;border-collapse:collapse'>{cells}</table>"


def write_html(result: BacktestResult, path: str | Path) -> Path:
    """Writes the self-contained HTML tear sheet (plotly.js embedded) and returns the path."""
    fig = figure(result)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    body = fig.to_html(full_html=False, include_plotlyjs=True)
    summary = summary_text(result).replace("&", "&amp;").replace("<", "&lt;")
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>quant-engine tear sheet</title></head><body>"
        f"{body}<h3 style='font-family:sans-serif'>Metrics</h3>{_metrics_html(result.metrics)}"
        f"<pre>{summary}</pre></body></html>"
    )
    out.write_text(html, encoding="utf-8")
    return out
