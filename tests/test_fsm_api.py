"""The fake Zoho FSM API, as a client written for real Zoho FSM sees it, on SQLite and PostgreSQL.

One server per backend for the whole module (``fsm_app``); every test makes its own tenant, so
nothing leaks between tests. Tests that move the lab clock put it back.
"""

from __future__ import annotations

import re

import pytest

from tests.fsm_helpers import Fsm, module_app, new_fsm

CRM_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fsm_app(request, tmp_path_factory):
    yield from module_app(request, tmp_path_factory)


@pytest.fixture
def client(fsm_app):
    c = fsm_app.test_client()
    yield c
    c.post("/_lab/clock/reset")


@pytest.fixture
def fsm(client) -> Fsm:
    return new_fsm(client)


def error_of(r) -> dict:
    """The error entry of an answer: the envelope itself, or the first entry of a batch."""
    body = r.get_json()
    for key in ("data", "watch", "currencies"):
        if isinstance(body.get(key), list):
            return body[key][0]
    return body


# -- create / read / list -----------------------------------------------------------------------


def test_create_answers_carry_the_module_key_and_string_ids(client):
    fsm = new_fsm(client, time_zone="Asia/Kolkata")
    r = fsm.post("/Service_And_Parts", {"data": [
        {"Name": "Fumigation", "Unit_Price": 100, "Type": "Service", "Unit": "Hours"},
        {"Name": "Air filter", "Unit_Price": "12.5", "Type": "Part"}]})
    assert r.status_code == 201 and r.content_type.startswith("application/json")
    body = r.get_json()
    assert body["result"] == "success" and body["code"] == "SUCCESS" and body["status"] == "success"
    made = body["data"]["Service_And_Parts"]
    assert [m["UID"] for m in made] == ["Service_And_Parts_0", "Service_And_Parts_1"]
    for m in made:
        assert isinstance(m["id"], str) and m["id"].isdigit() and len(m["id"]) == 19
        assert m["TabName"] == "Products"
        assert set(m) == {"UID", "id", "Created_Time", "Modified_Time", "Created_By", "Modified_By", "TabName"}
        assert CRM_DATETIME.match(m["Created_Time"]) and m["Created_Time"].endswith("+05:30")
        assert set(m["Created_By"]) == {"name", "id"}
    r = fsm.post("/Contacts", {"data": [{"Last_Name": "Robins", "Email": "lucy@zylker.com"}]})
    assert list(r.get_json()["data"]) == ["Contacts"] and "TabName" not in r.get_json()["data"]["Contacts"][0]
    part = fsm.one("Service_And_Parts", made[1]["id"])
    assert part["Unit_Price"] == 12.5 and part["Type"] == "Part" and part["$inactive"] is None
    assert part["id"] == made[1]["id"] and part["$currency_symbol"] == "$"


def test_empty_list_is_204_and_lists_page_with_info(fsm):
    r = fsm.get("/Contacts")
    assert r.status_code == 204 and r.get_data() == b""
    ids = [fsm.contact(f"Last{i}", f"c{i}@x.com") for i in range(3)]
    r = fsm.get("/Contacts", params={"per_page": 2})
    body = r.get_json()
    assert r.status_code == 200
    assert body["info"] == {"per_page": 2, "count": 2, "page": 1, "more_records": True}
    page2 = fsm.get("/Contacts", params={"per_page": 2, "page": 2}).get_json()
    assert page2["info"]["more_records"] is False
    listed = [x["id"] for x in body["data"]] + [x["id"] for x in page2["data"]]
    assert sorted(listed) == sorted(ids) and len(set(listed)) == 3
    assert fsm.get("/Contacts", params={"page": 3, "per_page": 2}).status_code == 204
    one = fsm.get(f"/Contacts/{ids[0]}").get_json()
    assert list(one) == ["data"] and one["data"][0]["Full_Name"] == "Last0"
    assert fsm.get("/Contacts/1234567890123456789").status_code == 204  # unknown id
    assert fsm.get("/Contacts", params={"fields": "Email"}).get_json()["data"][0].keys() >= {"id", "Email"}


@pytest.mark.parametrize("module,record,missing", [
    ("Contacts", {"First_Name": "Lucy", "Email": "l@z.com"}, "Last_Name"),
    ("Contacts", {"Last_Name": "Robins"}, "Email"),
    ("Companies", {"Website": "https://zylker.com"}, "Company_Name"),
    ("Service_And_Parts", {"Name": "Painting", "Type": "Service"}, "Unit_Price"),
    ("Service_And_Parts", {"Name": "Painting", "Unit_Price": 10}, "Type"),
    ("Work_Orders", {"Type": "Service"}, "Summary"),
    ("Assets", {"Serial_Number": "X1"}, "Name"),
    ("Service_Appointments", {"Status": "Scheduled"}, "$Service_Line_Items"),
])
def test_mandatory_fields_per_module(fsm, module, record, missing):
    r = fsm.post(f"/{module}", {"data": [record]})
    assert r.status_code == 400
    e = error_of(r)
    assert e["code"] == "MANDATORY_NOT_FOUND" and e["status"] == "error"
    assert e["details"]["api_name"] == missing and e["details"]["json_path"] == f"$.data[0].{missing}"


def test_partial_batch_answers_207_with_per_record_entries(fsm):
    r = fsm.post("/Contacts", {"data": [{"Last_Name": "Ok", "Email": "ok@x.com"}, {"Last_Name": "No email"}]})
    assert r.status_code == 207
    good, bad = r.get_json()["data"]
    assert good["status"] == "success" and good["details"]["UID"] == "Contacts_0"
    assert bad["code"] == "MANDATORY_NOT_FOUND" and bad["details"]["json_path"] == "$.data[1].Email"
    assert fsm.get("/Contacts").get_json()["info"]["count"] == 1  # the good one was kept


def test_update_answers_crm_style_and_unknown_ids_are_invalid_data(fsm):
    cid = fsm.contact()
    r = fsm.put(f"/Contacts/{cid}", {"data": [{"Phone": "111-111-1111", "First_Name": "Lucy"}]})
    assert r.status_code == 200
    entry = r.get_json()["data"][0]
    assert entry["code"] == "SUCCESS" and entry["message"] == "record updated" and entry["status"] == "success"
    assert entry["details"]["id"] == cid and CRM_DATETIME.match(entry["details"]["Modified_Time"])
    got = fsm.one("Contacts", cid)
    assert got["Phone"] == "111-111-1111" and got["Full_Name"] == "Lucy Robins"
    r = fsm.put("/Contacts/1234567890123456789", {"data": [{"Phone": "1"}]})
    assert r.status_code == 400 and error_of(r)["code"] == "INVALID_DATA"
    assert error_of(r)["message"] == "the id given seems to be invalid"
    # bulk update by ids in the records
    r = fsm.put("/Contacts", {"data": [{"id": cid, "Mobile": "222"}, {"Mobile": "333"}]})
    assert r.status_code == 207
    assert [e["status"] for e in r.get_json()["data"]] == ["success", "error"]
    assert r.get_json()["data"][1]["details"]["api_name"] == "id"


