"""``quant-engine sandbox``: start a local vendor server (a fake Theta Terminal, a fake Massive or a
fake OpenAI-compatible LLM)."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Adds the ``sandbox`` command (its options live beside the servers, in :mod:`quant_engine.sandbox.runner`)."""
    from quant_engine.sandbox.runner import add_arguments

    sandbox = subparsers.add_parser(
        "sandbox",
        help="start a local vendor server (fake Theta Terminal, fake Massive or fake OpenAI-compatible LLM)",
        description=(
            "Starts a faithful local imitation of a vendor: 'theta' serves the Theta Terminal's v3 REST API "
            "and its /v1/events stream; 'massive' serves Massive's REST API and its /stocks and /options "
            "streams. Data comes from the seeded synthetic market or a catalog (--catalog). 'llm' serves "
            "OpenAI's /v1/chat/completions and /v1/models, answering with seeded strategy documents "
            "(point QE_LLM_BASE_URL at its base_url). Faults can be set at start (--faults) and changed while "
            "running with POST /_sandbox/faults (see docs/feeds.md and docs/research-loop.md). "
            "Prints one READY line with the URLs, then serves until interrupted."
        ),
    )
    add_arguments(sandbox)
    sandbox.set_defaults(func=_cmd_sandbox)


def _cmd_sandbox(args: argparse.Namespace) -> int:
    from quant_engine.cli.options import iso_date, json_option
    from quant_engine.errors import InvalidArgumentError
    from quant_engine.sandbox.runner import run

    json_option(args.faults, "--faults")  # malformed values fail here, naming the option
    try:
        iso_date(args.start)
    except argparse.ArgumentTypeError as exc:
        raise InvalidArgumentError(f"--start: {exc}") from None

    return run(args)
