"""Reading a paper session back: its status, the paper-vs-backtest tracking error of each slot,
and the HTML report (one tear sheet per slot through :mod:`quant_engine.research.tearsheet`)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import sqlalchemy as sa

from quant_engine.research.backtester import BacktestResult, backtest
from quant_engine.research.config import as_config
from quant_engine.research.run_spec import periods_of
from quant_engine.store import Store, get_strategy
from quant_engine.store import schema as S
from quant_engine.store.store import from_json
from quant_engine.trading.shadow_journal import Recovered, SlotHistory, recover
from quant_engine.trading.shadow_slots import Slot

__all__ = ["session_status", "Tracking", "tracking", "write_report"]


def session_status(store: Store, account: str) -> dict[str, Any] | None:
    """The latest account snapshot of ``account`` with its fill count and last bar time (None
    when the journal holds nothing for it)."""
    j = S.journal.c
    with store.read() as conn:
        row = conn.execute(
            sa.select(j.payload, j.ts_ns)
            .where(j.account == account, j.kind == "account")
            .order_by(j.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        fills = conn.execute(sa.select(sa.func.count()).where(j.account == account, j.kind == "fill")).scalar_one()
    snap = from_json(row.payload)
    snap.pop("session", None)
    return {**snap, "fills": int(fills), "last_bar": int(row.ts_ns)}


@dataclass
class Tracking:
    """Paper against ``backtest()`` on the same (live, non-warm-up) bars of one slot."""

    slot: str
    bars: int
    paper_fills: int
    backtest_fills: int
    fills_equal: bool
    tracking_error: float
    """Annualized standard deviation of the per-bar return difference."""
    paper: BacktestResult | None
    result: BacktestResult | None


def _live_bars(h: SlotHistory) -> pa.Table:
    live = [b for b, w in zip(h.bars, h.warm, strict=True) if not w]
    names = ("start", "open", "high", "low", "close", "volume")
    cols = {n: [b[i] for b in live] for i, n in enumerate(names)}
    return pa.table({"symbol": [h.symbol] * len(live), **cols})


def tracking(store: Store, account: str, rec: Recovered | None = None) -> list[Tracking]:
    """Replays every slot of the session and backtests it on the same live bars."""
    rec = rec or recover(store, account)
    session = rec.session or {}
    config = as_config(session.get("backtest") or {"initial_cash": 100_000.0})
    out = []
    for key, h in sorted(rec.slots.items()):
        doc = {**get_strategy(store, h.strategy).document(), "instruments": [h.symbol]}
        slot = Slot.build(h.strategy, doc, h.symbol, config, None, _params(), session.get("window"))
        slot.replay(h)
        bars = _live_bars(h)
        if bars.num_rows < 2:
            continue
        res = backtest(
            doc,
            bars.set_column(1, "start", pa.array(bars.column("start").to_pylist(), pa.timestamp("ns", "UTC"))),
            config,
        )
        n = bars.num_rows
        paper_eq = np.asarray(slot.equity[-n:], np.float64)
        bt_eq = res.equity.column("equity").to_numpy()
        m = min(paper_eq.shape[0], bt_eq.shape[0])
        diff = np.diff(paper_eq[-m:]) / paper_eq[-m:-1] - np.diff(bt_eq[-m:]) / bt_eq[-m:-1]
        ppy = periods_of(slot.live.strategy, slot.live.config)  # the annualization the account's metrics use
        te = float(np.std(diff) * math.sqrt(ppy)) if diff.shape[0] > 1 else 0.0
        paper_fills = [f for f in h.fills if int(f["ts"]) >= int(bars.column("start")[0].as_py())]
        same = len(paper_fills) == res.fills.num_rows and all(
            f["price"] == p and f["quantity"] == q
            for f, p, q in zip(
                paper_fills, res.fills.column("price").to_pylist(), res.fills.column("quantity").to_pylist()
            )
        )
        out.append(Tracking(key, n, len(paper_fills), res.fills.num_rows, same, te, None, res))
    return out


def _params() -> Any:
    from quant_engine.trading.cusum import CusumParams

    return CusumParams()


def write_report(store: Store, account: str, folder: str | Path) -> Path:
    """Writes ``index.html`` (the session, per slot: fills, tracking error) and, per slot, the
    tear sheet of ``backtest()`` on the session's bars beside the paper figures. Returns the
    index's path."""
    from quant_engine.errors import InvalidArgumentError
    from quant_engine.research.tearsheet import write_html

    rec = recover(store, account)
    if not rec.slots:
        raise InvalidArgumentError(f"no journal for account {account!r} in {store.url}")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    status = session_status(store, account) or {}
    rows = []
    for t in tracking(store, account, rec):
        name = t.slot.replace(":", "_")[:60] + ".html"
        if t.result is not None:
            write_html(t.result, out / name)
        rows.append(
            f"<tr><td><a href='{html.escape(name)}'>{html.escape(t.slot)}</a></td><td>{t.bars}</td>"
            f"<td>{t.paper_fills}</td><td>{t.backtest_fills}</td><td>{'yes' if t.fills_equal else 'NO'}</td>"
            f"<td>{t.tracking_error:.6f}</td></tr>"
        )
    page = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>shadow session</title></head><body>"
        f"<h2>Paper session {html.escape(account)}</h2><pre>{html.escape(str(status))}</pre>"
        "<table border='1'><tr><th>slot</th><th>bars</th><th>paper fills</th><th>backtest fills</th>"
        "<th>same fills</th><th>tracking error (ann.)</th></tr>" + "".join(rows) + "</table></body></html>"
    )
    index = out / "index.html"
    index.write_text(page, encoding="utf-8")
    return index
