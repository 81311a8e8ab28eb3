"""The syncer's JSON API end to end: the embedded syncer (``zlab_lab.syncer``) against the embedded
fakes, over HTTP only, as scenarios use it."""

from __future__ import annotations

import csv
import io
import re
import time

import httpx
import pytest

from scenarios.harness.syncer_client import SyncerApiError, SyncerClient

SP = "Service_And_Parts"


@pytest.fixture
def syncer(zlab_lab) -> SyncerClient:
    return zlab_lab.syncer


def service(tenant, name: str, **extra) -> str:
    r = tenant.fsm().post(f"/{SP}", json={"data": [{"Name": name, "Type": "Service", "Unit_Price": 40, **extra}]})
    assert r.status_code in (200, 201), r.text
    return r.json()["data"][SP][0]["id"]


def books_items(tenant) -> dict[str, dict]:
    return {i["name"]: i for i in tenant.books().get("/items").json()["items"]}


def error_of(call) -> SyncerApiError:
    with pytest.raises(SyncerApiError) as exc:
        call()
    return exc.value


def enabled(zlab_lab, syncer, **enable):
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    integ = syncer.create_integration(tenant, notify_email="ops@zlab.example")
    integ.enable(**({"duplicate_policy": "clone"} | enable))
    return tenant, integ


# -- the document and the service ------------------------------------------------------------------------
def test_health_and_every_route_is_in_the_openapi_document(zlab_lab, syncer):
    health = syncer.health()
    assert health["status"] == "ok" and health["lab_clock"] is True and health["scheduler"]["running"] is True
    doc = syncer.openapi()
    assert doc["openapi"].startswith("3.1")
    app = zlab_lab._syncer_server._server.app  # the embedded syncer's Flask app
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", r.rule) for r in app.url_map.iter_rules()
              if r.endpoint != "static"}
    assert routes == set(doc["paths"]), routes ^ set(doc["paths"])
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method != "parameters":
                assert op["responses"], (method, path)


def test_create_validates_input_without_500s(zlab_lab, syncer):
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    bad_bodies = [
        ("x", "invalid_json"), ("[]", "invalid_json"), ("{}", "missing_field"),
        ({"fsm_org_id": "1"}, "missing_field"),
        ({"fsm_org_id": 1.5, "books_org_id": "2", "client_id": "a", "client_secret": "b", "refresh_token": "c"},
         "invalid_value"),
        ({"fsm_org_id": "1", "books_org_id": "2", "client_id": "a", "client_secret": "b", "refresh_token": "c",
          "books_product": "crm"}, "invalid_value"),
        ({"fsm_org_id": "1", "books_org_id": "2", "client_id": "a", "client_secret": "b", "refresh_token": "c",
          "surprise": 1}, "invalid_value"),
        ({"fsm_org_id": "1", "books_org_id": "2", "client_id": "a", "client_secret": "b", "refresh_token": "c",
          "notify_email": "not-an-address"}, "invalid_value"),
        ({"fsm_org_id": "1", "books_org_id": "2", "client_id": "a", "client_secret": "b", "refresh_token": "c",
          "time_zone": "Mars/Olympus", "verify": False}, "invalid_value"),
    ]
    for body, code in bad_bodies:
        kw = {"content": body, "headers": {"Content-Type": "application/json"}} if isinstance(body, str) else {"json": body}
        r = syncer.request("POST", "/api/v1/integrations", **kw)
        assert r.status_code == 400 and r.json()["error"] == code, (body, r.text)
    # credentials Zoho Accounts refuses: 400, before anything is stored
    r = syncer.request("POST", "/api/v1/integrations", json={
        "fsm_org_id": tenant.org("fsm"), "books_org_id": tenant.org("books"), "client_id": tenant.client_id,
        "client_secret": "wrong", "refresh_token": tenant.refresh_token})
    assert r.status_code == 400 and r.json()["error"] == "invalid_credentials", r.text
    for method, path in (("GET", "/api/v1/integrations/404404"), ("GET", "/api/v1/runs/404404"),
                         ("POST", "/api/v1/integrations/404404/sync"), ("GET", "/api/v1/nothing-here"),
                         ("GET", "/api/v1/runs/404404/failures/ItemsFailureLogs.csv")):
        r = syncer.request(method, path)
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
    assert syncer.request("DELETE", "/api/v1/integrations").status_code == 405


