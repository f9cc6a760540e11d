"""The backtest run configuration, validated once at construction.

:class:`BacktestConfig` may be built from objects or dicts (or be a dict itself, see
:func:`as_config`); every nested setting goes through the one config validator
(:func:`quant_engine.configs.checked`), so a typo such as ``execution.slippage.fixed_bsp`` is an
:class:`~quant_engine.errors.InvalidArgumentError` naming the key and the allowed ones instead of
a silently cost-free backtest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from quant_engine import _core
from quant_engine.configs import checked
from quant_engine.errors import InvalidArgumentError
from quant_engine.execution import ExecutionConfig
from quant_engine.instruments import Instrument, InstrumentRegistry
from quant_engine.risk import RiskLimits
from quant_engine.suggest import allowed, did_you_mean

__all__ = ["BacktestConfig", "InstrumentOverride", "as_config"]


class InstrumentOverride(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Overrides of one symbol's instrument in a backtest (merged over the registry's spec; with
    ``kind`` and ``multiplier`` the symbol need not be known to the registry)."""

    kind: Literal["equity", "option", "future", "index"] | None = None
    multiplier: float | None = None
    tick_size: float | None = None
    lot_size: float | None = None
    initial_margin: float | None = None


@dataclass(frozen=True)
class BacktestConfig:
    """How a backtest is run (the strategy says what is traded and when).

    Attributes:
        initial_cash: starting cash in account currency.
        execution: the execution model's configuration (fees, slippage ...): an
            ``quant_engine.execution.ExecutionConfig`` or the same as a dict (docs/execution.md).
        risk_limits: the risk engine's limits: a ``quant_engine.risk.RiskLimits`` or the same as
            a dict (docs/risk.md); None uses the defaults.
        instruments: instrument overrides by symbol (``kind``, ``multiplier``, ``tick_size``,
            ``lot_size``, ``initial_margin``), merged over the built-in registry.
        allow_unlisted_equities: resolve tickers the registry does not know as equities x1 (the
            registry's default, shared with the ``RiskEngine``: off; docs/instruments.md).
        periods_per_year: annualization; None derives it from the strategy's timeframe (US
            equity sessions: 252 days of 390 minutes).
        allow_short: when false, short entries are ignored.
        close_at_end: close open positions at the last bar's close (so every trade is counted).
        threads: threads for signal evaluation and sweep fills (None: Numba's default).

    Every setting is validated here, at construction: unknown keys at any depth, wrong types and
    invalid values raise :class:`~quant_engine.errors.InvalidArgumentError`. ``execution``,
    ``risk_limits`` and ``instruments`` hold the validated objects afterwards.
    """

    initial_cash: float = 1_000_000.0
    execution: ExecutionConfig | Mapping[str, Any] = field(default_factory=ExecutionConfig)
    risk_limits: RiskLimits | Mapping[str, Any] | None = None
    instruments: Mapping[str, InstrumentOverride | Mapping[str, Any]] = field(default_factory=dict)
    allow_unlisted_equities: bool = bool(_core.DEFAULT_ALLOW_UNLISTED_EQUITIES)
    periods_per_year: float | None = None
    allow_short: bool = True
    close_at_end: bool = True
    threads: int | None = None

    def __post_init__(self) -> None:
        execution = checked(self.execution, ExecutionConfig, "execution")
        limits = None if self.risk_limits is None else checked(self.risk_limits, RiskLimits, "risk_limits")
        if not isinstance(self.instruments, Mapping):
            raise InvalidArgumentError(
                f"`instruments` must be a dict of symbol -> overrides, got {type(self.instruments).__name__}"
            )
        overrides = {str(s): checked(o, InstrumentOverride, f"instruments.{s}") for s, o in self.instruments.items()}
        object.__setattr__(self, "execution", execution)
        object.__setattr__(self, "risk_limits", limits)
        object.__setattr__(self, "instruments", overrides)
        cash = self.initial_cash
        if isinstance(cash, bool) or not isinstance(cash, (int, float)) or not (0 < float(cash) < float("inf")):
            raise InvalidArgumentError(f"`initial_cash` must be a positive number, got {cash!r}")
        ppy = self.periods_per_year
        if ppy is not None and (
            isinstance(ppy, bool) or not isinstance(ppy, (int, float)) or not (0 < float(ppy) < float("inf"))
        ):
            raise InvalidArgumentError(f"`periods_per_year` must be a positive number or None, got {ppy!r}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise InvalidArgumentError(f"`threads` must be a positive integer or None, got {self.threads!r}")
        _core.ExecutionModel(execution.to_json(), None)  # the value checks (non-negative fees ...)
        _core.RiskEngine((limits or RiskLimits()).to_json(), 1.0, "average_cost", None, None)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BacktestConfig:
        """A configuration from a dict (e.g. parsed JSON/TOML); unknown keys are errors."""
        names = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in names:
                raise InvalidArgumentError(
                    f"unknown key `config.{key}`{did_you_mean(str(key), names)}; allowed: {allowed(names)}"
                )
        return cls(**dict(data))

    def registry(self, *, reference_month: int | None = None) -> InstrumentRegistry:
        """The instrument registry this configuration implies (built-ins, the unlisted-equity
        rule and the overrides with ``kind`` and ``multiplier``): give it to a
        :class:`~quant_engine.risk.RiskEngine` to trade exactly the symbols the backtest
        accepts."""
        reg = InstrumentRegistry(allow_unlisted_equities=self.allow_unlisted_equities, reference_month=reference_month)
        for sym, o in self.instruments.items():
            assert isinstance(o, InstrumentOverride)
            if o.kind is not None and o.multiplier is not None:
                reg.register(
                    Instrument(
                        sym,
                        o.kind,
                        o.multiplier,
                        tick_size=o.tick_size or 0.01,
                        lot_size=o.lot_size or 1.0,
                        initial_margin=o.initial_margin,
                    )
                )
        return reg

    def to_json(self, *, reference_month: int | None = None) -> str:
        """The configuration as canonical JSON (recorded with each trial in the ledger; the Rust
        loop gets it as a ``_core.RunSpec``, see :mod:`quant_engine.research.run_spec`)."""
        return msgspec.json.encode(
            {
                "initial_cash": float(self.initial_cash),
                "execution": self.execution,
                "risk_limits": self.risk_limits,
                "instruments": self.instruments,
                "allow_unlisted_equities": self.allow_unlisted_equities,
                "reference_month": reference_month,
                "allow_short": self.allow_short,
                "close_at_end": self.close_at_end,
            }
        ).decode()


def as_config(config: BacktestConfig | Mapping[str, Any] | None) -> BacktestConfig:
    """``config`` as a :class:`BacktestConfig` (None: the defaults; a dict: its fields)."""
    if config is None:
        return BacktestConfig()
    if isinstance(config, BacktestConfig):
        return config
    if isinstance(config, Mapping):
        return BacktestConfig.from_mapping(config)
    raise InvalidArgumentError(f"config must be a BacktestConfig or a dict of its fields, got {type(config).__name__}")
