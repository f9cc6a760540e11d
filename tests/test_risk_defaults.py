"""One source of the risk-limit defaults: the Rust core's ``RiskLimits::default()``.

Every entry point that builds limits (the Python ``RiskLimits``/``RiskEngine``, the raw core engine,
a backtest's run spec, the REST API and the ``risk-check`` CLI) must apply the same defaults, both
when no limits are given and when a kind's table is given in part (the fields it leaves out keep
that kind's defaults). Expectations are computed from the core's exported defaults; each entry
point is judged by the decisions it makes on a probe of orders placed just beyond each default.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api_support import Server, api_server, auth  # noqa: F401
from quant_engine import _core
from quant_engine.cli import main
from quant_engine.research import BacktestConfig
from quant_engine.research.run_spec import run_spec
from quant_engine.risk import DEFAULTS, RiskEngine, RiskLimits
from quant_engine.strategy import compile_strategy

CORE: dict[str, Any] = json.loads(_core.default_risk_limits_json())
CASH = 500_000.0
OPTION = "SPY   240621C00500000"
PARTIAL = {"future": {"max_order_notional": 1e12}}
"""A future table given in part: its per-order quantity cap and margin rate stay the defaults."""


def probe() -> list[dict[str, Any]]:
    """Orders one unit beyond each kind's default per-order cap, then 10 ES contracts whose
    margin fits the cash only at the default futures margin rate."""
    q = {k: CORE[k]["max_order_quantity"] for k in ("future", "equity", "option")}
    return [
        {"symbol": "ESZ24", "side": "buy", "quantity": q["future"] + 1, "price": 4500.0},
        {"symbol": "AAPL", "side": "buy", "quantity": q["equity"] + 1, "price": 1.0},
        {"symbol": OPTION, "side": "buy", "quantity": q["option"] + 1, "price": 1.0},
        {"symbol": "ESZ24", "side": "buy", "quantity": 10, "price": 4500.0},
    ]


def expected() -> list[tuple[bool, str, float | None]]:
    """The decisions of :func:`probe` under the core's defaults (computed here, not by an engine)."""
    fits = CORE["future"]["margin_rate"] * 10 * 4500.0 * 50 <= CASH
    return [
        (False, "max_order_quantity", CORE["future"]["max_order_quantity"]),
        (False, "max_order_quantity", CORE["equity"]["max_order_quantity"]),
        (False, "max_order_quantity", CORE["option"]["max_order_quantity"]),
        (True, "accepted", None) if fits else (False, "buying_power", None),
    ]


def _decisions(engine: Any) -> list[tuple[bool, str, float | None]]:
    out = []
    for o in probe():
        d = engine.validate(o["symbol"], o["side"], o["quantity"], o["price"])
        out.append((bool(d.accepted), str(d.reason), None if d.accepted else float(d.limit)))
    return out


def _no_limit_values(got: list[tuple[bool, str, float | None]]) -> list[tuple[bool, str, float | None]]:
    """The buying-power row's limit depends on cash, not on the limits: compare its reason only."""
    return [(a, r, None if r in ("accepted", "buying_power") else v) for a, r, v in got]


def test_python_limits_are_the_core_defaults() -> None:
    assert json.loads(RiskLimits().to_json()) == CORE == DEFAULTS
    assert json.loads(RiskEngine().limits_json()) == CORE
    partial = RiskLimits.from_mapping(PARTIAL)
    assert partial.future.max_order_quantity == CORE["future"]["max_order_quantity"]
    assert partial.future.margin_rate == CORE["future"]["margin_rate"]


ENGINES: dict[str, Callable[[dict[str, Any] | None], Any]] = {
    "RiskEngine": lambda limits: RiskEngine(limits, cash=CASH),
    "RiskEngine(json)": lambda limits: RiskEngine(json.dumps(limits or {}), cash=CASH),
    "_core.RiskEngine": lambda limits: _core.RiskEngine(json.dumps(limits or {}), CASH, "average_cost", None, None),
}


@pytest.mark.parametrize("limits", [None, PARTIAL], ids=["defaults", "partial"])
@pytest.mark.parametrize("entry", sorted(ENGINES))
def test_engines_apply_the_core_defaults(entry: str, limits: dict[str, Any] | None) -> None:
    assert _no_limit_values(_decisions(ENGINES[entry](limits))) == _no_limit_values(expected())


SMA = {
    "instruments": ["AAPL"],
    "timeframe": "1m",
    "entry_long": {"op": "gt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
    "exit_long": {"op": "lt", "left": "close", "right": {"op": "sma", "x": "close", "n": 5}},
}


@pytest.mark.parametrize("limits", [None, {}, PARTIAL], ids=["none", "empty", "partial"])
def test_backtest_run_spec_applies_the_core_defaults(limits: dict[str, Any] | None) -> None:
    cs = compile_strategy(SMA)
    spec = run_spec(cs, cs.bind(None), BacktestConfig(risk_limits=limits), ["AAPL"])
    in_force = json.loads(spec.risk_limits_json())
    want = json.loads(RiskLimits.from_mapping(limits or {}).to_json())
    assert in_force["future"] == CORE["future"] | (limits or {}).get("future", {})
    assert in_force == want
    engine = _core.RiskEngine(spec.risk_limits_json(), CASH, "average_cost", None, None)
    assert _no_limit_values(_decisions(engine)) == _no_limit_values(expected())


@pytest.mark.timeout(300)
@pytest.mark.parametrize("limits", [None, PARTIAL], ids=["defaults", "partial"])
def test_api_risk_endpoint_applies_the_core_defaults(api_server: Server, limits: dict[str, Any] | None) -> None:  # noqa: F811
    body: dict[str, Any] = {"orders": probe(), "cash": CASH}
    if limits is not None:
        body["limits"] = limits
    r = httpx.post(api_server.url + "/risk/validate", json=body, headers=auth(), timeout=60)
    assert r.status_code == 200, r.text
    got = [(d["accepted"], d["reason"], d["limit"]) for d in r.json()]
    assert _no_limit_values(got) == _no_limit_values(expected())


@pytest.mark.parametrize("limits", [None, PARTIAL], ids=["defaults", "partial"])
def test_risk_check_cli_applies_the_core_defaults(tmp_path: Path, limits: dict[str, Any] | None) -> None:
    orders = tmp_path / "orders.parquet"
    pq.write_table(pa.Table.from_pylist(probe()), orders)
    out = tmp_path / "decisions.parquet"
    args = ["risk-check", str(orders), "--cash", str(CASH), "--out", str(out)]
    if limits is not None:
        path = tmp_path / "risk.json"
        path.write_text(json.dumps(limits), encoding="utf-8")
        args += ["--limits", str(path)]
    assert main(args) == 0
    t = pq.read_table(out)
    got = list(zip(t.column("accepted").to_pylist(), t.column("reason").to_pylist(), t.column("limit").to_pylist()))
    assert _no_limit_values(got) == _no_limit_values(expected())