def test_wrong_types_are_invalid_data_with_the_field(fsm):
    for record, api_name in [({"Last_Name": "X", "Email": "not-an-email"}, "Email"),
                             ({"Last_Name": ["X"], "Email": "x@x.com"}, "Last_Name"),
                             ({"Last_Name": "X", "Email": "x@x.com", "Company": "123"}, "Company"),
                             ({"Last_Name": "X", "Email": "x@x.com", "Billing_Address": "Main St"}, "Billing_Address"),
                             ({"Last_Name": "X", "Email": "x@x.com", "Exchange_Rate": "abc"}, "Exchange_Rate")]:
        r = fsm.post("/Contacts", {"data": [record]})
        assert r.status_code == 400, record
        assert error_of(r)["code"] == "INVALID_DATA" and error_of(r)["details"]["api_name"] == api_name
    wo = fsm.work_order(fsm.contact(), fsm.service())
    for when in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00Z", "tomorrow"):
        r = fsm.post("/Service_Appointments", {"data": [{"Work_Order": wo, "Scheduled_Start_Time": when}]})
        assert r.status_code == 400 and error_of(r)["details"]["api_name"] == "Scheduled_Start_Time", when
    r = fsm.get("/Contacts/search", params={"api_name": "Modified_Time", "comparator": "greater_than",
                                            "value": "9999-12-31T23:59:59Z"})
    assert r.status_code == 400
    r = fsm.post("/Service_And_Parts", {"data": [{"Name": "X", "Unit_Price": "ten", "Type": "Service"}]})
    assert error_of(r)["details"]["api_name"] == "Unit_Price"
    r = fsm.post("/Service_And_Parts", {"data": [{"Name": "X", "Unit_Price": 1, "Type": "Gadget"}]})
    assert error_of(r)["details"]["api_name"] == "Type"


# -- associations, addresses, deletes -------------------------------------------------------------


def test_contact_company_association_addresses_and_related_list(fsm):
    address = {"Address_Name": "Billing", "Street_1": "813 E State St", "City": "Rockford", "State": "Illinois",
               "Zip_Code": 61104, "Country": "United States", "Tax": {"Taxable": True, "Tax_Name": "IL"}}
    comp = fsm.company("Zylker", Billing_Address=address, Service_Address={**address, "Address_Name": "Service"})
    cid = fsm.contact("Robins", Company=comp, Service_Address={"Street_1": "1 Dock St", "City": "Oakland"})
    contact = fsm.one("Contacts", cid)
    assert contact["Company"] == {"name": "Zylker", "id": comp}
    company = fsm.one("Companies", comp)
    billing = company["Billing_Address"]
    assert billing["Zip_Code"] == "61104" and billing["Tax"]["Tax_Name"] == "IL" and billing["id"].isdigit()
    assert company["Service_Address"]["id"] != billing["id"]
    # an edit keeps the address id (work orders refer to it)
    fsm.put(f"/Companies/{comp}", {"data": [{"Billing_Address": {**address, "City": "Peoria"}}]})
    assert fsm.one("Companies", comp)["Billing_Address"] == {**billing, "City": "Peoria"}
    related = fsm.get(f"/Companies/{comp}/Contacts")
    assert related.status_code == 200 and [x["id"] for x in related.get_json()["data"]] == [cid]
    assert fsm.get(f"/Contacts/{cid}/Work_Orders").status_code == 204
    assert fsm.get(f"/Contacts/{cid}/Nonsense").status_code == 404
    # deleting the company leaves the contact without one
    r = fsm.delete(f"/Companies/{comp}")
    assert r.status_code == 200 and r.get_json()["data"][0]["status"] == "success"
    assert fsm.one("Contacts", cid)["Company"] is None


def test_delete_is_refused_while_a_work_order_refers_to_the_record(fsm):
    cid, sid = fsm.contact(), fsm.service()
    wo = fsm.work_order(cid, sid)
    order = fsm.one("Work_Orders", wo)
    assert order["Name"] == "WO-1" and order["Grand_Total"] == 200.0
    assert order["Service_Line_Items"][0]["Service"]["id"] == sid and order["Service_Line_Items"][0]["Amount"] == 200.0
    r = fsm.delete(f"/Contacts/{cid}")
    assert r.status_code == 200  # FSM answers 200 and names what it did not delete (observed)
    body = r.get_json()
    entry = body["data"][0]
    assert entry["code"] == "RECORD_LOOKUP_IN_OTHER_MODULE" and entry["status"] == "error"
    assert entry["details"]["associated_records"][0] == {"id": wo, "module": {"api_name": "Work_Orders"}, "name": "WO-1"}
    assert body["restricted_to_delete"]["invalid_records"][cid]["code"] == "RECORD_LOOKUP_IN_OTHER_MODULE"
    # the service is referenced by the line item; also reachable as /Products (observed)
    r = fsm.delete(f"/Products/{sid}")
    assert r.get_json()["data"][0]["code"] == "RECORD_LOOKUP_IN_OTHER_MODULE"
    # once the work order is gone both can go
    r = fsm.delete(f"/Work_Orders/{wo}")
    assert r.get_json() == {"data": [{"code": "SUCCESS", "details": {"id": wo}, "message": "record deleted",
                                      "status": "success"}], "restricted_to_delete": {"invalid_records": {}}}
    assert fsm.delete(f"/Contacts/{cid}").get_json()["data"][0]["status"] == "success"
    assert fsm.delete(f"/Products/{sid}").get_json()["data"][0]["status"] == "success"
    assert fsm.get(f"/Contacts/{cid}").status_code == 204  # deleted: like unknown
    r = fsm.delete(f"/Contacts/{cid}")
    assert r.status_code == 400 and r.get_json()["data"][0]["code"] == "INVALID_DATA"
    r = fsm.put(f"/Contacts/{cid}", {"data": [{"Phone": "1"}]})
    assert r.status_code == 400 and r.get_json()["data"][0]["code"] == "INVALID_DATA"


def test_inactive_services_and_parts(fsm):
    active, inactive = fsm.service("Active"), fsm.service("Retired", **{"$inactive": True})
    assert fsm.one("Service_And_Parts", inactive)["$inactive"] is True
    cid = fsm.contact()
    r = fsm.post("/Work_Orders", {"data": [{"Summary": "x", "Type": "Service", "Contact": cid,
                                            "Service_Line_Items": [{"Service": inactive}]}]})
    assert r.status_code == 400
    assert error_of(r)["details"]["reason"] == "the service or part is inactive"
    fsm.work_order(cid, active)
    r = fsm.get("/Service_And_Parts/search", params={"api_name": "Name", "value": "retired"})
    assert [x["$inactive"] for x in r.get_json()["data"]] == [True]
    fsm.put(f"/Service_And_Parts/{inactive}", {"data": [{"$inactive": False}]})
    assert fsm.one("Service_And_Parts", inactive)["$inactive"] is False


