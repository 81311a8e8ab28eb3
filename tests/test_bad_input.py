"""The bad inputs of issue 9 that used to get a 500, each answered with the product's own 4xx, on
SQLite and PostgreSQL (the fuzz tests, tests/test_*_fuzz.py, keep the wider space so). Limits:
README "Input limits"."""

from __future__ import annotations

import json

import pytest

from fakes import create_app
from fakes.core.bodies import MAX_BODY_BYTES, MAX_JSON_DEPTH, MAX_URL_BYTES
from tests.conftest import make_tenant

DEEP = "[" * 1000 + "]" * 1000
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def lab(module_db_url):
    """One app per backend for the module: the calls here are refused (but one, into the Invoice
    org), so the tests share nothing."""
    app = create_app(module_db_url)
    client = app.test_client()
    t = make_tenant(client)
    yield client, t, {"organization_id": t.orgs["books"]}
    app.extensions["zlab"].db.dispose()


def books_error(r, status: int, code: int) -> None:
    assert r.status_code == status, r.get_data(as_text=True)
    assert r.get_json()["code"] == code and isinstance(r.get_json()["message"], str)


def crm_error(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.get_data(as_text=True)
    out = r.get_json()
    assert out["code"] == code and out["status"] == "error" and isinstance(out["message"], str)
    return out["details"]


def test_json_nested_too_deep_is_each_products_malformed_json(lab):
    c, t, q = lab
    books_error(c.post("/books/v3/contacts", query_string=q, headers={**t.auth, **JSON}, data=DEEP), 400, 1038)
    books_error(c.post("/books/v3/contacts", query_string=q, headers=t.auth, data={"JSONString": DEEP}), 400, 1038)
    books_error(c.post("/invoice/v3/contacts", query_string={"organization_id": t.orgs["invoice"]},
                       headers={**t.auth, **JSON}, data=DEEP), 400, 1038)
    # just over the limit (the parser would manage, the handlers might not)
    books_error(c.post("/books/v3/items", query_string=q, headers={**t.auth, **JSON},
                       data='{"name":' + "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH + "}"), 400, 1038)
    for path in ("/crm/v8/Contacts", "/fsm/v1/Contacts"):
        details = crm_error(c.post(path, headers={**t.auth, **JSON}, data='{"data":' + DEEP + "}"), 400, "INVALID_DATA")
        assert details["expected_data_type"] == "jsonobject"
    r = c.post("/_lab/tenants", headers=JSON, data=DEEP)
    assert r.status_code == 400 and r.get_json()["error"]


@pytest.mark.parametrize("text", ["a\\ud800b", "a\\u0000b", "\\udfff"])
def test_a_name_no_store_keeps_is_an_invalid_value(lab, text):
    c, t, q = lab
    books_error(c.post("/books/v3/contacts", query_string=q, headers={**t.auth, **JSON},
                       data='{"contact_name":"' + text + '"}'), 400, 4)
    d = crm_error(c.post("/crm/v8/Contacts", headers={**t.auth, **JSON}, data='{"data":[{"Last_Name":"' + text + '"}]}'),
                  400, "INVALID_DATA")
    assert d["api_name"] == "Last_Name" and d["json_path"] == "$.data[0].Last_Name"
    crm_error(c.post("/fsm/v1/Companies", headers={**t.auth, **JSON},
                     data='{"data":[{"Company_Name":"' + text + '"}]}'), 400, "INVALID_DATA")
    r = c.post("/_lab/tenants", headers=JSON, data='{"name":"' + text + '"}')
    assert r.status_code == 400 and "name" in r.get_json()["error"]
    # nothing was stored
    assert c.get("/books/v3/contacts", query_string=q, headers=t.auth).get_json()["contacts"] == []


def test_nul_in_search_text_criteria_coql_and_ids(lab):
    c, t, q = lab
    books_error(c.get("/books/v3/contacts", query_string={**q, "search_text": "a\x00b"}, headers=t.auth), 400, 2)
    books_error(c.get("/books/v3/contacts/12%003", query_string=q, headers=t.auth), 400, 2)
    for path, query in (("/crm/v8/Contacts/search", {"criteria": "(Last_Name:equals:a\x00b)"}),
                        ("/crm/v8/Contacts/search", {"word": "a\x00b"}), ("/crm/v8/Contacts/1%002", {}),
                        ("/fsm/v1/Contacts/search", {"api_name": "Last_Name", "value": "a\x00b"}),
                        ("/fsm/v1/Contacts/1%002", {})):
        crm_error(c.get(path, query_string=query, headers=t.auth), 400, "INVALID_DATA")
    d = crm_error(c.post("/crm/v8/coql", headers=t.auth,
                         json={"select_query": "select Last_Name from Contacts where Last_Name = 'a\x00b'"}),
                  400, "INVALID_DATA")
    assert d["api_name"] == "select_query"
    books_error(c.get("/books/v3/contacts", query_string=q, headers={"Authorization": "Zoho-oauthtoken a\x00b"}),
                401, 57)
    crm_error(c.get("/crm/v8/Contacts", headers={**t.auth, "X-CRM-ORG": "1\x002"}), 400, "INVALID_DATA")
    r = c.get("/_lab/tenants/a%00b@x.com")
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_value"
    # a NUL in a token parameter (form body) is Accounts' invalid_request
    for form_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        r = c.post("/oauth/v2/token", content_type=form_type, data={
            "grant_type": "refresh_token", "client_id": "a\x00b", "client_secret": "x", "refresh_token": "y"})
        assert r.status_code == 400 and r.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("value", [str(2**63), str(2**64), str(2**31), "-1", "0"])
def test_books_page_and_per_page_beyond_an_int_are_invalid(lab, value):
    c, t, q = lab
    books_error(c.get("/books/v3/contacts", query_string={**q, "page": value}, headers=t.auth), 400, 2)
    books_error(c.get("/books/v3/items", query_string={**q, "per_page": value}, headers=t.auth), 400, 2)


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_non_json_numbers_are_malformed_json(lab, text):
    c, t, q = lab
    books_error(c.post("/books/v3/items", query_string=q, headers={**t.auth, **JSON},
                       data='{"name":"n","rate":' + text + "}"), 400, 1038)


def test_a_body_over_the_limit_is_413_and_never_read(lab):
    c, t, q = lab
    big = b'{"contact_name":"' + b"a" * (MAX_BODY_BYTES + 1) + b'"}'
    books_error(c.post("/books/v3/contacts", query_string=q, headers={**t.auth, **JSON}, data=big), 413, 4)
    crm_error(c.post("/crm/v8/Contacts", headers={**t.auth, **JSON}, data=big), 413, "LIMIT_EXCEEDED")
    assert c.post("/_lab/tenants", headers=JSON, data=big).status_code == 413
    entry = c.get("/_lab/journal", query_string={"status": 413, "limit": 1}).get_json()["entries"][0]
    assert entry["request_excerpt"] is None and entry["path"] == "/crm/v8/Contacts"
    # under it, a large JSONString form field is an ordinary body (not werkzeug's 500 KB form limit)
    form = {"JSONString": json.dumps({"contact_name": "Big form", "notes_x": "n" * 600_000})}
    r = c.post("/invoice/v3/contacts", query_string={"organization_id": t.orgs["invoice"]}, headers=t.auth,
               data=form, content_type="multipart/form-data")
    assert r.status_code == 201, r.get_data(as_text=True)[:200]


def test_a_url_over_the_limit_is_414_in_the_products_envelope(lab):
    c, t, q = lab
    long = "x" * MAX_URL_BYTES
    books_error(c.get("/books/v3/contacts", query_string={**q, "search_text": long}, headers=t.auth), 414, 5)
    crm_error(c.get("/crm/v8/Contacts", query_string={"fields": long}, headers=t.auth), 414, "LIMIT_EXCEEDED")
    assert c.get("/_lab/journal", query_string={"org": long}).status_code == 414
    # under the limit: an ordinary answer
    assert c.get("/books/v3/contacts", query_string={**q, "search_text": "x" * 5000}, headers=t.auth).status_code == 200


@pytest.mark.parametrize("path, body, word", [
    ("/_lab/orgs", {"email": 1, "product": "books"}, "email"),
    ("/_lab/oauth/codes", {"client_id": ["x"], "scopes": ["a"]}, "client_id"),
    ("/_lab/oauth/codes", {"client_id": "x", "scopes": [["a"]]}, "scopes"),
    ("/_lab/oauth/codes", {"client_id": "x", "scopes": ["a"], "redirect_uri": []}, "redirect_uri"),
    ("/_lab/tenants", {"email": []}, "email"),
    ("/_lab/seed", {"org_id": [], "modules": {"contacts": 1}}, "org_id"),
    ("/_lab/workflows", {"org_id": "1", "module": [], "action": {}}, "module"),
    ("/_lab/clock", {"action": ["set"]}, "action"),
])
def test_lab_bodies_of_the_wrong_type_are_400_naming_the_field(lab, path, body, word):
    r = lab[0].post(path, json=body)
    assert r.status_code == 400 and word in r.get_json()["error"], r.get_data(as_text=True)


def test_a_fault_rule_id_beyond_the_database_integer_is_no_rule(lab):
    r = lab[0].delete("/_lab/faults/39181337198")
    assert r.status_code == 404 and "no fault rule" in r.get_json()["error"]


def test_fsm_import_of_a_module_that_is_no_string(lab):
    client, t, _ = lab
    r = client.post(f"/_lab/fsm/orgs/{t.orgs['fsm']}/imports", json={"module": []})
    assert r.status_code == 400 and "module" in r.get_json()["error"]
