"""Property: whatever a client sends, the FSM fake answers in FSM's (CRM's) envelope or 204, never a
5xx, and never damages what is stored — on SQLite and on PostgreSQL. Inputs: random JSON mixed with
hostile values and raw bodies (tests/hostile.py), hostile query values and ids."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import create_app
from tests.conftest import make_tenant
from tests.hostile import JSON, QUERY_TEXT, RAW_BODIES, aimed, assert_no_5xx, fill

FIELDS = ["Last_Name", "First_Name", "Email", "Phone", "Company", "Company_Name", "Billing_Address", "Service_Address",
          "Currency", "Exchange_Rate", "Tax", "ZBilling_Id", "ZCRM_Id", "Name", "Type", "Unit_Price", "$inactive",
          "Summary", "Contact", "Service_Line_Items", "Status", "Work_Order", "Scheduled_Start_Time", "Due_Date",
          "Service_Tasks", "Product", "Owner", "id", "Full_Name", "Grand_Total"]
RECORD = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)
BODIES = (st.builds(lambda items, trig: {"data": items, **trig}, st.lists(RECORD | JSON, max_size=3),
                    st.sampled_from([{}, {"trigger": []}, {"trigger": ["workflow"]}, {"trigger": "x"}]))
          | JSON
          | st.builds(lambda w: {"watch": w}, st.lists(JSON | st.fixed_dictionaries(
              {"channel_id": JSON, "events": JSON, "notify_url": JSON}), max_size=2))
          | st.builds(lambda c: {"currencies": c}, st.lists(JSON, max_size=2)))
MODULES = st.sampled_from(["Contacts", "Companies", "Service_And_Parts", "Products", "Work_Orders", "Requests",
                           "Estimates", "Service_Appointments", "Assets", "Leads", "contacts", "_internal", "%00"])
ENDPOINTS = st.sampled_from([
    ("POST", "/{m}"), ("PUT", "/{m}"), ("PUT", "/{m}/{c}"), ("PUT", "/Contacts/{c}"), ("DELETE", "/{m}"),
    ("DELETE", "/{m}/{x}"), ("GET", "/{m}"), ("GET", "/{m}/search"), ("GET", "/{m}/{c}"), ("GET", "/{m}/{c}/__timeline"),
    ("POST", "/{m}/{c}/actions/process_sync"), ("GET", "/Companies/{k}/{m}"), ("POST", "/_internal/notifications"),
    ("POST", "/_internal/currencies"), ("POST", "/_internal/{m}/{c}/timeline"), ("PUT", "/_internal/sync-state"),
    ("GET", "/settings/fields"), ("DELETE", "/_internal/notifications"), ("GET", "/{m}/{x}"), ("PUT", "/{m}/{x}"),
])
QUERY = st.dictionaries(st.sampled_from(["page", "per_page", "sort_by", "sort_order", "api_name", "value", "comparator",
                                         "fields", "ids", "module", "sync_service", "wf_trigger", "channel_ids", "action"]),
                        QUERY_TEXT, max_size=4)
IDS = st.sampled_from(["{c}", "abc", "0", "9" * 30, "-1", "1234567890123456789", "%20", "1e5", "%00", "1%002", "%01",
                       str(2**64)])
AIMED = aimed([
    ("POST", "/Companies", "Company_Name", {}), ("POST", "/Contacts", "Last_Name", {}),
    ("PUT", "/Contacts/{c}", "Email", {}), ("PUT", "/Contacts/{c}", "Last_Name", {}),
    ("POST", "/Service_And_Parts", "Name", {"Type": "Service", "Unit_Price": 1}),
    ("POST", "/Service_And_Parts", "Unit_Price", {"Type": "Service", "Name": "Aimed"}),
    ("PUT", "/Contacts", "id", {"Last_Name": "Aimed"}), ("POST", "/Contacts", "Company", {"Last_Name": "Aimed"}),
    ("POST", "/Work_Orders", "Contact", {"Summary": "Aimed", "Type": "Service"}),
], wrap=lambda record: {"data": [record]}) | aimed([
    ("GET", "/Contacts/search", "value", {"api_name": "Last_Name", "comparator": "equal"}),
    ("GET", "/Contacts/search", "api_name", {"value": "x"}), ("GET", "/Contacts", "ids", {}),
    ("GET", "/Contacts", "page", {}), ("GET", "/Contacts", "per_page", {}), ("GET", "/Contacts", "sort_by", {}),
    ("DELETE", "/Contacts", "ids", {}), ("GET", "/Companies/{k}/Contacts", "page", {}),
    ("PUT", "/_internal/sync-state", "sync_service", {}),
])
EXAMPLES = {"sqlite": 120, "postgres": 50}


@dataclass
class FsmEnv:
    backend: str
    client: object
    headers: dict[str, str]
    company: str
    contact: str
    service: str
    order: str
    sentinel: tuple[str, dict]


@pytest.fixture(scope="module")
def env(module_db_url):
    app = create_app(module_db_url)
    client = app.test_client()
    h = make_tenant(client, products=["fsm"]).auth

    def made(module: str, record: dict) -> str:
        r = client.post(f"/fsm/v1/{module}", headers=h, json={"data": [record]})
        assert r.status_code == 201, r.get_data(as_text=True)
        return r.get_json()["data"][module][0]["id"]

    company = made("Companies", {"Company_Name": "Anchor Co"})
    contact = made("Contacts", {"Last_Name": "Anchor", "Email": "anchor@x.com", "Company": company})
    service = made("Service_And_Parts", {"Name": "Anchor service", "Unit_Price": 5, "Type": "Service"})
    order = made("Work_Orders", {"Summary": "Anchor", "Type": "Service", "Contact": contact,
                                 "Service_Line_Items": [{"Service": service}]})
    sentinel = made("Companies", {"Company_Name": "Sentinel SA", "Phone": "+33 1 23 45"})
    path = f"/fsm/v1/Companies/{sentinel}"
    yield FsmEnv("sqlite" if module_db_url.startswith("sqlite") else "postgres", client, h, company, contact,
                 service, order, (path, client.get(path, headers=h).get_json()))
    app.extensions["zlab"].db.dispose()


def test_any_input_gets_an_fsm_envelope_never_a_5xx(env):
    c, h = env.client, env.headers
    sentinel_path, sentinel = env.sentinel

    @settings(max_examples=EXAMPLES[env.backend], deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(endpoint=ENDPOINTS, module=MODULES, some_id=IDS, body=BODIES, raw=st.none() | RAW_BODIES, query=QUERY,
           truncate=st.booleans(), aim=st.none() | AIMED)
    def one(endpoint, module, some_id, body, raw, query, truncate, aim):
        method, path = endpoint
        if aim is not None:  # a hostile value where it would be stored or searched
            method, path, body, query = aim[0], aim[1], fill(aim[2], {"c": env.contact}), aim[3]
            raw, truncate = None, False
        x = some_id.format(c=env.contact)
        path = path.format(m=module, c=env.contact, k=env.company, x=x)
        data = raw if raw is not None else json.dumps(body).encode()[:-1 if truncate else None]
        kw = {} if method == "GET" else {"data": data, "content_type": "application/json"}
        r = c.open("/fsm/v1" + path, method=method, query_string=query, headers=h, **kw)
        assert_no_5xx(r)
        if r.status_code == 204:
            assert r.get_data() == b""
        else:
            out = r.get_json()
            assert isinstance(out, dict), r.get_data(as_text=True)
            if r.status_code >= 400 and "status" in out:
                assert out["status"] == "error" and isinstance(out["code"], str) and isinstance(out["message"], str)
        # the anchors survive whatever was sent; the sentinel, never addressed, is exactly as stored
        got = c.get(f"/fsm/v1/Work_Orders/{env.order}", headers=h).get_json()["data"][0]
        assert got["Contact"]["id"] == env.contact and got["Service_Line_Items"][0]["Service"]["id"] == env.service
        assert c.get(f"/fsm/v1/Companies/{env.company}", headers=h).status_code == 200
        assert c.get(sentinel_path, headers=h).get_json() == sentinel

    one()
