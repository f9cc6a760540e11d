"""Benchmark: raw vendor WebSocket frames to updated bars.

* **end to end**: the local vendor server (a child process: the fake Theta Terminal or the fake
  Massive, streaming pre-encoded frames as fast as the socket drains) -> socket -> the stream
  client (``ThetaDataStream`` / ``MassiveStream``: Rust framing + JSON decoding + duplicate
  filter) -> ``MultiSymbolBuffer`` (1-minute bars), on one core of the client process; timed from
  the first trade batch to the last trade pushed into the bars;
* **decode only** and **decode + bars**, in memory, on the same bytes the server sends;
* **peers**, measured in the same run on the same messages (already deframed, which favours
  them): a per-message Python decoder (``json.loads``, and ``msgspec``) feeding a per-tick
  Python bar aggregator.

Times are CPU seconds of the benchmark process (one core; the Rust code runs on the calling
thread), so a busy shared machine does not distort them; the end-to-end case is also reported
in wall-clock time, which includes waiting for the server process. (NautilusTrader's per-tick Python aggregation runs 1.4-2.3 M ticks/s on
  this kind of machine before building its tick objects; it is not installed here.)

Target: >= 3 M ticks/s end to end on one core. Both the wall time and the client's CPU time are
reported: on a shared 2-core machine the wall time also measures the server process and other
load.

Usage: ``python benches/bench_feeds.py [--trades N] [--repeat R]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Bench, Timing, check_agree  # noqa: E402
from quant_engine._core import StreamDecoder  # noqa: E402
from quant_engine.bars import MultiSymbolBuffer  # noqa: E402
from quant_engine.feeds.massive import MassiveStream  # noqa: E402
from quant_engine.feeds.thetadata import ThetaDataStream  # noqa: E402
from quant_engine.sandbox import SandboxMarket, SandboxProcess  # noqa: E402
from quant_engine.sandbox.massive import FakeMassive  # noqa: E402
from quant_engine.sandbox.theta import FakeThetaTerminal  # noqa: E402

SYMBOLS = ["AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "XOM", "SPY"]
CHUNK = 1 << 20


def messages_of(wire: bytes) -> list[bytes]:
    """Deframes server frames (all text, FIN) in Python: the peers' input."""
    out, i, n = [], 0, len(wire)
    while i < n:
        ln = wire[i + 1] & 0x7F
        j = i + 2
        if ln == 126:
            ln = int.from_bytes(wire[j : j + 2], "big")
            j += 2
        elif ln == 127:
            ln = int.from_bytes(wire[j : j + 8], "big")
            j += 8
        out.append(wire[j : j + ln])
        i = j + ln
    return out


