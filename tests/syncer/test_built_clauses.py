"""Clauses built for issue 10, through the syncer's API against the embedded fakes: a mapping
change re-syncs linked records (TW-07), Books deactivating a customer deactivates its FSM partner
and inactive FSM customers are ignored (TW-14), the "Billing Integration" permission (TW-26), the
edition (TW-27), taxes enabled later only by support (TW-28), taxes added in FSM after enable
reaching a new Invoice org (OB-03)."""

from __future__ import annotations

import pytest

from scenarios.harness.syncer_client import SyncerApiError, SyncerClient

SP = "Service_And_Parts"


@pytest.fixture
def syncer(zlab_lab) -> SyncerClient:
    return zlab_lab.syncer


def error_of(call) -> SyncerApiError:
    with pytest.raises(SyncerApiError) as exc:
        call()
    return exc.value


def enabled(zlab_lab, syncer, product="books", tenant_options=None, create=None, **enable):
    tenant = zlab_lab.tenant(products=["fsm", product], **(tenant_options or {}))
    create = dict(create or {})
    if "choice" in create:
        create.setdefault("signup_email", tenant.email)
    integ = syncer.create_integration(tenant, product, notify_email="ops@zlab.example", **create)
    integ.enable(**({"duplicate_policy": "clone"} | enable))
    return tenant, integ


def created(tenant, module: str, record: dict) -> str:
    r = tenant.fsm().post(f"/{module}", json={"data": [record]})
    assert r.status_code == 201, r.text
    return r.json()["data"][module][0]["id"]


def fsm_record(tenant, module: str, record_id: str) -> dict:
    return tenant.fsm().get(f"/{module}/{record_id}").json()["data"][0]


def customers(tenant, product="books") -> dict[str, dict]:
    api = tenant.books() if product == "books" else tenant.invoice()
    rows = api.get("/contacts", params={"filter_by": "Status.All"}).json()["contacts"]
    return {c["contact_name"]: api.get(f"/contacts/{c['contact_id']}").json()["contact"] for c in rows}


# -- TW-07 -------------------------------------------------------------------------------------------------
def test_a_mapping_change_brings_a_newly_mapped_field_to_linked_unchanged_records(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer, mappings={"items": [{"fsm_field": "Description", "books_field": "description"}]})
    company = created(tenant, "Companies", {"Company_Name": "Acme Pumps", "Description": "Key account"})
    part = created(tenant, SP, {"Name": "Valve", "Type": "Part", "Unit_Price": 8, "SKU": "V-1"})
    assert integ.sync_now()["status"] == "succeeded"
    assert not customers(tenant)["Acme Pumps"].get("notes")
    item = {i["name"]: i for i in tenant.books().get("/items").json()["items"]}["Valve"]
    assert not item.get("sku")
    company_time = fsm_record(tenant, "Companies", company)["Modified_Time"]

    zlab_lab.clock.advance(5)
    integ.settings(mappings={"customers": [{"fsm_field": "Description", "books_field": "notes", "fsm_module": "Companies"}],
                             "items": [{"fsm_field": "SKU", "books_field": "sku"}]})
    run = integ.sync_now()
    assert run["status"] == "succeeded", run
    counts = {m["module"]: (m["succeeded"], m["failed"]) for m in run["modules"]}
    assert counts.get("Companies") == (1, 0) and counts.get(SP) == (1, 0), counts
    assert customers(tenant)["Acme Pumps"]["notes"] == "Key account"
    item = tenant.books().get(f"/items/{item['item_id']}").json()["item"]
    assert item["sku"] == "V-1"
    assert fsm_record(tenant, "Companies", company)["Modified_Time"] == company_time  # FSM not written
    assert integ.record(SP, part)["last_sync"]["run_id"] == run["id"]

    # the next run is incremental again: nothing to do
    zlab_lab.clock.advance(5)
    again = integ.sync_now()
    assert again["status"] == "succeeded" and again["totals"] == {"succeeded": 0, "failed": 0}, again


def test_a_mapping_change_of_one_module_pair_leaves_the_other_alone(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer)
    created(tenant, "Companies", {"Company_Name": "Bolt Ltd", "Description": "Bolts"})
    assert integ.sync_now()["status"] == "succeeded"
    [customer] = tenant.books().get("/contacts").json()["contacts"]
    zlab_lab.clock.advance(5)
    integ.settings(mappings={"items": [{"fsm_field": "SKU", "books_field": "sku"}]})
    run = integ.sync_now()
    assert run["status"] == "succeeded"
    reads = [e for e in zlab_lab.control.journal(org=tenant.org("books"), limit=500)
             if e.get("method") == "GET" and customer["contact_id"] in (e.get("path") or "")]
    assert reads == []  # the linked customer was not read again: only the items mappings changed


