"""The Red Team's HTML report: the verdict table and, for every null test, its null distribution with
the strategy's statistic marked (plotly; ``quant-engine redteam examine --html``)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from quant_engine.errors import InvalidArgumentError
from quant_engine.research.redteam.verdict import TestOutcome, Verdict

__all__ = ["verdict_rows", "figure", "null_figures", "write_html", "UNITS"]

UNITS: dict[str, str] = {
    "wnt_a": "gross annualized Sharpe of each null market (marked: their mean)",
    "wnt_b": "annualized net Sharpe on resampled bars (marked: on the real bars)",
    "perturbation": "annualized Sharpe of each perturbed variant (marked: the strategy's own)",
}
"""x-axis label of each null test's histogram (the unit of its statistic)."""


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.4g}"


def verdict_rows(v: Verdict) -> list[list[str]]:
    """One row per test: name, statistic, threshold, p-value, result, failure types fed, reason/note."""
    rows = []
    for t in v.tests:
        if not t.computable:
            result = "NOT COMPUTED"
        elif not t.gated:
            result = "reported"
        else:
            result = "pass" if t.passed else "FAIL"
        feeds = ", ".join(f.value for f in t.feeds)
        rows.append(
            [t.name, _num(t.statistic), _num(t.threshold), _num(t.p_value), result, feeds, t.reason or t.note or ""]
        )
    return rows


def _null_tests(v: Verdict) -> list[TestOutcome]:
    return [t for t in v.tests if t.null]


def null_figures(v: Verdict, *, height: int = 280) -> list[dict[str, Any]]:
    """One plotly figure (a JSON-ready dict) per null test: the histogram of its null statistics
    with the strategy's value as a vertical line, axes titled with :data:`UNITS` (the dashboard's
    strategy page draws them with plotly.js)."""
    out = []
    for t in _null_tests(v):
        null = [float(x) for x in (t.null or ())]
        mark = t.details.get("marker", t.statistic)
        data: list[dict[str, Any]] = [
            {"type": "histogram", "x": null, "name": f"null (B = {len(null)})", "nbinsx": 40, "opacity": 0.75}
        ]
        if mark is not None:
            data.append({"type": "scatter", "mode": "lines", "x": [mark, mark], "y": [0, max(len(null) / 10, 1)],
                         "line": {"color": "red", "width": 3}, "name": f"strategy = {_num(mark)}"})  # fmt: skip
        out.append(
            {
                "data": data,
                "layout": {
                    "height": height, "margin": {"l": 55, "r": 10, "t": 35, "b": 50}, "barmode": "overlay",
                    "title": {"text": f"{t.name}: null distribution, p = {_num(t.p_value)}", "font": {"size": 13}},
                    "xaxis": {"title": {"text": UNITS.get(t.name, f"{t.name} statistic")}},
                    "yaxis": {"title": {"text": "null runs (count)"}},
                    "legend": {"orientation": "h", "y": 1.18},
                },
            }
        )  # fmt: skip
    return out


def figure(v: Verdict) -> Any:
    """A plotly figure: the verdict table on top, then one histogram per null test (the null
    statistics, the strategy's value as a vertical line)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    nulls = _null_tests(v)
    specs = [[{"type": "table"}]] + [[{"type": "xy"}] for _ in nulls]
    titles = ["verdict: " + ("PASSED" if v.passed else "FAILED")] + [
        f"{t.name}: null distribution (B = {len(t.null or ())}), p = {_num(t.p_value)}" for t in nulls
    ]
    fig = make_subplots(rows=1 + len(nulls), cols=1, specs=specs, subplot_titles=titles,
                        row_heights=[0.5] + [0.5 / max(len(nulls), 1)] * len(nulls) if nulls else [1.0])  # fmt: skip
    cols = list(zip(*verdict_rows(v))) or [()] * 7
    header = ["test", "statistic", "threshold", "p-value", "result", "feeds", "reason / note"]
    fig.add_trace(go.Table(header={"values": header}, cells={"values": [list(c) for c in cols]}), row=1, col=1)
    for i, t in enumerate(nulls, start=2):
        fig.add_trace(go.Histogram(x=list(t.null or ()), name=f"{t.name} null", nbinsx=50, opacity=0.75), row=i, col=1)
        mark = t.details.get("marker", t.statistic)
        if mark is not None:
            fig.add_trace(
                go.Scatter(x=[mark, mark], y=[0, len(t.null or ()) / 10], mode="lines",
                           line={"color": "red", "width": 3}, name=f"{t.name}: strategy = {_num(mark)}"),
                row=i, col=1,
            )  # fmt: skip
        fig.update_xaxes(title_text=UNITS.get(t.name, f"{t.name} statistic"), row=i, col=1)
        fig.update_yaxes(title_text="null runs (count)", row=i, col=1)
    fig.update_layout(height=500 + 350 * len(nulls), showlegend=True, barmode="overlay",
                      title=f"Red Team verdict: {v.strategy_hash[:12]} (family {v.family[:24]}, seed {v.seed})")  # fmt: skip
    return fig


def write_html(v: Verdict, path: str | Path, *, plotlyjs: str = "shared") -> Path:
    """Writes the report; ``plotlyjs="shared"`` writes plotly.js once beside it (as the tear sheet
    does), ``"embed"`` puts it inside the file."""
    from quant_engine.research.tearsheet import _STYLE, _plotly_asset

    if plotlyjs not in ("shared", "embed"):
        raise InvalidArgumentError(f"plotlyjs must be 'shared' or 'embed', not {plotlyjs!r}")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    script = ""
    if plotlyjs == "shared":
        script = f"<script src='{html.escape(_plotly_asset(out.parent))}' charset='utf-8'></script>"
    body = figure(v).to_html(full_html=False, include_plotlyjs=plotlyjs == "embed")
    lines = [
        f"strategy {v.strategy_hash}  family {v.family}  seed {v.seed}",
        f"verdict: {'PASSED' if v.passed else 'FAILED'}",
        "failure types: " + (", ".join(f.value for f in v.failure_types) or "none"),
        "not computed: " + (", ".join(v.not_computable) or "none"),
        *(f"{k.value}: not applicable ({why})" for k, why in v.not_applicable.items()),
    ]
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>quant-engine Red Team verdict</title>"
        f"<style>{_STYLE}</style>{script}</head><body><pre>{html.escape(chr(10).join(lines))}</pre>{body}</body></html>"
    )
    out.write_text(page, encoding="utf-8")
    return out