def test_inactive_companies_and_contacts(fsm):
    # [lab] Companies and Contacts carry $inactive like Services and Parts (docs/fsm.md; TW-14)
    company = fsm.company("Closed Ltd", **{"$inactive": True})
    contact = fsm.contact("Away", "away@example.com", Company=company, **{"$inactive": True})
    assert fsm.one("Companies", company)["$inactive"] is True and fsm.one("Contacts", contact)["$inactive"] is True
    assert fsm.one("Companies", fsm.company("Open Ltd"))["$inactive"] is None
    listed = {r["Company_Name"]: r["$inactive"] for r in fsm.get("/Companies").get_json()["data"]}
    assert listed == {"Closed Ltd": True, "Open Ltd": None}  # inactive records are still listed
    fsm.put(f"/Contacts/{contact}", {"data": [{"$inactive": False}]})
    assert fsm.one("Contacts", contact)["$inactive"] is False
    r = fsm.put(f"/Companies/{company}", {"data": [{"$inactive": "yes"}]})
    assert r.status_code == 400


# -- search -------------------------------------------------------------------------------------


def test_search_by_zbilling_id_and_text_comparators(fsm):
    a = fsm.contact("Adams", "adams@zylker.com", ZBilling_Id="460000000026049", Phone="555-0100")
    fsm.contact("Adamson", "adamson@acme.com", ZBilling_Id="460000000026050")
    r = fsm.get("/Contacts/search", params={"api_name": "ZBilling_Id", "value": "460000000026049",
                                            "comparator": "equal"})
    assert r.status_code == 200
    body = r.get_json()
    assert [x["id"] for x in body["data"]] == [a] and body["info"]["count"] == 1
    names = lambda **p: sorted(x["Last_Name"] for x in fsm.get("/Contacts/search", params=p).get_json()["data"])  # noqa: E731
    assert names(api_name="Last_Name", value="adam") == ["Adams", "Adamson"]  # contains by default
    assert names(api_name="Last_Name", value="ADAMS", comparator="equal") == ["Adams"]
    assert names(api_name="Email", value="@acme.com") == ["Adamson"]
    comp = fsm.company("Bowman, and Co", ZCRM_Id="4150868000000224005")
    r = fsm.get("/Companies/search", params={"api_name": "Company_Name", "value": "Bowman\\, and", "comparator": "equal"})
    assert r.status_code == 204  # equal means the whole value
    r = fsm.get("/Companies/search", params={"api_name": "Company_Name", "value": "Bowman\\, and"})
    assert [x["id"] for x in r.get_json()["data"]] == [comp]
    r = fsm.get("/Companies/search", params={"api_name": "ZCRM_Id", "value": "4150868000000224005"})
    assert [x["id"] for x in r.get_json()["data"]] == [comp]
    assert fsm.get("/Contacts/search", params={"api_name": "Email", "value": "nobody"}).status_code == 204
    for params, code in [({"value": "x"}, "REQUIRED_PARAM_MISSING"), ({"api_name": "Email"}, "REQUIRED_PARAM_MISSING"),
                         ({"api_name": "Description", "value": "x"}, "INVALID_DATA"),
                         ({"api_name": "Email", "value": "x", "comparator": "sounds_like"}, "INVALID_DATA")]:
        r = fsm.get("/Contacts/search", params=params)
        assert r.status_code == 400 and r.get_json()["code"] == code, params


def test_search_modified_time_with_datetime_comparators(client):
    fsm = new_fsm(client, time_zone="Asia/Kolkata")
    client.post("/_lab/clock/freeze", json={"at": "2026-03-01T10:00:00Z"})
    first = fsm.contact("First", "f@x.com")
    client.post("/_lab/clock/advance", json={"seconds": 3600})
    second = fsm.contact("Second", "s@x.com")
    client.post("/_lab/clock/advance", json={"seconds": 3600})
    third = fsm.contact("Third", "t@x.com")
    stamp = fsm.one("Contacts", second)["Modified_Time"]
    assert stamp == "2026-03-01T16:30:00+05:30"

    def found(comparator, value):
        r = fsm.get("/Contacts/search", params={"api_name": "Modified_Time", "comparator": comparator, "value": value})
        return sorted(x["id"] for x in r.get_json()["data"]) if r.status_code == 200 else []

    assert found("greater_than", stamp) == [third]
    assert found("greater_equal", stamp) == sorted([second, third])
    assert found("less_than", stamp) == [first]
    assert found("less_equal", stamp) == sorted([first, second])
    assert found("equal", stamp) == [second]
    assert found("not_equal", stamp) == sorted([first, third])
    assert found("between", "2026-03-01T10:00:00Z,2026-03-01T11:00:00Z") == sorted([first, second])
    assert found("not_between", "2026-03-01T10:00:00Z,2026-03-01T11:00:00Z") == [third]
    assert found("greater_than", stamp.replace("+", " ")) == [third]  # an unencoded '+' arrives as a space
    since = fsm.get("/Contacts", headers={"If-Modified-Since": stamp}).get_json()["data"]
    assert [x["id"] for x in since] == [third]
    r = fsm.get("/Contacts/search", params={"api_name": "Modified_Time", "comparator": "contains", "value": stamp})
    assert r.status_code == 400
    r = fsm.get("/Contacts/search", params={"api_name": "Modified_Time", "comparator": "greater_than", "value": "soon"})
    assert r.status_code == 400 and r.get_json()["details"]["param"] == "value"


# -- PII ---------------------------------------------------------------------------------------


