"""Vendor column sets, for side-by-side comparison with vendor Greeks snapshots.

``THETADATA_COLUMNS[endpoint]`` lists the Greek columns of ThetaData's v3
``option/snapshot/greeks/{first_order,second_order,third_order,all}`` responses (and the
matching history endpoints). Select them from :func:`quant_engine.options.greeks` output computed
with ``units="thetadata"`` (theta per calendar day, everything else per 1.00 and per year)::

    ours = greeks(S, K, T, r, q, iv, right, order="all", units="thetadata")
    ours.select(THETADATA_COLUMNS["second_order"])
"""

from __future__ import annotations

__all__ = ["THETADATA_COLUMNS"]

THETADATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "first_order": ("delta", "theta", "vega", "rho", "epsilon", "lambda"),
    "second_order": ("gamma", "vanna", "charm", "vomma", "veta"),
    "third_order": ("speed", "zomma", "color", "ultima"),
    "all": (
        "delta",
        "theta",
        "vega",
        "rho",
        "epsilon",
        "lambda",
        "gamma",
        "vanna",
        "charm",
        "vomma",
        "veta",
        "vera",
        "speed",
        "zomma",
        "color",
        "ultima",
        "d1",
        "d2",
        "dual_delta",
        "dual_gamma",
    ),
}
"""Greek columns per ThetaData endpoint (``vera`` only in ``all``)."""
