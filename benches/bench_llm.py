"""One LLM generation through the fake OpenAI-compatible server with injected faults.

Not a peer comparison (there is no peer): ``propose_strategies(N)`` against ``FakeLLM`` on
127.0.0.1 with 10 % each of 429, 500, malformed and invalid answers and 5 % each of slow and
truncated ones, in both structured-output modes, recording to a throw-away SQLite store. Prints
the accounting (every injected fault must be counted once; attempts recorded = requests the server
received) and the wall time. ``python benches/bench_llm.py [N]`` (default 100).
"""

from __future__ import annotations

import sys
import tempfile
import time

from quant_engine.feeds.retry import Backoff
from quant_engine.research.llm import LLMClient, load_settings, propose_strategies
from quant_engine.sandbox.llm import FakeLLM
from quant_engine.sandbox.llm_faults import LLMFaultPlan
from quant_engine.store import list_llm_requests, open_store

FAULTS = {"429": 0.1, "500": 0.1, "timeout": 0.05, "malformed": 0.1, "invalid": 0.1, "truncated": 0.05}
KINDS = {"429": "rate_limited", "500": "server_error", "timeout": "timeout", "malformed": "malformed"}
KINDS |= {"invalid": "schema", "truncated": "truncated"}


def main(n: int = 100) -> None:
    """Runs the generation in both modes and prints what happened."""
    store = open_store(f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite")
    for mode in ("json_schema", "json_object"):
        plan = LLMFaultPlan(probabilities=FAULTS, retry_after=0.01, slow_seconds=2.0, seed=1)
        with FakeLLM(seed=1, faults=plan) as server:
            settings = load_settings(
                {"QE_LLM_BASE_URL": server.base_url},
                structured_output=mode,
                timeout=1.0,
                max_retries=3,
                backoff=Backoff(initial=0.01, maximum=0.05),
            )
            assert settings is not None
            client = LLMClient(settings, store=store)
            before = len(list_llm_requests(store))
            t = time.perf_counter()
            r = propose_strategies(n, client=client, constraints_text="- Do not use rsi (OVERFITTING)")
            wall = time.perf_counter() - t
            rows = list_llm_requests(store)[before:]
            injected = {k: v for k, v in server.faults.injected.items() if k != "ok"}
            counted = {f: r.faults.get(KINDS[f], 0) for f in injected}
            print(
                f"{mode:11s} {wall:5.1f} s  {r.requests} completions, {len(r.strategies)} valid, {r.invalid} invalid, "
                f"{r.repaired} repaired, {r.dropped} dropped, {r.failed} failed, {r.duplicates} duplicates; "
                f"{r.prompt_tokens // max(r.requests, 1)} prompt tokens per request"
            )
            print(f"{'':11s} injected {injected}; counted {counted}; faults match: {injected == counted}")
            print(
                f"{'':11s} {len(rows)} rows, attempts recorded {sum(x.attempts for x in rows)} = "
                f"requests served {sum(server.faults.injected.values())}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
