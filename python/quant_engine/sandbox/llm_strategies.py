"""The fake LLM's "model": seeded strategy documents drawn from the strategy grammar, valid by
construction, and the broken answers the fault plan asks for.

It honours what a prompt bans as a weak model would: an operator named on a line that says
``ban``, ``avoid``, ``do not use``, ``don't use`` or ``never use`` is left out with probability
``obedience`` (0.9 by default), so about one answer in ten still uses it. ``Instruments: A, B`` in
the prompt sets the symbols traded.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from typing import Any

__all__ = ["OPERATOR_NAMES", "banned_operators", "prompt_instruments", "operators_used", "StrategyWriter"]

Doc = dict[str, Any]

OPERATOR_NAMES = (
    "sma", "ema", "wma", "rsi", "macd", "atr", "bollinger", "zscore", "rolling_min", "rolling_max", "returns",
    "realized_vol", "vwap_distance", "volume_ratio", "bar_range", "time_of_day", "lag", "add", "sub", "mul", "div",
    "neg", "abs", "min", "max", "log", "gt", "ge", "lt", "le", "cross_above", "cross_below", "and", "or", "not",
)  # fmt: skip
"""The operator names of the language the fake recognises in prompts."""

_ENGLISH = frozenset(
    {"and", "or", "not", "min", "max", "abs", "log", "add", "sub", "mul", "div", "neg", "lag", "returns"}
)
_BAN_WORDS = re.compile(r"\b(ban|banned|avoid|do not use|don't use|never use|forbidden)\b", re.IGNORECASE)
_WORD = re.compile(r"([`'\"]?)([a-z_]+)\1")


def banned_operators(prompt: str) -> set[str]:
    """The operators named on lines of ``prompt`` that ban something (names that are also English
    words, such as ``or`` and ``min``, count only when quoted: ```min```)."""
    out: set[str] = set()
    for line in prompt.splitlines():
        if _BAN_WORDS.search(line):
            for quote, word in _WORD.findall(line.lower()):
                if word in OPERATOR_NAMES and (quote or word not in _ENGLISH):
                    out.add(word)
    return out


def prompt_instruments(prompt: str) -> list[str]:
    """The symbols of an ``Instruments:`` line (default ``["SPY"]``)."""
    m = re.search(r"^Instruments:\s*(.+)$", prompt, re.MULTILINE)
    symbols = [s.strip() for s in m.group(1).split(",")] if m else []
    symbols = [s for s in symbols if re.fullmatch(r"[A-Za-z0-9.:_-]{1,64}", s)]
    return list(dict.fromkeys(symbols))[:20] or ["SPY"]


def operators_used(doc: Any) -> set[str]:
    """Every ``op`` in a document."""
    if isinstance(doc, dict):
        found = {doc["op"]} if isinstance(doc.get("op"), str) else set()
        for v in doc.values():
            found |= operators_used(v)
        return found
    if isinstance(doc, list):
        return set().union(*(operators_used(v) for v in doc)) if doc else set()
    return set()


class StrategyWriter:
    """Writes strategy documents with a seeded RNG (see the module doc)."""

    def __init__(self, seed: int = 0, obedience: float = 0.9) -> None:
        self.rng = random.Random(seed)
        self.obedience = obedience
        self._n = 0

    # -- building blocks (each returns a condition, a numeric node or a pair of them) --------------
    def _ma(self, n: int) -> Doc:
        return {"op": self.rng.choice(["sma", "ema", "wma"]), "x": "close", "n": n}

    def _ma_cross(self) -> tuple[Doc, Doc]:
        fast = self.rng.randint(3, 30)
        slow = fast + self.rng.randint(5, 120)
        a, b = self._ma(fast), self._ma(slow)
        return {"op": "cross_above", "left": a, "right": b}, {"op": "cross_below", "left": a, "right": b}

    def _rsi(self) -> tuple[Doc, Doc]:
        n = self.rng.randint(5, 30)
        low = self.rng.randint(15, 40)
        rsi = {"op": "rsi", "x": "close", "n": n}
        return {"op": "lt", "left": rsi, "right": float(low)}, {"op": "gt", "left": rsi, "right": float(100 - low)}

    def _zscore(self) -> tuple[Doc, Doc]:
        z = {"op": "zscore", "x": "close", "n": self.rng.randint(10, 200)}
        k = round(self.rng.uniform(1.0, 2.5), 2)
        return {"op": "lt", "left": z, "right": -k}, {"op": "gt", "left": z, "right": 0.0}

    def _breakout(self) -> tuple[Doc, Doc]:
        n = self.rng.randint(10, 100)
        hi = {"op": "lag", "x": {"op": "rolling_max", "x": "high", "n": n}, "n": 1}
        lo = {"op": "lag", "x": {"op": "rolling_min", "x": "low", "n": max(n // 2, 2)}, "n": 1}
        return {"op": "gt", "left": "close", "right": hi}, {"op": "lt", "left": "close", "right": lo}

    def _macd(self) -> tuple[Doc, Doc]:
        fast = self.rng.randint(5, 15)
        m = {"op": "macd", "fast": fast, "slow": fast + self.rng.randint(8, 20), "output": "hist"}
        return {"op": "cross_above", "left": m, "right": 0.0}, {"op": "cross_below", "left": m, "right": 0.0}

    def _bollinger(self) -> tuple[Doc, Doc]:
        n, k = self.rng.randint(10, 60), round(self.rng.uniform(1.5, 3.0), 2)
        lower = {"op": "bollinger", "n": n, "k": k, "band": "lower"}
        middle = {"op": "bollinger", "n": n, "k": k, "band": "middle"}
        return {"op": "lt", "left": "close", "right": lower}, {"op": "gt", "left": "close", "right": middle}

    def _volume_filter(self) -> Doc:
        return {"op": "gt", "left": {"op": "volume_ratio", "n": self.rng.randint(10, 50)}, "right": 1.2}

    def _families(self) -> dict[str, Callable[[], tuple[Doc, Doc]]]:
        return {
            "ma-cross": self._ma_cross,
            "rsi-reversion": self._rsi,
            "zscore-reversion": self._zscore,
            "breakout": self._breakout,
            "macd": self._macd,
            "bollinger": self._bollinger,
        }

    def _draw(self, instruments: list[str]) -> Doc:
        families = self._families()
        family = self.rng.choice(sorted(families))
        entry, exit_ = families[family]()
        if self.rng.random() < 0.3:
            entry = {"op": "and", "args": [entry, self._volume_filter()]}
        self._n += 1
        doc: Doc = {
            "name": f"sandbox-{family}-{self._n}",
            "description": f"A {family.replace('-', ' ')} idea written by the sandbox LLM.",
            "instruments": instruments,
            "timeframe": self.rng.choice(["5m", "15m", "1h", "1d"]),
            "entry_long": entry,
            "exit_long": exit_,
        }
        r = self.rng.random()
        if r < 0.4:
            doc["stop_loss"] = {"kind": "percent", "value": round(self.rng.uniform(0.005, 0.05), 4)}
        elif r < 0.7:
            doc["stop_loss"] = {"kind": "atr", "n": self.rng.randint(10, 30), "mult": round(self.rng.uniform(1, 4), 2)}
        if self.rng.random() < 0.3:
            doc["time_stop"] = self.rng.randint(5, 200)
        if "stop_loss" in doc and self.rng.random() < 0.5:
            doc["sizing"] = {"kind": "risk_fraction", "fraction": round(self.rng.uniform(0.002, 0.02), 4)}
        else:
            doc["sizing"] = {"kind": "equity_fraction", "fraction": round(self.rng.uniform(0.2, 1.0), 2)}
        return doc

    def valid(self, prompt: str = "") -> Doc:
        """A valid document, avoiding the operators ``prompt`` bans (most of the time)."""
        banned = banned_operators(prompt)
        instruments = prompt_instruments(prompt)
        doc = self._draw(instruments)
        if banned and self.rng.random() < self.obedience:
            for _ in range(50):
                if not operators_used(doc) & banned:
                    break
                doc = self._draw(instruments)
        return doc

    def invalid(self, prompt: str = "") -> Doc:
        """Well-formed JSON that breaks the schema or a rule of the language."""
        doc = self.valid(prompt)
        how = self.rng.choice(["unknown_op", "zero_window", "no_instruments", "unknown_field", "no_entry"])
        if how == "unknown_op":
            doc["entry_long"] = {"op": "supertrend", "x": "close", "n": 10}
        elif how == "zero_window":
            doc["exit_long"] = {"op": "gt", "left": {"op": "sma", "x": "close", "n": 0}, "right": "close"}
        elif how == "no_instruments":
            del doc["instruments"]
        elif how == "unknown_field":
            doc["leverage"] = 5
        else:
            del doc["entry_long"]
        return doc

    def malformed(self, prompt: str = "") -> str:
        """Text that is not a JSON document."""
        text = json.dumps(self.valid(prompt))
        how = self.rng.randrange(3)
        if how == 0:
            return text[: self.rng.randint(10, len(text) - 2)]
        if how == 1:
            return "Sure! Here is a strategy that should work well:\n" + text
        return text[:-1] + ",}"


_RAISED = re.compile(r"^Raised by detectors: (?P<types>.*)$", re.MULTILINE)
_TYPES = re.compile(r"^Failure types \(use exactly one of these names, or null\): (?P<types>.*)$", re.MULTILINE)


def _listed(pattern: re.Pattern[str], prompt: str) -> list[str]:
    m = pattern.search(prompt)
    return [t.strip() for t in m["types"].split(",") if t.strip()] if m else []


def post_mortem_note(rng: random.Random, prompt: str) -> dict[str, Any]:
    """A post-mortem note as a weak model writes one: it names a type the detectors raised (shown
    in the prompt) 80% of the time, another type of the taxonomy otherwise."""
    raised = [t for t in _listed(_RAISED, prompt) if t != "none"]
    allowed = _listed(_TYPES, prompt)
    if raised and rng.random() < 0.8:
        proposed: str | None = rng.choice(raised)
    else:
        others = [t for t in allowed if t not in raised]
        proposed = rng.choice(others) if others else None
    reason = proposed.lower().replace("_", " ") if proposed else "no clear cause"
    narrative = (f"The strategy's results look like {reason}: the failed tests show an edge the data do not "
                 f"support once that is accounted for. Tighten the rule or drop the pattern.")  # fmt: skip
    return {"narrative": narrative, "proposed_type": proposed}
