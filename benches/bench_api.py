"""Benchmark: the API's msgspec edge against the Pydantic peer FastAPI users would write, in one run.

Cases:

* ``encode a strategy page``: 500 store records -> the response body -> JSON bytes, msgspec
  Structs (ours, ``quant_engine.api.bodies``) against Pydantic v2 models of the same shape.
* ``decode a risk/validate body``: 1,000 orders of JSON -> a validated body, msgspec against
  Pydantic v2 (``model_validate_json``).
* ``GET /strategies`` and ``GET /trials`` over HTTP on a large store (default 20,000 strategies,
  200,000 trials; ``--strategies 100000 --trials 1000000`` for the issue's size), one sequential
  client: ``quant-engine serve`` (uvicorn, msgspec) against a peer app (uvicorn, FastAPI
  ``response_model`` with Pydantic) calling the same store query; p50 and p99 latency per request.

Both sides' outputs are decoded and compared before anything is timed. The store rows are bulk
inserted with SQLAlchemy Core (well-formed rows, not strategies that were ever backtested): this
measures the read path only.

Run: ``python benches/bench_api.py [--strategies N] [--trials M] [--requests R]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import httpx  # noqa: E402
import msgspec  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from pydantic import BaseModel  # noqa: E402

from _harness import Bench, Timing, check_agree  # noqa: E402
from quant_engine.api.bodies import StrategyPage, StrategySummary  # noqa: E402
from quant_engine.store import open_store  # noqa: E402
from quant_engine.store import schema as S  # noqa: E402


class SummaryModel(BaseModel):
    """The peer's strategy row."""

    hash: str
    name: str
    family: str
    template_hash: str
    origin: str
    mission_id: int | None
    status: str
    created_at: float
    updated_at: float


class PageModel(BaseModel):
    """The peer's page."""

    items: list[SummaryModel]
    limit: int
    offset: int
    next_offset: int | None


class OrderModel(BaseModel):
    """The peer's order (the fields of ``/risk/validate``)."""

    symbol: str
    side: str
    quantity: float
    price: float
    order_type: str = "market"
    reduce_only: bool = False


class ValidateModel(BaseModel):
    """The peer's ``/risk/validate`` body."""

    orders: list[OrderModel]
    cash: float | None = None


