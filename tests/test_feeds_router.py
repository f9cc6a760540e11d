"""The data router: discovery to Massive, execution to ThetaData, the catalog as the fallback,
which engine answered, and every engine's status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from quant_engine.errors import InvalidArgumentError, NoDataError
from quant_engine.feeds import router as router_mod
from quant_engine.feeds.catalog import Catalog
from quant_engine.feeds.config import FeedSettings, Secret
from quant_engine.feeds.massive import MassiveClient
from quant_engine.feeds.retry import Backoff
from quant_engine.feeds.router import DataRouter, get_data_router, reset_data_router
from quant_engine.feeds.thetadata import ThetaDataClient
from quant_engine.sandbox import FakeMassive, FakeThetaTerminal, SandboxMarket

FAST = Backoff(initial=0.01, maximum=0.02, retries=1)
START, END = "2024-01-02T14:30:00Z", "2024-01-02T15:00:00Z"


@pytest.fixture(scope="module")
def vendors() -> Iterator[tuple[FakeThetaTerminal, FakeMassive, SandboxMarket]]:
    market = SandboxMarket.synthetic_market(symbols=["AAPL", "MSFT"], ticks_per_day=3_000)
    with FakeThetaTerminal(market) as theta, FakeMassive(market, api_key="k") as massive:
        yield theta, massive, market


@pytest.fixture
def catalog(tmp_path: Path, vendors: tuple[FakeThetaTerminal, FakeMassive, SandboxMarket]) -> Catalog:
    cat = Catalog(tmp_path)
    cat.append("trades", vendors[2].all_trades())
    return cat


def test_routes_by_use_case_and_says_who_answered(vendors, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    theta, massive, _ = vendors
    r = DataRouter(
        catalog=catalog,
        theta=ThetaDataClient(theta.rest_url, backoff=FAST),
        massive=MassiveClient("k", massive.rest_url, backoff=FAST),
    )
    disc = r.get_market_data("AAPL", "stock", "discovery", START, END, "1m")
    assert disc.engine == "massive" and disc.table.num_rows == 30
    assert disc.table.schema.metadata[b"quant_engine.engine"] == b"massive"
    exe = r.get_market_data("AAPL", "stock", "execution", START, END, "1m")
    assert exe.engine == "thetadata" and exe.table.num_rows == 30
    cat = r.get_market_data("AAPL", "stock", "discovery", START, END, "tick")
    assert cat.engine == "massive" and cat.table.num_rows > 0
    # all three engines agree on the bars
    local = catalog.bars("AAPL", START, END, "1m")
    for answer in (disc.table, exe.table):
        assert answer.column("close").to_pylist() == local.column("close").to_pylist()
        assert answer.column("trades").to_pylist() == local.column("trades").to_pylist()
    status = r.engines_status()
    assert {k: v.state for k, v in status.items()} == {"thetadata": "online", "massive": "online", "catalog": "online"}


def test_falls_back_to_the_catalog_with_reasons(vendors, catalog: Catalog) -> None:  # type: ignore[no-untyped-def]
    theta, massive, _ = vendors
    r = DataRouter(catalog=catalog, theta=ThetaDataClient("http://127.0.0.1:9", backoff=FAST), massive=None)
    d = r.get_market_data("MSFT", "stock", "discovery", START, END, "5m")
    assert d.engine == "catalog" and d.table.num_rows == 6
    assert d.tried[0][0] == "massive" and "not configured" in d.tried[0][1]
    e = r.get_market_data("MSFT", "stock", "execution", START, END, "trades")
    assert e.engine == "catalog" and "offline" in e.tried[0][1]
    massive.faults.update({"http_5xx": 5})
    failing = DataRouter(catalog=catalog, massive=MassiveClient("k", massive.rest_url, backoff=FAST))
    f = failing.get_market_data("MSFT", "stock", "discovery", START, END, "1m")
    assert f.engine == "catalog" and "VendorUnavailableError" in f.tried[0][1]
    massive.faults.http_5xx = 0
    with pytest.raises(NoDataError, match="massive"):
        failing.get_market_data("ZZZZ", "stock", "discovery", START, END, "1m")
    with pytest.raises(InvalidArgumentError):
        r.get_market_data("MSFT", "stock", "speculation", START, END)  # type: ignore[arg-type]


def test_process_wide_router_from_the_environment(vendors, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    theta, massive, market = vendors
    monkeypatch.setenv("QE_THETA_BASE_URL", theta.rest_url)
    monkeypatch.setenv("QE_MASSIVE_API_KEY", "k")
    monkeypatch.setenv("QE_MASSIVE_BASE_URL", massive.rest_url)
    monkeypatch.setenv("QE_CATALOG_DIR", str(tmp_path / "empty"))
    reset_data_router()
    try:
        r = get_data_router()
        assert r is get_data_router()
        assert r.settings.theta_enabled and r.settings.massive_enabled
        assert isinstance(r.settings.massive_api_key, Secret) and "k" not in repr(r.settings.massive_api_key)
        st = router_mod.check_data_engines_status()
        assert st["thetadata"]["state"] == "online" and st["massive"]["state"] == "online"
        assert st["catalog"]["state"] == "offline" and "no catalog" in st["catalog"]["reason"]
        assert r.get_market_data("AAPL", "stock", "execution", START, END, "quotes").engine == "thetadata"
    finally:
        reset_data_router()
    assert FeedSettings.from_env({}).theta_enabled is False
