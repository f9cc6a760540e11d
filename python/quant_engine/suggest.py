""" "Did you mean ...": the one helper every error message uses to suggest a valid spelling."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean", "closest", "allowed"]


def closest(word: str, options: Iterable[str]) -> str | None:
    """The option closest to ``word`` (difflib ratio >= 0.6, case-insensitive), or None."""
    opts = [str(o) for o in options]
    lowered = {o.lower(): o for o in opts}
    match = difflib.get_close_matches(str(word).lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[match[0]] if match else None


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """`` (did you mean `x`?)`` when an option is close to ``word``, else an empty string."""
    best = closest(word, options)
    return f" (did you mean `{best}`?)" if best is not None else ""


def allowed(options: Iterable[str]) -> str:
    """The options as a readable list: ``a, b, c``."""
    return ", ".join(str(o) for o in options)