def test_create_enable_and_sync_now_brings_an_fsm_service_to_books(zlab_lab, syncer):
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    integ = syncer.create_integration(tenant, name="Main", notify_email="ops@zlab.example")
    assert integ.data["state"] == "created" and integ.data["notify_email"] == "ops@zlab.example"
    assert "client_secret" not in integ.data and "refresh_token" not in integ.data
    assert [i["id"] for i in syncer.integrations(fsm_org_id=tenant.org("fsm"))] == [integ.id]
    # not enabled yet: Sync Now is refused
    assert error_of(integ.sync_now).status == 409
    bad = error_of(lambda: syncer.enable(integ.id, duplicate_policy="merge"))
    assert bad.status == 400 and "duplicate_policy" in bad.message
    enabled_data = integ.enable(duplicate_policy="clone", sync_type="IV")
    assert enabled_data["state"] == "enabled" and enabled_data["duplicate_policy"] == "clone"
    assert enabled_data["next_auto_sync_at"] is not None  # first automatic sync: 3 h after enabling

    fsm_id = service(tenant, "Boiler repair", Unit_Price=120)
    run = integ.sync_now()
    assert run["status"] == "succeeded", run
    assert run["trigger"] == "manual" and run["started_at"] and run["ended_at"]
    modules = {m["module"]: m for m in run["modules"]}
    assert modules[SP]["succeeded"] == 1 and modules[SP]["failed"] == 0 and modules[SP]["failure_log"] is None
    item = books_items(tenant)["Boiler repair"]
    assert item["rate"] == 120
    assert syncer.run(run["id"]) == run
    assert [r["id"] for r in integ.runs(include_refused="false")] == [run["id"]]
    assert [r["status"] for r in integ.runs()] == ["succeeded", "refused"]  # the Sync Now before enabling
    assert integ.refresh()["manual_syncs_today"] == 1

    # TW-24: the record's partner, a link to it, its last sync
    rec = integ.record(SP, fsm_id)
    assert rec["partner"]["id"] == item["item_id"] and rec["partner"]["entity"] == "items"
    assert rec["partner"]["url"].startswith(f"{zlab_lab.url}/books/v3/items/{item['item_id']}")
    assert rec["fsm"]["url"] == f"{zlab_lab.url}/fsm/v1/{SP}/{fsm_id}"
    assert rec["last_sync"]["run_id"] == run["id"] and rec["last_sync"]["at"] and rec["active"] is True
    assert integ.books_record("items", item["item_id"])["fsm"]["id"] == fsm_id
    assert error_of(lambda: integ.record(SP, "999")).status == 404


def test_sync_now_in_the_background_answers_202_then_the_run_finishes(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer)
    service(tenant, "Gas check")
    r = syncer.request("POST", f"/api/v1/integrations/{integ.id}/sync")
    assert r.status_code == 202, r.text
    started = r.json()
    assert started["status"] in ("running", "succeeded") and r.headers["Location"] == f"/api/v1/runs/{started['id']}"
    run = zlab_lab.wait_until(lambda: (x := syncer.run(started["id"]))["status"] != "running" and x,
                              timeout=30, what="the background run to finish")
    assert run["status"] == "succeeded" and "Gas check" in books_items(tenant)
    bad = syncer.request("POST", f"/api/v1/integrations/{integ.id}/sync", params={"wait": "maybe"})
    assert bad.status_code == 400


def test_the_31st_sync_now_of_a_day_is_refused_with_429(zlab_lab, syncer):
    _tenant, integ = enabled(zlab_lab, syncer)
    repo = zlab_lab._syncer_service.repo  # 28 Sync Nows counted directly (the store's counter, TW-05) …
    for _ in range(28):
        repo.consume_manual_sync(integ.id)
    for i in range(2):  # … the 29th and 30th through the API
        assert integ.sync_now()["status"] == "succeeded", i
    assert integ.refresh()["manual_syncs_today"] == 30
    err = error_of(integ.sync_now)
    assert err.status == 429 and err.code == "manual_sync_limit" and "30 times a day" in err.message
    assert error_of(lambda: integ.sync_now(wait=False)).status == 429
    # the count resets the next day (org time zone: UTC); no automatic sync may take the lock meanwhile
    integ.settings(auto_sync=False)
    zlab_lab.clock.advance(24 * 3600)
    assert integ.sync_now()["status"] == "succeeded"


