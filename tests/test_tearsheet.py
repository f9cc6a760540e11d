"""The HTML tear sheet: trading-time axis (no flat lines over closed markets), metrics once, a
trade list, plotly.js shared beside the reports (written once) or embedded."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from bar_factory import random_bars
from quant_engine.errors import InvalidArgumentError
from quant_engine.research import BacktestConfig, backtest
from quant_engine.research.tearsheet import time_breaks, write_html

HOUR = 3_600_000_000_000
DAY = 24 * HOUR


def sessions(days: int = 3) -> pa.Table:
    """390 one-minute bars a day on Tuesday..Thursday and the next Monday: nights and a weekend."""
    parts = [random_bars(390, ("AAA",), seed=d, start=1_704_205_800_000_000_000 + off * DAY).to_pydict()
             for d, off in enumerate([0, 1, 2, 6][:days + 1])]  # fmt: skip
    merged = {k: sum((p[k] for p in parts), []) for k in parts[0]}
    t = pa.table(merged)
    return t.set_column(
        t.schema.get_field_index("start"), "start", t.column("start").cast(pa.timestamp("ns", tz="UTC"))
    )


DOC = {"instruments": ["AAA"], "name": "ema cross",
       "entry_long": {"op": "cross_above", "left": {"op": "ema", "x": "close", "n": 5}, "right": {"op": "ema", "x": "close", "n": 30}},
       "exit_long": {"op": "cross_below", "left": {"op": "ema", "x": "close", "n": 5}, "right": {"op": "ema", "x": "close", "n": 30}},
       "sizing": {"kind": "fixed", "quantity": 10}}  # fmt: skip


_VOID = {"meta", "br", "img", "input", "link", "hr"}


class _Page(HTMLParser):
    """Collects tables (class -> rows of cell texts), script sources and visible text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in _VOID:
            return
        self._open.append(tag)
        if tag == "table":
            self._table = a.get("class") or ""
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "script" and a.get("src"):
            self.scripts.append(str(a["src"]))

    def handle_endtag(self, tag: str) -> None:
        assert self._open and self._open[-1] == tag, f"</{tag}> closes <{self._open[-1] if self._open else None}>"
        self._open.pop()
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if not self._open or self._open[-1] != "script":
            self.text.append(data)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    assert not page._open, f"unclosed tags {page._open}"
    return page


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    res = backtest(DOC, sessions(), BacktestConfig(initial_cash=100_000.0, allow_unlisted_equities=True))
    assert res.trades.num_rows >= 3
    return res


def test_time_axis_skips_nights_and_weekends(result) -> None:  # type: ignore[no-untyped-def]
    breaks = result.plot().layout.xaxis.rangebreaks
    # two overnight gaps (17.5 h) in one entry, the weekend Thursday close to Monday open (89.5 h) in another
    assert sorted(b.dvalue for b in breaks) == [int(17.5 * 3600e3), int(89.5 * 3600e3)]
    night = next(b for b in breaks if b.dvalue == int(17.5 * 3600e3))
    assert list(night["values"]) == ["2024-01-02T21:00:00.000", "2024-01-03T21:00:00.000"]
    assert all(tr.type == "scatter" for tr in result.plot().data)  # WebGL traces ignore range breaks
    minutes = np.datetime64("2024-01-02T14:30") + np.arange(100).astype("timedelta64[m]")
    assert time_breaks(minutes) == [] and time_breaks(minutes[[0, 1, 2, 3, 50, 51, 52]])[0]["dvalue"] == 46 * 60_000


def test_report_has_metrics_once_and_the_trade_list(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = parse(write_html(result, tmp_path / "r.html"))
    text = "".join(page.text)
    assert text.count("Sharpe") == 1 and text.count("Final equity") == 1 and text.count("Max drawdown (bars)") == 1
    labels = [row[0] for row in page.tables["metrics"]]
    assert len(labels) == len(set(labels)) == len(result.metrics)
    trades = page.tables["trades"]
    assert trades[0][:3] == ["Symbol", "Side", "Quantity"]
    assert len(trades) - 1 == result.trades.num_rows
    first = result.trades.to_pylist()[0]
    assert trades[1][0] == "AAA" and trades[1][7] == f"{first['pnl']:,.2f}"


def test_trade_list_is_capped(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = parse(write_html(result, tmp_path / "r.html", max_trades=2))
    assert len(page.tables["trades"]) == 3
    assert f"2 of {result.trades.num_rows:,} trades listed" in "".join(page.text)


def test_plotly_js_shared_once_or_embedded(result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    a = write_html(result, tmp_path / "a.html")
    (asset,) = tmp_path.glob("plotly-*.min.js")
    stamp = asset.stat().st_mtime_ns
    b = write_html(result, tmp_path / "b.html")
    assert list(tmp_path.glob("plotly-*.min.js")) == [asset] and asset.stat().st_mtime_ns == stamp  # written once
    assert asset.stat().st_size > 3_000_000
    for report in (a, b):
        assert parse(report).scripts == [asset.name]
        assert report.stat().st_size < 1_000_000
    embedded = write_html(result, tmp_path / "solo" / "c.html", plotlyjs="embed")
    assert parse(embedded).scripts == [] and embedded.stat().st_size > 3_000_000
    assert not list((tmp_path / "solo").glob("*.js"))
    with pytest.raises(InvalidArgumentError, match="plotlyjs"):
        write_html(result, tmp_path / "d.html", plotlyjs="cdn")
