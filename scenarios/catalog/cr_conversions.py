"""CR-07, CR-08, CR-15, CR-16 — FSM records from CRM through the CRM extension (issue 12;
../shared/seeds/fsm-crm-direct-sync.txt, "Using the Extension"): conversion mappings, Deal / Sales
Order links, related lists both ways, CRM transactions made with synced FSM data.

Each scenario goes through the syncer's API (``/conversions``, ``/links``, ``/related``,
``/records``) and the fakes' APIs only, checks the install's initial sync run and the records on
both sides; each clause has a breaker (a small realistic change of ``syncer/crm_sync``) next to its
scenarios that makes one of them fail."""

from __future__ import annotations

from typing import Any

from scenarios.harness import expect, scenario
from scenarios.harness.breakers import breaker
from scenarios.harness.syncer_client import SyncerApiError

ADMIN = "admin@crm.example"


# -- helpers ------------------------------------------------------------------------------------------------
def created_id(r, module: str) -> str:
    expect(r.status_code, f"create {module}: HTTP status").one_of((200, 201))
    body = r.json()
    data = body["data"]
    return data[module][0]["id"] if isinstance(data, dict) else data[0]["details"]["id"]


def fsm_new(t, module: str, **values: Any) -> str:
    return created_id(t.fsm().post(f"/{module}", json={"data": [values]}), module)


def crm_new(t, module: str, **values: Any) -> str:
    return created_id(t.crm().post(f"/{module}", json={"data": [values]}), module)


def fsm_one(t, module: str, rid: str) -> dict[str, Any]:
    r = t.fsm().get(f"/{module}/{rid}")
    expect(r.status_code, f"FSM {module} {rid}: HTTP status").equals(200)
    return r.json()["data"][0]


def crm_one(t, module: str, rid: str, fields: str) -> dict[str, Any]:
    r = t.crm().get(f"/{module}/{rid}", params={"fields": fields})
    expect(r.status_code, f"CRM {module} {rid}: HTTP status").equals(200)
    return r.json()["data"][0]


def ref(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) else value


def synced(lab, companies=("Acme",), products=("Boiler check",)):
    """FSM Companies with one Contact each and CRM Products, installed and enabled (clone); the
    initial sync succeeded. Answers the tenant, the integration and each side's ids."""
    t = lab.tenant(products=["fsm", "crm"])
    ids: dict[str, dict[str, str]] = {}
    for name in companies:
        company = fsm_new(t, "Companies", Company_Name=name)
        person = fsm_new(t, "Contacts", Last_Name=f"{name} Boss", Email=f"boss@{name.lower()}.example",
                         Company=company)
        ids[name] = {"company": company, "contact": person}
    for name in products:
        ids[name] = {"product": crm_new(t, "Products", Product_Name=name, Type="Service", Unit_Price=80)}
    integ = lab.syncer.create_crm_integration(t, notify_email=ADMIN)
    integ.enable_crm(duplicate_policy="clone")
    [run] = integ.runs()
    expect(run["status"], "the initial sync's status").equals("succeeded")
    expect(run["trigger"], "the initial sync's trigger").equals("initial")
    for name in companies:
        ids[name]["account"] = integ.record("Companies", ids[name]["company"])["partner"]["id"]
        ids[name]["crm_contact"] = integ.record("Contacts", ids[name]["contact"])["partner"]["id"]
    for name in products:
        ids[name]["service"] = integ.partner_record("Products", ids[name]["product"])["fsm"]["id"]
    return t, integ, ids


def api(lab, integ, method: str, path: str, **kw: Any) -> Any:
    return lab.syncer._call(method, f"/integrations/{integ.id}{path}", **kw)


def preview(lab, integ, module: str, rid: str, to: str) -> dict[str, Any]:
    return api(lab, integ, "POST", "/conversions/preview", json={"from": {"module": module, "id": rid}, "to": to})


def convert(lab, integ, module: str, rid: str, to: str, **values: Any) -> dict[str, Any]:
    return api(lab, integ, "POST", "/conversions", json={"from": {"module": module, "id": rid}, "to": to,
                                                          "values": values})


def related(lab, integ, module: str, rid: str) -> dict[str, list[str]]:
    out = api(lab, integ, "GET", f"/related/{module}/{rid}")["related"]
    return {m: sorted(r["id"] for r in rows) for m, rows in out.items()}


def link(lab, integ, fsm_module: str, fsm_id: str, crm_module: str, crm_id: str):
    return lab.syncer.request("POST", f"/api/v1/integrations/{integ.id}/links", json={
        "fsm_module": fsm_module, "fsm_id": fsm_id, "crm_module": crm_module, "crm_id": crm_id})


