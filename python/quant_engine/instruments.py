"""Instruments: what one contract of a symbol is worth, and the registry that knows.

An :class:`Instrument` has a kind (``equity``, ``option``, ``future``, ``index``), a multiplier
(currency per one point of price per contract: ES 50, an SPY option 100, AAPL 1), a tick size, a
lot size, a currency, option terms (underlying, expiry ``YYYYMMDD``, strike, right) or futures
terms (root, contract month ``YYYYMM``).

:class:`InstrumentRegistry` resolves a symbol to its instrument, in this order:

1. instruments registered explicitly (``register``, or an overrides file);
2. Massive tickers: ``O:AAPL230616C00150000`` (option), ``I:SPX`` (index); ``^SPX``/``$SPX``;
3. OCC option symbols, padded (``AAPL  240119C00190000``) or compact (``AAPL240119C00190000``):
   x100, underlying = the root (``SPXW`` -> ``SPX``); adjusted roots ending in a digit
   (``AAPL1``) are refused until their option root is registered with the real deliverable;
4. futures: a root (``ES``, ``/ES``) or a contract code (``ESZ4``, ``ESZ24``) -> the root's spec;
5. known equities/ETFs and indexes.

Anything else raises :class:`~quant_engine.errors.UnknownSymbolError`: a multiplier is never
assumed to be 1. ThetaData contracts (root, ``YYYYMMDD`` expiration, strike in tenths of a
cent, right) go through :meth:`InstrumentRegistry.thetadata_option`.

Overrides file (TOML or JSON, same keys)::

    allow_unlisted_equities = false
    equities = ["XYZ"]

    [[instrument]]
    symbol = "BRK.A"
    kind = "equity"
    multiplier = 1
    tick_size = 0.01

    [[future_root]]
    root = "ES"
    multiplier = 50
    tick_size = 0.25
    initial_margin = 15000

    [[option_root]]
    root = "AAPL1"
    underlying = "AAPL"
    multiplier = 100
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from quant_engine import _core
from quant_engine.errors import InvalidArgumentError

__all__ = [
    "Instrument",
    "InstrumentRegistry",
    "parse_option_symbol",
    "load_overrides",
    "default_registry",
    "resolve",
    "month_of",
    "ALLOW_UNLISTED_EQUITIES_DEFAULT",
]

Instrument = _core.Instrument
parse_option_symbol = _core.parse_option_symbol

_INSTRUMENT_KEYS = {
    "symbol",
    "kind",
    "multiplier",
    "tick_size",
    "lot_size",
    "currency",
    "initial_margin",
    "underlying",
    "expiry",
    "strike",
    "right",
    "root",
    "contract_month",
}
_FUTURE_ROOT_KEYS = {"root", "multiplier", "tick_size", "initial_margin", "currency"}
_OPTION_ROOT_KEYS = {"root", "underlying", "multiplier", "tick_size"}


def _entries(data: Mapping[str, Any], *names: str) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for name in names:
        value = data.get(name, [])
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise InvalidArgumentError(f"overrides: '{name}' must be a list of tables")
        out.extend(value)
    return out


def _checked(entry: Mapping[str, Any], allowed: set[str], what: str) -> dict[str, Any]:
    unknown = set(entry) - allowed
    if unknown:
        raise InvalidArgumentError(f"overrides: unknown keys in {what}: {sorted(unknown)}; allowed: {sorted(allowed)}")
    return dict(entry)


def _read(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    path = Path(source)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InvalidArgumentError(f"overrides file {path}: {exc}") from None
    if not isinstance(data, Mapping):
        raise InvalidArgumentError(f"overrides file {path}: expected a table at the top level")
    return data


ALLOW_UNLISTED_EQUITIES_DEFAULT: bool = bool(_core.DEFAULT_ALLOW_UNLISTED_EQUITIES)
"""The one default of the unlisted-equity rule, shared by every registry, the backtester's and the
risk engine's included (off: an unknown ticker is an error, never an x1 equity)."""


