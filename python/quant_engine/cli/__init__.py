"""The ``quant-engine`` command: one module per command group.

Subcommands (each has ``--help``):

* ``run`` (:mod:`.run`): the main job on the embedded default: a seeded synthetic market streamed
  live into bars (per-symbol summary printed, bars written to a table file).
* ``bars`` (:mod:`.bars`): aggregate a Parquet or CSV file of ticks into bars.
* ``backtest`` (:mod:`.backtest`): backtest a strategy document on a file of bars or the synthetic
  market, or sweep its parameters.
* ``greeks``, ``regimes``, ``discover`` (:mod:`.analytics`): option Greeks, regime labels, a
  ranked market scan.
* ``instrument`` (:mod:`.instrument`): resolve symbols to their specs (multiplier, tick, terms).
* ``risk-check`` (:mod:`.risk`): validate a file of orders against risk limits.
* ``sandbox`` (:mod:`.sandbox`): start a local vendor server (a fake Theta Terminal or Massive).
* ``ingest``, ``feeds`` (:mod:`.data`): import files into the catalog; the data engines' status.
* ``warmup`` (:mod:`.warmup`): compile the Numba kernels once (their on-disk cache), as installing does.
* ``store`` (:mod:`.store`): create, upgrade and inspect the research store.
* ``strategies``, ``trials``, ``missions``, ``memories`` (:mod:`.research_store`): list and show
  what the research store holds (``--json`` for scripts).
* ``calibrate`` (:mod:`.calibrate`): the factory calibration (false-graduation rate and power of
  the research loop on synthetic markets), recorded in the store.
* ``redteam`` (:mod:`.redteam`): the Red Team's verdict on a strategy (``examine``, ``white-noise``).
* ``swarm`` (:mod:`.swarm`): replenish the candidate pool by evolutionary search; audit and repair it.
* ``gatekeeper`` (:mod:`.gatekeeper`): failure statistics and the constraints learned from failures.
* ``shadow`` (:mod:`.shadow`): the shadow trader: paper-trade the promoted strategies on a stream
  (``run``), and ``status``, ``kill``, ``report`` of a session.

Shared helpers, used by every command (never re-implemented in a command module):

* :mod:`.tables`: read any table file the project accepts (``.parquet``/``.pq``, ``.csv``,
  ``.csv.gz``, ``.arrow``/``.feather``) and write one by suffix (``.csv`` CSV, ``.parquet``
  Parquet, ``.arrow``/``.feather`` Arrow IPC; anything else is a one-line error), creating parent
  folders and checking that the output can be written *before* any work starts.
* :mod:`.console`: the console (no wrapping mid-sentence when stdout is not a terminal), progress
  bars (only on a terminal) and table previews.
* :mod:`.options`: argument types (ISO dates naming their option) and JSON files that name
  themselves in errors.
* :mod:`.failure`: turns any exception into one line on stderr and an exit status: 2 for bad
  input, 1 for anything else, 130 when interrupted; never a traceback.

Adding a command group is a one-file change: create ``cli/<group>.py`` with a docstring and

.. code-block:: python

    def register(subparsers: argparse._SubParsersAction) -> None:
        p = subparsers.add_parser("name", help="...", description="...")
        p.add_argument(...)
        p.set_defaults(func=_cmd_name)      # _cmd_name(args) -> exit status

and nothing else: :func:`build_parser` registers every module of this package that has a
``register`` function (those in ``GROUPS`` first, in that order, then the others by name).
Import heavy dependencies inside the command functions, not at module level, so that
``quant-engine --help`` stays fast. Raise typed errors (:mod:`quant_engine.errors`) for bad input;
:mod:`.failure` prints them.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

__all__ = ["main", "build_parser", "command_groups", "GROUPS"]

#: Command-group modules listed first in ``--help``, in this order; any other module of the package
#: with a ``register(subparsers)`` function follows, by name.
GROUPS: tuple[str, ...] = (
    "run", "bars", "backtest", "analytics", "instrument", "risk", "sandbox", "data", "store", "research_store", "redteam",
    "calibrate", "swarm", "gatekeeper", "shadow", "serve", "warmup",
)  # fmt: skip


def command_groups() -> list[str]:
    """The names of this package's modules that register commands, in ``--help`` order."""
    found = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    ordered = [g for g in GROUPS if g in found] + [m for m in found if m not in GROUPS]
    return [m for m in ordered if hasattr(importlib.import_module(f"{__name__}.{m}"), "register")]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        """Prints ``<prog>: error: <message> (see <prog> --help)`` and exits with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``quant-engine`` command, assembled from :data:`GROUPS`."""
    from quant_engine import __version__

    parser = _Parser(prog="quant-engine", description="Performance-first quant research and paper-trading engine.")
    parser.add_argument("--version", action="version", version=f"quant-engine {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in command_groups():
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``quant-engine`` console script: parses ``argv`` and runs the command."""
    from quant_engine.cli.failure import exit_status

    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except BaseException as exc:  # noqa: BLE001 - one line and an exit status for any failure
        if isinstance(exc, SystemExit):
            raise
        return exit_status(exc, args.command)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