def test_pii_fields_vanish_when_api_pii_access_is_off(client):
    fsm = new_fsm(client)
    cid = fsm.contact("Robins", "lucy@zylker.com", First_Name="Lucy", Phone="555")
    meta = {f["api_name"]: f for f in fsm.get("/settings/fields", params={"module": "Contacts"}).get_json()["fields"]}
    assert meta["Last_Name"]["pii"] is True and meta["Email"]["pii"] is True and meta["Phone"]["pii"] is False
    assert meta["Email"]["private"]["restricted"] is True and meta["Phone"]["private"] is None
    r = client.put(f"/_lab/fsm/orgs/{fsm.org}/fields/Contacts/Phone", json={"ephi": True})
    assert r.status_code == 200 and r.get_json() == {"module": "Contacts", "field": "Phone", "pii": False, "ephi": True}
    meta = {f["api_name"]: f for f in fsm.get("/settings/fields", params={"module": "Contacts"}).get_json()["fields"]}
    assert meta["Phone"]["ephi"] is True and meta["Phone"]["private"]["type"] == "high"
    assert "Email" in fsm.one("Contacts", cid)  # access on: everything shows

    assert client.put(f"/_lab/fsm/orgs/{fsm.org}/pii-access", json={"enabled": False}).status_code == 200
    got = fsm.one("Contacts", cid)
    assert not {"Last_Name", "Email", "Phone", "Full_Name"} & set(got)
    assert got["First_Name"] == "Lucy" and got["id"] == cid
    wo = fsm.one("Work_Orders", fsm.work_order(cid, fsm.service()))
    assert wo["Contact"] == {"name": None, "id": cid}  # the lookup's name would show Last_Name
    listed = fsm.get("/Contacts").get_json()["data"][0]
    assert "Email" not in listed and "Last_Name" not in listed
    r = fsm.get("/Contacts/search", params={"api_name": "Email", "value": "lucy"})
    assert r.status_code == 400 and r.get_json()["code"] == "INVALID_DATA"
    settings = fsm.get("/_internal/settings").get_json()["settings"]
    assert settings["pii_api_access"] is False
    # writes still work; the timeline's field history leaves the hidden fields out too
    fsm.put(f"/Contacts/{cid}", {"data": [{"Email": "new@zylker.com", "Mobile": "777"}]})
    history = fsm.get(f"/Contacts/{cid}/__timeline").get_json()["__timeline"][0]["field_history"]
    assert [h["api_name"] for h in history] == ["Mobile"]
    client.put(f"/_lab/fsm/orgs/{fsm.org}/pii-access", json={"enabled": True})
    assert fsm.one("Contacts", cid)["Email"] == "new@zylker.com"


# -- currencies and taxes -------------------------------------------------------------------------


def test_currencies_exchange_rates_and_multi_currency(client):
    fsm = new_fsm(client, currency_code="USD", currencies=["EUR"])
    cur = {c["iso_code"]: c for c in fsm.get("/_internal/currencies").get_json()["currencies"]}
    assert cur["USD"]["is_base"] is True and cur["EUR"]["is_base"] is False and cur["USD"]["exchange_rate"] == "1.000000000"
    r = fsm.put(f"/_internal/currencies/{cur['EUR']['id']}", {"exchange_rate": 1.1})
    assert r.status_code == 200
    base = fsm.one("Companies", fsm.company("Base Co"))
    assert base["Currency"] == "USD" and base["Exchange_Rate"] == 1.0 and base["$currency_symbol"] == "$"
    eur = fsm.one("Companies", fsm.company("Euro Co", Currency="EUR"))
    assert eur["Currency"] == "EUR" and eur["Exchange_Rate"] == 1.1 and eur["$currency_symbol"] == "€"
    own = fsm.one("Companies", fsm.company("Own Rate", Currency="EUR", Exchange_Rate="1.25"))
    assert own["Exchange_Rate"] == 1.25
    r = fsm.post("/Companies", {"data": [{"Company_Name": "Yen Co", "Currency": "JPY"}]})
    assert r.status_code == 400 and error_of(r)["details"]["api_name"] == "Currency"
    assert "JPY" in error_of(r)["details"]["reason"]
    # TW-10: the syncer adds the missing currency with rate 1, then the record goes in
    r = fsm.post("/_internal/currencies", {"currencies": [{"iso_code": "JPY", "exchange_rate": "1"}]})
    assert r.status_code == 201 and r.get_json()["currencies"][0]["details"]["iso_code"] == "JPY"
    assert fsm.post("/_internal/currencies", {"currencies": [{"iso_code": "JPY"}]}).status_code == 400  # duplicate
    assert fsm.one("Companies", fsm.company("Yen Co", Currency="JPY"))["Exchange_Rate"] == 1.0
    # an org without multi-currency accepts only its base currency
    single = new_fsm(client)
    assert single.get("/_internal/settings").get_json()["settings"]["multi_currency"] is False
    single.post("/_internal/currencies", {"currencies": [{"iso_code": "EUR", "exchange_rate": 0.9}]})
    r = single.post("/Contacts", {"data": [{"Last_Name": "X", "Email": "x@x.com", "Currency": "EUR"}]})
    assert r.status_code == 400 and "multi-currency" in error_of(r)["details"]["reason"]


def test_tax_settings_and_editions_on_the_internal_surface(client):
    fsm = new_fsm(client, editions={"fsm": "free"})
    state = fsm.get("/_internal/settings").get_json()["settings"]
    assert state["edition"] == "free" and state["tax_enabled"] is False and state["limits"]["per_day"] == 5000
    r = client.put(f"/_lab/fsm/orgs/{fsm.org}/taxes", json={"enabled": True, "taxes": [
        {"tax_name": "Sales tax", "tax_percentage": 7}]})
    assert r.status_code == 200 and r.get_json()["tax_enabled"] is True
    state = fsm.get("/_internal/settings").get_json()["settings"]
    assert state["tax_enabled"] is True and state["taxes"][0]["tax_name"] == "Sales tax"
    client.patch(f"/_lab/orgs/{fsm.org}", json={"edition": "premium"})
    state = fsm.get("/_internal/settings").get_json()["settings"]
    assert state["edition"] == "premium" and state["limits"] == {"per_day": 50000, "concurrency": 15, "enforced": False}
    assert client.patch(f"/_lab/orgs/{fsm.org}", json={"edition": "enterprise"}).status_code == 400  # no such FSM edition


# -- workflows, imports, sync ----------------------------------------------------------------------


def test_workflow_rule_fires_on_plain_writes_not_on_suppressed_ones(client):
    fsm = new_fsm(client)
    r = client.post("/_lab/workflows", json={"org_id": fsm.org, "module": "Contacts", "name": "tag new contacts",
                                             "event": "create_or_edit",
                                             "action": {"type": "field_update", "field": "Description",
                                                        "value": "touched by workflow"}})
    assert r.status_code == 201
    rule = r.get_json()["id"]
    plain = fsm.contact("Plain", "plain@x.com")
    quiet = fsm.create("Contacts", {"Last_Name": "Quiet", "Email": "quiet@x.com"}, trigger=[])[0]
    assert fsm.one("Contacts", plain)["Description"] == "touched by workflow"
    assert fsm.one("Contacts", quiet)["Description"] is None
    fsm.put(f"/Contacts/{quiet}", {"data": [{"Phone": "1"}], "trigger": []})
    fsm.put(f"/Contacts/{quiet}", {"data": [{"Phone": "2"}]}, params={"wf_trigger": "false"})
    assert fsm.one("Contacts", quiet)["Description"] is None
    fsm.put(f"/Contacts/{quiet}", {"data": [{"Phone": "3"}], "trigger": ["workflow"]})
    assert fsm.one("Contacts", quiet)["Description"] == "touched by workflow"
    runs = client.get("/_lab/workflows/runs", query_string={"org_id": fsm.org}).get_json()["runs"]
    assert [(x["record_id"], x["operation"]) for x in runs] == [(plain, "insert"), (quiet, "update")]
    assert all(x["rule_id"] == rule for x in runs)


