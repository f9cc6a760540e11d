"""Tear sheets: a text summary and an interactive HTML report (plotly).

The HTML report has the equity curve, the drawdown, and each instrument's close with entry and
exit markers, then the metrics (once) and the list of trades. Long series are decimated for
display (min and max per bucket, so spikes and drawdown troughs survive); the numbers in the
tables come from the full data. The time axis skips the data's gaps (nights, weekends, holidays:
every gap longer than :data:`BREAK_FACTOR` bar intervals becomes a plotly range break), so closed
markets are not drawn as long flat lines.

plotly.js (about 4.7 MB) is either written once beside the reports as ``plotly-<version>.min.js``
and referenced (``plotlyjs="shared"``, the default: every report in a folder shares one copy and
opens offline, no CDN), or embedded in each file (``plotlyjs="embed"``: one self-contained file to
send around).
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from quant_engine.errors import InvalidArgumentError

if TYPE_CHECKING:  # pragma: no cover
    from quant_engine.research.backtester import BacktestResult

__all__ = [
    "summary_text",
    "figure",
    "write_html",
    "format_metric",
    "time_breaks",
    "MAX_POINTS",
    "MAX_TRADE_ROWS",
    "BREAK_FACTOR",
]

MAX_POINTS = 4000
"""Points per plotted series at most (min/max decimation beyond that)."""

MAX_TRADE_ROWS = 2000
"""Trades listed in the HTML report at most (the first ones; the count of the others is shown)."""

BREAK_FACTOR = 3
"""A gap between consecutive bar times longer than this many typical intervals is skipped on the
time axis."""

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


def _header_lines(result: BacktestResult) -> list[str]:
    """Identity and period of a backtest."""
    s = result.strategy.strategy
    eq = result.equity
    lines = [
        f"strategy {s.name or '(unnamed)'}  id {result.strategy.hash[:16]}",
        f"instruments {', '.join(s.instruments)}  timeframe {s.timeframe}  bars {len(result.bars):,}",
    ]
    if eq.num_rows:
        ts = eq.column("ts")
        lines.append(f"period {ts[0].as_py()} .. {ts[eq.num_rows - 1].as_py()}")
    return lines


def _rejections_line(result: BacktestResult) -> str:
    rejected = {k: v for k, v in result.rejections.items() if v}
    return f"rejected orders: {rejected or 'none'}"


def summary_text(result: BacktestResult) -> str:
    """A plain-text summary: identity, period, metrics, rejections."""
    lines = _header_lines(result)
    width = max(len(v) for v in _LABELS.values())
    for name, label in _LABELS.items():
        if name in result.metrics:
            lines.append(f"  {label:<{width}}  {format_metric(name, result.metrics[name]):>16}")
    lines.append(_rejections_line(result))
    return "\n".join(lines)


def time_breaks(ts: np.ndarray, factor: float = BREAK_FACTOR) -> list[dict[str, Any]]:
    """Plotly ``rangebreaks`` that skip the gaps of sorted bar times ``ts`` (datetime64[ns]):
    every gap longer than ``factor`` typical (median) intervals, from one interval after the bar
    before it to the bar after it; gaps of equal length share one break entry."""
    t = np.asarray(ts).astype("datetime64[ns]").astype(np.int64)
    if len(t) < 3:
        return []
    gaps = np.diff(t)
    step = int(np.median(gaps))
    if step <= 0:
        return []
    where = np.nonzero(gaps > factor * step)[0]
    by_length: dict[int, list[str]] = {}
    for i in where.tolist():
        skipped = int(gaps[i]) - step
        start = np.datetime64(int(t[i]) + step, "ns")
        by_length.setdefault(skipped, []).append(str(start.astype("datetime64[ms]")))
    return [{"values": starts, "dvalue": skipped // 1_000_000} for skipped, starts in sorted(by_length.items())]


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
    """The tear sheet as a ``plotly.graph_objects.Figure`` (SVG traces: plotly's WebGL traces
    ignore range breaks)."""
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
    fig.add_trace(go.Scatter(x=x, y=y, name="equity", line={"width": 1.4}), row=1, col=1)
    peak = np.maximum.accumulate(e) if len(e) else e
    dd = e / peak - 1.0 if len(e) else e
    x, y = _decimate(t, dd)
    fig.add_trace(
        go.Scatter(x=x, y=y * 100, name="drawdown %", fill="tozeroy", line={"width": 1, "color": "firebrick"}),
        row=2,
        col=1,
    )
    trades = result.trades
    for k, sym in enumerate(syms, start=3):
        seg = result.bars.segment(sym)
        st = result.bars.start[seg]
        px = np.asarray(result.bars.close[seg])
        x, y = _decimate(st.astype("datetime64[ns]"), px)
        fig.add_trace(go.Scatter(x=x, y=y, name=f"{sym}", line={"width": 1, "color": "gray"}), row=k, col=1)
        if trades.num_rows:
            mine = trades.filter(pa.compute.equal(trades.column("symbol"), sym))
            if mine.num_rows:
                long_ = np.asarray(mine.column("quantity").to_numpy(zero_copy_only=False)) > 0
                entry_t = mine.column("entry_time").to_numpy()
                exit_t = mine.column("exit_time").to_numpy()
                entry_p = mine.column("entry_price").to_numpy(zero_copy_only=False)
                exit_p = mine.column("exit_price").to_numpy(zero_copy_only=False)
                fig.add_trace(
                    go.Scatter(
                        x=entry_t[long_],
                        y=entry_p[long_],
                        mode="markers",
                        name=f"{sym} long entry",
                        marker={"symbol": "triangle-up", "color": "green", "size": 8},
                    ),
                    row=k,
                    col=1,
                )
                fig.add_trace(
                    go.Scatter(
                        x=entry_t[~long_],
                        y=entry_p[~long_],
                        mode="markers",
                        name=f"{sym} short entry",
                        marker={"symbol": "triangle-down", "color": "red", "size": 8},
                    ),
                    row=k,
                    col=1,
                )
                fig.add_trace(
                    go.Scatter(
                        x=exit_t,
                        y=exit_p,
                        mode="markers",
                        name=f"{sym} exit",
                        marker={"symbol": "x", "color": "black", "size": 7},
                    ),
                    row=k,
                    col=1,
                )
    title = result.strategy.strategy.name or "backtest"
    fig.update_layout(
        title=f"{title}  ({result.strategy.hash[:12]})",
        height=300 + 220 * rows,
        showlegend=True,
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 80, "b": 40},
    )
    fig.update_yaxes(title_text="%", row=2, col=1)
    breaks = time_breaks(t)
    if breaks:
        fig.update_xaxes(rangebreaks=breaks)
    return fig


def _metrics_html(metrics: Mapping[str, float]) -> str:
    cells = "".join(
        f"<tr><td>{label}</td><td class='num'>{format_metric(name, metrics[name])}</td></tr>"
        for name, label in _LABELS.items()
        if name in metrics
    )
    return f"<table class='metrics'>{cells}</table>"


_TRADE_COLUMNS = (
    ("symbol", "Symbol"), ("side", "Side"), ("quantity", "Quantity"), ("entry_time", "Entry time"),
    ("entry_price", "Entry price"), ("exit_time", "Exit time"), ("exit_price", "Exit price"), ("pnl", "P&L"),
    ("fees", "Fees"), ("slippage", "Slippage"), ("bars_held", "Bars held"), ("exit_reason", "Exit reason"),
)  # fmt: skip


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"<td class='num'>{value:,.2f}</td>" if math.isfinite(value) else "<td class='num'>n/a</td>"
    if isinstance(value, int):
        return f"<td class='num'>{value:,}</td>"
    return f"<td>{html.escape(str(value))}</td>"


def _trades_html(trades: pa.Table, max_rows: int) -> str:
    """The trade list as an HTML table (the first ``max_rows`` trades)."""
    shown = trades.slice(0, max_rows).select([c for c, _ in _TRADE_COLUMNS if c in trades.column_names])
    head = "".join(f"<th>{label}</th>" for c, label in _TRADE_COLUMNS if c in shown.column_names)
    rows = "".join("<tr>" + "".join(_cell(v) for v in row.values()) + "</tr>" for row in shown.to_pylist())
    more = trades.num_rows - shown.num_rows
    note = (
        f"<p>{shown.num_rows:,} of {trades.num_rows:,} trades listed ({more:,} more in result.trades).</p>"
        if more > 0
        else ""
    )
    if not trades.num_rows:
        return "<p>No trades.</p>"
    return f"<table class='trades'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{note}"


_STYLE = (
    "body{font-family:sans-serif;margin:16px} table{border-collapse:collapse;font-size:13px}"
    " td,th{padding:2px 10px;border-bottom:1px solid #eee} td.num{text-align:right} th{text-align:left}"
    " pre{font-size:13px}"
)


def _plotly_asset(folder: Path) -> str:
    """Writes ``plotly-<version>.min.js`` into ``folder`` unless it is already there; returns
    its file name (reports reference it relatively, so the folder opens offline)."""
    import plotly
    from plotly.offline import get_plotlyjs

    name = f"plotly-{plotly.__version__}.min.js"
    path = folder / name
    if not path.exists():
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_text(get_plotlyjs(), encoding="utf-8")
        tmp.replace(path)  # atomic: concurrent writers never leave a partial file
    return name


def write_html(
    result: BacktestResult, path: str | Path, *, plotlyjs: str = "shared", max_trades: int = MAX_TRADE_ROWS
) -> Path:
    """Writes the HTML tear sheet and returns its path.

    ``plotlyjs="shared"`` (default) writes plotly.js once beside the report
    (``plotly-<version>.min.js``, reused by every report in that folder) and references it;
    ``"embed"`` puts it inside the file (self-contained, about 4.7 MB more). Both open offline.
    At most ``max_trades`` trades are listed."""
    if plotlyjs not in ("shared", "embed"):
        raise InvalidArgumentError(f"plotlyjs must be 'shared' or 'embed', not {plotlyjs!r}")
    fig = figure(result)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    script = ""
    if plotlyjs == "shared":
        script = f"<script src='{html.escape(_plotly_asset(out.parent))}' charset='utf-8'></script>"
    body = fig.to_html(full_html=False, include_plotlyjs=plotlyjs == "embed")
    header = html.escape("\n".join([*_header_lines(result), _rejections_line(result)]))
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>quant-engine tear sheet</title>"
        f"<style>{_STYLE}</style>{script}</head><body>"
        f"<pre>{header}</pre>{body}"
        f"<h3>Metrics</h3>{_metrics_html(result.metrics)}"
        f"<h3>Trades</h3>{_trades_html(result.trades, max_trades)}"
        "</body></html>"
    )
    out.write_text(page, encoding="utf-8")
    return out
