"""``quant-engine serve``: run the REST and WebSocket API (``docs/api.md``) with uvicorn."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, not {value}")
    return value


def register(subparsers: Any) -> None:
    """Adds the ``serve`` command."""
    p = subparsers.add_parser(
        "serve",
        help="run the REST and WebSocket API server",
        description=(
            "Serves the API (health, market data, regimes, discovery, the research store, /ws/events) with uvicorn. "
            "Binds 127.0.0.1 unless --host says otherwise. Mutating endpoints and WebSockets need "
            "'Authorization: Bearer $QE_API_TOKEN' (without QE_API_TOKEN they are refused); QE_API_READ_TOKEN=1 "
            "guards reads too. The store is QE_STORE_URL (or --store). See docs/api.md."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: 8000; 0 picks a free one)")
    p.add_argument(
        "--store",
        default=None,
        metavar="URL",
        help="research store URL or SQLite path (default: QE_STORE_URL or the default file)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log level",
    )
    p.set_defaults(func=_cmd_serve)


def _cmd_serve(args: argparse.Namespace) -> int:
    import sys

    import uvicorn

    from quant_engine.api import ApiSettings, create_app

    settings = ApiSettings.from_env(store_url=str(args.store)) if args.store else ApiSettings.from_env()
    if settings.token is None:
        print(
            "quant-engine serve: QE_API_TOKEN is not set: mutating endpoints and WebSockets are refused",
            file=sys.stderr,
        )
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    return 0