def refusal(call) -> SyncerApiError:
    try:
        call()
    except SyncerApiError as exc:
        return exc
    raise AssertionError("the syncer accepted it")


def new_deal(t, ids: dict[str, str], name: str, **extra: Any) -> str:
    return crm_new(t, "Deals", Deal_Name=name, Stage="Qualification", Closing_Date="2026-12-31",
                   Account_Name={"id": ids["account"]}, Contact_Name={"id": ids["crm_contact"]}, **extra)


def new_sales_order(t, ids: dict[str, str], subject: str, product: str, quantity: int = 1) -> str:
    return crm_new(t, "Sales_Orders", Subject=subject, Account_Name={"id": ids["account"]},
                   Contact_Name={"id": ids["crm_contact"]},
                   Ordered_Items=[{"Product_Name": {"id": product}, "Quantity": quantity}])


def convert_in_fsm(t, request_id: str) -> str:
    """FSM's blueprint "Convert to Estimate" on a Request: the new Estimate's id."""
    moves = t.fsm().get(f"/Requests/{request_id}/actions/blueprint/transitions").json()["transitions"]
    tid = next(m["id"] for m in moves if m["name"] == "Convert to Estimate")
    r = t.fsm().put(f"/Requests/{request_id}/actions/blueprint", json={"blueprint": [{"transition_id": tid,
                                                                                      "data": {}}]})
    expect(r.status_code, "Convert to Estimate: HTTP status").equals(200)
    return r.json()["actions"]["after"]["Estimate"]["id"]


def _conv():
    from syncer.crm_sync import conversions

    return conversions


# == CR-07: conversion mappings =============================================================================

@scenario("CR-07-FROM-ACCOUNTS-AND-CONTACTS", "Requests and Estimates created from a CRM Account or Contact are "
          "prefilled with its synced Company, Contact and fields", rules=("CR-07",), tags=("sync", "crm"))
def from_accounts_and_contacts(lab):
    with lab.step("Given FSM Company 'Acme' and its Contact, synced to CRM"):
        t, integ, ids = synced(lab)
        acme = ids["Acme"]
        t.crm().put(f"/Accounts/{acme['account']}", json={"data": [{"Phone": "555-0100",
                                                                       "Description": "Head office"}]})
    with lab.step("When a Request is previewed from the Account"):
        shown = preview(lab, integ, "Accounts", acme["account"], "Requests")
    with lab.step("Then the Account's name, Company (its synced partner), phone and description are prefilled"):
        v = shown["values"]
        expect(v.get("Summary"), "Summary").equals("Acme")
        expect(ref(v.get("Company")), "Company (the Account's FSM partner)").equals(acme["company"])
        expect(v.get("Phone"), "Phone").equals("555-0100")
        expect(shown["missing"], "mandatory fields still to give").equals(["Contact"])
    with lab.step("When it is created with the Contact given, and an Estimate is created from the CRM Contact"):
        req = convert(lab, integ, "Accounts", acme["account"], "Requests", Contact=acme["contact"])["fsm"]["id"]
        est = convert(lab, integ, "Contacts", acme["crm_contact"], "Estimates")["fsm"]["id"]
    with lab.step("Then FSM has both, carrying the prefilled values; CRM's records are unchanged"):
        r = fsm_one(t, "Requests", req)
        expect((r["Summary"], ref(r["Company"]), ref(r["Contact"]), r.get("Phone")),
               "the Request's Summary, Company, Contact, Phone").equals(("Acme", acme["company"], acme["contact"],
                                                                         "555-0100"))
        e = fsm_one(t, "Estimates", est)
        expect((e["Summary"], ref(e["Contact"]), ref(e["Company"]), e.get("Email")),
               "the Estimate's Summary, Contact, Company, Email").equals(
            ("Acme Boss", acme["contact"], acme["company"], "boss@acme.example"))
        expect(crm_one(t, "Accounts", acme["account"], "Account_Name,Phone")["Account_Name"],
               "the CRM Account's name").equals("Acme")


@scenario("CR-07-FROM-DEALS-AND-SALES-ORDERS", "Work Orders created from a Deal or a Sales Order are prefilled "
          "(name, Account and Contact through the links, the order's lines priced from synced Products)",
          rules=("CR-07",), tags=("sync", "crm"))
