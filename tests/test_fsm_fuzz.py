"""Property: whatever a client sends, the FSM fake answers in FSM's (CRM's) envelope or 204, never a
500, and never damages what is stored."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import create_app
from tests.conftest import make_tenant

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
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
                           "Estimates", "Service_Appointments", "Assets", "Leads", "contacts", "_internal"])
ENDPOINTS = st.sampled_from([
    ("POST", "/{m}"), ("PUT", "/{m}"), ("PUT", "/{m}/{c}"), ("PUT", "/Contacts/{c}"), ("DELETE", "/{m}"),
    ("DELETE", "/{m}/{x}"), ("GET", "/{m}"), ("GET", "/{m}/search"), ("GET", "/{m}/{c}"), ("GET", "/{m}/{c}/__timeline"),
    ("POST", "/{m}/{c}/actions/process_sync"), ("GET", "/Companies/{k}/{m}"), ("POST", "/_internal/notifications"),
    ("POST", "/_internal/currencies"), ("POST", "/_internal/{m}/{c}/timeline"), ("PUT", "/_internal/sync-state"),
    ("GET", "/settings/fields"), ("DELETE", "/_internal/notifications"),
])
QUERY = st.dictionaries(st.sampled_from(["page", "per_page", "sort_by", "sort_order", "api_name", "value", "comparator",
                                         "fields", "ids", "module", "sync_service", "wf_trigger", "channel_ids", "action"]),
                        st.text(max_size=25), max_size=4)
IDS = st.sampled_from(["{c}", "abc", "0", "9" * 30, "-1", "1234567890123456789", "%20", "1e5"])

_app = create_app("sqlite://")
_client = _app.test_client()
_t = make_tenant(_client, products=["fsm"])
_H = _t.auth


def _made(module: str, record: dict) -> str:
    r = _client.post(f"/fsm/v1/{module}", headers=_H, json={"data": [record]})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()["data"][module][0]["id"]


_company = _made("Companies", {"Company_Name": "Anchor Co"})
_contact = _made("Contacts", {"Last_Name": "Anchor", "Email": "anchor@x.com", "Company": _company})
_service = _made("Service_And_Parts", {"Name": "Anchor service", "Unit_Price": 5, "Type": "Service"})
_order = _made("Work_Orders", {"Summary": "Anchor", "Type": "Service", "Contact": _contact,
                               "Service_Line_Items": [{"Service": _service}]})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint=ENDPOINTS, module=MODULES, some_id=IDS, body=BODIES, query=QUERY, raw=st.booleans())
def test_any_input_gets_an_fsm_envelope_never_a_500(endpoint, module, some_id, body, query, raw):
    method, path = endpoint
    path = path.format(m=module, c=_contact, k=_company, x=some_id.format(c=_contact))
    kw = {} if method == "GET" else ({"data": json.dumps(body)[:-1] if raw else json.dumps(body),
                                      "content_type": "application/json"})
    r = _client.open("/fsm/v1" + path, method=method, query_string=query, headers=_H, **kw)
    assert r.status_code < 500, r.get_data(as_text=True)
    if r.status_code == 204:
        assert r.get_data() == b""
    else:
        out = r.get_json()
        assert isinstance(out, dict), r.get_data(as_text=True)
        if r.status_code >= 400 and "status" in out:
            assert out["status"] == "error" and isinstance(out["code"], str) and isinstance(out["message"], str)
    # the anchors survive whatever was sent
    got = _client.get(f"/fsm/v1/Work_Orders/{_order}", headers=_H).get_json()["data"][0]
    assert got["Contact"]["id"] == _contact and got["Service_Line_Items"][0]["Service"]["id"] == _service
    assert _client.get(f"/fsm/v1/Companies/{_company}", headers=_H).status_code == 200
