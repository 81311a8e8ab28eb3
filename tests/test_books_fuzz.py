"""Property: whatever a client sends, the Books fake answers in Zoho's envelope, never a 500,
and never damages what is stored."""

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
FIELDS = ["contact_name", "company_name", "contact_type", "customer_sub_type", "currency_id", "billing_address",
          "shipping_address", "contact_persons", "custom_fields", "name", "rate", "sku", "product_type", "tax_id",
          "customer_id", "line_items", "date", "due_date", "payment_terms", "currency_code", "currency_symbol",
          "tax_name", "tax_percentage", "contact_id", "first_name", "email", "is_primary_contact"]
BODIES = st.dictionaries(st.sampled_from(FIELDS), JSON, max_size=6) | JSON
ENDPOINTS = st.sampled_from([
    ("POST", "/contacts"), ("PUT", "/contacts/{c}"), ("POST", "/contacts/contactpersons"),
    ("PUT", "/contacts/contactpersons/{p}"), ("POST", "/items"), ("PUT", "/items/{i}"), ("POST", "/invoices"),
    ("PUT", "/invoices/{v}"), ("POST", "/settings/currencies"), ("POST", "/settings/taxes"),
    ("GET", "/contacts"), ("GET", "/items"), ("GET", "/invoices"), ("GET", "/contacts/{c}"),
])
QUERY = st.dictionaries(st.sampled_from(["page", "per_page", "sort_column", "sort_order", "filter_by",
                                         "last_modified_time", "contact_name_contains", "search_text", "status"]),
                        st.text(max_size=20), max_size=3)

_app = create_app("sqlite://")
_client = _app.test_client()
_t = make_tenant(_client)
_org = _t.orgs["books"]
_q = {"organization_id": _org}
_c = _client.post("/books/v3/contacts", query_string=_q, headers=_t.auth, json={
    "contact_name": "Anchor Co", "contact_persons": [{"first_name": "A", "email": "a@x.com"}]}).get_json()["contact"]
_i = _client.post("/books/v3/items", query_string=_q, headers=_t.auth, json={"name": "Anchor", "rate": 5}).get_json()["item"]
_v = _client.post("/books/v3/invoices", query_string=_q, headers=_t.auth, json={
    "customer_id": _c["contact_id"], "line_items": [{"item_id": _i["item_id"]}]}).get_json()["invoice"]
IDS = {"c": _c["contact_id"], "p": _c["contact_persons"][0]["contact_person_id"], "i": _i["item_id"], "v": _v["invoice_id"]}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(endpoint=ENDPOINTS, body=BODIES, query=QUERY, as_form=st.booleans())
def test_any_input_gets_a_zoho_envelope_never_a_500(endpoint, body, query, as_form):
    method, path = endpoint
    path = path.format(**IDS)
    kw = {"data": {"JSONString": json.dumps(body)}} if as_form else {"json": body}
    r = _client.open("/books/v3" + path, method=method, query_string={**query, **_q}, headers=_t.auth,
                     **({} if method == "GET" else kw))
    assert r.status_code < 500, r.get_data(as_text=True)
    out = r.get_json()
    assert isinstance(out, dict) and isinstance(out.get("code"), int) and isinstance(out.get("message"), str)
    assert (out["code"] == 0) == (r.status_code < 400)
    # the anchor records survive whatever was sent
    got = _client.get(f"/books/v3/invoices/{IDS['v']}", query_string=_q, headers=_t.auth).get_json()
    assert got["code"] == 0 and got["invoice"]["customer_id"] == IDS["c"]