def from_deals_and_sales_orders(lab):
    with lab.step("Given synced 'Acme' and Product 'Boiler check', a Deal and a Sales Order of 3 boiler checks"):
        t, integ, ids = synced(lab)
        acme, boiler = ids["Acme"], ids["Boiler check"]
        deal = new_deal(t, acme, "Boilers 2026", Description="Two boilers")
        so = new_sales_order(t, acme, "SO boilers", boiler["product"], quantity=3)
    with lab.step("When a Work Order is previewed from the Deal"):
        shown = preview(lab, integ, "Deals", deal, "Work_Orders")
    with lab.step("Then name, description, Company and Contact are prefilled and nothing mandatory is missing"):
        v = shown["values"]
        expect((v.get("Summary"), v.get("Description")), "Summary, Description").equals(("Boilers 2026", "Two boilers"))
        expect((ref(v.get("Company")), ref(v.get("Contact"))), "Company, Contact").equals(
            (acme["company"], acme["contact"]))
        expect(shown["missing"], "mandatory fields still to give").equals([])
    with lab.step("When Work Orders are created from the Deal and from the Sales Order"):
        wo_deal = convert(lab, integ, "Deals", deal, "Work_Orders")["fsm"]["id"]
        wo_so = convert(lab, integ, "Sales_Orders", so, "Work_Orders")["fsm"]["id"]
    with lab.step("Then FSM has them with the mapped values; the Sales Order's line is the synced service x3"):
        w = fsm_one(t, "Work_Orders", wo_deal)
        expect((w["Summary"], ref(w["Company"]), ref(w["Contact"])), "the Deal's Work Order").equals(
            ("Boilers 2026", acme["company"], acme["contact"]))
        w = fsm_one(t, "Work_Orders", wo_so)
        lines = [(ref(x["Service"]), x["Quantity"]) for x in w.get("Service_Line_Items") or []]
        expect(lines, "the Sales Order's Work Order lines").equals([(boiler["service"], 3)])
        expect(w["Grand_Total"], "its total (3 x 80)").equals(240)
        expect(crm_one(t, "Deals", deal, "Deal_Name")["Deal_Name"], "the CRM Deal").equals("Boilers 2026")


@scenario("CR-07-ASSET-FROM-PRODUCT", "An Asset created from a CRM Product is named after it and points at its "
          "synced Service", rules=("CR-07",), tags=("sync", "crm"))
def asset_from_product(lab):
    with lab.step("Given CRM Product 'Boiler check' synced to an FSM Service"):
        t, integ, ids = synced(lab, companies=())
        boiler = ids["Boiler check"]
    with lab.step("When an Asset is created from the Product with a serial number given"):
        shown = preview(lab, integ, "Products", boiler["product"], "Assets")
        made = convert(lab, integ, "Products", boiler["product"], "Assets", Serial_Number="SN-1")["fsm"]["id"]
    with lab.step("Then the preview and the FSM Asset carry the name and the Service"):
        expect(ref(shown["values"].get("Product")), "the previewed Product (FSM Service)").equals(boiler["service"])
        a = fsm_one(t, "Assets", made)
        expect((a["Name"], ref(a.get("Product")), a.get("Serial_Number")), "the Asset's Name, Product, Serial") \
            .equals(("Boiler check", boiler["service"], "SN-1"))
        expect(fsm_one(t, "Service_And_Parts", boiler["service"])["Name"], "the FSM Service").equals("Boiler check")


@scenario("CR-07-CUSTOM-MAPPING", "Custom conversion mappings prefill what they map, the caller's values win, "
          "invalid mappings are refused naming the field", rules=("CR-07",), tags=("sync", "crm"))
def custom_mapping(lab):
    with lab.step("Given synced 'Acme' and a Deal with a Next Step"):
        t, integ, ids = synced(lab)
        deal = new_deal(t, ids["Acme"], "Boilers 2026", Next_Step="Call Tuesday")
        rows = api(lab, integ, "GET", "/conversions/mappings")["mappings"]["Deals->Work_Orders"]
    with lab.step("When mappings naming an unknown CRM field, a read-only FSM field and a lookup of another "
                  "module are saved"):
        bad = [refusal(lambda r=r: api(lab, integ, "PUT", "/conversions/mappings",
                                       json={"mappings": {"Deals->Work_Orders": [r]}}))
               for r in ({"crm_field": "Nope", "fsm_field": "Summary"},
                         {"crm_field": "Amount", "fsm_field": "Grand_Total"},
                         {"crm_field": "Account_Name", "fsm_field": "Contact"})]
    with lab.step("Then each is refused (400) naming the field"):
        expect([e.status for e in bad], "HTTP statuses").equals([400, 400, 400])
        expect(bad[0].message, "unknown field refusal").contains("Deals->Work_Orders[0].crm_field")
        expect(bad[0].message, "unknown field refusal").contains("Nope")
        expect(bad[1].message, "read-only refusal").contains("Grand_Total")
        expect(bad[2].message, "lookup refusal").contains("Account_Name")
        expect(api(lab, integ, "GET", "/conversions/mappings")["customized"], "custom mappings saved").equals([])
    with lab.step("When Next_Step -> Territory is added and a Work Order created with Priority High given"):
        api(lab, integ, "PUT", "/conversions/mappings", json={"mappings": {"Deals->Work_Orders": [
            *rows, {"crm_field": "Next_Step", "fsm_field": "Territory"}]}})
        shown = preview(lab, integ, "Deals", deal, "Work_Orders")
        made = convert(lab, integ, "Deals", deal, "Work_Orders", Priority="High", Summary="Boilers (priority)")
    with lab.step("Then the preview shows the Territory; FSM's Work Order has it, and the caller's values"):
        expect(shown["values"].get("Territory"), "previewed Territory").equals("Call Tuesday")
        w = fsm_one(t, "Work_Orders", made["fsm"]["id"])
        expect((w.get("Territory"), w.get("Priority"), w["Summary"]), "Territory, Priority, Summary").equals(
            ("Call Tuesday", "High", "Boilers (priority)"))
        expect(crm_one(t, "Deals", deal, "Next_Step")["Next_Step"], "the CRM Deal's Next Step").equals("Call Tuesday")