def test_import_in_progress_is_visible_on_the_internal_surface(client):
    fsm = new_fsm(client)
    client.post("/_lab/workflows", json={"org_id": fsm.org, "module": "Contacts", "action": {
        "type": "field_update", "field": "Description", "value": "wf"}})
    assert fsm.get("/_internal/imports").get_json() == {"imports": [], "import_in_progress": False}
    r = client.post(f"/_lab/fsm/orgs/{fsm.org}/imports", json={"module": "Contacts", "records": [
        {"Last_Name": "Imported", "Email": "imp@x.com"}, {"First_Name": "No last name"}]})
    assert r.status_code == 201
    job = r.get_json()
    assert job["status"] == "in_progress" and job["created"] == 1 and job["failed"] == 1
    assert job["errors"][0]["row"] == 2 and job["errors"][0]["code"] == "MANDATORY_NOT_FOUND"
    seen = fsm.get("/_internal/imports").get_json()
    assert seen["import_in_progress"] is True and seen["imports"][0]["id"] == job["id"]
    assert fsm.get("/_internal/settings").get_json()["settings"]["import_in_progress"] is True
    # ordinary writes still work meanwhile; imported records fired no workflow
    fsm.contact("During", "during@x.com")
    assert fsm.one("Contacts", job["record_ids"][0])["Description"] is None
    assert client.post(f"/_lab/fsm/orgs/{fsm.org}/imports", json={"module": "Companies"}).status_code == 409
    # a syncer cannot mark its sync running while the import runs (TW-01/TW-08)
    r = fsm.put("/_internal/sync-state", {"sync_in_progress": True})
    assert r.status_code == 409 and r.get_json()["code"] == "IMPORT_IN_PROGRESS"
    timeline = fsm.get(f"/Contacts/{job['record_ids'][0]}/__timeline").get_json()["__timeline"]
    assert timeline[0]["source"] == "import"
    r = client.post(f"/_lab/fsm/orgs/{fsm.org}/imports/{job['id']}/finish", json={})
    assert r.status_code == 200 and r.get_json()["status"] == "completed" and r.get_json()["finished_time"]
    assert fsm.get("/_internal/imports").get_json()["import_in_progress"] is False
    # and the other way round: no import starts while a sync runs
    assert fsm.put("/_internal/sync-state", {"sync_in_progress": True}).status_code == 200
    assert fsm.get("/_internal/settings").get_json()["settings"]["sync_in_progress"] is True
    assert client.post(f"/_lab/fsm/orgs/{fsm.org}/imports", json={"module": "Contacts"}).status_code == 409
    fsm.put("/_internal/sync-state", {"sync_in_progress": False})
    assert client.post(f"/_lab/fsm/orgs/{fsm.org}/imports", json={"module": "Contacts"}).status_code == 201


def test_process_sync_links_records_and_writes_the_timeline(fsm):
    cid = fsm.contact()
    r = fsm.post(f"/Contacts/{cid}/actions/process_sync", {"integ_id": "460000000026049", "sync_process": "link"},
                 params={"sync_service": "finance"})
    assert r.status_code == 200
    assert r.get_json()["data"][0]["message"] == "record linked"
    assert fsm.one("Contacts", cid)["ZBilling_Id"] == "460000000026049"
    found = fsm.get("/Contacts/search", params={"api_name": "ZBilling_Id", "value": "460000000026049"})
    assert [x["id"] for x in found.get_json()["data"]] == [cid]
    fsm.post(f"/Contacts/{cid}/actions/process_sync", {"sync_process": "link", "integ_id": "4150868000000224005"},
             params={"sync_service": "zohocrm"})
    assert fsm.one("Contacts", cid)["ZCRM_Id"] == "4150868000000224005"
    fsm.post(f"/Contacts/{cid}/actions/process_sync", {"sync_process": "unlink"}, params={"sync_service": "finance"})
    assert fsm.one("Contacts", cid)["ZBilling_Id"] is None
    actions = [e["action"] for e in fsm.get(f"/Contacts/{cid}/__timeline", params={"sort_order": "asc"})
               .get_json()["__timeline"]]
    assert actions == ["added", "linked", "linked", "unlinked"]
    wo = fsm.work_order(cid, fsm.service())
    r = fsm.post(f"/Work_Orders/{wo}/actions/process_sync", {"sync_process": "link", "integ_id": "77",
                                                             "integ_module": "Deals"}, params={"sync_service": "zohocrm"})
    assert r.status_code == 200 and fsm.one("Work_Orders", wo)["ZCRM_Deals_Id"] == "77"
    for params, body in [({}, {"sync_process": "link", "integ_id": "1"}),
                         ({"sync_service": "books"}, {"sync_process": "link", "integ_id": "1"}),
                         ({"sync_service": "finance"}, {"sync_process": "merge"}),
                         ({"sync_service": "finance"}, {"sync_process": "link"}),
                         ({"sync_service": "finance"}, {"sync_process": "link", "integ_id": ["x"]})]:
        r = fsm.post(f"/Contacts/{cid}/actions/process_sync", body, params=params)
        assert r.status_code == 400 and r.get_json()["status"] == "error", (params, body)
    r = fsm.post(f"/Work_Orders/{wo}/actions/process_sync", {"sync_process": "link", "integ_id": "1"},
                 params={"sync_service": "finance"})
    assert r.status_code == 400


def test_timeline_shows_changes_and_sync_failures_written_by_a_syncer(fsm):
    cid = fsm.contact("Robins", "lucy@zylker.com")
    fsm.put(f"/Contacts/{cid}", {"data": [{"Phone": "555"}]})
    r = fsm.post(f"/_internal/Contacts/{cid}/timeline", {"message": "Sync to Zoho CRM failed: Email is restricted",
                                                        "service": "zohocrm", "extension": "Zoho FSM for Zoho CRM",
                                                        "sync_id": "S-1"})
    assert r.status_code == 201 and r.get_json()["__timeline"][0]["action"] == "sync_failed"
    body = fsm.get(f"/Contacts/{cid}/__timeline").get_json()
    latest, edit, added = body["__timeline"]
    assert latest["action"] == "sync_failed" and latest["details"]["message"].startswith("Sync to Zoho CRM failed")
    assert latest["extension"] == "Zoho FSM for Zoho CRM" and latest["source"] == "zohocrm"
    assert edit["action"] == "updated"
    assert edit["field_history"] == [{"api_name": "Phone", "field_label": "Phone", "data_type": "phone",
                                      "_value": {"old": None, "new": "555"}}]
    assert added["action"] == "added" and added["record"] == {"name": "Robins", "id": cid,
                                                              "module": {"api_name": "Contacts", "id": added["record"]["module"]["id"]}}
    assert CRM_DATETIME.match(added["audited_time"]) and set(added["done_by"]) == {"name", "id"}
    only = fsm.get(f"/Contacts/{cid}/__timeline", params={"action": "sync_failed"}).get_json()["__timeline"]
    assert len(only) == 1
    assert fsm.post(f"/_internal/Contacts/{cid}/timeline", {"service": "zohocrm"}).status_code == 400
    assert fsm.post("/_internal/Contacts/1234567890123456789/timeline", {"message": "x"}).status_code == 400
    assert fsm.get("/Contacts/1234567890123456789/__timeline").status_code == 400


