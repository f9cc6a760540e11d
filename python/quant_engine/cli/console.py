"""The console of the command line: plain text and tables on stdout, progress on stderr.

On a terminal, rich lays text out to the window's width. When stdout is not a terminal (a pipe, a
file, a CI log) nothing is wrapped: a sentence stays on one line and a table takes its natural
width, so the output can be grepped and diffed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

__all__ = ["console", "echo", "progress", "print_preview"]

#: Width given to rich when stdout is not a terminal: wide enough that nothing is ever wrapped.
_UNBOUNDED = 1_000_000

#: Columns aligned left in previews (text); every other column is aligned right (numbers).
_TEXT_COLUMNS = frozenset({"symbol", "signals", "regime", "character", "right", "status", "input", "kind", "details"})


def console() -> Any:
    """A rich ``Console`` on stdout that never wraps mid-sentence when stdout is not a terminal."""
    from rich.console import Console

    tty = sys.stdout.isatty()
    return Console(width=None if tty else _UNBOUNDED, highlight=False)  # titles still centered over their table


def echo(text: str) -> None:
    """Prints ``text`` as is (no markup, no highlighting), on one line unless stdout is a terminal."""
    console().print(text, markup=False)


def progress() -> Any:
    """A rich ``Progress`` on stderr, shown only when stderr is a terminal (use it as a context manager)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn()]
    columns += [TimeElapsedColumn(), TimeRemainingColumn()]
    return Progress(*columns, transient=False, disable=not sys.stderr.isatty())


def print_preview(table: Any, title: str, columns: Sequence[str] | None = None, rows: int = 20) -> None:
    """Prints the first ``rows`` rows of the Arrow ``table`` (only ``columns`` if given) under ``title``."""
    from rich.table import Table

    shown = table.select([c for c in columns if c in table.column_names]) if columns else table
    preview = Table(title=title)
    for name in shown.column_names:
        preview.add_column(name, justify="left" if name in _TEXT_COLUMNS else "right")
    for row in shown.slice(0, rows).to_pylist():
        preview.add_row(*[f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()])
    console().print(preview)