@breaker("CR-07", "CR-07-lookup-not-through-link", "a CRM lookup prefills the CRM id instead of its FSM partner")
def _(p):
    c = _conv()
    original = c.Conversions._partner

    def broken(self, integ, crm_module, crm_id):
        return crm_id if crm_module != "Products" else original(self, integ, crm_module, crm_id)

    p.setattr(c.Conversions, "_partner", broken)


@breaker("CR-07", "CR-07-custom-mapping-ignored", "conversions always use the default mappings")
def _(p):
    c = _conv()
    p.setattr(c.Conversions, "_rows", lambda self, integ, key: list(c.DEFAULT_MAPPINGS[key]))


@breaker("CR-07", "CR-07-overrides-lost", "the caller's values are dropped: only the prefilled ones are saved")
def _(p):
    c = _conv()
    original = c.Conversions.create

    def broken(self, integration_id, crm_module, crm_id, fsm_module, overrides=None):
        keep = {k: v for k, v in (overrides or {}).items() if k == "Contact"}  # what the form forces
        return original(self, integration_id, crm_module, crm_id, fsm_module, keep)

    p.setattr(c.Conversions, "create", broken)


@breaker("CR-07", "CR-07-unknown-crm-field-accepted", "a mapping naming a CRM field that does not exist is saved")
def _(p):
    c = _conv()
    original = c.validate

    def broken(key, rows, crm_fields, fsm_fields):
        names = {r.get("crm_field") for r in rows if isinstance(r, dict)}
        extra = {n: c.Field(n, "text", False, False, None) for n in names if isinstance(n, str)}
        return original(key, rows, {**extra, **crm_fields}, fsm_fields)

    p.setattr(c, "validate", broken)


@breaker("CR-07", "CR-07-asset-without-product", "an Asset from a Product does not point at its FSM Service")
def _(p):
    c = _conv()
    original = c.Conversions._value

    def broken(self, integ, row, record, crm_module, crm_fields):
        if row["crm_field"] == "id" and crm_module == "Products":
            return None
        return original(self, integ, row, record, crm_module, crm_fields)

    p.setattr(c.Conversions, "_value", broken)


@breaker("CR-07", "CR-07-order-lines-dropped", "a Sales Order's lines do not prefill the Work Order's lines")
def _(p):
    c = _conv()
    p.setattr(c, "LINE_ITEMS", ("Ordered_Items", "Line_Items"))


@breaker("CR-07", "CR-07-contact-not-prefilled", "from a CRM Contact, the FSM Contact is left out")
def _(p):
    c = _conv()
    rows = [r for r in c.DEFAULT_MAPPINGS["Contacts->Estimates"] if r["crm_field"] != "id"]
    p.setitem(c.DEFAULT_MAPPINGS, "Contacts->Estimates", rows)


# == CR-08: one Deal or Sales Order per record; the converted Estimate stays listed ============================

@scenario("CR-08-ONE-LINK", "A Request, Estimate or Work Order links to one Deal or Sales Order; a second link is "
          "refused with already_linked", rules=("CR-08",), tags=("sync", "crm"))
