"""What the CRM extension's conversions and related lists need from the fakes (issue 12): FSM's
Request -> Estimate conversion (the blueprint's "Convert to Estimate"), the Deal / Sales Order
fields FSM records carry and search on, and CRM's related lists of an Account (its Deals)."""

from __future__ import annotations

import pytest

from tests.fsm_helpers import Fsm, module_app, new_fsm
from tests.test_crm_api import Crm


@pytest.fixture(scope="module", params=["sqlite"])
def fsm_app(request, tmp_path_factory):
    yield from module_app(request, tmp_path_factory)


@pytest.fixture
def fsm(fsm_app) -> Fsm:
    return new_fsm(fsm_app.test_client())


@pytest.fixture
def crm(client, tenant) -> Crm:
    return Crm(client, tenant)


def transitions(fsm: Fsm, module: str, rid: str) -> dict[str, dict]:
    body = fsm.get(f"/{module}/{rid}/actions/blueprint/transitions").get_json()
    return {t["name"]: t for t in body["transitions"]}


def test_a_request_converted_to_an_estimate_keeps_its_deal_and_points_back(fsm):
    contact = fsm.contact(last="Lane", email="lane@example.com")
    company = fsm.company("Lane Ltd")
    service = fsm.service("Boiler check", price=80)
    [req] = fsm.create("Requests", {"Summary": "Boiler noisy", "Contact": contact, "Company": company,
                                    "ZCRM_Deals_Id": "4000000000000000001", "ZCRM_Deals_Name": "Boilers 2026",
                                    "Service_Line_Items": [{"Service": service, "Quantity": 2}]})
    moves = transitions(fsm, "Requests", req)
    assert set(moves) == {"Convert to Estimate", "Cancel"}  # a new Request is New
    assert moves["Convert to Estimate"]["next_field_value"] == "Estimate Created"
    r = fsm.put(f"/Requests/{req}/actions/blueprint", {"blueprint": [{
        "transition_id": moves["Convert to Estimate"]["id"], "data": {"Expiry_Date": "2026-12-31"}}]})
    assert r.status_code == 200, r.get_json()
    made = r.get_json()["actions"]["after"]["Estimate"]
    est = fsm.one("Estimates", made["id"])
    assert est["Request"]["id"] == req and est["Expiry_Date"] == "2026-12-31" and est["Summary"] == "Boiler noisy"
    assert est["ZCRM_Deals_Id"] == "4000000000000000001" and est["ZCRM_Deals_Name"] == "Boilers 2026"
    assert est["Contact"]["id"] == contact and est["Company"]["id"] == company
    assert est["Service_Line_Items"][0]["Service"]["id"] == service and est["Grand_Total"] == 160
    assert fsm.one("Requests", req)["Status"] == "Estimate Created"
    # converted once: the transition is gone, a second try is refused
    again = fsm.put(f"/Requests/{req}/actions/blueprint", {"blueprint": [{
        "transition_id": moves["Convert to Estimate"]["id"], "data": {}}]})
    assert again.status_code == 400
    # the Deal's (and a Sales Order's) records are found by search
    found = fsm.get("/Estimates/search", params={"api_name": "ZCRM_Deals_Id", "value": "4000000000000000001",
                                                 "comparator": "equal"}).get_json()["data"]
    assert [e["id"] for e in found] == [made["id"]]
    [asset] = fsm.create("Assets", {"Name": "Boiler #7", "ZCRM_Sales_Orders_Id": "4000000000000000009"})
    found = fsm.get("/Assets/search", params={"api_name": "ZCRM_Sales_Orders_Id", "value": "4000000000000000009",
                                              "comparator": "equal"}).get_json()["data"]
    assert [a["id"] for a in found] == [asset]


def test_crm_related_lists_of_an_account_and_a_contact(crm: Crm):
    [acc, other] = crm.create("Accounts", {"Account_Name": "Lane Ltd"}, {"Account_Name": "Other Ltd"})
    [con] = crm.create("Contacts", {"Last_Name": "Lane", "Account_Name": {"id": acc}})
    [deal] = crm.create("Deals", {"Deal_Name": "Boilers", "Stage": "Qualification", "Closing_Date": "2026-12-31",
                                  "Account_Name": {"id": acc}, "Contact_Name": {"id": con}})
    crm.create("Deals", {"Deal_Name": "Elsewhere", "Stage": "Qualification", "Closing_Date": "2026-12-31",
                         "Account_Name": {"id": other}})
    r = crm.get(f"/Accounts/{acc}/Deals", params={"fields": "Deal_Name,Account_Name"})
    assert r.status_code == 200 and [d["id"] for d in r.get_json()["data"]] == [deal]
    assert r.get_json()["info"]["count"] == 1
    assert [d["id"] for d in crm.get(f"/Contacts/{con}/Deals", params={"fields": "Deal_Name"})
            .get_json()["data"]] == [deal]
    assert crm.get(f"/Accounts/{acc}/Sales_Orders", params={"fields": "Subject"}).status_code == 204
    assert crm.get(f"/Accounts/{acc}/Deals").status_code == 400  # fields is required from v3 on
    assert crm.get(f"/Accounts/{acc}/Nothing", params={"fields": "Deal_Name"}).status_code == 404
    bad = crm.get("/Accounts/1234567890123456789/Deals", params={"fields": "Deal_Name"})
    assert bad.status_code == 400 and bad.get_json()["message"] == "the related id given seems to be invalid"