# -- limits and scopes -----------------------------------------------------------------------------


def test_rate_limit_headers_daily_limit_and_concurrency(client):
    fsm = new_fsm(client, orgs={"fsm": {"rate_limits": True}})
    r = fsm.get("/Contacts")
    assert r.headers["x-ratelimit-limit"] == "25000" and r.headers["x-ratelimit-remaining"] == "24999"
    assert 0 < int(r.headers["x-ratelimit-reset"]) <= 86400
    free = new_fsm(client, editions={"fsm": "free"}, orgs={"fsm": {"rate_limits": True}})
    assert free.get("/Contacts").headers["x-ratelimit-limit"] == "5000"
    client.patch(f"/_lab/orgs/{free.org}", json={"settings": {"api_limit_per_day": 2}})
    free.get("/Contacts")
    r = free.get("/Contacts")
    assert r.status_code == 429 and r.get_json()["code"] == "TOO_MANY_REQUESTS" and int(r.headers["Retry-After"]) > 0
    assert r.headers["x-ratelimit-remaining"] == "0"
    client.post("/_lab/clock/advance", json={"seconds": 86400})  # a new day
    free.refresh()
    assert free.get("/Contacts").status_code == 204
    fsm.refresh()
    # concurrency: 15 calls already in flight for a paid org
    lab = client.application.extensions["zlab"]
    lab.counters.gauge(f"rl:{fsm.org}:concurrency", 15)
    try:
        r = fsm.get("/Contacts")
        assert r.status_code == 429 and r.get_json()["code"] == "TOO_MANY_REQUESTS"
    finally:
        lab.counters.gauge(f"rl:{fsm.org}:concurrency", -15)
    assert fsm.get("/Contacts").status_code == 204


def test_rate_limit_headers_on_every_answer_even_with_limits_off(client):
    client.post("/_lab/clock/freeze", json={"at": "2026-05-01T23:00:00Z"})
    fsm = new_fsm(client)  # limits off: nothing enforced, nothing counted, the plan still shown
    for _ in range(3):
        r = fsm.get("/Contacts")
    assert r.status_code == 204
    assert r.headers["x-ratelimit-limit"] == "25000" and r.headers["x-ratelimit-remaining"] == "25000"
    assert r.headers["x-ratelimit-reset"] == "3600"
    assert fsm.get("/Nope").headers["x-ratelimit-limit"] == "25000"  # an error answer too
    free = new_fsm(client, editions={"fsm": "free"})
    assert free.get("/Contacts").headers["x-ratelimit-limit"] == "5000"


def test_scopes_follow_the_docs(client):
    fsm = new_fsm(client, scopes=["ZohoFSM.modules.Contacts.READ", "ZohoFSM.modules.WorkOrders.ALL"])
    assert fsm.get("/Contacts").status_code == 204
    r = fsm.post("/Contacts", {"data": [{"Last_Name": "X", "Email": "x@x.com"}]})
    assert r.status_code == 401 and r.get_json()["code"] == "OAUTH_SCOPE_MISMATCH"
    assert fsm.get("/Work_Orders").status_code == 204
    assert fsm.get("/Companies").status_code == 401
    assert fsm.get("/_internal/settings").status_code == 401
    r = client.get("/fsm/v1/Contacts")
    assert r.status_code == 401 and r.get_json()["code"] == "AUTHENTICATION_FAILURE"
    r = client.get("/fsm/v1/Contacts", headers={"Authorization": "Zoho-oauthtoken 1000.nope.nope"})
    assert r.status_code == 401 and r.get_json()["code"] == "INVALID_TOKEN"


# -- malformed input --------------------------------------------------------------------------------