def python_bars_theta(msgs: list[bytes], loads: Any) -> int:
    """Per-message decode + per-tick 1-minute bars in Python (the peer)."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    base: dict[int, int] = {}
    bars: dict[str, list[float]] = {}
    closed = 0
    for m in msgs:
        d = loads(m)
        t = d["trade"]
        day = t["date"]
        b0 = base.get(day)
        if b0 is None:
            b0 = base[day] = int(dt.datetime(day // 10000, day // 100 % 100, day % 100, tzinfo=ny).timestamp()) * 10**9
        ts = b0 + t["ms_of_day"] * 1_000_000
        start = ts - ts % 60_000_000_000
        sym = d["contract"]["root"]
        p, s = t["price"], t["size"]
        bar = bars.get(sym)
        if bar is None or bar[0] != start:
            if bar is not None:
                closed += 1
            bars[sym] = [start, p, p, p, p, s, p * s, 1]
        else:
            bar[2] = max(bar[2], p)
            bar[3] = min(bar[3], p)
            bar[4] = p
            bar[5] += s
            bar[6] += p * s
            bar[7] += 1
    return closed


def python_bars_massive(msgs: list[bytes], loads: Any) -> int:
    """The Massive peer: per-message array decode + per-tick bars in Python."""
    bars: dict[str, list[float]] = {}
    closed = 0
    for m in msgs:
        for e in loads(m):
            if e["ev"] != "T":
                continue
            ts = e["t"] * 1_000_000
            start = ts - ts % 60_000_000_000
            sym, p, s = e["sym"], e["p"], e["s"]
            bar = bars.get(sym)
            if bar is None or bar[0] != start:
                if bar is not None:
                    closed += 1
                bars[sym] = [start, p, p, p, p, s, p * s, 1]
            else:
                bar[2] = max(bar[2], p)
                bar[3] = min(bar[3], p)
                bar[4] = p
                bar[5] += s
                bar[6] += p * s
                bar[7] += 1
    return closed


def decode_only(vendor: str, wire: bytes) -> int:
    d = StreamDecoder(vendor)
    n = 0
    for i in range(0, len(wire), CHUNK):
        t = d.feed(wire[i : i + CHUNK])[0]
        if t is not None:
            n += t.num_rows
    return n


def decode_and_bars(vendor: str, wire: bytes) -> tuple[int, int]:
    """Trades decoded and bars closed (a bar closes when a later trade of its symbol arrives)."""
    d = StreamDecoder(vendor)
    buf = MultiSymbolBuffer(interval="1m", capacity=500, min_bars=1)
    n = closed = 0
    for i in range(0, len(wire), CHUNK):
        t = d.feed(wire[i : i + CHUNK])[0]
        if t is not None:
            closed += buf.push(t).num_rows
            n += t.num_rows
    return n, closed


async def end_to_end(vendor: str, proc: SandboxProcess, n_expected: int) -> tuple[float, float]:
    """Wall seconds and client CPU seconds from the first trade batch to the last trade pushed
    into the bars (the CPU time is what one core of the client spends; the wall time also
    depends on the server process and on other load on the machine)."""
    rest = proc.info["rest"]
    async with httpx.AsyncClient(base_url=rest, params={"apiKey": "bench"}) as admin:
        await admin.post("/_sandbox/replay", json={"restart": True, "speed": 0})
    if vendor == "thetadata":
        stream: Any = ThetaDataStream(proc.info["ws"], silence_timeout=30.0)
    else:
        stream = MassiveStream(proc.info["ws"] + "/stocks", "bench", silence_timeout=30.0, ping_interval=None)
    buf = MultiSymbolBuffer(interval="1m", capacity=500, min_bars=1)
    await stream.start()
    await stream.wait_ready(20)
    for s in SYMBOLS:
        await stream.subscribe("trades", s)
    n = 0
    t0 = c0 = 0.0
    async for batch in stream:
        if batch.kind != "trades":
            continue
        if not n:
            t0, c0 = time.perf_counter(), time.process_time()
        buf.push(batch.data)
        n += batch.data.num_rows
        if n >= n_expected:
            break
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    await stream.close()
    assert n == n_expected, (n, n_expected)
    assert buf.stats()["ticks_accepted"] == n_expected
    return elapsed, cpu


def cpu_timeit(fn: Any, repeat: int, warmup: int = 1) -> Timing:
    """CPU seconds of this process per call (one core: nothing here runs on another thread)."""
    import gc

    for _ in range(warmup):
        fn()
    samples = []
    gc.disable()
    try:
        for _ in range(repeat):
            c0 = time.process_time()
            fn()
            samples.append(time.process_time() - c0)
    finally:
        gc.enable()
    return Timing(float(np.median(samples)), min(samples), max(samples), repeat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trades", type=int, default=2_000_000, help="trades per vendor (default 2,000,000)")
    ap.add_argument("--repeat", type=int, default=3, help="repeats (default 3)")
    ap.add_argument("--peer-repeat", type=int, default=2, help="repeats of the (slow) Python peers (default 2)")
    args = ap.parse_args()
    per_symbol = args.trades // len(SYMBOLS)
    market = SandboxMarket.synthetic_market(symbols=SYMBOLS, ticks_per_day=per_symbol, quotes=False)
    n = len(market.trades.ts)
    bench = Bench("feeds", items_label="ticks")
    servers = {
        "thetadata": FakeThetaTerminal(market),
        "massive": FakeMassive(market, api_key="bench", batch=100),
    }
    for vendor, fake in servers.items():
        wire = fake.trade_frames(SYMBOLS)
        msgs = messages_of(wire)
        print(f"{vendor}: {n:,} trades, {len(wire) / 1e6:,.0f} MB on the wire, {len(msgs):,} messages", file=sys.stderr)
        case = f"{vendor}: frames -> 1m bars"
        bench.case(case, n_items=n, baseline="python json + dict bars", target=">= 3 M ticks/s end to end, one core")
        py = python_bars_theta if vendor == "thetadata" else python_bars_massive
        dec = msgspec.json.Decoder()
        ours_n, ours_closed = decode_and_bars(vendor, wire)
        check_agree(case, {
            "quant-engine decode + bars": (ours_n, ours_closed),
            "quant-engine decode only": (decode_only(vendor, wire), ours_closed),
            "python json + dict bars": (n, py(msgs, json.loads)),
            "python msgspec + dict bars": (n, py(msgs, dec.decode)),
        }, rel=0.0)  # fmt: skip
        rows = [
            ("python json + dict bars", lambda: py(msgs, json.loads), args.peer_repeat, 0, "deframed"),  # noqa: F821
            ("python msgspec + dict bars", lambda: py(msgs, dec.decode), args.peer_repeat, 0, "deframed"),  # noqa: F821
            ("quant-engine decode only", lambda: decode_only(vendor, wire), args.repeat, 1, "in memory"),  # noqa: F821
            ("quant-engine decode + bars", lambda: decode_and_bars(vendor, wire), args.repeat, 1, "in memory"),  # noqa: F821
        ]
        for impl, fn, rep, warm, note in rows:
            t = cpu_timeit(fn, rep, warm)
            bench.record(impl, t, note=note)
            print(f"  {case:<46} {impl:<28} {t.median * 1e3:>8.1f} ms CPU", file=sys.stderr)
        cli = "theta" if vendor == "thetadata" else "massive"
        extra = ["--api-key", "bench"] if vendor == "massive" else []
        with SandboxProcess(
            [
                cli,
                "--port",
                "0",
                "--ws-port",
                "0",
                "--symbols",
                ",".join(SYMBOLS),
                "--ticks-per-day",
                str(per_symbol),
                "--speed",
                "0",
                "--no-quotes",
                *extra,
            ]
        ) as proc:
            samples = [asyncio.run(end_to_end(vendor, proc, n)) for _ in range(args.repeat)]
        for label, k in (("client CPU", 1), ("wall clock", 0)):
            v = [x[k] for x in samples]
            t = Timing(float(np.median(v)), min(v), max(v), len(v))
            bench.record(f"quant-engine end to end, {label}", t, note="local server, socket")
            print(f"  {case:<46} {'quant-engine end to end, ' + label:<28} {t.median * 1e3:>8.1f} ms", file=sys.stderr)
        del wire, msgs
    bench.report()


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    main()