def one_link(lab):
    with lab.step("Given synced 'Acme', Deals 'First' and 'Second', a Sales Order, and an FSM Request, Estimate "
                  "and Work Order of Acme's contact"):
        t, integ, ids = synced(lab)
        acme = ids["Acme"]
        first, second = new_deal(t, acme, "First"), new_deal(t, acme, "Second")
        so = new_sales_order(t, acme, "SO", ids["Boiler check"]["product"])
        records = {"Requests": fsm_new(t, "Requests", Summary="R", Contact=acme["contact"]),
                   "Estimates": fsm_new(t, "Estimates", Summary="E", Contact=acme["contact"]),
                   "Work_Orders": fsm_new(t, "Work_Orders", Summary="W", Type="Service", Contact=acme["contact"])}
    with lab.step("When each is linked to Deal 'First'"):
        statuses = [link(lab, integ, m, rid, "Deals", first).status_code for m, rid in records.items()]
    with lab.step("Then each link is made (201) and listed under the Deal"):
        expect(statuses, "HTTP statuses").equals([201, 201, 201])
        expect(related(lab, integ, "Deals", first), "the Deal's FSM records").equals(
            {m: [rid] for m, rid in records.items()})
    with lab.step("When each is linked again: to 'First' (the same), to 'Second', to the Sales Order"):
        same = [link(lab, integ, m, rid, "Deals", first).status_code for m, rid in records.items()]
        other = [link(lab, integ, m, rid, "Deals", second) for m, rid in records.items()]
        to_so = [link(lab, integ, m, rid, "Sales_Orders", so) for m, rid in records.items()]
    with lab.step("Then the same link answers 200, the others 409 already_linked naming 'First'; FSM keeps 'First'"):
        expect(same, "the same link again").equals([200, 200, 200])
        for r in other + to_so:
            expect(r.status_code, "a second link: HTTP status").equals(409)
            expect(r.json().get("code"), "a second link: code").equals("already_linked")
            expect(r.json().get("message"), "a second link: message").contains(first)
        for m, rid in records.items():
            f = fsm_one(t, m, rid)
            expect((f.get("ZCRM_Deals_Id"), f.get("ZCRM_Sales_Orders_Id")), f"FSM {m}'s link").equals((first, None))
        expect(related(lab, integ, "Deals", second), "the second Deal's FSM records").equals(
            {"Requests": [], "Estimates": [], "Work_Orders": []})
        expect(crm_one(t, "Deals", second, "Deal_Name")["Deal_Name"], "the CRM Deal").equals("Second")


@scenario("CR-08-CONVERTED-ESTIMATE", "An Estimate converted from a Request linked to a Deal or created for a "
          "Sales Order is listed under the same Deal or Sales Order", rules=("CR-08",), tags=("sync", "crm"))
def converted_estimate(lab):
    with lab.step("Given synced 'Acme', a Request linked to a Deal and a Request created from a Sales Order"):
        t, integ, ids = synced(lab)
        acme = ids["Acme"]
        deal = new_deal(t, acme, "Boilers")
        so = new_sales_order(t, acme, "SO boilers", ids["Boiler check"]["product"])
        linked = fsm_new(t, "Requests", Summary="Noisy boiler", Contact=acme["contact"])
        expect(link(lab, integ, "Requests", linked, "Deals", deal).status_code, "link: HTTP status").equals(201)
        from_so = convert(lab, integ, "Sales_Orders", so, "Requests")["fsm"]["id"]
    with lab.step("When both Requests are converted to Estimates in FSM"):
        est_deal, est_so = convert_in_fsm(t, linked), convert_in_fsm(t, from_so)
    with lab.step("Then each Estimate is listed under its Request's Deal or Sales Order, and points back to it"):
        expect(related(lab, integ, "Deals", deal), "the Deal's FSM records").equals(
            {"Requests": [linked], "Estimates": [est_deal], "Work_Orders": []})
        expect(related(lab, integ, "Sales_Orders", so), "the Sales Order's FSM records").equals(
            {"Requests": [from_so], "Estimates": [est_so], "Work_Orders": [], "Assets": []})
        view = api(lab, integ, "GET", f"/records/Estimates/{est_so}")
        expect((view.get("sales_order") or {}).get("id"), "the Estimate's Sales Order").equals(so)
        expect(ref(fsm_one(t, "Estimates", est_deal)["Request"]), "the Estimate's Request").equals(linked)
        expect(fsm_one(t, "Requests", linked)["Status"], "the Request's status").equals("Estimate Created")


@breaker("CR-08", "CR-08-second-link-overwrites", "linking an already linked record replaces its Deal")
def _(p):
    c = _conv()
    p.setattr(c.Conversions, "_existing_link", lambda self, integ, record: None)


@breaker("CR-08", "CR-08-sales-order-link-unseen", "a record linked to a Sales Order counts as not linked")
def _(p):
    c = _conv()
    p.setitem(c.LINK_FIELDS, "Sales_Orders", ("ZCRM_Sales_Order_Id", "ZCRM_Sales_Orders_Name"))