def test_failure_log_csv_has_one_line_per_failed_record(zlab_lab, syncer):
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    # Clone: a Books item already holds the names of two FSM services, so both fail (TW-02)
    for name in ("Boiler repair", "Drain unblock"):
        assert tenant.books().post("/items", json={"name": name, "rate": 10}).status_code == 201
    ids = {service(tenant, name): name for name in ("Boiler repair", "Drain unblock", "Tap fitting")}
    integ = syncer.create_integration(tenant)
    integ.enable(duplicate_policy="clone")
    run = integ.sync_now()
    module = {m["module"]: m for m in run["modules"]}[SP]
    assert module["failed"] >= 2 and module["failure_log"] == f"/api/v1/runs/{run['id']}/failures/ServiceAndPartsFailureLogs.csv"
    r = syncer.request("GET", module["failure_log"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="ServiceAndPartsFailureLogs.csv"'
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == ["Record Id", "Record Name", "Reason", "Sync Id", "Time"]
    assert len(rows) - 1 == module["failed"]
    failed_fsm = {row[0]: row for row in rows[1:] if row[0] in ids}
    assert {ids[i] for i in failed_fsm} == {"Boiler repair", "Drain unblock"}
    assert all(row[2] and row[3] == run["id"] for row in rows[1:])
    assert syncer.failures_csv(run["id"], SP) == r.text  # by the module's own name too
    assert len(syncer.failures(run["id"], SP)) == module["failed"]
    assert error_of(lambda: syncer.failures_csv(run["id"], "NopeFailureLogs.csv")).status == 404


def test_settings_auto_sync_notify_email_and_mappings(zlab_lab, syncer):
    _tenant, integ = enabled(zlab_lab, syncer)
    version = integ.data["mapping_version"]
    data = integ.settings(auto_sync=False, notify_email="boss@zlab.example",
                          mappings={"items": [{"fsm_field": "Name", "books_field": "name"},
                                              {"fsm_field": "Unit_Price", "books_field": "rate", "direction": "fsm_to_books"}]})
    assert data["auto_sync"] is False and data["notify_email"] == "boss@zlab.example"
    assert data["mapping_version"] == version + 1
    assert [m["books_field"] for m in data["mappings"]["items"]] == ["name", "rate"]
    for bad in ({"auto_sync": "yes"}, {"mappings": {"gadgets": []}}, {"mappings": {"items": [{"fsm_field": "Name"}]}},
                {"mappings": {"items": [{"fsm_field": "Name", "books_field": "name", "direction": "up"}]}},
                {"mappings": []}, {"notify_email": ""}, {"state": "enabled"}):
        r = syncer.request("PATCH", f"/api/v1/integrations/{integ.id}/settings", json=bad)
        assert r.status_code == 400, (bad, r.text)
    assert integ.settings(auto_sync=True)["auto_sync"] is True


# -- enabling (TW-01, TW-08, TW-15) --------------------------------------------------------------------------
def test_enable_is_refused_during_an_fsm_import_and_the_second_time(zlab_lab, syncer):
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    integ = syncer.create_integration(tenant)
    job = zlab_lab.control.call("POST", f"/fsm/orgs/{tenant.org('fsm')}/imports", {"module": "Contacts"})
    assert job.status_code == 201, job.text
    err = error_of(integ.enable)
    assert err.status == 409 and err.code == "import_in_progress" and "import" in err.message
    assert integ.refresh()["state"] == "created"
    done = zlab_lab.control.call("POST", f"/fsm/orgs/{tenant.org('fsm')}/imports/{job.json()['id']}/finish", {})
    assert done.status_code == 200, done.text
    assert integ.enable(duplicate_policy="overwrite")["state"] == "enabled"
    again = error_of(lambda: integ.enable(duplicate_policy="clone"))
    assert again.status == 409 and again.code == "already_enabled"
    assert integ.refresh()["duplicate_policy"] == "overwrite"


def test_an_error_disabled_sync_is_reenabled_only_by_support_with_the_token(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer)
    # TW-16: the CRM-Books integration's sync type differs: the run fails, mails, disables
    zlab_lab.control.call("PATCH", f"/books/orgs/{tenant.org('books')}/crm-integration",
                          {"enabled": True, "sync_type": "II"})
    run = integ.sync_now()
    assert run["status"] == "failed" and "sync type" in run["failure_reason"]
    data = integ.refresh()
    assert data["state"] == "disabled" and data["disabled_by_error"] is True and data["next_auto_sync_at"] is None
    [mail] = integ.mail()
    assert mail["to"] == ["ops@zlab.example"] and "sync type" in mail["body"] and mail["subject"]
    assert mail["sent_at"] and mail["integration_id"] == integ.id and mail["error"] is None
    assert [m["id"] for m in syncer.mail(to="ops@zlab.example") if m["integration_id"] == integ.id] == [mail["id"]]
    # the user cannot (TW-15)
    user = error_of(integ.enable)
    assert user.status == 403 and user.code == "reenable_forbidden"
    # support: without the token 401, a wrong one 403, the right one works
    path = f"/api/v1/support/integrations/{integ.id}/reenable"
    assert syncer.request("POST", path).status_code == 401
    assert syncer.request("POST", path, headers={"X-Support-Token": "guess"}).status_code == 403
    assert syncer.request("POST", "/api/v1/support/integrations/404404/reenable").status_code == 401
    back = integ.support_reenable()
    assert back["state"] == "enabled" and back["disabled_by_error"] is False and back["next_auto_sync_at"]
    assert error_of(integ.support_reenable).status == 409  # already enabled


def test_the_mail_really_went_through_smtp_to_the_embedded_sink(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer)
    tenant.set_org("books", tax_enabled=True)  # TW-18: fails and mails, not disabled
    run = integ.sync_now()
    assert run["status"] == "failed" and integ.refresh()["state"] == "enabled"
    [mail] = integ.mail()
    assert mail["delivered_via"].startswith("smtp://127.0.0.1:")
    sink = zlab_lab._syncer_service.sink
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not [m for m in sink.messages(to="ops@zlab.example")
                                               if m.subject == mail["subject"] and "Taxes" in m.body]:
        time.sleep(0.05)
    assert [m for m in sink.messages(to="ops@zlab.example") if "Taxes" in m.body]


def test_sync_now_is_refused_while_an_import_runs_and_the_run_shows_why(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer)
    zlab_lab.control.call("POST", f"/fsm/orgs/{tenant.org('fsm')}/imports", {"module": "Contacts"})
    run = integ.sync_now()
    assert run["status"] == "refused" and "import" in run["failure_reason"]


def test_the_embedded_syncer_is_reachable_with_plain_httpx(zlab_lab, syncer):
    r = httpx.get(f"{syncer.url}/api/v1/integrations", params={"state": "bogus"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_value"
    assert httpx.get(f"{syncer.url}/api/v1/mail", params={"limit": "0"}).status_code == 400


def test_the_dashboard_shows_integrations_runs_failure_csvs_and_mail(zlab_lab):
    syncer = zlab_lab.syncer
    t = zlab_lab.tenant(products=["fsm", "books"])
    t.books().post("/items", json={"name": "Clash", "rate": 1})
    t.fsm().post("/Service_And_Parts", json={"data": [{"Name": "Clash", "Type": "Service", "Unit_Price": 2}]})
    integ = syncer.create_integration(t, name="Dashboard demo")
    integ.enable()
    run = integ.sync_now()
    r = syncer.request("GET", "/dashboard")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "Dashboard demo" in page and run["id"] in page
    from syncer.store.repo import failure_csv_filename

    link = f"/api/v1/runs/{run['id']}/failures/{failure_csv_filename('Service_And_Parts')}"
    assert link in page
    csv = syncer.request("GET", link)
    assert csv.status_code == 200 and "Clash" in csv.text
