"""FSM records from CRM (CR-07, CR-08, CR-15, CR-16) end to end: the embedded syncer against the
embedded fakes, over HTTP only — conversions with their mappings, Deal / Sales Order links, related
lists both ways."""

from __future__ import annotations

import pytest

from scenarios.harness.syncer_client import SyncerApiError, SyncerClient
from tests.syncer.test_crm_sync import crm_create, crm_tenant, enable, fsm_create, fsm_get, install


@pytest.fixture
def syncer(zlab_lab) -> SyncerClient:
    return zlab_lab.syncer


def synced_tenant(zlab_lab, syncer, companies=("Acme",)):
    """FSM Companies with one Contact each, a CRM Product, all synced (clone)."""
    t = crm_tenant(zlab_lab)
    fsm = {}
    for name in companies:
        cid = fsm_create(t, "Companies", {"Company_Name": name})
        person = fsm_create(t, "Contacts", {"Last_Name": f"{name} Boss", "Email": f"boss@{name.lower()}.example",
                                            "Company": cid})
        fsm[name] = {"company": cid, "contact": person}
    crm_create(t, "Products", {"Product_Name": "Boiler check", "Type": "Service", "Unit_Price": 80})
    integ = install(syncer, t)
    enable(syncer, integ)
    iid = integ["id"]
    for ids in fsm.values():  # CR-16: the synced records' partners, for CRM lookups
        ids["account"] = syncer._call("GET", f"/integrations/{iid}/records/Companies/{ids['company']}")["partner"]["id"]
        ids["crm_contact"] = syncer._call("GET", f"/integrations/{iid}/records/Contacts/{ids['contact']}")["partner"]["id"]
    return t, iid, fsm


def deal(t, ids, name="Boilers 2026", **extra) -> str:
    return crm_create(t, "Deals", {"Deal_Name": name, "Stage": "Qualification", "Closing_Date": "2026-12-31",
                                   "Account_Name": {"id": ids["account"]}, "Contact_Name": {"id": ids["crm_contact"]},
                                   **extra})


def convert(syncer, iid, module, rid, to, values=None, *, preview=False):
    body = {"from": {"module": module, "id": rid}, "to": to}
    if preview:
        return syncer._call("POST", f"/integrations/{iid}/conversions/preview", json=body)
    return syncer._call("POST", f"/integrations/{iid}/conversions", json={**body, "values": values or {}})


def related(syncer, iid, module, rid) -> dict[str, list[str]]:
    out = syncer._call("GET", f"/integrations/{iid}/related/{module}/{rid}")["related"]
    return {m: sorted(r["id"] for r in rows) for m, rows in out.items()}


def refusal(call) -> SyncerApiError:
    with pytest.raises(SyncerApiError) as exc:
        call()
    return exc.value


