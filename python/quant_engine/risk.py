"""Pre-trade risk: limits, reason-coded decisions, modes, the kill switch, and sizing.

The engine lives in Rust (``quant_engine._core.RiskEngine``); this module normalizes arguments
and documents the behaviour. The reference (every check, its order, the reason codes, units)
is ``docs/risk.md``.

Quick use::

    from quant_engine.risk import RiskEngine, RiskLimits

    risk = RiskEngine(RiskLimits(max_daily_loss=5_000), cash=250_000)
    d = risk.validate("ESZ4", "buy", 2, 4500.25, order_type="limit")
    if not d:
        print(d.reason, d.value, d.limit)       # e.g. max_order_quantity 12.0 10.0
    table = risk.validate_batch(orders)          # Arrow in, Arrow out (accepted, reason, value, limit)
    size = risk.size_order("ES", "buy", 4500, risk_fraction=0.01, stop_distance=20)

* ``validate`` and ``validate_batch`` run the same Rust code: a batch equals ``validate`` called
  on each row in order. An accepted order (``commit=True``, the default) counts as *open* until
  ``on_fill`` or ``on_cancel``; position checks use the worst case of filled plus open orders.
* Modes: ``active``; ``reducing`` (only orders that do not increase the worst-case position pass);
  ``halted`` (nothing passes). The daily-loss rule switches to ``reducing`` and the drawdown rule
  to ``halted`` by default; ``kill()`` is the manual kill switch; ``resume()`` returns to active.
* ``snapshot()`` / ``RiskEngine(snapshot=...)`` (or ``save``/``load``) carry the whole state across
  a restart, so a halted engine comes back halted.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import pyarrow as pa
from msgspec import UNSET, UnsetType

from quant_engine import _core
from quant_engine.configs import checked
from quant_engine.errors import InvalidArgumentError
from quant_engine.instruments import InstrumentRegistry
from quant_engine.tables import as_arrow

__all__ = [
    "RiskEngine",
    "RiskLimits",
    "KindLimits",
    "SymbolLimits",
    "Decision",
    "SizeResult",
    "REASONS",
    "DECISION_SCHEMA",
    "DEFAULTS",
]

Decision = _core.Decision
SizeResult = _core.SizeResult

REASONS: tuple[str, ...] = tuple(_core.RISK_REASONS)
"""The stable reason codes, in check order (index = integer code; ``accepted`` is 0)."""

DECISION_SCHEMA = pa.schema(
    [
        pa.field("accepted", pa.bool_(), nullable=False),
        pa.field("reason", pa.dictionary(pa.uint8(), pa.string()), nullable=False),
        pa.field("value", pa.float64()),
        pa.field("limit", pa.float64()),
    ]
)
"""The schema of :meth:`RiskEngine.validate_batch` results."""

Action = Literal["reducing", "halted"]


DEFAULTS: dict[str, Any] = msgspec.json.decode(_core.default_risk_limits_json())
"""The default limits, read from the Rust core (``quant_engine_core::risk::RiskLimits::default``,
the one source of them): per-kind tables ``equity``, ``option``, ``future`` and the portfolio-wide
fields."""

_KINDS = ("equity", "option", "future")


class KindLimits(msgspec.Struct, forbid_unknown_fields=True):
    """Limits of one instrument kind (``None`` = no limit). A field left out keeps the kind's
    default (:data:`DEFAULTS`) once the table is part of a :class:`RiskLimits`, as in the core."""

    max_order_quantity: float | None | UnsetType = UNSET
    """Most contracts (shares) in one order."""
    max_order_notional: float | None | UnsetType = UNSET
    """Most ``quantity * price * multiplier`` in one order."""
    max_position: float | None | UnsetType = UNSET
    """Most contracts held in one instrument, worst case (open orders included)."""
    margin_rate: float | UnsetType = UNSET
    """Margin as a fraction of notional when the instrument has no per-contract margin."""

    def _over(self, kind: str) -> KindLimits:
        """This table with the fields it leaves out taken from ``kind``'s defaults."""
        d = DEFAULTS[kind]
        return KindLimits(
            **{f: d[f] if getattr(self, f) is UNSET else getattr(self, f) for f in self.__struct_fields__}
        )