@breaker("CR-08", "CR-08-estimates-not-listed", "a Deal's and Sales Order's lists leave the Estimates out")
def _(p):
    c = _conv()
    p.setitem(c.RELATED, "Deals", ("Requests", "Work_Orders"))
    p.setitem(c.RELATED, "Sales_Orders", ("Requests", "Work_Orders", "Assets"))


# == CR-15: related lists ===================================================================================

def _records_of(t, ids, service: str) -> dict[str, str]:
    """A Request, Work Order, its Service Appointment and an Asset of one Company and its Contact."""
    wo = t.fsm().post("/Work_Orders", json={"data": [{
        "Summary": "WO", "Type": "Service", "Contact": ids["contact"], "Company": ids["company"],
        "Service_Line_Items": [{"Service": service, "Quantity": 1}]}]})
    expect(wo.status_code, "create Work Order: HTTP status").equals(201)
    wo = wo.json()["data"]["Work_Orders"][0]
    return {"Requests": fsm_new(t, "Requests", Summary="R", Contact=ids["contact"], Company=ids["company"]),
            "Estimates": fsm_new(t, "Estimates", Summary="E", Contact=ids["contact"], Company=ids["company"]),
            "Work_Orders": wo["id"],
            "Service_Appointments": fsm_new(t, "Service_Appointments",
                                            **{"$Service_Line_Items": [wo["Service_Line_Items"][0]["id"]]}),
            "Assets": fsm_new(t, "Assets", Name="Boiler", Contact=ids["contact"], Company=ids["company"],
                              Product=service)}


@scenario("CR-15-ACCOUNT-AND-CONTACT-LISTS", "A CRM Account's and Contact's related lists show exactly their FSM "
          "Requests, Estimates, Work Orders, Service Appointments and Assets, each with its FSM link",
          rules=("CR-15",), tags=("sync", "crm"))
def account_contact_lists(lab):
    with lab.step("Given synced 'Acme' and 'Other', each with a Request, Estimate, Work Order, appointment, Asset"):
        t, integ, ids = synced(lab, companies=("Acme", "Other"))
        service = ids["Boiler check"]["service"]
        mine = _records_of(t, ids["Acme"], service)
        _records_of(t, ids["Other"], service)
    with lab.step("When Acme's Account and Contact related lists are read"):
        by_account = api(lab, integ, "GET", f"/related/Accounts/{ids['Acme']['account']}")
        by_contact = related(lab, integ, "Contacts", ids["Acme"]["crm_contact"])
    with lab.step("Then each lists exactly Acme's records, with links to them in FSM"):
        want = {m: [rid] for m, rid in mine.items()}
        got = {m: sorted(r["id"] for r in rows) for m, rows in by_account["related"].items()}
        expect(got, "the Account's FSM records").equals(want)
        expect(by_contact, "the Contact's FSM records").equals(want)
        for m, rows in by_account["related"].items():
            for r in rows:
                expect(r["url"], f"the FSM link of {m} {r['id']}").satisfies(
                    lambda u, m=m, r=r: u.endswith(f"/{m}/{r['id']}") and t.org("fsm") in u,
                    "the FSM org's URL of that record")
        expect(fsm_one(t, "Work_Orders", mine["Work_Orders"])["Summary"], "the FSM Work Order").equals("WO")


@scenario("CR-15-DEAL-SALES-ORDER-PRODUCT-LISTS", "A Deal lists its Requests, Estimates and Work Orders; a Sales "
          "Order those and its Assets; a Product its Assets — exactly", rules=("CR-15",), tags=("sync", "crm"))
def deal_so_product_lists(lab):
    with lab.step("Given synced 'Acme', Products 'Boiler check' and 'Valve', two Deals and a Sales Order"):
        t, integ, ids = synced(lab, products=("Boiler check", "Valve"))
        acme, boiler, valve = ids["Acme"], ids["Boiler check"], ids["Valve"]
        deal, other_deal = new_deal(t, acme, "Boilers"), new_deal(t, acme, "Other")
        so = new_sales_order(t, acme, "SO", boiler["product"])
    with lab.step("When FSM records are made from each (and one of another Deal), Assets from both Products"):
        made = {m: convert(lab, integ, "Deals", deal, m)["fsm"]["id"] for m in ("Requests", "Estimates",
                                                                                "Work_Orders")}
        convert(lab, integ, "Deals", other_deal, "Work_Orders")
        made_so = {m: convert(lab, integ, "Sales_Orders", so, m)["fsm"]["id"]
                   for m in ("Requests", "Estimates", "Work_Orders", "Assets")}
        asset = convert(lab, integ, "Products", boiler["product"], "Assets")["fsm"]["id"]
        convert(lab, integ, "Products", valve["product"], "Assets")
    with lab.step("Then each CRM record lists exactly its own FSM records"):
        expect(related(lab, integ, "Deals", deal), "the Deal's FSM records").equals(
            {m: [rid] for m, rid in made.items()})
        expect(related(lab, integ, "Sales_Orders", so), "the Sales Order's FSM records").equals(
            {m: [rid] for m, rid in made_so.items()})
        expect(related(lab, integ, "Products", boiler["product"]), "the Product's Assets").equals({"Assets": [asset]})
        expect(ref(fsm_one(t, "Assets", asset)["Product"]), "the FSM Asset's Service").equals(boiler["service"])