# -- TW-14 -------------------------------------------------------------------------------------------------
def test_books_deactivating_customers_deactivates_their_fsm_company_and_contact(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer, sync_type="IV")
    company = created(tenant, "Companies", {"Company_Name": "Crane Co"})
    person = created(tenant, "Contacts", {"Last_Name": "Solo", "Email": "solo@example.com"})
    assert integ.sync_now()["status"] == "succeeded"
    books = tenant.books()
    for name, rec in customers(tenant).items():
        assert rec["status"] == "active", name
        assert books.post(f"/contacts/{rec['contact_id']}/inactive").json()["code"] == 0
    zlab_lab.clock.advance(5)
    run = integ.sync_now()
    assert run["status"] == "succeeded", run
    counts = {m["module"]: (m["succeeded"], m["failed"]) for m in run["modules"]}
    assert counts["Companies"] == (1, 0) and counts["Contacts"] == (1, 0), counts
    assert fsm_record(tenant, "Companies", company)["$inactive"] is True
    assert fsm_record(tenant, "Contacts", person)["$inactive"] is True
    assert {c["status"] for c in customers(tenant).values()} == {"inactive"}  # Books keeps them, inactive
    # inactive FSM records are ignored: an FSM edit no longer flows
    tenant.fsm().put(f"/Companies/{company}", json={"data": [{"Company_Name": "Crane Co (closed)"}]})
    zlab_lab.clock.advance(5)
    assert integ.sync_now()["status"] == "succeeded"
    assert "Crane Co" in customers(tenant) and "Crane Co (closed)" not in customers(tenant)


def test_inactive_fsm_companies_and_contacts_are_ignored(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer, sync_type="IV")
    created(tenant, "Companies", {"Company_Name": "Gone Ltd", "$inactive": True})
    created(tenant, "Contacts", {"Last_Name": "Away", "Email": "away@example.com", "$inactive": True})
    created(tenant, "Companies", {"Company_Name": "Here Ltd"})
    run = integ.sync_now()
    assert run["status"] == "succeeded", run
    assert sorted(customers(tenant)) == ["Here Ltd"]


# -- TW-26 -------------------------------------------------------------------------------------------------
def set_profile(zlab_lab, tenant, profile: str) -> dict:
    r = zlab_lab.control.call("PUT", f"/fsm/orgs/{tenant.org('fsm')}/users/{tenant.raw['user_id']}/profile",
                              {"profile": profile})
    assert r.status_code == 200, r.text
    return r.json()


def test_a_user_without_billing_integration_permission_is_refused_setup_and_sync_now(zlab_lab, syncer):
    tenant = zlab_lab.tenant(products=["fsm", "books"])
    integ = syncer.create_integration(tenant, notify_email="ops@zlab.example")
    assert set_profile(zlab_lab, tenant, "Dispatcher")["profile"]["permissions"] == ["Companies", "Contacts"]
    for call in (lambda: integ.enable(), lambda: integ.settings(auto_sync=False),
                 lambda: integ.settings(mappings={"items": [{"fsm_field": "SKU", "books_field": "sku"}]}),
                 lambda: integ.sync_now()):
        err = error_of(call)
        assert err.status == 403 and err.code == "permission_denied" and "Billing Integration" in err.message
    assert integ.refresh()["state"] == "created" and integ.runs() == []
    # a custom profile with the permission may
    r = zlab_lab.control.call("PUT", f"/fsm/orgs/{tenant.org('fsm')}/profiles/Billing Clerk",
                              {"permissions": ["Billing Integration"]})
    assert r.status_code == 200, r.text
    set_profile(zlab_lab, tenant, "Billing Clerk")
    assert integ.enable()["state"] == "enabled"
    assert integ.sync_now()["status"] == "succeeded"
    # and losing it stops Sync Now and settings again
    set_profile(zlab_lab, tenant, "Field Agent")
    assert error_of(integ.sync_now).status == 403
    assert error_of(lambda: integ.settings(notify_email="x@zlab.example")).status == 403
    assert len(integ.runs()) == 1


