"""Massive pages of any size: 50,000-row aggregate pages (several MB on one JSON line) parse,
``next_url`` paging across them works, and an unreadable body is a typed vendor error that the
router falls back from."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pytest

from quant_engine.bars import aggregate_ticks
from quant_engine.errors import VendorServerError
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.massive import MassiveClient
from quant_engine.feeds.massive_tables import parse_page as _parse_page
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.router import DataRouter
from quant_engine.sandbox import FakeMassive, SandboxMarket

KEY = "pages-key"
FAST = Backoff(initial=0.01, maximum=0.02, retries=1)
START, END = "2024-01-02", "2024-01-06"


@pytest.fixture(scope="module")
def market() -> SandboxMarket:
    return SandboxMarket.synthetic_market(symbols=["AAPL"], days=3, ticks_per_day=100_000, quotes=False)


@pytest.fixture(scope="module")
def fake(market: SandboxMarket) -> Iterator[FakeMassive]:
    with FakeMassive(market, api_key=KEY, speed=3000) as srv:
        yield srv


def test_pages_of_50000_rows_and_next_url_paging(fake: FakeMassive, market: SandboxMarket) -> None:
    truth = aggregate_ticks(market.all_trades(), "1s")
    assert truth.num_rows > 50_000  # more than one full page
    first = httpx.get(
        f"{fake.rest_url}/v2/aggs/ticker/AAPL/range/1/second/{START}/{END}",
        params={"limit": 50000, "apiKey": KEY},
        timeout=60,
    )
    assert len(first.content) > 2_000_000 and '"next_url"' in first.text  # the size that failed before
    n_before = len(fake.seen_urls)
    with MassiveClient(KEY, fake.rest_url, backoff=FAST, timeout=60) as c:
        bars = c.aggregates("AAPL", 1, "second", START, END)
    assert len(fake.seen_urls) - n_before == 2  # the 50,000-row page, then its next_url
    assert bars.num_rows == truth.num_rows
    assert pc.cast(bars.column("start"), "int64").equals(pc.cast(truth.column("start"), "int64"))
    assert bars.column("close").equals(truth.column("close"))


def test_unreadable_body_is_a_typed_vendor_error() -> None:
    for body in (b'{"results": [{"o": 1.0}, ', b'{"a": 1}\n{"a": 2}\n', b"<html>gateway</html>"):
        with pytest.raises(VendorServerError) as info:
            _parse_page(body, "http://x/v2/aggs/ticker/AAPL/range/1/minute/a/b")
        assert info.value.vendor == "massive" and info.value.code == "BAD_BODY"
    big = b'{"status":"OK","results":[' + b",".join(b'{"o":1.5,"t":%d}' % i for i in range(200_000)) + b"]}"
    assert len(big) > 4_000_000 and _parse_page(big).results.num_rows == 200_000


def test_router_falls_back_from_a_bad_body(tmp_path: Path, market: SandboxMarket) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Garbage(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = b'{"status":"OK","results":[{"o":1' if "aggs" in self.path else b'{"market":"open"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cat = Catalog(tmp_path)
        cat.append("trades", market.all_trades())
        r = DataRouter(catalog=cat, massive=MassiveClient(KEY, f"http://127.0.0.1:{srv.server_port}", backoff=FAST))
        md = r.get_market_data("AAPL", "stock", "discovery", "2024-01-02T14:30:00Z", "2024-01-02T15:00:00Z", "1m")
        assert md.engine == "catalog" and "VendorServerError" in md.tried[0][1] and "unreadable body" in md.tried[0][1]
    finally:
        srv.shutdown()
