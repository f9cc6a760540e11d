"""Test support for the Swarm: small bars, a store with a swarm run, and a user operator defined at
module level (so worker processes can import and re-register it)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from quant_engine.strategy import register_operator, registered_operators

T0 = 1_704_205_800 * 1_000_000_000
MINUTE = 60_000_000_000
SYN = {"SYN": {"kind": "equity", "multiplier": 1.0}}
"""The synthetic ticker's instrument spec (backtest configs need one for unlisted tickers)."""


def bars(n: int = 3000, seed: int = 3) -> pa.Table:
    """``n`` one-minute bars of a random walk of the ticker SYN."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.001, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    return pa.table(
        {
            "symbol": pa.array(["SYN"] * n, pa.string()),
            "start": pa.array(T0 + MINUTE * np.arange(n, dtype=np.int64), pa.timestamp("ns", tz="UTC")),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.0003, n))),
            "low": np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.0003, n))),
            "close": close,
            "volume": rng.integers(100, 10_000, n).astype(np.float64),
        }
    )


def double_ema(inputs, iparams, fparams, out):  # type: ignore[no-untyped-def]
    """A user operator: EMA of ``inputs[0]`` over ``iparams[0]`` bars, times two (causal)."""
    n = iparams[0]
    alpha = 2.0 / (n + 1.0)
    acc = np.nan
    for t in range(inputs.shape[1]):
        x = inputs[0, t]
        acc = x if np.isnan(acc) else acc + alpha * (x - acc)
        out[t] = 2.0 * acc


def ensure_operator() -> None:
    """Registers ``double_ema`` (once)."""
    if "double_ema" not in registered_operators():
        register_operator("double_ema", double_ema, inputs=1, int_params={"n": (1, 500)})


class Proposals:
    """A generator plugged in as the Swarm's ``llm``: proposes fixed documents (the Swarm validates
    and evaluates them like any child)."""

    def __init__(self, docs: list[object]) -> None:
        self.docs = docs

    def propose(self, k: int, prompt: str, mission: int | None) -> list[object]:
        return self.docs[:k]
