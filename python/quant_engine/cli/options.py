"""Argument types and option files shared by the command groups; their errors name the option."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["iso_date", "positive_int", "load_json", "json_option", "config_file", "add_synthetic_market"]


def iso_date(text: str) -> str:
    """An argparse type: a calendar date ``YYYY-MM-DD`` (argparse names the option in the error)."""
    try:
        dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date YYYY-MM-DD ({exc})") from None
    return text


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def load_json(path: str | Path, option: str) -> Any:
    """The JSON document in the file given to ``option``; errors name the option and the file."""
    from quant_engine.errors import InvalidArgumentError

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{option} {p}: no such file")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{option} {p}: not valid JSON: {exc.msg} on line {exc.lineno}") from None
    except UnicodeDecodeError:
        raise InvalidArgumentError(f"{option} {p}: not a UTF-8 text file") from None


def json_option(text: str, option: str) -> Any:
    """The JSON given inline to ``option``; errors name the option."""
    from quant_engine.errors import InvalidArgumentError

    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{option}: not valid JSON: {exc.msg} on line {exc.lineno}") from None


@contextlib.contextmanager
def config_file(path: str | None, option: str) -> Iterator[str | None]:
    """Checks that the TOML/JSON file given to ``option`` exists, and names the option and the file in
    its decoding errors (the library that reads it raises them)."""
    from quant_engine.errors import InvalidArgumentError

    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{option} {path}: no such file")
    try:
        yield path
    except json.JSONDecodeError as exc:
        raise InvalidArgumentError(f"{option} {path}: not valid JSON: {exc.msg} on line {exc.lineno}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidArgumentError(f"{option} {path}: not valid TOML: {exc}") from None


def add_synthetic_market(
    p: argparse.ArgumentParser, *, days: int, ticks_per_day: int, prefix: str = "synthetic market "
) -> None:
    """Adds ``--seed --start --days --ticks-per-day`` (the seeded synthetic market) to ``p``."""
    p.add_argument("--seed", type=int, default=7, help=f"{prefix}seed (default 7)")
    p.add_argument(
        "--start", type=iso_date, default="2024-01-02", help=f"{prefix}first session YYYY-MM-DD (default 2024-01-02)"
    )
    p.add_argument("--days", type=positive_int, default=days, help=f"{prefix}sessions (default {days})")
    p.add_argument(
        "--ticks-per-day",
        type=positive_int,
        default=ticks_per_day,
        help=f"{prefix}ticks per symbol per day (default {ticks_per_day})",
    )