@scenario("CR-15-FSM-RECORD-LINK", "From an FSM record, its Deal or Sales Order with the link into CRM",
          rules=("CR-15",), tags=("sync", "crm"))
def fsm_record_link(lab):
    with lab.step("Given synced 'Acme', a Work Order from a Deal, an Asset from a Sales Order, a Request of neither"):
        t, integ, ids = synced(lab)
        acme = ids["Acme"]
        deal = new_deal(t, acme, "Boilers")
        so = new_sales_order(t, acme, "SO", ids["Boiler check"]["product"])
        wo = convert(lab, integ, "Deals", deal, "Work_Orders")["fsm"]["id"]
        asset = convert(lab, integ, "Sales_Orders", so, "Assets")["fsm"]["id"]
        plain = fsm_new(t, "Requests", Summary="R", Contact=acme["contact"])
    with lab.step("When their record views are read"):
        v_wo, v_asset, v_plain = (api(lab, integ, "GET", f"/records/{m}/{rid}")
                                  for m, rid in (("Work_Orders", wo), ("Assets", asset), ("Requests", plain)))
    with lab.step("Then each shows its Deal or Sales Order with the CRM URL, the plain Request none"):
        expect((v_wo.get("deal") or {}).get("id"), "the Work Order's Deal").equals(deal)
        expect((v_wo.get("partner") or {}).get("url"), "its CRM link").satisfies(
            lambda u: bool(u) and u.endswith(f"/Deals/{deal}") and t.org("crm") in u, "the CRM org's Deal URL")
        expect((v_asset.get("sales_order") or {}).get("id"), "the Asset's Sales Order").equals(so)
        expect(v_plain.get("partner"), "the plain Request's partner").equals(None)
        expect(fsm_one(t, "Work_Orders", wo).get("ZCRM_Deals_Id"), "the FSM Work Order's Deal").equals(deal)


@breaker("CR-15", "CR-15-lists-not-filtered", "an Account's lists show every FSM record of the module")
def _(p):
    c = _conv()
    original = c.Conversions.related

    def broken(self, integration_id, crm_module, crm_id):
        out = original(self, integration_id, crm_module, crm_id)
        if crm_module == "Accounts":
            integ = self.repo.get_integration(integration_id)
            fsm, _crm = self._clients(integ)
            out["related"] = {m: [self._fsm_view(integ, m, str(r["id"]), r) for r in fsm.list_records(m)]
                              for m in out["related"]}
        return out

    p.setattr(c.Conversions, "related", broken)


@breaker("CR-15", "CR-15-contact-looked-up-as-account", "a CRM Contact's partner is looked up among the Accounts")
def _(p):
    c = _conv()
    original = c.Conversions._partner

    def broken(self, integ, crm_module, crm_id):
        return original(self, integ, "Accounts" if crm_module == "Contacts" else crm_module, crm_id)

    p.setattr(c.Conversions, "_partner", broken)


@breaker("CR-15", "CR-15-no-appointments", "Accounts and Contacts do not list Service Appointments")
def _(p):
    c = _conv()
    for module in ("Accounts", "Contacts"):
        p.setitem(c.RELATED, module, tuple(m for m in c.RELATED[module] if m != "Service_Appointments"))


@breaker("CR-15", "CR-15-sales-order-without-assets", "a Sales Order does not list its Assets")
def _(p):
    c = _conv()
    p.setitem(c.RELATED, "Sales_Orders", c.TRANSACTIONS)


@breaker("CR-15", "CR-15-product-assets-of-all", "a Product lists the Assets of every Product")
def _(p):
    c = _conv()
    original = c.Conversions.related

    def broken(self, integration_id, crm_module, crm_id):
        out = original(self, integration_id, crm_module, crm_id)
        if crm_module == "Products":
            integ = self.repo.get_integration(integration_id)
            fsm, _crm = self._clients(integ)
            out["related"]["Assets"] = [self._fsm_view(integ, "Assets", str(r["id"]), r)
                                        for r in fsm.list_records("Assets")]
        return out

    p.setattr(c.Conversions, "related", broken)


