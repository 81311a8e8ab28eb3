"""The syncer dashboard (issue 15, item 6): partial success shown as such (run JSON ``outcome``, the
failures listing, the CSV download, the page), durations, paging and a filter, the lab-time note,
the /docs link, and — in headless Chromium — Sync Now (with the lab token when the API is guarded)
and auto-refresh."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from syncer.app import create_app
from syncer.config import SyncerConfig
from syncer.outcome import run_outcome
from syncer.service import SyncerService
from syncer.store.repo import failure_csv_filename
from tests.browser import browser_page

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(tmp_path, clock):
    config = SyncerConfig.from_env(database_url=f"sqlite:///{tmp_path / 'syncer.db'}", fakes_url=None,
                                   smtp_url=None, scheduler_interval=0, support_token="t")
    service = SyncerService(config, clock=clock)
    yield service
    service.close()


def page(svc, query: str = "") -> str:
    r = create_app(svc).test_client().get(f"/dashboard{query}")
    assert r.status_code == 200 and r.mimetype == "text/html", r.status_code
    return r.get_data(as_text=True)


def sections(html: str) -> list[str]:
    return re.findall(r"<section class=integration data-id='(\d+)'", html)


def many(svc, n: int = 33) -> list[str]:
    """``n`` integrations: every third a CRM sync, the first ten enabled, two disabled."""
    ids = []
    for i in range(n):
        kind = "crm" if i % 3 == 2 else "books"
        integ = svc.repo.create_integration(fsm_org_id=f"7000{i:02}", partner_org_id=f"8000{i:02}", kind=kind,
                                            name=f"Branch {i:02}")
        if i < 10:
            svc.repo.enable_integration(integ.id)
        elif i < 12:
            svc.repo.disable_integration(integ.id, "by hand")
        ids.append(integ.id)
    return ids


def finished_run(svc, clock, integration_id: str, *, ok: int, failed: int, seconds: int) -> str:
    run = svc.repo.start_run(integration_id, "auto", require_enabled=False)
    clock.now += timedelta(seconds=seconds)
    svc.repo.finish_run(run.id, status="succeeded", stats={"Items": (ok, failed)})
    return run.id


# -- the outcome ------------------------------------------------------------------------------------
def test_outcome_is_derived_from_status_and_record_failures():
    assert run_outcome("succeeded", 0) == "succeeded"
    assert run_outcome("succeeded", 19) == "partially_succeeded"
    assert [run_outcome(s, 3) for s in ("failed", "refused", "running")] == ["failed", "refused", "running"]


def test_a_run_with_failed_records_is_partially_succeeded_in_the_api_csv_and_page(zlab_lab):
    syncer = zlab_lab.syncer
    t = zlab_lab.tenant(products=["fsm", "books"])
    t.books().post("/items", json={"name": "Clash", "rate": 1})
    t.fsm().post("/Service_And_Parts", json={"data": [{"Name": "Clash", "Type": "Service", "Unit_Price": 2}]})
    integ = syncer.create_integration(t, name="Partial demo")
    integ.enable()
    run = integ.sync_now()
    assert run["status"] == "succeeded" and run["totals"]["failed"] >= 1
    assert run["outcome"] == "partially_succeeded" and run["duration_seconds"] is not None
    assert syncer.request("GET", f"/api/v1/runs/{run['id']}").json()["outcome"] == "partially_succeeded"
    listing = syncer.request("GET", f"/api/v1/runs/{run['id']}/failures").json()
    link = f"/api/v1/runs/{run['id']}/failures/{failure_csv_filename('Service_And_Parts')}"
    assert listing["outcome"] == "partially_succeeded" and link in listing["failure_logs"]
    csv = syncer.request("GET", link)
    assert csv.headers["X-Zlab-Run-Outcome"] == "partially_succeeded" and "Clash" in csv.text
    html = syncer.request("GET", "/dashboard", params={"q": "Partial demo"}).text
    assert f"data-run='{run['id']}' data-outcome='partially_succeeded'" in html and "partially succeeded" in html
    # a clean run is "succeeded"
    t.books().delete(f"/items/{t.books().get('/items').json()['items'][0]['item_id']}")
    zlab_lab.clock.advance(5)
    again = integ.sync_now()
    assert again["totals"]["failed"] == 0 and again["outcome"] == "succeeded", again


# -- the page ---------------------------------------------------------------------------------------
def test_integrations_are_paged_ten_at_a_time(svc):
    ids = many(svc)
    first = page(svc)
    assert "Integrations (33)" in first and sections(first) == ids[:10] and "page 1 of 4" in first
    assert "showing 1–10 of 33" in first and "id=page-prev" not in first
    last = page(svc, "?page=4")
    assert sections(last) == ids[30:] and "id=page-next" not in last and "href='?page=3'" in last
    assert sections(page(svc, "?per_page=25&page=2")) == ids[25:]
    for bad in ("?page=x", "?page=-3", "?per_page=0", "?per_page=100000", "?page=99", "?state=bogus&kind=%00"):
        assert sections(page(svc, bad)), bad  # a page never fails on its query


def test_the_filter_by_state_kind_and_name_keeps_the_paging(svc):
    ids = many(svc)
    crm = sections(page(svc, "?kind=crm&per_page=100"))
    assert crm == [i for n, i in enumerate(ids) if n % 3 == 2]
    enabled_books = sections(page(svc, "?state=enabled&kind=books"))
    assert enabled_books == [i for n, i in enumerate(ids[:10]) if n % 3 != 2]
    html = page(svc, "?state=disabled")
    assert sections(html) == ids[10:12] and "Integrations (2 of 33)" in html and "disabled: by hand" in html
    assert sections(page(svc, "?q=branch%2031")) == [ids[31]]
    assert sections(page(svc, f"?q={ids[5]}")) == [ids[5]]  # by id, and by org id
    assert sections(page(svc, "?q=800007")) == [ids[7]]
    assert "No integration matches this filter." in page(svc, "?q=nobody")
    two = page(svc, "?state=created&per_page=10&page=2")  # 21 created: the pager keeps the filter
    assert "href='?state=created&amp;page=3'" in two and "href='?state=created'" in two


def test_runs_show_outcome_duration_and_sync_now_on_enabled_integrations_only(svc, clock):
    ids = many(svc, 12)
    partial = finished_run(svc, clock, ids[0], ok=5, failed=19, seconds=75)
    clean = finished_run(svc, clock, ids[0], ok=3, failed=0, seconds=4000)
    html = page(svc, "?per_page=100")
    assert f"data-run='{partial}' data-outcome='partially_succeeded'" in html
    assert f"data-run='{clean}' data-outcome='succeeded'" in html
    assert "<td>1 min 15 s</td>" in html and "<td>1 h 6 min</td>" in html
    buttons = re.findall(r"class=sync-now data-id='(\d+)'", html)
    assert buttons == ids[:10]  # created and disabled integrations have none
    assert "<a href='/docs'>API docs</a>" in html and "<a href='/health'>health</a>" in html
    assert "id=future-note>" not in html.replace("<div id=future-note></div>", "")


def test_run_times_after_the_shown_lab_time_get_a_note(svc, clock):
    [iid] = many(svc, 1)
    run = finished_run(svc, clock, iid, ok=1, failed=0, seconds=30)
    assert "class=note id=future-note" not in page(svc)
    clock.now = T0 - timedelta(hours=2)  # the lab clock set back after the run
    html = page(svc)
    assert "class=note id=future-note" in html and "2 run time(s) on this page are later than the lab time" in html
    assert html.count("class=future") == 2 and run in html


def test_the_page_loads_nothing_from_elsewhere(svc):
    many(svc, 3)
    html = page(svc)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    assert "<script>" in html and "<script src" not in html


# -- in headless Chromium ------------------------------------------------------------------------------
@pytest.fixture
def live(zlab_lab, tmp_path):
    """A syncer of its own, served on a port, with one enabled integration on the lab."""
    from zlab.server import BackgroundServer

    config = SyncerConfig.from_env(database_url=f"sqlite:///{tmp_path / 'live.db'}", fakes_url=zlab_lab.url,
                                   smtp_url=None, scheduler_interval=0, support_token="t")
    service = SyncerService(config)
    t = zlab_lab.tenant(products=["fsm", "books"])
    integ = service.create_integration(fsm_org_id=t.org("fsm"), partner_org_id=t.org("books"), client_id=t.client_id,
                                       client_secret=t.client_secret, refresh_token=t.refresh_token, name="Live one")
    service.enable(integ.id, duplicate_policy="clone")
    server = BackgroundServer(create_app(service)).start(health_path="/health")
    yield server.url, service, integ.id
    server.stop()
    service.close()


def wait_page(page, expression: str, timeout: float = 20.0):
    """``page.wait_for`` that also rides out a reload (the page's context goes away meanwhile)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = page.evaluate(expression)
            if value:
                return value
        except RuntimeError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(expression)
        time.sleep(0.1)


RESULT = "document.querySelector('.sync-result').textContent"


def test_sync_now_asks_for_the_lab_token_on_a_guarded_syncer(live, monkeypatch):
    url, service, iid = live
    monkeypatch.setenv("ZLAB_LAB_TOKEN", "dash-secret")
    try:
        assert httpx.post(f"{url}/api/v1/integrations/{iid}/sync").status_code == 401
        # the page itself shows org ids and mail bodies: only to whoever gives the token
        closed = httpx.get(f"{url}/dashboard")
        assert closed.status_code == 401 and iid not in closed.text and "lab token" in closed.text
        assert httpx.post(f"{url}/dashboard", data={"token": "wrong"}).status_code == 401
        opened = httpx.post(f"{url}/dashboard", data={"token": "dash-secret"})
        assert opened.status_code == 303 and "httponly" in opened.headers["set-cookie"].lower()
        with browser_page() as p:
            p.goto(f"{url}/dashboard?refresh=0")
            p.type("input[name=token]", "dash-secret")
            p.click("form button")
            wait_page(p, "!!document.querySelector('#lab-token')")
            p.goto(f"{url}/dashboard?refresh=0")
            assert p.evaluate("!!document.querySelector('#lab-token')")
            p.click("button.sync-now")
            assert "enter the lab token" in wait_page(p, RESULT)
            p.type("#lab-token", "wrong")
            p.click("button.sync-now")
            assert wait_page(p, f"{RESULT}.includes('missing or wrong') && {RESULT}")
            assert service.repo.list_runs(iid) == []
            p.clear("#lab-token")
            p.type("#lab-token", "dash-secret")
            p.click("button.sync-now")
            started = wait_page(p, f"{RESULT}.startsWith('started sync') && {RESULT}")
            run_id = started.split()[2]
            # the page reloads by itself and shows the run; the token stays in this tab
            wait_page(p, f"!!document.querySelector(\"tr[data-run='{run_id}']\")")
            assert p.evaluate("document.querySelector('#lab-token').value") == "dash-secret"
        assert [r.trigger for r in service.repo.list_runs(iid)] == ["manual"]
    finally:
        monkeypatch.delenv("ZLAB_LAB_TOKEN")


def test_sync_now_and_auto_refresh_on_an_open_syncer(live):
    url, service, iid = live
    with browser_page() as p:
        p.goto(f"{url}/dashboard?refresh=1")
        assert p.evaluate("document.querySelector('#lab-token')") is None  # not guarded: nothing to ask
        assert p.evaluate("document.querySelector('#auto-refresh').checked") is True
        p.evaluate("window.marker = 1")
        run = service.sync_now(iid, wait=True)  # made elsewhere: the page shows it after a refresh
        wait_page(p, f"window.marker === undefined && !!document.querySelector(\"tr[data-run='{run.id}']\")")
        p.goto(f"{url}/dashboard?refresh=0")
        p.click("button.sync-now")
        started = wait_page(p, f"{RESULT}.startsWith('started sync') && {RESULT}")
        assert started.split()[2] in {r.id for r in service.repo.list_runs(iid)}
        # the filter: typed, applied, kept in the URL
        wait_page(p, "!!document.querySelector('#filter-q')")
        p.type("#filter-q", "nothing like it")
        p.click("#filter-apply")
        wait_page(p, "!!document.querySelector('#no-match')")
        assert "q=nothing+like+it" in p.evaluate("location.search")