@pytest.mark.parametrize("method,path,kw,status,code", [
    ("POST", "/Contacts", {"data": "{not json"}, 400, "INVALID_DATA"),
    ("POST", "/Contacts", {"data": ""}, 400, "INVALID_DATA"),
    ("POST", "/Contacts", {"json": {"records": []}}, 400, "REQUIRED_PARAM_MISSING"),
    ("POST", "/Contacts", {"json": {"data": {}}}, 400, "INVALID_DATA"),
    ("POST", "/Contacts", {"json": {"data": []}}, 400, "INVALID_DATA"),
    ("POST", "/Contacts", {"json": {"data": ["x"]}}, 400, "INVALID_DATA"),
    ("POST", "/Contacts", {"json": {"data": [{"Last_Name": "X", "Email": "x@x.com"}], "trigger": "none"}}, 400,
     "INVALID_DATA"),
    ("POST", "/Contacts", {"json": {"data": [{"Last_Name": "X", "Email": f"{i}@x.com"} for i in range(101)]}}, 400,
     "LIMIT_EXCEEDED"),
    ("POST", "/Nope", {"json": {"data": [{}]}}, 400, "INVALID_MODULE"),
    ("GET", "/Nope", {}, 400, "INVALID_MODULE"),
    ("GET", "/Nope/search", {"query_string": {"api_name": "Name", "value": "x"}}, 400, "INVALID_MODULE"),
    ("GET", "/Contacts/abc", {}, 400, "INVALID_DATA"),
    ("GET", "/Contacts/" + "9" * 40, {}, 400, "INVALID_DATA"),
    ("PUT", "/Contacts/abc", {"json": {"data": [{}]}}, 400, "INVALID_DATA"),
    ("DELETE", "/Contacts/abc", {}, 400, "INVALID_DATA"),
    ("DELETE", "/Contacts", {}, 400, "REQUIRED_PARAM_MISSING"),
    ("DELETE", "/Contacts", {"query_string": {"ids": ",".join(["1"] * 101)}}, 400, "LIMIT_EXCEEDED"),
    ("GET", "/Contacts", {"query_string": {"page": "abc"}}, 400, "INVALID_DATA"),
    ("GET", "/Contacts", {"query_string": {"per_page": "-1"}}, 400, "INVALID_DATA"),
    ("GET", "/Contacts", {"query_string": {"sort_by": "Email"}}, 400, "INVALID_DATA"),
    ("GET", "/Contacts", {"headers": {"If-Modified-Since": "yesterday"}}, 400, "INVALID_DATA"),
    ("GET", "/Contacts", {"headers": {"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}}, 204, None),
    ("GET", "/settings/fields", {}, 400, "REQUIRED_PARAM_MISSING"),
    ("GET", "/settings/fields", {"query_string": {"module": "Leads"}}, 400, "INVALID_MODULE"),
    ("POST", "/_internal/currencies", {"json": {"currencies": "EUR"}}, 400, "INVALID_DATA"),
    ("POST", "/_internal/notifications", {"json": {"watch": [{"channel_id": "1"}]}}, 400, "MANDATORY_NOT_FOUND"),
    ("PUT", "/_internal/sync-state", {"json": {"sync_in_progress": "yes"}}, 400, "INVALID_DATA"),
    ("GET", "/Contacts/1/2/3/4", {}, 404, "INVALID_URL_PATTERN"),
    ("PATCH", "/Contacts", {"json": {}}, 405, "INVALID_REQUEST_METHOD"),
])
def test_malformed_input_gets_an_fsm_error_never_a_500(fsm, method, path, kw, status, code):
    kw = dict(kw)
    headers = {**fsm.t.auth, **kw.pop("headers", {})}
    if "data" in kw:
        headers["Content-Type"] = "application/json"
    r = fsm.c.open("/fsm/v1" + path, method=method, headers=headers, **kw)
    assert r.status_code == status, r.get_data(as_text=True)
    if code is not None:
        assert error_of(r)["code"] == code and error_of(r)["status"] == "error"


# -- metadata and seeding ---------------------------------------------------------------------------


def test_modules_and_field_metadata(fsm):
    modules = {m["api_name"] for m in fsm.get("/settings/modules").get_json()["modules"]}
    assert modules == {"Contacts", "Companies", "Service_And_Parts", "Work_Orders", "Requests", "Estimates",
                       "Service_Appointments", "Assets", "Territories"}
    fields = {f["api_name"]: f for f in fsm.get("/settings/fields", params={"module": "Service_And_Parts"})
              .get_json()["fields"]}
    assert fields["Unit_Price"]["system_mandatory"] is True and fields["$inactive"]["data_type"] == "boolean"
    assert fields["ZBilling_Id"]["searchable"] is True and fields["Type"]["pick_list_values"][0]["actual_value"] == "Service"


def test_seeding_is_deterministic_by_seed_and_chunking(client):
    assert client.get("/_lab/seed").get_json()["modules"]["fsm"] == sorted(
        ["companies", "contacts", "service_and_parts", "work_orders"])
    one, chunked = new_fsm(client), new_fsm(client)
    counts = {"companies": 6, "contacts": 12, "service_and_parts": 8, "work_orders": 9}
    r = client.post("/_lab/seed", json={"org_id": one.org, "modules": counts, "seed": 7})
    assert r.status_code == 201 and r.get_json()["created"] == counts
    for start in (0, 3, 6, 9):
        chunk = {m: max(0, min(3, n - start)) for m, n in counts.items()}
        client.post("/_lab/seed", json={"org_id": chunked.org, "modules": chunk, "seed": 7, "start": start})

    def summary(fsm: Fsm):
        out = {}
        for module, key in [("Companies", "Company_Name"), ("Contacts", "Email"), ("Service_And_Parts", "Name"),
                            ("Work_Orders", "Name")]:
            r = fsm.get(f"/{module}", params={"sort_by": "id", "sort_order": "asc"})
            rows = r.get_json()["data"] if r.status_code == 200 else []
            out[module] = [(x[key], (x.get("Company") or {}).get("name"), (x.get("Contact") or {}).get("name"),
                            x.get("Grand_Total")) for x in rows]
        return out

    assert summary(one) == summary(chunked)
    other = new_fsm(client)
    client.post("/_lab/seed", json={"org_id": other.org, "modules": {"companies": 6}, "seed": 8})
    assert summary(other)["Companies"] != summary(one)["Companies"]
    contact = one.get("/Contacts", params={"per_page": 1}).get_json()["data"][0]
    assert contact["Full_Name"] and contact["Billing_Address"]["id"]
    # seeded records work with the API: edits, search, and deletes refused while work orders use them
    wo = one.get("/Work_Orders", params={"per_page": 1}).get_json()["data"][0]
    r = one.delete(f"/Contacts/{wo['Contact']['id']}")
    assert r.get_json()["data"][0]["code"] == "RECORD_LOOKUP_IN_OTHER_MODULE"


# -- what client code of real orgs sends (issue 14) ---------------------------------------------------
# Sources: zoho.com/fsm/developer/help/api/ create-service-appointment, reschedule-service-appointment,
# list-service-appointment-transitions, dispatch-service-appointment, get-territories, get-an-user,
# get-attachments, add-attachment-to-record (.html); see docs/fsm.md.


def test_billing_address_sublookup_copies_the_service_address(fsm):
    addr = {"Street_1": "813 E State St", "City": "Rockford", "Zip_Code": "61104"}
    cid = fsm.contact(Service_Address=addr, Billing_Address="$SUBLOOKUP_Service_Address")
    got = fsm.one("Contacts", cid)
    assert {k: got["Billing_Address"][k] for k in addr} == addr
    assert got["Billing_Address"]["id"] != got["Service_Address"]["id"]  # an address of its own
    r = fsm.post("/Contacts", {"data": [{"Last_Name": "X", "Email": "x@x.com",
                                         "Billing_Address": "$SUBLOOKUP_Service_Address"}]})
    assert r.status_code == 400 and error_of(r)["details"]["api_name"] == "Billing_Address"


def test_request_line_items_take_a_service_address_by_id(fsm):
    cid = fsm.contact(Service_Address={"Street_1": "1 Main St"})
    address_id = fsm.one("Contacts", cid)["Service_Address"]["id"]
    r = fsm.post("/Requests", {"data": [{"Summary": "Leak", "Contact": cid, "Service_Line_Items": [
        {"Service": fsm.service(), "Quantity": 1, "Service_Address": {"id": address_id}}]}]})
    assert r.status_code == 201, r.get_json()
    rid = r.get_json()["data"]["Requests"][0]["id"]
    assert fsm.one("Requests", rid)["Service_Line_Items"][0]["Service_Address"]["id"] == address_id
    r = fsm.post("/Requests", {"data": [{"Summary": "Leak", "Contact": cid, "Service_Line_Items": [
        {"Service": fsm.service("B"), "Service_Address": "1 Main St"}]}]})
    assert r.status_code == 400 and "Service_Address" in error_of(r)["details"]["api_name"]


def test_work_order_create_answers_line_ids_and_an_appointment_is_made_from_them(fsm):
    cid, sid = fsm.contact(), fsm.service()
    r = fsm.post("/Work_Orders", {"data": [{"Summary": "AC", "Type": "Service", "Contact": cid,
                                            "Service_Line_Items": [{"Service": sid, "Quantity": 2}]}]})
    made = r.get_json()["data"]["Work_Orders"][0]
    (line,) = made["Service_Line_Items"]
    assert line["id"].isdigit() and line["id"] != made["id"]
    assert fsm.one("Work_Orders", made["id"])["Service_Line_Items"][0]["id"] == line["id"]
    r = fsm.post("/Service_Appointments", {"data": [{
        "Summary": "Install", "Scheduled_Start_Date_Time": "2026-05-04T09:00:00Z",
        "Scheduled_End_Date_Time": "2026-05-04T10:00:00Z", "$Service_Line_Items": [line["id"]]}]})
    assert r.status_code == 201, r.get_json()
    sa = fsm.one("Service_Appointments", r.get_json()["data"]["Service_Appointments"][0]["id"])
    assert sa["Work_Order"]["id"] == made["id"] and sa["Contact"]["id"] == cid
    assert sa["Status"] == "New"  # its initial status, not null (no service resources yet)
    r = fsm.post("/Service_Appointments", {"data": [{"Summary": "X", "$Service_Line_Items": ["1234567890123"]}]})
    assert r.status_code == 400 and error_of(r)["details"]["api_name"] == "$Service_Line_Items"


def test_territories_and_users_with_their_service_resources(fsm):
    terr = fsm.get("/Territories")
    assert terr.status_code == 200 and len(terr.get_json()["data"]) == 1  # the org's default territory
    assert terr.get_json()["data"][0]["Name"]
    users = fsm.get("/users").get_json()
    (u,) = users["users"]
    sr = u["Service_Resources"]
    assert u["email"] == fsm.t.email and sr["User"] == u["id"] and sr["id"] not in (u["id"], u["zuid"])
    assert users["info"]["count"] == 1
    assert fsm.get(f"/users/{u['id']}").get_json()["users"][0]["zuid"] == u["zuid"]


def _appointment(fsm, **extra) -> str:
    wo = fsm.post("/Work_Orders", {"data": [{"Summary": "AC", "Type": "Service", "Contact": fsm.contact(),
                                             "Service_Line_Items": [{"Service": fsm.service()}]}]})
    line = wo.get_json()["data"]["Work_Orders"][0]["Service_Line_Items"][0]["id"]
    return fsm.create("Service_Appointments", {"Summary": "S", "$Service_Line_Items": [line],
                                               "Scheduled_Start_Date_Time": "2026-05-04T09:00:00Z",
                                               "Scheduled_End_Date_Time": "2026-05-04T10:00:00Z", **extra})[0]


def test_appointment_reschedule_and_blueprint_transitions(fsm):
    resource = fsm.get("/users").get_json()["users"][0]["Service_Resources"]["id"]
    sa = _appointment(fsm, **{"$Service_Resources": [resource]})
    assert fsm.one("Service_Appointments", sa)["Status"] == "Scheduled"
    r = fsm.put(f"/Service_Appointments/{sa}/actions/reschedule", {"data": [{
        "Scheduled_Start_Date_Time": "2026-05-05T09:00:00Z", "Scheduled_End_Date_Time": "2026-05-05T10:00:00Z",
        "$Service_Resources": [resource]}]})
    assert r.status_code == 200 and r.get_json()["data"][0]["code"] == "SUCCESS", r.get_json()
    assert fsm.one("Service_Appointments", sa)["Scheduled_Start_Date_Time"].startswith("2026-05-05")
    r = fsm.put(f"/Service_Appointments/{sa}/actions/reschedule", {"data": [{"Scheduled_Start_Date_Time": "x"}]})
    assert r.status_code == 400
    t = fsm.get(f"/Service_Appointments/{sa}/actions/blueprint/transitions").get_json()
    assert t["code"] == "SUCCESS" and t["process_info"]["field_value"] == "Scheduled"
    by_name = {x["name"]: x for x in t["transitions"]}
    assert by_name["Dispatch"]["next_field_value"] == "Dispatched" and by_name["Cancel"]["fields"][0]["mandatory"]
    r = fsm.put(f"/Service_Appointments/{sa}/actions/blueprint",
                {"blueprint": [{"transition_id": by_name["Dispatch"]["id"], "data": {}}]})
    assert r.status_code == 200 and r.get_json()["message"] == "Action executed successfully"
    assert fsm.one("Service_Appointments", sa)["Status"] == "Dispatched"
    again = fsm.put(f"/Service_Appointments/{sa}/actions/blueprint",
                    {"blueprint": [{"transition_id": by_name["Dispatch"]["id"], "data": {}}]})
    assert again.status_code == 400  # not a transition of a Dispatched appointment
    cancel = {x["name"]: x for x in fsm.get(f"/Service_Appointments/{sa}/actions/blueprint/transitions")
              .get_json()["transitions"]}["Cancel"]["id"]
    no_notes = fsm.put(f"/Service_Appointments/{sa}/actions/blueprint", {"blueprint": [{"transition_id": cancel}]})
    assert no_notes.status_code == 400 and error_of(no_notes)["code"] == "MANDATORY_NOT_FOUND"
    fsm.put(f"/Service_Appointments/{sa}/actions/blueprint",
            {"blueprint": [{"transition_id": cancel, "data": {"Notes": "customer cancelled"}}]})
    assert fsm.one("Service_Appointments", sa)["Status"] == "Cancelled"


def test_record_attachments_list_and_add(fsm):
    sa = _appointment(fsm)
    assert fsm.get(f"/Service_Appointments/{sa}/Attachments").status_code == 204
    r = fsm.post(f"/Service_Appointments/{sa}/Attachments", {"data": [
        {"File_Id": "17346XXQg94H", "File_Name": "file1.png"}, {"File_Id": "17346XXkXn6N", "File_Name": "file2.png"}]})
    assert r.status_code == 200, r.get_json()
    assert [e["message"] for e in r.get_json()["data"]] == ["attachment uploaded successfully"] * 2
    listed = fsm.get(f"/Service_Appointments/{sa}/Attachments").get_json()
    assert {a["File_Name"] for a in listed["data"]} == {"file1.png", "file2.png"}
    a = listed["data"][0]
    assert a["$se_module"] == "Service_Appointments" and a["Parent_Record_Id"]["id"] == sa and a["$file_id"]
    assert fsm.post(f"/Service_Appointments/{sa}/Attachments", {"data": [{"File_Name": "x"}]}).status_code == 400
    assert fsm.get("/Contacts/1234567890123/Attachments").status_code == 400
