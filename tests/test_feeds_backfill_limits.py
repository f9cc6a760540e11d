"""A gap backfill that cannot succeed must not hold live trades for ever: permanent errors
(401/403/404) give the gap up at once, transient ones after ``backfill_max_hold``; the held
trades are released and the gap is recorded as unfilled (counted, visible in the status).
Against the fake Massive server with its fault injection."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from feeds_support import run
from quant_engine.feeds.massive import AsyncMassiveClient, MassiveStream
from quant_engine.feeds.retry import Backoff
from quant_engine.sandbox import FakeMassive, SandboxMarket

KEY = "backfill-key"
FAST = Backoff(initial=0.01, maximum=0.02, retries=1)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMassive]:
    market = SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=20_000, quotes=False)
    with FakeMassive(market, api_key=KEY, speed=300) as srv:
        yield srv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _gap_then_release(fake: FakeMassive, rest: AsyncMassiveClient, max_hold: float) -> MassiveStream:
    """Streams trades, drops the connection once, and returns the stream once the gap it opened
    was given up and trades flow again (fails the test if they stay held)."""
    httpx.post(fake.rest_url + "/_sandbox/replay", params={"apiKey": KEY}, json={"restart": True})
    s = MassiveStream(
        fake.ws_url + "/stocks", KEY, rest=rest, reconnect=Backoff(0.02, 0.05, retries=100), backfill_max_hold=max_hold
    )
    await s.start()
    await s.wait_ready(5)
    await s.subscribe("trades", "AAPL")
    await s.subscribe("trades", "MSFT")
    live_after = 0

    async def consume() -> None:
        nonlocal live_after
        dropped = False
        async for batch in s:
            if not dropped and batch.data.num_rows:
                fake.faults.update({"disconnect_now": True})
                dropped = True
            elif dropped and s.stats()["gaps_unfilled"]:
                live_after += batch.data.num_rows
                if live_after > 50 and s.stats()["held_now"] == 0:
                    return

    await asyncio.wait_for(consume(), 20)
    return s


def test_permanent_backfill_error_releases_held_trades(fake: FakeMassive) -> None:
    fake.faults.__init__()  # type: ignore[misc]

    async def main() -> None:
        rest = AsyncMassiveClient("a-key-without-trades-access", fake.rest_url, backoff=FAST)  # 401 on every backfill
        t0 = time.monotonic()
        s = await _gap_then_release(fake, rest, max_hold=60.0)
        assert time.monotonic() - t0 < 15  # given up at once, not after the hold cap
        gaps = s.unfilled_gaps()
        assert (
            len(gaps) == 1
            and "permanent error: VendorAuthError" in gaps[0]["reason"]
            and gaps[0]["symbols"] == ["AAPL", "MSFT"]
        )
        assert s.stats()["gaps_unfilled"] == 1 and s.stats()["backfill_failures"] == 1  # no retry of a 401
        st = s.status()
        assert st.state == "degraded" and "1 gap(s) left unfilled" in st.reason and st.details["gaps_unfilled"] == 1
        await s.close()
        await rest.aclose()

    run(main())


def test_transient_backfill_errors_hold_trades_at_most_backfill_max_hold(fake: FakeMassive) -> None:
    fake.faults.__init__()  # type: ignore[misc]

    async def main() -> None:
        rest = AsyncMassiveClient(KEY, f"http://127.0.0.1:{_free_port()}", backoff=FAST)  # nothing listening: retried
        s = await _gap_then_release(fake, rest, max_hold=1.0)
        gaps = s.unfilled_gaps()
        assert len(gaps) == 1 and "held for 1 s" in gaps[0]["reason"] and "VendorUnavailableError" in gaps[0]["reason"]
        assert s.stats()["backfill_failures"] >= 2  # retried while within the cap
        await s.close()
        await rest.aclose()

    run(main())
