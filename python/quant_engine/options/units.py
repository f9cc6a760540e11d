"""Units and conventions of option Greeks.

The kernels compute every Greek in *raw* units: per 1.00 change of the underlying, of the
volatility (1.00 = 100 vol points), of the rate or yield (1.00 = 10,000 bp), and per year of
calendar time. Time Greeks are derivatives with respect to the passage of time (``d/dt``), so a
long option's theta is negative. :class:`Units` rescales them:

* ``time``: ``"year"`` (raw), ``"day"`` (calendar day: / 365) or ``"trading_day"`` (/ 252);
  applies to the columns in ``time_columns`` (default theta, charm, veta and color);
* ``vol``: ``"unit"`` (raw) or ``"point"`` (per 1 vol point: / 100 per order of ``d/dsigma``,
  so vega / 100, vomma / 100^2, ultima / 100^3);
* ``rate``: ``"unit"`` (raw) or ``"point"`` (per 1 percentage point: / 100); applies to rho,
  epsilon and vera.

Presets (``CONVENTIONS``): ``"raw"`` (all raw), ``"thetadata"`` (theta per calendar day,
everything else raw, charm included: the units of ThetaData's Greeks snapshots, so its columns
compare side by side) and ``"trader"`` (per day, per vol point, per rate point; the units of
py_vollib's analytical Greeks).
"""

from __future__ import annotations

from dataclasses import dataclass

from quant_engine.errors import InvalidArgumentError

__all__ = ["Units", "CONVENTIONS", "DERIVATIVE_ORDERS", "resolve_units"]

DERIVATIVE_ORDERS: dict[str, tuple[int, int, int]] = {
    "price": (0, 0, 0),
    "delta": (0, 0, 0),
    "vega": (0, 1, 0),
    "theta": (1, 0, 0),
    "rho": (0, 0, 1),
    "epsilon": (0, 0, 1),
    "lambda": (0, 0, 0),
    "gamma": (0, 0, 0),
    "vanna": (0, 1, 0),
    "charm": (1, 0, 0),
    "vomma": (0, 2, 0),
    "veta": (1, 1, 0),
    "vera": (0, 1, 1),
    "speed": (0, 0, 0),
    "zomma": (0, 1, 0),
    "color": (1, 0, 0),
    "ultima": (0, 3, 0),
    "d1": (0, 0, 0),
    "d2": (0, 0, 0),
    "dual_delta": (0, 0, 0),
    "dual_gamma": (0, 0, 0),
}
"""Per column: orders of the derivative with respect to (time, volatility, rate)."""

_TIME = {"year": 1.0, "day": 1.0 / 365.0, "trading_day": 1.0 / 252.0}
_PER = {"unit": 1.0, "point": 0.01}


@dataclass(frozen=True)
class Units:
    """Units of the Greek columns (see the module docstring)."""

    time: str = "year"
    vol: str = "unit"
    rate: str = "unit"
    time_columns: tuple[str, ...] = ("theta", "charm", "veta", "color")

    def __post_init__(self) -> None:
        if self.time not in _TIME:
            raise InvalidArgumentError(f"invalid time unit {self.time!r} (expected one of {sorted(_TIME)})")
        if self.vol not in _PER:
            raise InvalidArgumentError(f"invalid vol unit {self.vol!r} (expected 'unit' or 'point')")
        if self.rate not in _PER:
            raise InvalidArgumentError(f"invalid rate unit {self.rate!r} (expected 'unit' or 'point')")
        unknown = [c for c in self.time_columns if c not in DERIVATIVE_ORDERS or DERIVATIVE_ORDERS[c][0] == 0]
        if unknown:
            raise InvalidArgumentError(f"invalid time_columns {unknown} (expected some of theta, charm, veta, color)")

    def scale(self, column: str) -> float:
        """The factor that converts ``column`` from raw units to these units."""
        nt, nv, nr = DERIVATIVE_ORDERS[column]
        nt = nt if column in self.time_columns else 0
        return float(_TIME[self.time] ** nt * _PER[self.vol] ** nv * _PER[self.rate] ** nr)


CONVENTIONS: dict[str, Units] = {
    "raw": Units(),
    "thetadata": Units(time="day", time_columns=("theta",)),
    "trader": Units(time="day", vol="point", rate="point"),
}
"""Named unit presets."""


def resolve_units(units: str | Units) -> Units:
    """A preset name or a :class:`Units` value, as :class:`Units`."""
    if isinstance(units, Units):
        return units
    try:
        return CONVENTIONS[units]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"invalid units {units!r} (expected a Units value or one of {sorted(CONVENTIONS)})"
        ) from None