def test_a_work_order_from_a_deal_is_prefilled_with_the_mapped_fields(zlab_lab, syncer):
    t, iid, fsm = synced_tenant(zlab_lab, syncer)
    acme = fsm["Acme"]
    deal_id = deal(t, acme, Description="Two boilers, back room", Next_Step="Call Tuesday")
    shown = convert(syncer, iid, "Deals", deal_id, "Work_Orders", preview=True)
    v = shown["values"]
    assert v["Summary"] == "Boilers 2026" and v["Description"] == "Two boilers, back room"
    assert v["Company"] == {"id": acme["company"]} and v["Contact"] == {"id": acme["contact"]}  # through the links
    assert v["Type"] == "Service" and v["ZCRM_Deals_Id"] == deal_id and shown["missing"] == []
    assert shown["link"]["module"] == "Deals" and deal_id in shown["link"]["url"]

    # a custom mapping: Next_Step prefills Territory; invalid ones are refused naming the field
    rows = [*syncer._call("GET", f"/integrations/{iid}/conversions/mappings")["mappings"]["Deals->Work_Orders"],
            {"crm_field": "Next_Step", "fsm_field": "Territory"}]
    put = f"/integrations/{iid}/conversions/mappings"
    bad = refusal(lambda: syncer._call("PUT", put, json={"mappings": {"Deals->Work_Orders": [
        {"crm_field": "Nope", "fsm_field": "Summary"}]}}))
    assert bad.status == 400 and "Deals->Work_Orders[0].crm_field" in bad.message and "Nope" in bad.message
    bad = refusal(lambda: syncer._call("PUT", put, json={"mappings": {"Deals->Work_Orders": [
        {"crm_field": "Amount", "fsm_field": "Grand_Total"}]}}))
    assert bad.status == 400 and "Grand_Total" in bad.message and "read-only" in bad.message
    bad = refusal(lambda: syncer._call("PUT", put, json={"mappings": {"Deals->Work_Orders": [
        {"crm_field": "Account_Name", "fsm_field": "Contact"}]}}))
    assert bad.status == 400 and "Account_Name" in bad.message and "synced module pair" in bad.message
    saved = syncer._call("PUT", put, json={"mappings": {"Deals->Work_Orders": rows}})
    assert saved["customized"] == ["Deals->Work_Orders"]

    made = convert(syncer, iid, "Deals", deal_id, "Work_Orders", {"Priority": "High"})
    wo = fsm_get(t, "Work_Orders", made["fsm"]["id"])
    assert (wo["Summary"], wo["Territory"], wo["Priority"]) == ("Boilers 2026", "Call Tuesday", "High")
    assert wo["Company"]["id"] == acme["company"] and wo["Contact"]["id"] == acme["contact"]
    assert wo["ZCRM_Deals_Id"] == deal_id and wo["ZCRM_Deals_Name"] == "Boilers 2026"
    assert related(syncer, iid, "Deals", deal_id) == {"Requests": [], "Estimates": [], "Work_Orders": [wo["id"]]}
    rec = syncer._call("GET", f"/integrations/{iid}/records/Work_Orders/{wo['id']}")
    assert rec["deal"]["id"] == deal_id and rec["partner"]["url"].endswith(f"/Deals/{deal_id}")
    # CR-16 on the FSM side: the synced Company shows the CRM Deal made with its partner
    company = syncer._call("GET", f"/integrations/{iid}/records/Companies/{acme['company']}")
    assert [d["id"] for d in company["crm_transactions"]["Deals"]] == [deal_id]
    page = syncer.request("GET", "/dashboard", params={"q": iid}).text  # paged: filter to this one
    assert "FSM records created from CRM: 1, linked to Deals/Sales Orders: 0, custom conversion mappings: 1" in page


def test_a_second_deal_link_is_refused_and_a_converted_estimate_stays_under_the_deal(zlab_lab, syncer):
    t, iid, fsm = synced_tenant(zlab_lab, syncer)
    acme = fsm["Acme"]
    first, second = deal(t, acme, "First"), deal(t, acme, "Second")
    req = fsm_create(t, "Requests", {"Summary": "Noisy boiler", "Contact": acme["contact"]})
    links = f"/integrations/{iid}/links"
    body = {"fsm_module": "Requests", "fsm_id": req, "crm_module": "Deals", "crm_id": first}
    r = syncer.request("POST", f"/api/v1{links}", json=body)
    assert r.status_code == 201 and r.json()["crm"]["id"] == first
    assert syncer.request("POST", f"/api/v1{links}", json=body).status_code == 200  # the same link again
    err = refusal(lambda: syncer._call("POST", links, json={**body, "crm_id": second}))
    assert err.status == 409 and err.code == "already_linked" and first in err.message
    assert fsm_get(t, "Requests", req)["ZCRM_Deals_Id"] == first

    # a Request made from the Deal, converted to an Estimate in FSM: both listed under the Deal
    made = convert(syncer, iid, "Deals", second, "Requests")["fsm"]["id"]
    moves = {m["name"]: m for m in t.fsm().get(f"/Requests/{made}/actions/blueprint/transitions").json()["transitions"]}
    r = t.fsm().put(f"/Requests/{made}/actions/blueprint", json={"blueprint": [{
        "transition_id": moves["Convert to Estimate"]["id"], "data": {}}]})
    est = r.json()["actions"]["after"]["Estimate"]["id"]
    assert related(syncer, iid, "Deals", second) == {"Requests": [made], "Estimates": [est], "Work_Orders": []}
    assert related(syncer, iid, "Deals", first) == {"Requests": [req], "Estimates": [], "Work_Orders": []}

    # CR-02: the extension's actions are for the install's access only (admins by default)
    t.set_org("crm", settings={"users": [{"email": "rep@crm.example", "profile": "Standard"}]})
    denied = syncer.request("POST", f"/api/v1/integrations/{iid}/conversions/preview",
                            json={"from": {"module": "Deals", "id": first}, "to": "Requests"},
                            headers={"X-Zlab-Crm-User": "rep@crm.example"})
    assert denied.status_code == 403 and denied.json()["code"] == "extension_access_denied"
    allowed = syncer.request("GET", f"/api/v1/integrations/{iid}/related/Deals/{first}",
                             headers={"X-Zlab-Crm-User": t.email})
    assert allowed.status_code == 200


