"""The LLM's part of a post-mortem: a narrative of why a strategy failed and the failure type it
proposes (:class:`LLMPostMortemWriter`, the Gatekeeper's
:class:`~quant_engine.research.gatekeeper.post_mortem.PostMortemWriter`). The proposal is only a
proposal: :func:`~quant_engine.research.gatekeeper.conduct_post_mortem` stores a type only when a
detector raised it. An answer that is not the expected JSON is sent back once with the decoder's
message, then the note is empty (counted in :attr:`LLMPostMortemWriter.counts`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec

from quant_engine.research.llm.client import LLMClient
from quant_engine.research.llm.prompts import prompt_template
from quant_engine.store.taxonomy import FAILURE_TYPES

__all__ = ["LLMPostMortemWriter", "NOTE_SCHEMA"]


class _Note(msgspec.Struct, forbid_unknown_fields=True):
    narrative: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    proposed_type: str | None = None


NOTE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "narrative": {"type": "string", "minLength": 1, "maxLength": 4000},
        "proposed_type": {"anyOf": [{"type": "string", "enum": list(FAILURE_TYPES)}, {"type": "null"}]},
    },
    "required": ["narrative", "proposed_type"],
    "additionalProperties": False,
}
"""The JSON Schema of a post-mortem note (sent as the structured-output format)."""


def _failed_tests(verdict: Mapping[str, Any], limit: int = 12) -> str:
    lines = []
    for t in verdict.get("tests", []):
        if t.get("passed") or not t.get("gated", True):
            continue
        if t.get("reason"):
            lines.append(f"- {t['name']}: not computable ({t['reason']})")
        else:
            p = "" if t.get("p_value") is None else f", p = {t['p_value']:.4g}"
            lines.append(f"- {t['name']}: {t.get('statistic')!r} against {t.get('threshold')!r}{p}")
    return "\n".join(lines[:limit]) or "- none"


@dataclass
class LLMPostMortemWriter:
    """Writes post-mortem notes through an :class:`LLMClient` (every request in its log).

    Attributes:
        client: the LLM client.
        mission_id: whose budget pays.
        counts: notes written, repaired, empty (the answer never decoded), failed (transport).
    """

    client: LLMClient
    mission_id: int | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def write_post_mortem(self, strategy: Mapping[str, Any], verdict: Mapping[str, Any]) -> Any:
        """The note (``PostMortemNote``); an empty narrative when the LLM could not give one."""
        from quant_engine.errors import LLMBudgetError, LLMRequestError, LLMUnavailableError
        from quant_engine.research.gatekeeper.post_mortem import PostMortemNote

        system, template, repair = prompt_template("system"), prompt_template("postmortem"), prompt_template("repair")
        user = template.render(
            strategy=json.dumps(dict(strategy), sort_keys=True),
            failed=_failed_tests(verdict),
            raised=", ".join(verdict.get("failure_types", [])) or "none",
            types=", ".join(FAILURE_TYPES),
        )
        messages = [{"role": "system", "content": system.text}, {"role": "user", "content": user}]
        for attempt in range(2):
            try:
                comp = self.client.complete(messages, template=template if attempt == 0 else repair,
                                            mission_id=self.mission_id, schema=NOTE_SCHEMA)  # fmt: skip
            except (LLMUnavailableError, LLMRequestError, LLMBudgetError):
                self.counts["failed"] += 1
                return PostMortemNote("", None)
            try:
                note = msgspec.json.decode(comp.text.strip().removeprefix("```json").removesuffix("```"), type=_Note)
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                messages = [*messages, {"role": "assistant", "content": comp.text},
                            {"role": "user", "content": repair.render(errors=str(exc))}]  # fmt: skip
                continue
            self.counts["written"] += 1
            self.counts["repaired"] += attempt
            proposed = note.proposed_type.strip().upper() if note.proposed_type else None
            return PostMortemNote(note.narrative, proposed if proposed in FAILURE_TYPES else None)
        self.counts["empty"] += 1
        return PostMortemNote("", None)