class SymbolLimits(msgspec.Struct, forbid_unknown_fields=True):
    """Overrides for one symbol, futures root (``ES``) or option underlying (``SPX``)."""

    max_order_quantity: float | None = None
    max_order_notional: float | None = None
    max_position: float | None = None


class RiskLimits(msgspec.Struct, forbid_unknown_fields=True):
    """Every limit the engine enforces. The defaults are the core's (:data:`DEFAULTS`): 50
    contracts per option order and 10 per futures order (the original quant-engine's caps),
    10,000 shares per equity order; positions 100,000 shares / 500 option contracts / 50 futures
    per instrument; futures margin 10 % of notional; buying power checked; no notional,
    gross-exposure, rate, daily-loss or drawdown limit unless set. A partial kind table
    (``future=KindLimits(max_position=5)``, ``{"future": {"max_position": 5}}``) keeps that
    kind's defaults for the other fields."""

    equity: KindLimits = msgspec.field(default_factory=KindLimits)
    option: KindLimits = msgspec.field(default_factory=KindLimits)
    future: KindLimits = msgspec.field(default_factory=KindLimits)
    symbols: dict[str, SymbolLimits] = msgspec.field(default_factory=dict)
    """Overrides by symbol, futures root or option underlying (exact symbol wins)."""
    max_gross_exposure: float | None = DEFAULTS["max_gross_exposure"]
    """Most ``sum |worst-case position| * price * multiplier`` after an order."""
    max_orders_per_window: int | None = DEFAULTS["max_orders_per_window"]
    """Most accepted orders within ``rate_window_ns``."""
    rate_window_ns: int = DEFAULTS["rate_window_ns"]
    max_daily_loss: float | None = DEFAULTS["max_daily_loss"]
    """A positive currency amount: equity down this much since ``start_day`` triggers
    ``daily_loss_action``."""
    daily_loss_action: Action = DEFAULTS["daily_loss_action"]
    max_drawdown: float | None = DEFAULTS["max_drawdown"]
    """A fraction (0.2 = 20%) below the equity peak that triggers ``drawdown_action``."""
    drawdown_action: Action = DEFAULTS["drawdown_action"]
    check_buying_power: bool = DEFAULTS["check_buying_power"]

    def __post_init__(self) -> None:
        for kind in _KINDS:
            setattr(self, kind, getattr(self, kind)._over(kind))

    def to_json(self) -> str:
        """The limits as JSON (the form the Rust engine reads)."""
        return msgspec.json.encode(self).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> RiskLimits:
        """Parses JSON (unknown keys are errors, see :meth:`from_mapping`)."""
        try:
            data = msgspec.json.decode(text)
        except msgspec.DecodeError as exc:
            raise InvalidArgumentError(f"risk limits: malformed JSON ({exc})") from None
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(f"risk limits: expected a JSON object, got {type(data).__name__}")
        return cls.from_mapping(data)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskLimits:
        """From a dict (e.g. a parsed TOML table) through the one config validator
        (:func:`quant_engine.configs.checked`): an unknown key at any depth is an
        :class:`~quant_engine.errors.InvalidArgumentError` naming it, its path and the allowed keys."""
        return checked(data, cls, "risk_limits")

    @classmethod
    def from_file(cls, path: str | Path) -> RiskLimits:
        """From a TOML or JSON file (a ``[risk]`` table in TOML is used when present)."""
        import tomllib

        p = Path(path)
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() == ".json":
            return cls.from_json(text)
        data = tomllib.loads(text)
        return cls.from_mapping(data.get("risk", data))


