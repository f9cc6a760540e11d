"""``quant-engine sandbox theta|massive|llm``: the argument parser and the foreground runner (also
``python -m quant_engine.sandbox``)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Adds the sandbox options to ``p``."""
    p.add_argument(
        "vendor", choices=["theta", "massive", "llm"], help="which vendor to imitate (llm: an OpenAI-compatible LLM)"
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument(
        "--port", type=int, default=None, help="REST port (theta default 25503, massive 8700, llm 8790; 0 = any free)"
    )
    p.add_argument(
        "--ws-port", type=int, default=None, help="WebSocket port (theta default 25520, massive 8701; 0 = any free)"
    )
    p.add_argument(
        "--symbols", default="AAPL,MSFT,NVDA,SPY", help="comma-separated symbols (default AAPL,MSFT,NVDA,SPY)"
    )
    p.add_argument("--start", default="2024-01-02", help="first session date (default 2024-01-02)")
    p.add_argument("--days", type=int, default=1, help="sessions (default 1)")
    p.add_argument("--ticks-per-day", type=int, default=50_000, help="trades per symbol per day (default 50000)")
    p.add_argument(
        "--seed", type=int, default=7, help="synthetic market seed; llm: seed of the strategies and faults (default 7)"
    )
    p.add_argument("--catalog", default=None, help="serve this Parquet catalog instead of the synthetic market")
    p.add_argument(
        "--speed", type=float, default=60.0, help="stream replay speed, market s per wall s (0 = as fast as possible)"
    )
    p.add_argument("--no-quotes", action="store_true", help="serve no quotes (faster start-up)")
    p.add_argument(
        "--api-key",
        default=None,
        help="massive: the accepted API key (default: QE_MASSIVE_API_KEY or 'sandbox'); llm: the accepted bearer key "
        "(default: none, no check)",
    )
    p.add_argument(
        "--faults",
        default="{}",
        help="initial faults as JSON, e.g. '{\"disconnect_every\": 5}' (see docs/feeds.md); llm: e.g. "
        '\'{"sequence": ["429", "ok"], "probabilities": {"500": 0.1}}\' (see docs/research-loop.md)',
    )
    p.add_argument("--model", default="sandbox-strategist", help="llm: the model served (default sandbox-strategist)")
    p.add_argument(
        "--no-json-schema",
        action="store_true",
        help="llm: refuse response_format json_schema (400), as DeepSeek does; JSON mode still works",
    )


def _market(args: argparse.Namespace) -> Any:
    from quant_engine.sandbox.market import SandboxMarket

    symbols = [s for s in args.symbols.split(",") if s]
    if args.catalog:
        from quant_engine.feeds.catalog import Catalog

        return SandboxMarket.from_catalog(Catalog(args.catalog), symbols or None)
    return SandboxMarket.synthetic_market(
        seed=args.seed,
        symbols=symbols,
        start=args.start,
        days=args.days,
        ticks_per_day=args.ticks_per_day,
        quotes=not args.no_quotes,
    )


def _run_llm(args: argparse.Namespace) -> int:
    from quant_engine.sandbox.llm import FakeLLM
    from quant_engine.sandbox.llm_faults import LLMFaultPlan

    faults = LLMFaultPlan(seed=args.seed)
    faults.update(json.loads(args.faults))
    server = FakeLLM(
        host=args.host,
        port=8790 if args.port is None else args.port,
        seed=args.seed,
        model=args.model,
        api_key=args.api_key,
        json_schema=not args.no_json_schema,
        faults=faults,
    )
    server.start()
    print(f"READY vendor=llm base_url={server.base_url} model={server.model}", flush=True)
    return _serve_until_stopped(server)


def run(args: argparse.Namespace) -> int:
    """Starts the server, prints ``READY`` with its URLs, serves until SIGINT/SIGTERM."""
    import os

    from quant_engine.sandbox.faults import FaultPlan

    if args.vendor == "llm":
        return _run_llm(args)

    faults = FaultPlan()
    faults.update(json.loads(args.faults))
    market = _market(args)
    server: Any
    if args.vendor == "theta":
        from quant_engine.sandbox.theta import FakeThetaTerminal

        server = FakeThetaTerminal(
            market,
            host=args.host,
            rest_port=25503 if args.port is None else args.port,
            ws_port=25520 if args.ws_port is None else args.ws_port,
            speed=args.speed,
            faults=faults,
        )
    else:
        from quant_engine.sandbox.massive import FakeMassive

        key = args.api_key or os.environ.get("QE_MASSIVE_API_KEY") or "sandbox"
        server = FakeMassive(
            market,
            api_key=key,
            host=args.host,
            rest_port=8700 if args.port is None else args.port,
            ws_port=8701 if args.ws_port is None else args.ws_port,
            speed=args.speed,
            faults=faults,
        )
    server.start()
    print(
        f"READY vendor={args.vendor} rest={server.rest_url} ws={server.ws_url} symbols={','.join(market.symbols)}",
        flush=True,
    )
    return _serve_until_stopped(server)


def _serve_until_stopped(server: Any) -> int:
    import os

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    parent = os.environ.get("QE_SANDBOX_PARENT_PID")
    while not stop.wait(1.0):
        if parent and not _alive(int(parent)):  # started by SandboxProcess: never outlive it
            break
    server.stop()
    return 0


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m quant_engine.sandbox``."""
    parser = argparse.ArgumentParser(prog="python -m quant_engine.sandbox", description="Local vendor servers.")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
