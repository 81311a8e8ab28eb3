"""Property: whatever a client sends, the CRM fake answers in Zoho's envelope (or 204/304 with no
body), never a 5xx, and never damages what is stored."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import create_app
from tests.conftest import make_tenant

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
FIELDS = ["Last_Name", "First_Name", "Email", "Phone", "Account_Name", "Owner", "Date_of_Birth", "Email_Opt_Out",
          "Account_Name", "Employees", "Annual_Revenue", "Product_Name", "Type", "Unit_Price", "Deal_Name", "Stage",
          "Closing_Date", "Amount", "Subject", "Ordered_Items", "id", "Full_Name", "Created_Time", "Parent_Account"]
RECORD = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6)
BODIES = (st.fixed_dictionaries({"data": st.lists(RECORD | JSON, max_size=4)},
                                optional={"trigger": JSON, "duplicate_check_fields": JSON})
          | st.fixed_dictionaries({"watch": st.lists(st.dictionaries(
              st.sampled_from(["channel_id", "events", "notify_url", "token", "channel_expiry", "fields",
                               "return_affected_field_values", "_delete_events"]), JSON, max_size=5), max_size=3)})
          | st.fixed_dictionaries({"select_query": st.text(max_size=80) | st.sampled_from([
              "select Last_Name from Contacts where Last_Name = 'x'",
              "select Last_Name, Account_Name.Account_Name from Contacts where (Email like '%a%' or Phone is null) "
              "order by Last_Name desc limit 2, 3",
              "select id from Deals where Amount between 1 and 'x'"])})
          | JSON)
MODULES = st.sampled_from(["Contacts", "Accounts", "Products", "Deals", "Sales_Orders", "Leads", "%00", "settings"])
ENDPOINTS = st.sampled_from([
    ("POST", "/{m}"), ("PUT", "/{m}"), ("PUT", "/{m}/{c}"), ("POST", "/{m}/upsert"), ("GET", "/{m}"),
    ("GET", "/{m}/{c}"), ("GET", "/{m}/search"), ("GET", "/{m}/actions/count"), ("GET", "/{m}/deleted"),
    ("POST", "/coql"), ("POST", "/actions/watch"), ("PATCH", "/actions/watch"), ("PUT", "/actions/watch"),
    ("GET", "/actions/watch"), ("DELETE", "/actions/watch"), ("DELETE", "/{m}"), ("GET", "/settings/fields"),
    ("GET", "/users"), ("GET", "/{m}/bogus/path"),
])
QUERY = st.dictionaries(st.sampled_from(["fields", "page", "per_page", "sort_by", "sort_order", "page_token",
                                         "criteria", "email", "phone", "word", "type", "ids", "module",
                                         "channel_ids", "channel_id", "cvid", "wf_trigger"]),
                        st.text(max_size=40) | st.sampled_from(["(Last_Name:equals:x)", "((a:b:c)or(d:e:f))",
                                                                "Last_Name,Email", "-1", "0", "201"]), max_size=4)
HEADERS = st.dictionaries(st.sampled_from(["If-Modified-Since", "X-CRM-ORG"]),
                          st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
                          max_size=1)

_app = create_app("sqlite://")
_client = _app.test_client()
_t = _make = make_tenant(_client)
_anchor = _client.post("/crm/v8/Contacts", headers=_t.auth, json={"data": [{"Last_Name": "Anchor"}]}).get_json()
ANCHOR = _anchor["data"][0]["details"]["id"]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint=ENDPOINTS, module=MODULES, body=BODIES, query=QUERY, headers=HEADERS,
       version=st.sampled_from(["v2", "v5", "v8"]), raw=st.booleans())
def test_any_input_gets_a_zoho_envelope_never_a_5xx(endpoint, module, body, query, headers, version, raw):
    method, path = endpoint
    path = path.format(m=module, c=ANCHOR)
    kw = {} if method == "GET" else ({"data": json.dumps(body)[:-1]} if raw else {"json": body})
    r = _client.open(f"/crm/{version}{path}", method=method, query_string=query,
                     headers={**_t.auth, **headers}, **kw)
    assert r.status_code < 500, r.get_data(as_text=True)
    if r.status_code in (204, 304):
        assert r.get_data() == b""
    else:
        out = r.get_json()
        assert isinstance(out, dict)
        if r.status_code >= 400 and "code" in out:
            assert out["status"] == "error" and isinstance(out["message"], str)
    # the anchor record survives whatever was sent
    got = _client.get(f"/crm/v8/Contacts/{ANCHOR}", headers=_t.auth)
    assert got.status_code == 200 and got.get_json()["data"][0]["id"] == ANCHOR