def _limits_json(limits: RiskLimits | Mapping[str, Any] | str | Path | None) -> str:
    if limits is None:
        return RiskLimits().to_json()
    if isinstance(limits, (RiskLimits, Mapping)):
        return checked(limits, RiskLimits, "risk_limits").to_json()
    if isinstance(limits, Path) or (isinstance(limits, str) and not limits.lstrip().startswith("{")):
        return RiskLimits.from_file(limits).to_json()
    return RiskLimits.from_json(limits).to_json()


class RiskEngine(_core.RiskEngine):
    """The stateful pre-trade risk engine (see the module documentation and ``docs/risk.md``).

    ``RiskEngine(limits=None, *, cash=1_000_000.0, cost_basis="average_cost", registry=None,
    snapshot=None)``: ``limits`` is a :class:`RiskLimits`, a mapping, a JSON string or a
    TOML/JSON path; ``cash`` the starting equity; ``registry`` resolves symbols (the built-in
    registry by default); ``snapshot`` (a JSON string from :meth:`snapshot`) restores a saved
    state, mode included.

    Methods implemented in Rust: ``validate(symbol, side, quantity, price, order_type=None,
    ts=None, reduce_only=False, commit=True) -> Decision``, ``size_order``, ``on_fill``,
    ``on_cancel``, ``on_mark``, ``record``, ``kill``, ``resume``, ``start_day``, ``set_mode``,
    ``state``, ``position``, ``positions``, ``equity_curve``, ``stats``, ``snapshot``.
    """

    def __new__(
        cls,
        limits: RiskLimits | Mapping[str, Any] | str | Path | None = None,
        *,
        cash: float = 1_000_000.0,
        cost_basis: Literal["average_cost", "fifo"] = "average_cost",
        registry: InstrumentRegistry | None = None,
        snapshot: str | None = None,
    ) -> RiskEngine:
        return super().__new__(cls, _limits_json(limits), float(cash), cost_basis, registry, snapshot)

    def validate_batch(self, orders: Any, commit: bool = True) -> pa.Table:
        """Checks a table of orders in sequence; returns one decision row per order.

        ``orders``: any Arrow table/batch (or a pandas DataFrame, or a dict of arrays) with
        ``symbol`` (string or dictionary), ``side`` (int8 +1/-1, or ``buy``/``sell``),
        ``quantity``, ``price`` (limit price, or the reference price of a market order), and
        optional ``ts`` (timestamp or int ns; now when absent), ``order_type``
        (``market``/``limit`` or 0/1; market when absent), ``reduce_only`` (bool).
        Result: ``accepted`` (bool), ``reason`` (dictionary string), ``value``, ``limit``
        (float64, null where not applicable).
        """
        return super().validate_batch(as_arrow(orders, what="orders"), commit)

    def validate_order(self, symbol: str, side: Any, quantity: float, price: float, **kwargs: Any) -> Decision:
        """Alias of :meth:`validate` (the original quant-engine's name)."""
        return self.validate(symbol, side, quantity, price, **kwargs)

    @property
    def limits(self) -> RiskLimits:
        """The limits in force."""
        return RiskLimits.from_json(self.limits_json())

    def update_limits(self, limits: RiskLimits | Mapping[str, Any] | str | Path) -> None:
        """Replaces the limits; positions, open orders, mode and ledger are kept."""
        self.set_limits(_limits_json(limits))

    def save(self, path: str | Path) -> None:
        """Writes :meth:`snapshot` to ``path`` atomically (write, then rename)."""
        p = Path(path)
        tmp = p.with_suffix(p.suffix + ".tmp")
        tmp.write_text(self.snapshot(), encoding="utf-8")
        tmp.replace(p)

    @classmethod
    def load(
        cls,
        path: str | Path,
        limits: RiskLimits | Mapping[str, Any] | str | Path | None = None,
        *,
        registry: InstrumentRegistry | None = None,
    ) -> RiskEngine:
        """An engine restored from a file written by :meth:`save` (mode, trigger, positions,
        open orders, ledger, day and peak equity, recent orders)."""
        return cls(limits, registry=registry, snapshot=Path(path).read_text(encoding="utf-8"))