def test_fsm_profiles_lab_control_and_internal_route_refuse_bad_input(zlab_lab):
    tenant = zlab_lab.tenant(products=["fsm"])
    org = tenant.org("fsm")
    me = tenant.fsm().get("/_internal/users/me").json()["users"][0]
    assert me["id"] == tenant.raw["user_id"] and me["profile"]["name"] == "Administrator"
    assert "Billing Integration" in me["profile"]["permissions"]
    for path, body in ((f"/fsm/orgs/{org}/users/1/profile", {"profile": "Boss"}),
                       (f"/fsm/orgs/{org}/users/1/profile", {"profile": ["Dispatcher"]}),
                       (f"/fsm/orgs/{org}/profiles/Administrator", {"permissions": []}),
                       (f"/fsm/orgs/{org}/profiles/Clerk", {"permissions": ["Fly"]}),
                       (f"/fsm/orgs/{org}/profiles/Clerk", {"permissions": "Billing Integration"})):
        assert zlab_lab.control.call("PUT", path, body).status_code == 400, (path, body)


# -- TW-27 -------------------------------------------------------------------------------------------------
def test_fsm_free_edition_cannot_enable_two_way_sync_standard_can(zlab_lab, syncer):
    tenant = zlab_lab.tenant(products=["fsm", "books"], editions={"fsm": "free"})
    integ = syncer.create_integration(tenant, notify_email="ops@zlab.example")
    err = error_of(lambda: integ.enable())
    assert err.status == 403 and err.code == "edition_not_supported" and "Free" in err.message
    assert integ.refresh()["state"] == "created"
    assert zlab_lab.control.call("PATCH", f"/orgs/{tenant.org('fsm')}", {"edition": "standard"}).status_code == 200
    assert integ.enable()["state"] == "enabled"


# -- TW-28 -------------------------------------------------------------------------------------------------
def test_taxes_not_enabled_at_onboarding_are_enabled_only_by_support(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer, tenant_options={"tax_enabled": False})
    assert integ.data["taxes_at_onboarding"] is False
    err = error_of(lambda: integ.settings(tax_enabled=True))
    assert err.status == 403 and err.code == "support_only" and "support" in err.message
    state = zlab_lab.control.call("GET", f"/fsm/orgs/{tenant.org('fsm')}/state").json()
    assert state["tax_enabled"] is False
    # Books switches its own taxes on: the sync fails until FSM's match (TW-18)
    assert zlab_lab.control.call("PATCH", f"/orgs/{tenant.org('books')}", {"tax_enabled": True}).status_code == 200
    assert integ.sync_now()["status"] == "failed"
    url = f"/api/v1/support/integrations/{integ.id}/enable-taxes"
    assert syncer.request("POST", url).status_code == 401
    assert syncer.request("POST", url, headers={"X-Support-Token": "wrong"}).status_code == 403
    r = syncer.request("POST", url, headers={"X-Support-Token": syncer.support_token})
    assert r.status_code == 200, r.text
    assert zlab_lab.control.call("GET", f"/fsm/orgs/{tenant.org('fsm')}/state").json()["tax_enabled"] is True
    assert integ.sync_now()["status"] == "succeeded"


def test_taxes_enabled_at_onboarding_can_be_switched_by_the_user(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer, tenant_options={"tax_enabled": True})
    assert integ.data["taxes_at_onboarding"] is True
    integ.settings(tax_enabled=False)
    assert zlab_lab.control.call("GET", f"/fsm/orgs/{tenant.org('fsm')}/state").json()["tax_enabled"] is False
    integ.settings(tax_enabled=True)
    assert zlab_lab.control.call("GET", f"/fsm/orgs/{tenant.org('fsm')}/state").json()["tax_enabled"] is True


# -- OB-03 -------------------------------------------------------------------------------------------------
def test_taxes_added_in_fsm_after_enable_reach_a_new_invoice_org_on_the_next_sync(zlab_lab, syncer):
    tenant, integ = enabled(zlab_lab, syncer, "invoice", tenant_options={"tax_enabled": True},
                            create={"choice": "new_invoice"})
    org = tenant.org("fsm")
    r = zlab_lab.control.call("PUT", f"/fsm/orgs/{org}/taxes", {"taxes": [{"tax_name": "City tax", "tax_percentage": 2.5}]})
    assert r.status_code == 200, r.text
    run = integ.sync_now()
    assert run["status"] == "succeeded", run
    assert {m["module"]: m["succeeded"] for m in run["modules"]}.get("Taxes") == 1
    taxes = {t["tax_name"]: t for t in tenant.invoice().get("/settings/taxes").json()["taxes"]}
    assert taxes["City tax"]["tax_percentage"] == 2.5
    again = integ.sync_now()  # nothing new: nothing created twice
    assert again["status"] == "succeeded" and "Taxes" not in {m["module"] for m in again["modules"]}
    assert len([t for t in tenant.invoice().get("/settings/taxes").json()["taxes"] if t["tax_name"] == "City tax"]) == 1