PEER_APP = textwrap.dedent(
    """
    from fastapi import FastAPI, Query
    from pydantic import BaseModel
    from quant_engine.api.queries import strategies_page, trials_page
    from quant_engine.store import open_store

    class Summary(BaseModel):
        hash: str; name: str; family: str; template_hash: str; origin: str
        mission_id: int | None; status: str; created_at: float; updated_at: float

    class Page(BaseModel):
        items: list[Summary]; limit: int; offset: int; next_offset: int | None

    class Trial(BaseModel):
        id: int; batch_id: int; seq: int; strategy_hash: str; family: str; params: dict; metrics: dict
        snapshot_id: int | None; config_hash: str; engine_version: str; wall_time_s: float
        has_returns: bool; created_at: float

    class TrialPage(BaseModel):
        items: list[Trial]; next_before: int | None

    import os
    store = open_store(os.environ["QE_STORE_URL"])
    app = FastAPI()

    @app.get("/strategies", response_model=Page)
    def strategies(limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)):
        records, more = strategies_page(store, status=None, family=None, mission_id=None, limit=limit, offset=offset)
        return Page(items=[Summary(hash=r.hash, name=r.name, family=r.family, template_hash=r.template_hash,
                                   origin=r.origin, mission_id=r.mission_id, status=r.status,
                                   created_at=r.created_at, updated_at=r.updated_at) for r in records],
                    limit=limit, offset=offset, next_offset=offset + limit if more else None)

    @app.get("/trials", response_model=TrialPage)
    def trials(limit: int = Query(100, ge=1, le=1000), before: int | None = Query(None, ge=1)):
        records, nxt = trials_page(store, strategy_hash=None, family=None, before=before, limit=limit)
        return TrialPage(items=[Trial(**{k: getattr(r, k) for k in Trial.model_fields}) for r in records],
                         next_before=nxt)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str, n_strategies: int, n_trials: int) -> None:
    """Bulk rows: strategies in 50 families, trials spread over them in batches of 1,000."""
    store = open_store(url)
    spec = json.dumps({"instruments": ["SPY"], "entry_long": {"op": "gt", "left": "close", "right": 1}})
    with store.write() as conn:
        rows = []
        for i in range(n_strategies):
            h = hashlib.sha256(f"s{i}".encode()).hexdigest()
            rows.append({"hash": h, "template_hash": h, "family": f"family-{i % 50}", "name": f"s{i}", "spec": spec,
                         "origin": "search", "mission_id": None, "status": "candidate", "created_at": 1.7e9 + i,
                         "updated_at": 1.7e9 + i})  # fmt: skip
            if len(rows) == 10_000:
                conn.execute(sa.insert(S.strategies), rows)
                rows = []
        if rows:
            conn.execute(sa.insert(S.strategies), rows)
    per_batch = 1000
    with store.write() as conn:
        for b in range((n_trials + per_batch - 1) // per_batch):
            h = hashlib.sha256(f"s{b % n_strategies}".encode()).hexdigest()
            batch_id = conn.execute(
                sa.insert(S.trial_batches).values(
                    strategy_hash=h,
                    mission_id=None,
                    snapshot_id=None,
                    n_trials=per_batch,
                    n_periods=None,
                    config_hash="c",
                    engine_version="bench",
                    wall_time_s=0.0,
                    created_at=1.7e9 + b,
                )  # fmt: skip
            ).inserted_primary_key[0]
            n = min(per_batch, n_trials - b * per_batch)
            conn.execute(
                sa.insert(S.trials),
                [{"batch_id": batch_id, "seq": j, "strategy_hash": h, "params": json.dumps({"fast": j % 50, "slow": 60}),
                  "snapshot_id": None, "config_hash": "c", "engine_version": "bench",
                  "metrics": json.dumps({"sharpe": (j % 97) / 50.0, "trades": j % 40}), "sharpe": (j % 97) / 50.0,
                  "wall_time_s": 0.001, "blob_id": None, "blob_column": None, "created_at": 1.7e9 + b}
                 for j in range(n)],
            )  # fmt: skip
    store.close()


def _start(cmd: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/strategies?limit=1", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{cmd} did not answer")


def _latencies(client: httpx.Client, url: str, paths: list[str]) -> list[float]:
    out = []
    for path in paths:
        t0 = time.perf_counter()
        r = client.get(url + path)
        out.append(time.perf_counter() - t0)
        assert r.status_code == 200, r.text
    return out


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _http_cases(bench: Bench, args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="qe-bench-api-"))
    url = f"sqlite:///{tmp / 'store.sqlite'}"
    t0 = time.perf_counter()
    _seed(url, args.strategies, args.trials)
    print(f"  seeded {args.strategies:,} strategies and {args.trials:,} trials in {time.perf_counter() - t0:.1f} s",
          file=sys.stderr)  # fmt: skip
    (tmp / "peer_app.py").write_text(PEER_APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith("QE_")}
    env["QE_STORE_URL"] = url
    ours_url, peer_url = f"http://127.0.0.1:{_free_port()}", f"http://127.0.0.1:{_free_port()}"
    ours = _start([sys.executable, "-m", "quant_engine.cli", "serve", "--host", "127.0.0.1", "--port",
                   ours_url.rsplit(":", 1)[1], "--store", url], env, ours_url)  # fmt: skip
    peer = _start([sys.executable, "-m", "uvicorn", "--app-dir", str(tmp), "peer_app:app", "--host", "127.0.0.1",
                   "--port", peer_url.rsplit(":", 1)[1], "--log-level", "warning"], env, peer_url)  # fmt: skip
    try:
        mid = args.trials // 2
        cases = {
            "GET /strategies?limit=100 (deep offsets)": [
                f"/strategies?limit=100&offset={(i * 7919) % max(args.strategies - 100, 1)}"
                for i in range(args.requests)
            ],
            "GET /trials?limit=100 (keyset pages)": [
                f"/trials?limit=100&before={mid - (i * 104729) % max(mid - 1, 1)}" for i in range(args.requests)
            ],
        }
        with httpx.Client(timeout=30) as client:
            for case, paths in cases.items():
                a = client.get(ours_url + paths[3]).json()
                b = client.get(peer_url + paths[3]).json()
                assert a == b, f"{case}: the two servers disagree"
                check_agree(case, {"ours": (len(a["items"]),), "peer": (len(b["items"]),)})
                bench.case(case, n_items=len(paths), baseline="FastAPI + Pydantic response_model",
                           target="p99 under 50 ms on the large store")  # fmt: skip
                for name, base in (
                    ("FastAPI + Pydantic response_model", peer_url),
                    ("quant-engine (msgspec)", ours_url),
                    ("FastAPI + Pydantic response_model (again)", peer_url),
                ):
                    _latencies(client, base, paths[:20])  # warm-up
                    lat = _latencies(client, base, paths)
                    total = sum(lat)
                    timing = Timing(total, total, total, 1)
                    note = f"p50 {1e3 * statistics.median(lat):.2f} ms, p99 {1e3 * _p(lat, 0.99):.2f} ms"
                    bench.record(name, timing, n_items=len(paths), note=note)
                    print(f"  {case:<46} {name:<34} {note}", file=sys.stderr)
    finally:
        for proc in (ours, peer):
            proc.terminate()
            proc.wait(10)


def _codec_cases(bench: Bench) -> None:
    from quant_engine.api.routers.risk import ValidateRequest as RiskValidateRequest

    records = [
        StrategySummary(
            hashlib.sha256(str(i).encode()).hexdigest(),
            f"s{i}",
            f"family-{i % 50}",
            "t" * 64,
            "search",
            None,
            "candidate",
            1.7e9 + i,
            1.7e9 + i,
        )  # fmt: skip
        for i in range(500)
    ]
    rows = [msgspec.structs.asdict(r) for r in records]

    def ours_encode() -> bytes:
        return msgspec.json.encode(StrategyPage([StrategySummary(**r) for r in rows], 500, 0, 500))

    def peer_encode() -> bytes:
        return (
            PageModel(items=[SummaryModel(**r) for r in rows], limit=500, offset=0, next_offset=500)
            .model_dump_json()
            .encode()
        )

    check_agree("encode a strategy page", {"msgspec": (len(json.loads(ours_encode())["items"]),),
                                           "pydantic": (len(json.loads(peer_encode())["items"]),)})  # fmt: skip
    assert json.loads(ours_encode()) == json.loads(peer_encode())
    bench.case("encode a strategy page (500 rows)", n_items=500, baseline="pydantic v2")
    bench.time("pydantic v2", peer_encode, repeat=15)
    bench.time("msgspec (ours)", ours_encode, repeat=15)

    orders = [{"symbol": "SPY", "side": "buy" if i % 2 else "sell", "quantity": 1 + i % 9, "price": 400.0 + i / 100}
              for i in range(1000)]  # fmt: skip
    payload = json.dumps({"orders": orders, "cash": 1e6}).encode()

    def ours_decode() -> Any:
        return msgspec.json.decode(payload, type=RiskValidateRequest)

    def peer_decode() -> Any:
        return ValidateModel.model_validate_json(payload)

    check_agree("decode a risk/validate body", {"msgspec": (len(ours_decode().orders),),
                                                "pydantic": (len(peer_decode().orders),)})  # fmt: skip
    bench.case("decode a risk/validate body (1,000 orders)", n_items=1000, baseline="pydantic v2")
    bench.time("pydantic v2", peer_decode, repeat=15)
    bench.time("msgspec (ours)", ours_decode, repeat=15)


def main() -> None:
    """Runs the cases and prints the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--strategies", type=int, default=20_000)
    p.add_argument("--trials", type=int, default=200_000)
    p.add_argument("--requests", type=int, default=300)
    args = p.parse_args()
    bench = Bench("api", items_label="items")
    _codec_cases(bench)
    _http_cases(bench, args)
    bench.report()


if __name__ == "__main__":
    main()
