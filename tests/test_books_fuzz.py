"""Property: whatever a client sends, the Books and Invoice fakes answer in Zoho's envelope, never a
5xx, and never damage what is stored — on SQLite and on PostgreSQL. Inputs: random JSON mixed with
hostile values and raw bodies (tests/hostile.py), as raw JSON or a ``JSONString`` form field, with
hostile query values and ids."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import create_app
from tests.conftest import Tenant, make_tenant
from tests.hostile import JSON, QUERY_TEXT, RAW_BODIES, aimed, assert_no_5xx, fill

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
    ("GET", "/items/{x}"), ("PUT", "/contacts/{x}"), ("DELETE", "/items/{x}"),
])
QUERY = st.dictionaries(st.sampled_from(["page", "per_page", "sort_column", "sort_order", "filter_by",
                                         "last_modified_time", "contact_name_contains", "search_text", "status"]),
                        QUERY_TEXT, max_size=3)
ODD_IDS = st.sampled_from(["abc", "0", "9" * 30, "-1", "%00", "1%002", "%01", "%ff", "1e5", str(2**64)])
AIMED = aimed([
    ("POST", "/contacts", "contact_name", {}), ("POST", "/contacts", "company_name", {"contact_name": "Aimed"}),
    ("PUT", "/contacts/{c}", "contact_name", {}), ("POST", "/items", "name", {"rate": 1}),
    ("POST", "/items", "sku", {"name": "Aimed item", "rate": 1}), ("PUT", "/items/{i}", "name", {}),
    ("POST", "/items", "rate", {"name": "Aimed rate"}),
    ("POST", "/invoices", "reference_number", {"customer_id": "<c>", "line_items": [{"item_id": "<i>"}]}),
    ("POST", "/invoices", "customer_id", {"line_items": [{"item_id": "<i>"}]}),
    ("POST", "/contacts/contactpersons", "first_name", {"contact_id": "<c>"}),
    ("POST", "/settings/taxes", "tax_name", {"tax_percentage": 5}), ("POST", "/settings/currencies", "currency_code", {}),
    ("GET", "/contacts", "search_text", {}), ("GET", "/contacts", "contact_name_contains", {}),
    ("GET", "/invoices", "customer_id", {}), ("GET", "/contacts", "page", {}), ("GET", "/items", "per_page", {}),
    ("GET", "/contacts", "last_modified_time", {}), ("GET", "/contacts", "sort_column", {}),
])
EXAMPLES = {"sqlite": 120, "postgres": 50}


@dataclass
class BooksEnv:
    backend: str
    client: object
    tenant: Tenant
    ids: dict[str, dict[str, str]]  # per product: anchors the fuzz addresses
    sentinels: dict[str, tuple[str, dict]]  # per product: (path, body) of a record the fuzz never names


@pytest.fixture(scope="module")
def env(module_db_url):
    app = create_app(module_db_url)
    client = app.test_client()
    t = make_tenant(client)
    ids, sentinels = {}, {}
    for product in ("books", "invoice"):
        q = {"organization_id": t.orgs[product]}

        def post(path, body, key, q=q, product=product):
            r = client.post(f"/{product}/v3{path}", query_string=q, headers=t.auth, json=body)
            assert r.status_code == 201, r.get_data(as_text=True)
            return r.get_json()[key]

        c = post("/contacts", {"contact_name": "Anchor Co", "contact_persons": [{"first_name": "A", "email": "a@x.com"}]},
                 "contact")
        i = post("/items", {"name": "Anchor", "rate": 5}, "item")
        v = post("/invoices", {"customer_id": c["contact_id"], "line_items": [{"item_id": i["item_id"]}]}, "invoice")
        ids[product] = {"c": c["contact_id"], "p": c["contact_persons"][0]["contact_person_id"], "i": i["item_id"],
                        "v": v["invoice_id"]}
        s = post("/contacts", {"contact_name": "Sentinel Ltd", "company_name": "Sentinel",
                               "billing_address": {"city": "Köln", "zip": "50667"}}, "contact")
        path = f"/{product}/v3/contacts/{s['contact_id']}"
        sentinels[product] = (path, client.get(path, query_string=q, headers=t.auth).get_json())
    yield BooksEnv("sqlite" if module_db_url.startswith("sqlite") else "postgres", client, t, ids, sentinels)
    app.extensions["zlab"].db.dispose()


@pytest.mark.parametrize("product", ["books", "invoice"])
def test_any_input_gets_a_zoho_envelope_never_a_5xx(env, product):
    c, t = env.client, env.tenant
    q = {"organization_id": t.orgs[product]}
    ids = env.ids[product]
    sentinel_path, sentinel = env.sentinels[product]

    @settings(max_examples=EXAMPLES[env.backend] // (1 if product == "books" else 2), deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(endpoint=ENDPOINTS, body=BODIES, raw=st.none() | RAW_BODIES, query=QUERY, odd_id=ODD_IDS,
           as_form=st.booleans(), aim=st.none() | AIMED)
    def one(endpoint, body, raw, query, odd_id, as_form, aim):
        method, path = endpoint
        if aim is not None:  # a hostile value where it would be stored or searched
            method, path, body, query = aim[0], aim[1], fill(aim[2], ids), aim[3]
            raw = None
        path = path.format(**ids, x=odd_id)
        if as_form:
            text = raw.decode("utf-8", "replace") if raw is not None else json.dumps(body)
            kw = {"data": {"JSONString": text}}
        else:
            kw = {"data": raw if raw is not None else json.dumps(body).encode(), "content_type": "application/json"}
        r = c.open(f"/{product}/v3" + path, method=method, query_string={**query, **q}, headers=t.auth,
                   **({} if method == "GET" else kw))
        assert_no_5xx(r)
        out = r.get_json()
        assert isinstance(out, dict) and isinstance(out.get("code"), int) and isinstance(out.get("message"), str)
        assert (out["code"] == 0) == (r.status_code < 400)
        # the anchors survive whatever was sent; the sentinel, never addressed, is exactly as stored
        got = c.get(f"/{product}/v3/invoices/{ids['v']}", query_string=q, headers=t.auth).get_json()
        assert got["code"] == 0 and got["invoice"]["customer_id"] == ids["c"]
        assert c.get(sentinel_path, query_string=q, headers=t.auth).get_json() == sentinel

    one()


SPEC_WRONG = [2**64, ["a\x00b"], {"a": None}, "a\x00b", "a\ud800b", -1, True, "x" * 3000]


def _resolve(doc: dict, node):
    """Follow local ``$ref``s (``#/components/...``) of a Zoho spec file."""
    while isinstance(node, dict) and str(node.get("$ref", "")).startswith("#/"):
        target = doc
        for part in node["$ref"][2:].split("/"):
            target = target[part]
        node = target
    return node


def test_every_operation_of_zohos_books_spec_takes_hostile_input_without_a_5xx(env, specs_dir):
    """A sweep over Zoho's own Books v3 spec (specs/books-v3/*.yml): every documented operation, its
    path ids hostile, its documented query parameters and request fields given wrong values."""
    import yaml

    c, t = env.client, env.tenant
    q = {"organization_id": t.orgs["books"]}
    sent = 0
    for spec_file in sorted((specs_dir / "books-v3").glob("*.yml")):
        doc = yaml.safe_load(spec_file.read_text())
        for template, item in doc["paths"].items():
            shared = [_resolve(doc, p) for p in item.get("parameters", [])]
            for method, op in item.items():
                if method not in ("get", "post", "put", "delete"):
                    continue
                params = shared + [_resolve(doc, p) for p in op.get("parameters", [])]
                names = [p["name"] for p in params if p.get("in") == "query" and p["name"] != "organization_id"]
                schema = _resolve(doc, (op.get("requestBody") or {}).get("content", {})
                                  .get("application/json", {}).get("schema") or {})
                fields = sorted(schema.get("properties", {}))
                for n, path_id in enumerate(("1%002", env.ids["books"]["c"])):
                    path = re.sub(r"\{\w+\}", path_id, template)
                    query = {name: str(SPEC_WRONG[(i + n) % len(SPEC_WRONG)]).replace("\ud800", "")
                             for i, name in enumerate(names)}
                    body = {f: SPEC_WRONG[(i + n) % len(SPEC_WRONG)] for i, f in enumerate(fields)}
                    r = c.open("/books/v3" + path, method=method.upper(), query_string={**query, **q}, headers=t.auth,
                               **({} if method in ("get", "delete") else {"data": json.dumps(body),
                                                                          "content_type": "application/json"}))
                    assert_no_5xx(r)
                    out = r.get_json()
                    assert isinstance(out, dict) and isinstance(out.get("code"), int), (method, path, out)
                    sent += 1
    assert sent > 200  # the spec was there and read
    sentinel_path, sentinel = env.sentinels["books"]
    assert c.get(sentinel_path, query_string=q, headers=t.auth).get_json() == sentinel
