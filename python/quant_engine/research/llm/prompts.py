"""Prompt templates, versioned in the package: ``prompts/<name>.v<N>.txt``.

The newest version of a name is used; its :attr:`PromptTemplate.version_id`
(``propose.v1+3f2a9c1e``: the file's version and the first 8 hex of the SHA-256 of its text) is
recorded with every request, so an edit without a new version number still shows in the log.
Placeholders are ``$name`` (:class:`string.Template`), so JSON braces need no escaping.
"""

from __future__ import annotations

import functools
import hashlib
import re
import string
from dataclasses import dataclass
from importlib import resources
from typing import Any

from quant_engine.errors import InternalError, InvalidArgumentError

__all__ = ["PromptTemplate", "prompt_template", "template_names"]

_FILE = re.compile(r"^(?P<name>[a-z_]+)\.v(?P<version>\d+)\.txt$")


@dataclass(frozen=True)
class PromptTemplate:
    """One version of a prompt template.

    Attributes:
        name: ``system``, ``propose``, ``repair`` ...
        version: the number in the file name.
        text: the template text.
    """

    name: str
    version: int
    text: str

    @property
    def version_id(self) -> str:
        """``<name>.v<version>+<sha8>``: what the request log records."""
        return f"{self.name}.v{self.version}+{hashlib.sha256(self.text.encode()).hexdigest()[:8]}"

    def render(self, **values: Any) -> str:
        """The text with every ``$placeholder`` replaced (a missing one is a bug here)."""
        try:
            return string.Template(self.text).substitute({k: str(v) for k, v in values.items()})
        except (KeyError, ValueError) as exc:
            raise InternalError(f"prompt template {self.version_id}: missing or bad placeholder {exc}") from None


@functools.cache
def _templates() -> dict[str, PromptTemplate]:
    newest: dict[str, PromptTemplate] = {}
    for entry in resources.files("quant_engine.research.llm").joinpath("prompts").iterdir():
        m = _FILE.match(entry.name)
        if m is None:
            continue
        t = PromptTemplate(m["name"], int(m["version"]), entry.read_text(encoding="utf-8"))
        if t.name not in newest or t.version > newest[t.name].version:
            newest[t.name] = t
    return newest


def template_names() -> list[str]:
    """The names of the shipped templates."""
    return sorted(_templates())


def prompt_template(name: str) -> PromptTemplate:
    """The newest version of template ``name``."""
    t = _templates().get(name)
    if t is None:
        raise InvalidArgumentError(f"unknown prompt template {name!r}; known: {', '.join(template_names())}")
    return t