def test_related_lists_are_exact_per_account_contact_sales_order_and_product(zlab_lab, syncer):
    t, iid, fsm = synced_tenant(zlab_lab, syncer, companies=("Acme", "Other"))
    product = next(p for p in t.crm().get("/Products", params={"fields": "Product_Name"}).json()["data"])
    service = syncer._call("GET", f"/integrations/{iid}/partner-records/Products/{product['id']}")["fsm"]["id"]
    made: dict[str, dict[str, str]] = {}
    for name, ids in fsm.items():
        wo = t.fsm().post("/Work_Orders", json={"data": [{
            "Summary": f"{name} WO", "Type": "Service", "Contact": ids["contact"], "Company": ids["company"],
            "Service_Line_Items": [{"Service": service, "Quantity": 1}]}]}).json()["data"]["Work_Orders"][0]
        sa = fsm_create(t, "Service_Appointments", {"$Service_Line_Items": [wo["Service_Line_Items"][0]["id"]]})
        req = fsm_create(t, "Requests", {"Summary": f"{name} req", "Contact": ids["contact"], "Company": ids["company"]})
        asset = fsm_create(t, "Assets", {"Name": f"{name} boiler", "Contact": ids["contact"], "Company": ids["company"],
                                         "Product": service})
        made[name] = {"wo": wo["id"], "sa": sa, "req": req, "asset": asset}
    a, other = made["Acme"], made["Other"]
    expected = {"Requests": [a["req"]], "Estimates": [], "Work_Orders": [a["wo"]],
                "Service_Appointments": [a["sa"]], "Assets": [a["asset"]]}
    assert related(syncer, iid, "Accounts", fsm["Acme"]["account"]) == expected
    assert related(syncer, iid, "Contacts", fsm["Acme"]["crm_contact"]) == expected
    assert related(syncer, iid, "Products", product["id"]) == {"Assets": sorted([a["asset"], other["asset"]])}
    full = syncer._call("GET", f"/integrations/{iid}/related/Accounts/{fsm['Acme']['account']}")
    assert all(r["url"].endswith(f"/{m}/{r['id']}") for m, rows in full["related"].items() for r in rows)

    # a Sales Order made with Acme's partners (CR-16), its lines priced from the synced Product
    so = crm_create(t, "Sales_Orders", {"Subject": "SO boilers", "Account_Name": {"id": fsm["Acme"]["account"]},
                                        "Contact_Name": {"id": fsm["Acme"]["crm_contact"]},
                                        "Ordered_Items": [{"Product_Name": {"id": product["id"]}, "Quantity": 3}]})
    assert [s["id"] for s in t.crm().get(f"/Accounts/{fsm['Acme']['account']}/Sales_Orders",
                                         params={"fields": "Subject"}).json()["data"]] == [so]
    wo = convert(syncer, iid, "Sales_Orders", so, "Work_Orders")["fsm"]["record"]
    assert wo["Service_Line_Items"][0]["Service"]["id"] == service and wo["Service_Line_Items"][0]["Quantity"] == 3
    asset = convert(syncer, iid, "Sales_Orders", so, "Assets")["fsm"]["id"]
    assert related(syncer, iid, "Sales_Orders", so) == {"Requests": [], "Estimates": [], "Work_Orders": [wo["id"]],
                                                        "Assets": [asset]}
    assert wo["id"] in related(syncer, iid, "Accounts", fsm["Acme"]["account"])["Work_Orders"]
    assert wo["id"] not in related(syncer, iid, "Accounts", fsm["Other"]["account"])["Work_Orders"]
    # an Asset from the Product points at its FSM service
    from_product = convert(syncer, iid, "Products", product["id"], "Assets")["fsm"]["record"]
    assert from_product["Product"]["id"] == service and from_product["Name"] == "Boiler check"
