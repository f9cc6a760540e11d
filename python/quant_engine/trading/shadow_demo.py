"""Promoting strategies into a store the way the research pipeline does (candidate -> testing ->
graduated with a passing graduation verdict and its expectation -> promoted): what
``quant-engine shadow run --demo`` and the tests use to give the trader something to trade."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from quant_engine.store import Status, Store, add_strategy, get_strategy, record_verdict, transition

__all__ = ["promote", "demo_strategies"]


def promote(store: Store, document: Mapping[str, Any], expectation: Mapping[str, Any] | None = None) -> str:
    """Records ``document`` and walks it to ``promoted`` (a passing graduation verdict carries
    ``expectation``); returns its hash. A strategy already promoted is left as it is."""
    rec = add_strategy(store, dict(document), origin="human")
    h = rec.hash
    path = {"candidate": ["testing", "graduated", "promoted"], "testing": ["graduated", "promoted"],
            "graduated": ["promoted"]}.get(get_strategy(store, h).status, [])  # fmt: skip
    for status in path:
        if status == "promoted":
            record_verdict(store, h, kind="graduation", passed=True, document={"by": "shadow_demo"},
                           expectation=None if expectation is None else dict(expectation))  # fmt: skip
        transition(store, h, Status(status), reason="shadow demo", actor="shadow_demo")
    return h


def _sma(n: int) -> dict[str, Any]:
    return {"op": "sma", "x": "close", "n": n}


def demo_strategies(symbols: Sequence[str], count: int) -> list[dict[str, Any]]:
    """``count`` distinct one-symbol SMA-cross strategies spread over ``symbols`` (fast/slow
    lengths vary, percent stop and take-profit, fixed notional)."""
    out = []
    for i in range(count):
        sym = symbols[i % len(symbols)]
        fast = 3 + (i // len(symbols)) % 5
        slow = fast + 5 + (i % 7)
        out.append({
            "name": f"shadow demo {i}",
            "instruments": [sym],
            "timeframe": "1m",
            "entry_long": {"op": "cross_above", "left": _sma(fast), "right": _sma(slow)},
            "exit_long": {"op": "cross_below", "left": _sma(fast), "right": _sma(slow)},
            "entry_short": {"op": "cross_below", "left": _sma(fast), "right": _sma(slow)},
            "exit_short": {"op": "cross_above", "left": _sma(fast), "right": _sma(slow)},
            "stop_loss": {"kind": "percent", "value": 0.003},
            "take_profit": {"kind": "percent", "value": 0.004},
            "sizing": {"kind": "notional", "amount": 10_000.0},
        })  # fmt: skip
    return out