def month_of(when: Any) -> int:
    """``YYYYMM`` of a date, datetime, ISO string, ``numpy.datetime64`` or integer ns since the
    epoch (the reference of one-digit futures years)."""
    import numpy as np

    try:
        if isinstance(when, int) and not isinstance(when, bool):
            month = np.datetime64(when, "ns").astype("datetime64[M]").astype(int)
        else:
            month = np.datetime64(
                when.replace(tzinfo=None) if hasattr(when, "tzinfo") and when.tzinfo else when, "M"
            ).astype(int)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"reference date: cannot read {when!r} as a date") from None
    return int(1970 + month // 12) * 100 + int(month % 12) + 1


class InstrumentRegistry(_core.InstrumentRegistry):
    """Resolves symbols to :class:`Instrument` specs (see the module documentation).

    ``InstrumentRegistry(builtins=True, allow_unlisted_equities=False, reference_year=None,
    overrides=None, *, reference_month=None, reference_date=None)``: ``overrides`` is a TOML/JSON
    path or a mapping (see :meth:`load`). One-digit futures years (``ESZ4``) are read against a
    reference month: ``reference_date`` (a date, datetime or ISO string), ``reference_month``
    (``YYYYMM``), ``reference_year`` (its January) or, by default, the current month; the year
    is the earliest ending in that digit whose contract month is at most 12 months before the
    reference (docs/instruments.md).
    """

    def __new__(
        cls,
        builtins: bool = True,
        allow_unlisted_equities: bool = ALLOW_UNLISTED_EQUITIES_DEFAULT,
        reference_year: int | None = None,
        overrides: str | Path | Mapping[str, Any] | None = None,
        *,
        reference_month: int | None = None,
        reference_date: Any = None,
    ) -> InstrumentRegistry:
        if reference_date is not None:
            reference_month = month_of(reference_date)
        obj = super().__new__(cls, builtins, allow_unlisted_equities, reference_year, reference_month)
        if overrides is not None:
            obj.load(overrides)
        return obj

    def load(self, source: str | Path | Mapping[str, Any]) -> InstrumentRegistry:
        """Applies overrides from a TOML/JSON file or a mapping: ``instrument`` (full specs),
        ``future_root``, ``option_root`` (lists of tables), ``equities`` (tickers)."""
        data = _read(source)
        allowed_top = {
            "instrument",
            "instruments",
            "future_root",
            "future_roots",
            "option_root",
            "option_roots",
            "equities",
            "allow_unlisted_equities",
        }
        unknown = set(data) - allowed_top
        if unknown:
            raise InvalidArgumentError(
                f"overrides: unknown top-level keys {sorted(unknown)}; allowed: {sorted(allowed_top)}"
            )
        if data.get("allow_unlisted_equities"):
            raise InvalidArgumentError(
                "overrides: allow_unlisted_equities must be chosen when the registry is created "
                "(InstrumentRegistry(allow_unlisted_equities=True))"
            )
        for e in _entries(data, "future_root", "future_roots"):
            self.register_future_root(**_checked(e, _FUTURE_ROOT_KEYS, "future_root"))
        for e in _entries(data, "option_root", "option_roots"):
            self.register_option_root(**_checked(e, _OPTION_ROOT_KEYS, "option_root"))
        for e in _entries(data, "instrument", "instruments"):
            self.register(Instrument(**_checked(e, _INSTRUMENT_KEYS, "instrument")))
        equities = data.get("equities", [])
        if not isinstance(equities, list) or not all(isinstance(t, str) for t in equities):
            raise InvalidArgumentError("overrides: 'equities' must be a list of tickers")
        self.add_equities(list(equities))
        return self

    @classmethod
    def from_file(cls, path: str | Path, **kwargs: Any) -> InstrumentRegistry:
        """A registry with the built-ins plus the overrides in ``path``."""
        return cls(overrides=path, **kwargs)

    def resolve_many(self, symbols: Iterable[str]) -> list[Instrument]:
        """Resolves several symbols (raises on the first unknown one)."""
        return [self.resolve(s) for s in symbols]


def load_overrides(path: str | Path, registry: InstrumentRegistry | None = None) -> InstrumentRegistry:
    """Applies an overrides file to ``registry`` (a new built-in registry by default)."""
    reg = registry if registry is not None else InstrumentRegistry()
    return reg.load(path)


_DEFAULT: InstrumentRegistry | None = None


def default_registry() -> InstrumentRegistry:
    """The process-wide registry with the built-in specs (created on first use)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = InstrumentRegistry()
    return _DEFAULT


def resolve(symbol: str) -> Instrument:
    """Resolves ``symbol`` with :func:`default_registry`."""
    return default_registry().resolve(symbol)
