"""``quant-engine warmup``: compile the Numba kernels once (their on-disk cache), as installing does.

The work is :mod:`quant_engine.kernels.warmup` (also ``python -m quant_engine.kernels.warmup``);
``scripts/bootstrap.sh`` runs it after every install, so first runs do not stall on compilation.
"""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    """Adds the ``warmup`` command."""
    from quant_engine.kernels import warmup  # argparse setup only: Numba is imported when it runs

    p = subparsers.add_parser(
        "warmup",
        help="compile the Numba kernels once (make run/test do it at install)",
        description=(warmup.__doc__ or "").split("\n\n")[0],
    )
    warmup.add_arguments(p)
    p.set_defaults(func=_cmd_warmup)


def _cmd_warmup(args: argparse.Namespace) -> int:
    from quant_engine.kernels import warmup

    return warmup.run(args)
