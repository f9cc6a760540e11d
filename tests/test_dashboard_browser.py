"""Guardian in a real browser (Debian's Chromium driven by Playwright) against a real server over
a store seeded with a small finished mission: every panel loads, every button acts through the
API and the store shows it, an unauthenticated browser cannot act, and live updates arrive over
/ws/events. Screenshots of each panel are written to ``out/screenshots/``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from api_support import TOKEN, Server, start_server, stop_server
from quant_engine.store import (
    Memory,
    add_strategy,
    create_mission,
    get_strategy,
    list_missions,
    list_verdicts,
    open_store,
    record_memories,
    record_trials,
    record_verdict,
    transition,
    trial_count,
)
from quant_engine.trading.shadow_journal import kill_requests
from shadow_support import demo, drive, make_store, session, trader
from store_support import spec

pytestmark = pytest.mark.timeout(600)

SHOTS = Path(__file__).parents[1] / "out" / "screenshots"


def chromium_path() -> str:
    """Debian's Chromium (installed by scripts/system-deps.sh); missing is a failure, not a skip."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: run scripts/system-deps.sh (apt-get install chromium)")


def _seed(path: Path) -> dict[str, Any]:
    """A finished mission: a graduate (verdict, trials with returns), a failure with memories,
    a candidate, and a promoted strategy."""
    store = open_store(f"sqlite:///{path}")
    mission = create_mission(store, "trend-aapl", "find trend followers on AAPL", scope={"universe": ["AAPL"]},
                             budget={"candidates": 40})  # fmt: skip

    def add(fast: int, slow: int) -> Any:
        doc = {**spec(fast, slow), "name": f"sma {fast}/{slow}"}
        return add_strategy(store, doc, family="sma-cross", origin="search", mission_id=mission.id)

    grad, failed, _, live = add(8, 21), add(3, 5), add(12, 40), add(20, 50)
    rng = np.random.default_rng(4)
    record_trials(store, grad.hash, params=[{"fast": 8, "slow": 21}], metrics=[{"sharpe": 1.4}],
                  returns=rng.normal(0.0008, 0.01, (500, 1)), config_hash="cfg", mission_id=mission.id)  # fmt: skip
    for s, end in ((grad, "graduated"), (failed, "failed"), (live, "graduated")):
        transition(store, s.hash, "testing", actor="test")
        transition(store, s.hash, end, actor="test")
    transition(store, live.hash, "promoted", actor="test")
    tests = [{"name": "psr", "statistic": 0.99, "threshold": 0.95, "p_value": None, "passed": True}]
    record_verdict(store, grad.hash, kind="examination", passed=True, document={"tests": tests})
    record_verdict(store, failed.hash, kind="examination", passed=False, failure_types=["NOISE_FITTING"],
                   document={"tests": [{"name": "wnt_b", "statistic": 0.4, "threshold": 0.01, "p_value": 0.4,
                                        "passed": False}]})  # fmt: skip
    record_memories(store, [Memory("NOISE_FITTING", "wnt_b", strategy_hash=failed.hash, mission_id=mission.id,
                                   statistic=0.4, threshold=0.01, lesson="3/5 crosses trade noise")])  # fmt: skip
    store.close()
    history, trades, _ = session(days=2, ticks=3000)  # a short paper session of two demo strategies
    paper = make_store(path, demo(2))
    drive(trader(paper, history), trades)
    paper.close()
    return {"graduate": grad.hash, "failed": failed.hash, "promoted": live.hash, "mission": mission.id}


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, dict[str, Any]]]:
    root = tmp_path_factory.mktemp("guardian")
    store_path = root / "store.sqlite"
    ids = _seed(store_path)
    server = start_server(root, {"QE_API_TOKEN": TOKEN}, store=str(store_path))
    yield server, ids
    stop_server(server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _status(server: Server, strategy_hash: str) -> str:
    store = open_store(f"sqlite:///{server.store_path}")
    try:
        return get_strategy(store, strategy_hash).status
    finally:
        store.close()


CONSENT = {"accept": True}
"""How the browser answers confirmation dialogs (a test flips it to dismiss one)."""


def _page(browser: Any, server: Server, *, token: str | None, width: int = 1366, height: int = 900) -> Any:
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("dialog", lambda d: d.accept() if CONSENT["accept"] else d.dismiss())
    page.goto(server.url + "/")
    for name in ("integrity", "swarm", "graduation", "missions", "failures", "shadow"):
        page.wait_for_selector(f'[data-panel="{name}"][data-loaded]', timeout=30_000)
    if token is not None:
        page.fill("#token", token)
        page.click("#token-form button")
        page.wait_for_selector("#live.green", timeout=30_000)
    return page


def test_every_panel_loads_and_is_captured(browser: Any, seeded: tuple[Server, dict[str, Any]]) -> None:
    server, ids = seeded
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = _page(browser, server, token=TOKEN)
    integrity = page.inner_text('[data-panel="integrity"]')
    assert "research store" in integrity and "ticks/s over the session" in integrity  # the paper feed's rate
    assert page.inner_text('[data-testid="pool-size"]') == "1"  # one candidate
    graduated = page.inner_text('[data-stage="graduated"]')
    assert "sma 8/21" in graduated and "sma 20/50" not in graduated
    assert "trend-aapl" in page.inner_text('[data-testid="missions"]')
    assert "NOISE_FITTING" in page.inner_text('[data-testid="failures"]')
    page.wait_for_selector('[data-panel="failures"] .chart .main-svg')  # plotly drew the chart
    for name in ("integrity", "swarm", "graduation", "missions", "failures", "shadow"):
        page.locator(f'[data-panel="{name}"]').screenshot(path=str(SHOTS / f"panel-{name}.png"))
    page.goto(server.url + f"/#/strategy/{ids['graduate']}")
    page.wait_for_selector("#detail .chart .main-svg", timeout=30_000)
    detail = page.inner_text("#detail")
    assert "psr" in detail and "sma-cross" in detail and ids["graduate"] in detail
    page.locator("#detail").screenshot(path=str(SHOTS / "strategy.png"))
    phone = _page(browser, server, token=None, width=390, height=844)
    phone.screenshot(path=str(SHOTS / "overview-phone.png"), full_page=True)
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390 + 1  # no sideways scrolling
    page.close()
    phone.close()


def test_an_unauthenticated_browser_cannot_act(browser: Any, seeded: tuple[Server, dict[str, Any]]) -> None:
    server, ids = seeded
    page = _page(browser, server, token=None)
    assert page.inner_text("#live").startswith("live: off")
    page.click(f'[data-stage="graduated"] button[data-action="promote"][data-hash="{ids["graduate"]}"]')
    page.wait_for_selector("#toast.error", timeout=30_000)
    assert "401" in page.inner_text("#toast")
    assert _status(server, ids["graduate"]) == "graduated"
    page.fill("#directive-text", "should not be created")
    page.click('form[data-form="directive"] button')
    page.wait_for_selector("#toast.error", timeout=30_000)
    store = open_store(f"sqlite:///{server.store_path}")
    assert all(m.directive != "should not be created" for m in list_missions(store))
    store.close()
    page.close()


def _wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def test_buttons_act_through_the_api(browser: Any, seeded: tuple[Server, dict[str, Any]]) -> None:
    server, ids = seeded
    page = _page(browser, server, token=TOKEN)
    page.click(f'[data-stage="graduated"] button[data-action="promote"][data-hash="{ids["graduate"]}"]')
    page.wait_for_selector("#toast.ok", timeout=30_000)
    assert _status(server, ids["graduate"]) == "promoted"
    page.wait_for_selector(f'[data-stage="promoted"] li[data-hash="{ids["graduate"]}"]', timeout=30_000)
    # retire, cancelled at the confirmation: nothing happens
    CONSENT["accept"] = False
    try:
        page.click(f'[data-stage="promoted"] button[data-action="retire"][data-hash="{ids["promoted"]}"]')
        time.sleep(0.5)
    finally:
        CONSENT["accept"] = True
    assert _status(server, ids["promoted"]) == "promoted"
    page.click(f'[data-stage="promoted"] button[data-action="retire"][data-hash="{ids["promoted"]}"]')
    page.wait_for_selector("#toast.ok", timeout=30_000)
    assert _status(server, ids["promoted"]) == "retired"
    page.fill("#directive-text", "mean reversion on MSFT, 5m bars")
    page.click('form[data-form="directive"] button')
    page.wait_for_selector("#toast.ok", timeout=30_000)
    page.wait_for_selector('[data-testid="missions"] >> text=mean reversion on MSFT', timeout=30_000)
    store = open_store(f"sqlite:///{server.store_path}")
    created = [m for m in list_missions(store) if m.directive == "mean reversion on MSFT, 5m bars"]
    store.close()
    assert len(created) == 1 and created[0].status == "active"
    page.click(f'button[data-action="cancel-mission"][data-mission="{created[0].id}"]')
    page.wait_for_selector("#toast.ok", timeout=30_000)
    store = open_store(f"sqlite:///{server.store_path}")
    _wait_for(lambda: [m.status for m in list_missions(store) if m.id == created[0].id] == ["cancelled"])
    store.close()
    page.close()


def test_live_updates_arrive_over_the_event_stream(browser: Any, seeded: tuple[Server, dict[str, Any]]) -> None:
    server, ids = seeded
    page = _page(browser, server, token=TOKEN)
    cell = "document.querySelector('[data-testid=\"failures\"]').innerText"
    assert page.evaluate(f"/COST_SENSITIVITY\\t0\\t/.test({cell})")
    store = open_store(f"sqlite:///{server.store_path}")  # a change made elsewhere (another process)
    record_memories(store, [Memory("COST_SENSITIVITY", "costs_x2", strategy_hash=ids["failed"],
                                   lesson="dies at twice the assumed costs")])  # fmt: skip
    store.close()
    page.wait_for_function(f"/COST_SENSITIVITY\\t1\\t/.test({cell})", timeout=30_000)  # no reload, no polling
    page.close()


def test_red_team_and_swarm_buttons_run_jobs(browser: Any, seeded: tuple[Server, dict[str, Any]]) -> None:
    server, ids = seeded
    page = _page(browser, server, token=TOKEN)
    page.goto(server.url + f"/#/strategy/{ids['failed']}")
    page.wait_for_selector('#detail button[data-action="white-noise"]', timeout=30_000)
    page.click('#detail button[data-action="white-noise"]')
    page.wait_for_selector("#toast.ok >> text=White Noise Test of", timeout=300_000)
    store = open_store(f"sqlite:///{server.store_path}")
    examinations = list_verdicts(store, ids["failed"], kind="examination")
    before = trial_count(store)
    store.close()
    assert len(examinations) == 2  # the seeded one and the button's
    assert sorted(t["name"] for t in examinations[-1].document["tests"]) == ["wnt_a", "wnt_b", "wnt_c"]
    page.wait_for_selector("#detail >> text=wnt_b", timeout=30_000)  # the page shows the new verdict
    page.wait_for_selector('#detail [data-testid="nulls"] .chart .main-svg', timeout=30_000)  # its null histograms
    assert page.locator('#detail [data-testid="nulls"] .chart').count() >= 2  # WNT-A and WNT-B
    form = '[data-panel="swarm"] form[data-form="swarm"]'
    for name, value in (("generations", "1"), ("population", "8"), ("pool", "1"), ("days", "1")):
        page.fill(f'{form} input[name="{name}"]', value)
    page.click(f"{form} button")
    page.wait_for_selector("#toast.ok >> text=succeeded", timeout=300_000)
    page.wait_for_selector('[data-testid="swarm-jobs"] >> text=succeeded', timeout=30_000)
    rate = page.locator('[data-testid="swarm-jobs"] tbody tr').first.locator("td").nth(3).inner_text()
    assert float(rate) > 0  # candidates/s of the finished run
    store = open_store(f"sqlite:///{server.store_path}")
    assert trial_count(store) > before
    store.close()
    page.locator('[data-panel="swarm"]').screenshot(path=str(SHOTS / "panel-swarm-after-run.png"))
    # a long run, stopped from its row: it ends cancelled after its current generation
    for name, value in (("generations", "100"), ("pool", "1000")):
        page.fill(f'{form} input[name="{name}"]', value)
    page.click(f"{form} button")
    stop = '[data-testid="swarm-jobs"] button[data-action="stop-job"]'
    page.wait_for_selector(stop, timeout=60_000)
    page.click(stop)
    page.wait_for_selector("#toast.error >> text=cancelled", timeout=300_000)  # the launcher reports the run's end
    page.wait_for_selector('[data-testid="swarm-jobs"] >> text=cancelled', timeout=30_000)
    # the full examination from the strategy page
    page.goto(server.url + f"/#/strategy/{ids['graduate']}")
    page.wait_for_selector('#detail button[data-action="examine"]', timeout=30_000)
    page.click('#detail button[data-action="examine"]')
    page.wait_for_selector("#toast >> text=examination of", timeout=300_000)
    page.wait_for_function("!document.querySelector('#toast').textContent.includes('running')", timeout=300_000)
    store = open_store(f"sqlite:///{server.store_path}")
    full = list_verdicts(store, ids["graduate"], kind="examination")[-1]
    store.close()
    assert len(full.document["tests"]) > 10  # the whole battery, recorded
    page.close()


def test_shadow_panel_and_kill_switch(browser: Any, seeded: tuple[Server, dict[str, Any]]) -> None:
    server, _ = seeded
    page = _page(browser, server, token=TOKEN)
    panel = '[data-panel="shadow"]'
    page.wait_for_selector(f"{panel} .chart .main-svg", timeout=30_000)  # the paper equity curve
    assert page.locator(f'{panel} [data-testid="positions"] tbody tr').count() >= 1
    assert float(page.inner_text('[data-testid="shadow-equity"]')) > 0
    page.locator(panel).screenshot(path=str(SHOTS / "panel-shadow.png"))
    assert page.locator(f'{panel} [data-testid="orders"] tbody tr').count() >= 1
    for mode in ("freeze", "resume", "flatten"):
        page.click(f'{panel} button[data-action="kill"][data-mode="{mode}"]')
        page.wait_for_selector(f"#toast.ok >> text={mode} requested", timeout=30_000)
    store = open_store(f"sqlite:///{server.store_path}")
    assert [m for _, m in kill_requests(store, "shadow", 0)][-3:] == ["freeze", "resume", "flatten"]
    store.close()
    page.close()