@breaker("CR-15", "CR-15-wrong-fsm-link", "related records link to the FSM module's list, not the record")
def _(p):
    c = _conv()
    original = c.Conversions._fsm_view

    def broken(self, integ, module, fsm_id, record=None):
        out = original(self, integ, module, fsm_id, record)
        out["url"] = out["url"].rsplit("/", 1)[0]
        return out

    p.setattr(c.Conversions, "_fsm_view", broken)


@breaker("CR-15", "CR-15-record-without-deal", "an FSM record's view leaves out its Deal or Sales Order")
def _(p):
    c = _conv()
    original = c.Conversions.record

    def broken(self, integration_id, fsm_module, fsm_id):
        out = original(self, integration_id, fsm_module, fsm_id)
        if fsm_module not in ("Companies", "Contacts", "Service_And_Parts"):
            out.update({"partner": None, "deal": None, "sales_order": None})
        return out

    p.setattr(c.Conversions, "record", broken)


# == CR-16: Deals and Sales Orders made with synced FSM Companies and Contacts ===============================

@scenario("CR-16-TRANSACTIONS-FROM-FSM-DATA", "A CRM Deal and Sales Order made with a synced FSM Company's and "
          "Contact's partners are accepted and listed on both sides", rules=("CR-16",), tags=("sync", "crm"))
def transactions_from_fsm_data(lab):
    with lab.step("Given FSM Companies 'Acme' and 'Other' with their Contacts, synced to CRM"):
        t, integ, ids = synced(lab, companies=("Acme", "Other"))
        acme = ids["Acme"]
    with lab.step("When a Deal and a Sales Order are created in CRM with Acme's partners as Account and Contact"):
        deal = new_deal(t, acme, "Boilers 2026")
        so = new_sales_order(t, acme, "SO boilers", ids["Boiler check"]["product"])
        new_deal(t, ids["Other"], "Other's deal")
    with lab.step("Then CRM accepted them: the Account's and Contact's related lists hold them"):
        for module, want in (("Deals", deal), ("Sales_Orders", so)):
            for parent, pid in (("Accounts", acme["account"]), ("Contacts", acme["crm_contact"])):
                r = t.crm().get(f"/{parent}/{pid}/{module}", params={"fields": "id"})
                expect([x["id"] for x in (r.json()["data"] if r.status_code == 200 else [])],
                       f"CRM {parent} {module}").equals([want])
    with lab.step("And from FSM: the Company's and the Contact's record views list the Deal and the Sales Order"):
        for module, fsm_id in (("Companies", acme["company"]), ("Contacts", acme["contact"])):
            view = api(lab, integ, "GET", f"/records/{module}/{fsm_id}")
            got = {m: [x["id"] for x in rows] for m, rows in (view.get("crm_transactions") or {}).items()}
            expect(got, f"the FSM {module[:-1]}'s CRM transactions").equals({"Deals": [deal], "Sales_Orders": [so]})
    with lab.step("When a Work Order is created from the Deal"):
        wo = convert(lab, integ, "Deals", deal, "Work_Orders")["fsm"]["id"]
    with lab.step("Then it is in the FSM Company's Work Orders and the Deal's related list"):
        r = t.fsm().get(f"/Companies/{acme['company']}/Work_Orders")
        expect([x["id"] for x in (r.json()["data"] if r.status_code == 200 else [])],
               "the FSM Company's Work Orders").equals([wo])
        expect(related(lab, integ, "Deals", deal)["Work_Orders"], "the Deal's Work Orders").equals([wo])


@breaker("CR-16", "CR-16-transactions-of-fsm-id", "an FSM record's CRM transactions are looked up by its FSM id")
def _(p):
    c = _conv()
    original = c.Conversions.record

    def broken(self, integration_id, fsm_module, fsm_id):
        out = original(self, integration_id, fsm_module, fsm_id)
        if "crm_transactions" in out:
            integ = self.repo.get_integration(integration_id)
            _fsm, crm = self._clients(integ)
            out["crm_transactions"] = self.crm_transactions(integ, crm, out["partner"]["module"], fsm_id)
        return out

    p.setattr(c.Conversions, "record", broken)


@breaker("CR-16", "CR-16-deal-account-not-resolved", "a Deal's Account lookup is not turned into its FSM Company")
def _(p):
    c = _conv()
    original = c.Conversions._value

    def broken(self, integ, row, record, crm_module, crm_fields):
        if crm_module == "Deals" and row["crm_field"] == "Account_Name":
            return None
        return original(self, integ, row, record, crm_module, crm_fields)

    p.setattr(c.Conversions, "_value", broken)


@breaker("CR-16", "CR-16-sales-orders-not-listed", "an FSM Company's view leaves out the CRM Sales Orders")
def _(p):
    c = _conv()
    p.setattr(c, "CRM_TRANSACTIONS", ("Deals",))
