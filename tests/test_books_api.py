"""The fake Books/Invoice API, as a client written for real Zoho Books sees it.

Runs on SQLite and PostgreSQL (the ``client``/``tenant`` fixtures are parametrised by backend).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import Tenant, make_tenant


class Books:
    """A thin test client: organization_id in the query, token in the header."""

    def __init__(self, client, tenant: Tenant, product: str = "books", root: str | None = None) -> None:
        self.c = client
        self.t = tenant
        self.org = tenant.orgs[product]
        self.root = root or f"/{product}/v3"

    def call(self, method: str, path: str, *, json_body=None, params=None, headers=None, **kw):
        q = {"organization_id": self.org, **(params or {})}
        h = {**self.t.auth, **(headers or {})}
        return self.c.open(self.root + path, method=method, query_string=q, headers=h, json=json_body, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, json_body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, json_body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def books(client, tenant) -> Books:
    return Books(client, tenant)


def new_contact(books: Books, name: str = "Bowman and Co", **extra) -> dict:
    r = books.post("/contacts", {"contact_name": name, **extra})
    assert r.status_code == 201, r.get_json()
    return r.get_json()["contact"]


# -- contacts -------------------------------------------------------------------------------


def test_create_contact_answers_201_with_zoho_message_and_string_id(books):
    r = books.post("/contacts", {
        "contact_name": "Bowman and Co", "company_name": "Bowman and Co", "customer_sub_type": "business",
        "billing_address": {"address": "4900 Hopyard Rd", "city": "Pleasanton", "zip": 94588},
        "shipping_address": {"address": "1 Dock St", "city": "Oakland"},
        "contact_persons": [{"first_name": "Will", "last_name": "Smith", "email": "will@bowman.com"},
                            {"first_name": "Ann", "last_name": "Lee", "email": "ann@bowman.com"}],
    })
    assert r.status_code == 201
    assert r.content_type == "application/json;charset=UTF-8"
    body = r.get_json()
    assert body["code"] == 0 and body["message"] == "The contact has been created"
    c = body["contact"]
    assert isinstance(c["contact_id"], str) and c["contact_id"].isdigit() and len(c["contact_id"]) >= 15
    assert c["billing_address"]["zip"] == "94588" and c["shipping_address"]["city"] == "Oakland"
    assert c["contact_type"] == "customer" and c["status"] == "active" and c["currency_code"] == "USD"
    persons = c["contact_persons"]
    assert [p["is_primary_contact"] for p in persons] == [True, False]
    assert c["primary_contact_id"] == persons[0]["contact_person_id"]
    # Books datetime format: 2013-08-05T12:06:10+0530 (no colon in the offset)
    assert len(c["created_time"]) == 24 and c["created_time"][-5] in "+-" and ":" not in c["created_time"][-5:]


def test_listing_shows_the_contact_with_page_context(books):
    made = new_contact(books, contact_persons=[{"first_name": "Will", "last_name": "Smith", "email": "w@b.com"}])
    r = books.get("/contacts")
    body = r.get_json()
    assert r.status_code == 200 and body["code"] == 0 and body["message"] == "success"
    assert body["page_context"] == {"page": 1, "per_page": 200, "has_more_page": False,
                                    "applied_filter": "Status.All", "sort_column": "contact_name", "sort_order": "A"}
    [row] = body["contacts"]
    assert row["contact_id"] == made["contact_id"] and row["email"] == "w@b.com" and row["first_name"] == "Will"


def test_duplicate_display_name_is_3062_unless_the_org_allows_duplicates(client, books):
    new_contact(books, "Bowman and Co")
    r = books.post("/contacts", {"contact_name": "BOWMAN AND CO"})
    assert r.status_code == 400
    assert r.get_json() == {"code": 3062, "message": 'The customer "BOWMAN AND CO" already exists. Please specify a different name.'}
    assert len(books.get("/contacts").get_json()["contacts"]) == 1  # nothing half-written
    client.patch(f"/_lab/orgs/{books.org}", json={"settings": {"allow_duplicate_names": True}})
    assert books.post("/contacts", {"contact_name": "Bowman and Co"}).status_code == 201
    assert len(books.get("/contacts").get_json()["contacts"]) == 2


def test_renaming_onto_an_existing_name_is_refused(books):
    new_contact(books, "Alpha")
    beta = new_contact(books, "Beta")
    r = books.put(f"/contacts/{beta['contact_id']}", {"contact_name": "alpha"})
    assert r.get_json()["code"] == 3062
    assert books.get(f"/contacts/{beta['contact_id']}").get_json()["contact"]["contact_name"] == "Beta"


def test_update_get_delete_and_status(books):
    c = new_contact(books, contact_persons=[{"first_name": "Will", "last_name": "Smith", "email": "w@b.com"}])
    cid = c["contact_id"]
    r = books.put(f"/contacts/{cid}", {"website": "https://bowman.example", "billing_address": {"city": "Austin"}})
    assert r.status_code == 200 and r.get_json()["message"] == "Contact has been updated successfully"
    got = books.get(f"/contacts/{cid}").get_json()["contact"]
    assert got["website"] == "https://bowman.example" and got["billing_address"]["city"] == "Austin"
    assert got["contact_persons"][0]["email"] == "w@b.com"  # untouched by a PUT without persons
    assert got["last_modified_time"] >= c["last_modified_time"]
    assert books.post(f"/contacts/{cid}/inactive").get_json() == {"code": 0, "message": "The contact has been marked as inactive."}
    assert books.get("/contacts", params={"filter_by": "Status.Inactive"}).get_json()["contacts"][0]["contact_id"] == cid
    assert books.get("/contacts", params={"filter_by": "Status.Active"}).get_json()["contacts"] == []
    assert books.post(f"/contacts/{cid}/active").get_json()["message"] == "The contact has been marked as active."
    assert books.delete(f"/contacts/{cid}").get_json() == {"code": 0, "message": "The contact has been deleted."}
    r = books.get(f"/contacts/{cid}")
    assert r.status_code == 404 and r.get_json()["code"] == 1002


def test_put_with_contact_persons_replaces_the_set(books):
    c = new_contact(books, contact_persons=[{"first_name": "A", "last_name": "One", "email": "a@x.com"},
                                            {"first_name": "B", "last_name": "Two", "email": "b@x.com"}])
    keep = c["contact_persons"][1]["contact_person_id"]
    r = books.put(f"/contacts/{c['contact_id']}", {"contact_persons": [
        {"contact_person_id": keep, "email": "b2@x.com"}, {"first_name": "C", "last_name": "Three", "email": "c@x.com"}]})
    persons = r.get_json()["contact"]["contact_persons"]
    assert [p["email"] for p in persons] == ["b2@x.com", "c@x.com"]
    assert sum(p["is_primary_contact"] for p in persons) == 1


def test_contact_validation_errors_name_the_field(books):
    assert books.post("/contacts", {}).get_json() == {"code": 4, "message": "Invalid value passed for contact_name"}
    assert books.post("/contacts", {"contact_name": "X", "contact_type": "alien"}).get_json()["message"].endswith("contact_type")
    assert books.post("/contacts", {"contact_name": "X", "billing_address": "nowhere"}).get_json()["code"] == 4
    assert books.post("/contacts", {"contact_name": "X", "currency_id": "123"}).get_json() == {
        "code": 9004, "message": "This currency does not exist"}
    assert books.post("/contacts", ["not", "an", "object"]).status_code == 400
    assert books.get("/contacts").get_json()["contacts"] == []


def test_filters_sort_search_and_pagination(client, books):
    for name in ("Charlie Ltd", "alpha inc", "Bravo LLC"):
        new_contact(books, name, contact_persons=[{"first_name": name.split()[0], "email": f"{name[:3].lower()}@x.com"}])
    names = [c["contact_name"] for c in books.get("/contacts").get_json()["contacts"]]
    assert names == ["alpha inc", "Bravo LLC", "Charlie Ltd"]
    desc = books.get("/contacts", params={"sort_order": "D"}).get_json()["contacts"]
    assert [c["contact_name"] for c in desc] == names[::-1]
    assert [c["contact_name"] for c in books.get("/contacts", params={"contact_name_startswith": "br"}).get_json()["contacts"]] == ["Bravo LLC"]
    assert [c["contact_name"] for c in books.get("/contacts", params={"search_text": "LTD"}).get_json()["contacts"]] == ["Charlie Ltd"]
    assert [c["contact_name"] for c in books.get("/contacts", params={"email": "alp@x.com"}).get_json()["contacts"]] == ["alpha inc"]
    p1 = books.get("/contacts", params={"per_page": 2}).get_json()
    p2 = books.get("/contacts", params={"per_page": 2, "page": 2}).get_json()
    assert p1["page_context"]["has_more_page"] is True and p2["page_context"]["has_more_page"] is False
    assert [c["contact_name"] for c in p1["contacts"] + p2["contacts"]] == names
    assert books.get("/contacts", params={"per_page": 1000}).get_json()["page_context"]["per_page"] == 200
    assert books.get("/contacts", params={"page": "x"}).get_json()["code"] == 2
    assert books.get("/contacts", params={"sort_column": "bogus"}).get_json() == {"code": 2, "message": "Invalid value passed for sort_column"}
    assert books.get("/contacts", params={"filter_by": "Bogus"}).get_json()["code"] == 2


def test_last_modified_time_filter_follows_the_lab_clock(client, books):
    client.post("/_lab/clock", json={"action": "freeze", "at": "2026-03-01T10:00:00Z"})
    old = new_contact(books, "Old Co")
    client.post("/_lab/clock/advance", json={"seconds": 3600})
    new = new_contact(books, "New Co")
    since = "2026-03-01T16:00:00+0530"  # 10:30 UTC, Books' own format
    rows = books.get("/contacts", params={"last_modified_time": since}).get_json()["contacts"]
    assert [r["contact_id"] for r in rows] == [new["contact_id"]]
    client.post("/_lab/clock/advance", json={"seconds": 60})
    books.put(f"/contacts/{old['contact_id']}", {"notes": "touched"})
    rows = books.get("/contacts", params={"last_modified_time": "2026-03-01T11:00:30Z"}).get_json()["contacts"]
    assert [r["contact_id"] for r in rows] == [old["contact_id"]]
    assert books.get("/contacts", params={"last_modified_time": "yesterday"}).get_json()["code"] == 2


# -- contact persons --------------------------------------------------------------------------


def test_contact_person_endpoints(books):
    c = new_contact(books, contact_persons=[{"first_name": "Will", "email": "will@x.com"}])
    cid = c["contact_id"]
    r = books.post("/contacts/contactpersons", {"contact_id": cid, "first_name": "Ann", "email": "ann@x.com"})
    assert r.status_code == 201
    body = r.get_json()
    assert body["message"] == "The contactperson has been Created" and isinstance(body["contact_person"], list)
    ann = body["contact_person"][0]["contact_person_id"]
    listing = books.get(f"/contacts/{cid}/contactpersons").get_json()
    assert [p["first_name"] for p in listing["contact_persons"]] == ["Will", "Ann"]
    assert books.post(f"/contacts/contactpersons/{ann}/primary").get_json()["message"] == \
        "This contact person has been marked as your primary contact person."
    one = books.get(f"/contacts/{cid}/contactpersons/{ann}").get_json()["contact_person"]
    assert one["is_primary_contact"] is True and one["contact_id"] == cid
    assert books.get("/contacts", params={"email": "ann@x.com"}).get_json()["contacts"][0]["contact_id"] == cid
    r = books.put(f"/contacts/contactpersons/{ann}", {"contact_id": cid, "last_name": "Lee"})
    assert r.get_json()["message"] == "The contactperson details has been updated."
    assert r.get_json()["contact_person"][0]["last_name"] == "Lee"
    assert books.delete(f"/contacts/contactpersons/{ann}").get_json()["message"] == "The contact person has been deleted."
    left = books.get(f"/contacts/{cid}").get_json()["contact"]["contact_persons"]
    assert [p["first_name"] for p in left] == ["Will"] and left[0]["is_primary_contact"] is True
    assert books.post("/contacts/contactpersons", {"contact_id": "999", "first_name": "X"}).get_json()["code"] == 1002


# -- items --------------------------------------------------------------------------------------


def test_items_lifecycle_and_uniqueness(books):
    r = books.post("/items", {"name": "Hard Drive", "rate": 120, "sku": "HD-1", "product_type": "goods",
                              "description": "500GB"})
    assert r.status_code == 201 and r.get_json()["message"] == "The item has been added."
    item = r.get_json()["item"]
    assert isinstance(item["item_id"], str) and item["rate"] == 120 and item["status"] == "active"
    assert books.post("/items", {"name": "hard drive", "rate": 1}).get_json()["code"] == 1000
    assert books.post("/items", {"name": "Other", "rate": 1, "sku": "HD-1"}).get_json()["code"] == 1000
    assert books.post("/items", {"name": "No rate"}).get_json() == {"code": 4, "message": "Invalid value passed for rate"}
    assert books.post("/items", {"name": "x" * 101, "rate": 1}).get_json()["code"] == 4
    iid = item["item_id"]
    r = books.put(f"/items/{iid}", {"rate": 99.5})
    assert r.get_json()["message"] == "Item details have been saved." and r.get_json()["item"]["rate"] == 99.5
    assert books.post(f"/items/{iid}/inactive").get_json()["message"] == "The item has been marked as inactive."
    assert books.get("/items", params={"filter_by": "Status.Inactive"}).get_json()["items"][0]["item_id"] == iid
    assert books.post(f"/items/{iid}/active").get_json()["message"] == "The item has been marked as active."
    assert books.delete(f"/items/{iid}").get_json()["message"] == "The item has been deleted."
    assert books.get(f"/items/{iid}").get_json() == {"code": 2006, "message": "Item does not exist."}


def test_item_details_fetch_many_items_by_id_in_one_call(books):
    ids = [books.post("/items", {"name": f"Part {n}", "rate": n}).get_json()["item"]["item_id"] for n in (1, 2, 3)]
    books.delete(f"/items/{ids[1]}")
    r = books.get("/itemdetails", params={"item_ids": f"{ids[2]},{ids[1]},{ids[0]},12345678"})
    body = r.get_json()
    assert r.status_code == 200 and body["code"] == 0 and body["message"] == "success"
    # in the order asked; the deleted item and an unknown id are left out
    assert [(i["item_id"], i["rate"]) for i in body["items"]] == [(ids[2], 3), (ids[0], 1)]
    assert body["items"][0]["last_modified_time"] == books.get(f"/items/{ids[2]}").get_json()["item"][
        "last_modified_time"]
    for bad in ({}, {"item_ids": ""}, {"item_ids": ",".join(str(n) for n in range(201))}):
        assert books.get("/itemdetails", params=bad).get_json() == {"code": 2,
                                                                     "message": "Invalid value passed for item_ids"}


# -- invoices ------------------------------------------------------------------------------------


def test_invoice_totals_taxes_and_status_endpoints(client, books):
    client.patch(f"/_lab/orgs/{books.org}", json={"tax_enabled": True})
    tax = books.post("/settings/taxes", {"tax_name": "VAT", "tax_percentage": 10}).get_json()["tax"][0]
    item = books.post("/items", {"name": "Repair", "rate": 50, "tax_id": tax["tax_id"]}).get_json()["item"]
    cust = new_contact(books, "Bowman")
    r = books.post("/invoices", {"customer_id": cust["contact_id"], "payment_terms": 15, "date": "2026-01-10",
                                 "line_items": [{"item_id": item["item_id"], "quantity": 3},
                                                {"name": "Call-out fee", "rate": 20}]})
    assert r.status_code == 201 and r.get_json()["message"] == "The invoice has been created."
    inv = r.get_json()["invoice"]
    assert inv["status"] == "draft" and inv["invoice_number"] == "INV-000001"
    assert inv["sub_total"] == 170 and inv["tax_total"] == 15 and inv["total"] == 185 and inv["balance"] == 185
    assert inv["due_date"] == "2026-01-25" and inv["customer_name"] == "Bowman"
    assert [li["item_total"] for li in inv["line_items"]] == [150, 20]
    iid = inv["invoice_id"]
    assert books.post(f"/invoices/{iid}/status/sent").get_json()["message"] == "Invoice status has been changed to Sent."
    assert books.get(f"/contacts/{cust['contact_id']}").get_json()["contact"]["outstanding_receivable_amount"] == 185
    assert books.post(f"/invoices/{iid}/status/void").get_json()["message"] == "Invoice status has been changed to Void."
    assert books.post(f"/invoices/{iid}/status/draft").get_json()["message"] == "Status of invoice changed from void to draft"
    assert books.post(f"/invoices/{iid}/status/draft").get_json()["code"] != 0
    assert books.get("/invoices", params={"customer_id": cust["contact_id"]}).get_json()["invoices"][0]["total"] == 185
    # a customer with transactions cannot be deleted
    assert books.delete(f"/contacts/{cust['contact_id']}").get_json()["code"] != 0
    assert books.get(f"/contacts/{cust['contact_id']}").status_code == 200
    assert books.post("/invoices", {"customer_id": "1", "line_items": [{"name": "x", "rate": 1}]}).get_json()["code"] == 4
    assert books.post("/invoices", {"customer_id": cust["contact_id"], "line_items": []}).get_json()["code"] == 4
    assert books.delete(f"/invoices/{iid}").get_json()["message"] == "The invoice has been deleted."


# -- settings ------------------------------------------------------------------------------------


def test_currencies_and_taxes(books):
    listing = books.get("/settings/currencies").get_json()["currencies"]
    assert [(c["currency_code"], c["is_base_currency"]) for c in listing] == [("USD", True)]
    r = books.post("/settings/currencies", {"currency_code": "EUR", "currency_symbol": "€"})
    assert r.status_code == 201 and r.get_json()["message"] == "The currency has been added."
    eur = r.get_json()["currency"]
    assert books.post("/settings/currencies", {"currency_code": "eur", "currency_symbol": "€"}).get_json()["code"] != 0
    assert books.post("/settings/currencies", {"currency_code": "EUR"}).get_json()["code"] == 4
    c = new_contact(books, "Euro Co", currency_id=eur["currency_id"])
    assert c["currency_code"] == "EUR"
    base = listing[0]["currency_id"]
    assert books.delete(f"/settings/currencies/{base}").get_json()["code"] != 0
    assert books.put(f"/settings/currencies/{eur['currency_id']}", {"price_precision": 3}).get_json()["currency"]["price_precision"] == 3
    t = books.post("/settings/taxes", {"tax_name": "GST", "tax_percentage": 5}).get_json()
    assert t["message"] == "The tax has been added." and t["tax"][0]["tax_percentage"] == 5
    tid = t["tax"][0]["tax_id"]
    assert books.get(f"/settings/taxes/{tid}").get_json()["tax"][0]["tax_name"] == "GST"
    assert books.put(f"/settings/taxes/{tid}", {"tax_percentage": 7.5}).get_json()["tax"][0]["tax_percentage"] == 7.5
    assert [x["tax_id"] for x in books.get("/settings/taxes").get_json()["taxes"]] == [tid]
    assert books.post("/settings/taxes", {"tax_name": "Bad", "tax_percentage": "lots"}).get_json()["code"] == 4
    assert books.delete(f"/settings/taxes/{tid}").get_json()["code"] == 0


def test_organizations_list_only_the_users_orgs_of_that_product(client, tenant):
    other = make_tenant(client)
    books = Books(client, tenant)
    body = client.get("/books/v3/organizations", headers=tenant.auth).get_json()
    assert [o["organization_id"] for o in body["organizations"]] == [tenant.orgs["books"]]
    assert body["organizations"][0]["currency_code"] == "USD" and body["organizations"][0]["is_org_active"] is True
    inv = client.get("/invoice/v3/organizations", headers=tenant.auth).get_json()["organizations"]
    assert [o["organization_id"] for o in inv] == [tenant.orgs["invoice"]]
    assert books.get(f"/organizations/{tenant.orgs['books']}").get_json()["organization"]["name"]
    r = client.get(f"/books/v3/organizations/{other.orgs['books']}", headers=tenant.auth)
    assert r.get_json()["code"] == 6041


# -- org resolution, auth, bodies ------------------------------------------------------------------


def test_without_token_401_code_57(client, tenant):
    r = client.get("/books/v3/contacts", query_string={"organization_id": tenant.orgs["books"]})
    assert r.status_code == 401
    assert r.get_json() == {"code": 57, "message": "You are not authorized to perform this operation"}
    r = client.get("/books/v3/contacts", query_string={"organization_id": tenant.orgs["books"]},
                   headers={"Authorization": "Zoho-oauthtoken 1000.bogus.bogus"})
    assert r.status_code == 401 and r.get_json()["code"] == 57


def test_another_tenants_org_is_refused(client, tenant):
    other = make_tenant(client)
    r = client.post("/books/v3/contacts", query_string={"organization_id": other.orgs["books"]},
                    headers=tenant.auth, json={"contact_name": "Intruder"})
    assert r.status_code == 401 and r.get_json()["code"] == 6041
    theirs = Books(client, other).get("/contacts").get_json()["contacts"]
    assert theirs == []


def test_org_id_missing_bad_or_of_another_product(client, tenant):
    assert client.get("/books/v3/contacts", headers=tenant.auth).get_json() == {
        "code": 2, "message": "Invalid value passed for organization_id"}
    assert client.get("/books/v3/contacts", query_string={"organization_id": "abc"}, headers=tenant.auth).get_json()["code"] == 2
    r = client.get("/books/v3/contacts", query_string={"organization_id": tenant.orgs["invoice"]}, headers=tenant.auth)
    assert r.get_json()["code"] == 2


def test_org_header_and_legacy_root_and_invoice_product(client, tenant):
    h = {**tenant.auth, "X-com-zoho-books-organizationid": tenant.orgs["books"]}
    assert client.post("/books/v3/contacts", headers=h, json={"contact_name": "Via header"}).status_code == 201
    legacy = client.get("/api/v3/contacts", query_string={"organization_id": tenant.orgs["books"]}, headers=tenant.auth)
    assert [c["contact_name"] for c in legacy.get_json()["contacts"]] == ["Via header"]
    inv = Books(client, tenant, "invoice")
    h = {**tenant.auth, "X-com-zoho-invoice-organizationid": tenant.orgs["invoice"]}
    assert client.post("/invoice/v3/contacts", headers=h, json={"contact_name": "Invoice side"}).status_code == 201
    assert [c["contact_name"] for c in inv.get("/contacts").get_json()["contacts"]] == ["Invoice side"]
    assert client.get("/books/v3/contacts/", query_string={"organization_id": tenant.orgs["books"]},
                      headers=tenant.auth).status_code == 200  # optional trailing slash


def test_jsonstring_bodies_urlencoded_and_multipart(books):
    r = books.call("POST", "/contacts", data={"JSONString": json.dumps({"contact_name": "Form Co"})})
    assert r.status_code == 201 and r.get_json()["contact"]["contact_name"] == "Form Co"
    r = books.call("POST", "/items", data={"JSONString": json.dumps({"name": "Multi", "rate": 3})},
                   content_type="multipart/form-data")
    assert r.status_code == 201 and r.get_json()["item"]["name"] == "Multi"
    r = books.call("POST", "/contacts", data={"other": "x"})
    assert r.status_code == 400 and r.get_json()["code"] == 2
    r = books.call("POST", "/contacts", data="{\"contact_name\": \"No type\"}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 201


@pytest.mark.parametrize("raw", ["{bad", "", "[1,", "{\"contact_name\": }", "\xff\xfe"])
def test_malformed_json_is_1038_never_500(books, raw):
    r = books.call("POST", "/contacts", data=raw, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.get_json() == {"code": 1038, "message": "JSON is not well formed"}
    assert books.get("/contacts").get_json()["contacts"] == []


def test_unknown_url_and_wrong_method(books):
    assert books.get("/widgets").get_json() == {"code": 5, "message": "Invalid URL Passed"}
    r = books.call("PATCH", "/contacts")
    assert r.status_code == 405 and r.get_json()["code"] == 37


def test_scope_without_contacts_access_is_refused(client):
    t = make_tenant(client, scopes=["ZohoBooks.settings.READ"])
    b = Books(client, t)
    assert b.get("/settings/currencies").status_code == 200
    assert b.get("/contacts").get_json()["code"] == 57
    assert b.post("/settings/taxes", {"tax_name": "X", "tax_percentage": 1}).get_json()["code"] == 57


def test_token_expires_after_3600_lab_seconds(client, books):
    client.post("/_lab/clock/freeze")
    assert books.get("/contacts").status_code == 200
    client.post("/_lab/clock/advance", json={"seconds": 3599})
    assert books.get("/contacts").status_code == 200
    client.post("/_lab/clock/advance", json={"seconds": 2})
    r = books.get("/contacts")
    assert r.status_code == 401 and r.get_json()["code"] == 57


# -- every property of Zoho's schemas (issue 14) --------------------------------------------------------


def test_answers_carry_every_property_of_zohos_schemas_with_empty_values(books):
    from fakes.books_api.spec_fields import keys

    c = new_contact(books)
    got = books.get(f"/contacts/{c['contact_id']}").get_json()["contact"]
    assert set(keys("contact")) <= set(got) and len(keys("contact")) == 52
    assert got["credit_limit"] == 0 and got["owner_id"] == "" and got["payment_reminder_enabled"] is False
    item = books.post("/items", {"name": "Visit", "rate": 80}).get_json()["item"]
    inv = books.post("/invoices", {"customer_id": c["contact_id"],
                                   "line_items": [{"item_id": item["item_id"], "quantity": 1}]}).get_json()["invoice"]
    assert set(keys("invoice")) <= set(inv) and len(keys("invoice")) == 70
    assert inv["invoice_url"] == "" and inv["template_id"] == "" and inv["salesperson_id"] == ""
    assert inv["payment_reminder_enabled"] is False and inv["total"] == 80  # ours are kept
    row = books.get("/invoices").get_json()["invoices"][0]
    assert set(keys("invoice_list")) <= set(row)
    assert set(keys("item_list")) <= set(books.get("/items").get_json()["items"][0])
    assert set(keys("contact_list")) <= set(books.get("/contacts").get_json()["contacts"][0])
    org = books.get(f"/organizations/{books.org}").get_json()["organization"]
    assert set(keys("organization")) <= set(org) and org["address"]["city"] == ""
    assert set(keys("currency_list")) <= set(books.get("/settings/currencies").get_json()["currencies"][0])
    # empty lists and objects are fresh per answer, never one shared default
    from fakes.books_api.spec_fields import complete

    one, two = complete("invoice", {}), complete("invoice", {})
    assert one["line_items"] == [] and one["line_items"] is not two["line_items"]


# -- users -----------------------------------------------------------------------------------------


def test_users_list_and_me_follow_the_users_spec(books):
    r = books.get("/users")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["code"] == 0 and body["message"] == "success"
    (u,) = body["users"]
    assert u["email"] == books.t.email and u["is_current_user"] is True and u["status"] == "active"
    assert u["user_role"] == "admin" and len(u["user_id"]) == 15 and u["user_id"] != u["role_id"]
    assert body["page_context"]["report_name"] == "Users" and body["page_context"]["has_more_page"] is False
    me = books.get("/users/me").get_json()["user"]
    assert me["user_id"] == u["user_id"] and me["email_ids"] == [{"email": books.t.email, "is_selected": True}]
    assert books.get(f"/users/{u['user_id']}").get_json()["user"]["name"] == me["name"]
    assert books.get("/users", params={"filter_by": "Status.Inactive"}).get_json()["users"] == []
    assert books.get("/users", params={"filter_by": "nope"}).status_code == 400
    assert books.get("/users/982000000554041").status_code == 404


# -- limits ----------------------------------------------------------------------------------------


def test_limits_are_off_by_default_yet_every_answer_carries_the_plans_headers(client, books):
    client.post("/_lab/clock/freeze", json={"at": "2026-05-01T14:00:00Z"})
    for _ in range(105):
        r = books.get("/settings/currencies")
    assert r.status_code == 200
    # real Books sends them on ordinary answers (Weble/ZohoBooksApi#38): the daily plan figure
    assert r.headers["X-Rate-Limit-Limit"] == "2000" and r.headers["X-Rate-Limit-Remaining"] == "2000"
    assert r.headers["X-Rate-Limit-Reset"] == str(10 * 3600)  # seconds to the day's end
    assert books.get("/contacts/404404").headers["X-Rate-Limit-Limit"] == "2000"  # errors too
    client.patch(f"/_lab/orgs/{books.org}", json={"edition": "professional"})
    assert books.get("/contacts").headers["X-Rate-Limit-Limit"] == "5000"


def test_per_minute_limit_44_without_retry_after_then_resets_on_the_lab_clock(client, books):
    client.post("/_lab/clock/freeze", json={"at": "2026-05-01T08:00:00Z"})
    client.patch(f"/_lab/orgs/{books.org}", json={"rate_limits": True})
    for i in range(100):
        r = books.get("/settings/currencies")
        assert r.status_code == 200, i
    assert r.headers["X-Rate-Limit-Limit"] == "2000"  # standard plan: 2000 a day
    assert int(r.headers["X-Rate-Limit-Remaining"]) == 1900
    r = books.get("/settings/currencies")
    assert r.status_code == 429 and r.get_json()["code"] == 44
    # real Books sends no Retry-After (docs/books.md, Sources settled); the limit headers still come
    assert "Retry-After" not in r.headers and r.headers["X-Rate-Limit-Limit"] == "2000"
    client.post("/_lab/clock/advance", json={"seconds": 60})
    assert books.get("/settings/currencies").status_code == 200


def test_daily_plan_limit_45(client, books):
    client.post("/_lab/clock/freeze", json={"at": "2026-05-01T00:00:00Z"})
    client.patch(f"/_lab/orgs/{books.org}", json={"rate_limits": True, "edition": "free"})
    n = 0
    for _minute in range(11):  # 1000 a day on the free plan, at most 100 a minute
        for _ in range(100):
            r = books.get("/settings/currencies")
            n += 1
            if r.status_code != 200:
                break
        if r.status_code != 200:
            break
        client.post("/_lab/clock/advance", json={"seconds": 60})
    assert n == 1001
    assert r.status_code == 429 and r.get_json() == {
        "code": 45, "message": "The API call for this organization has exceeded the maximum call rate limit of 1000."}
    assert "Retry-After" not in r.headers and int(r.headers["X-Rate-Limit-Reset"]) > 60
    client.post("/_lab/clock/advance", json={"seconds": 86400})
    assert books.get("/settings/currencies").status_code == 200


def test_fault_rule_fails_the_second_item_post_with_429_exactly_once(client, books):
    rule = client.post("/_lab/faults", json={"product": "books", "method": "POST", "path": "/books/v3/items",
                                             "nth": 2, "action": {"type": "rate_limit", "retry_after": 7}})
    assert rule.status_code == 201
    codes = [books.post("/items", {"name": f"Item {i}", "rate": 1}).status_code for i in range(4)]
    assert codes == [201, 429, 201, 201]
    assert len(books.get("/items").get_json()["items"]) == 3
    [f] = client.get("/_lab/faults").get_json()["faults"]
    assert f["matched"] == 4 and f["fired"] == 1
    entry = [e for e in client.get("/_lab/journal", query_string={"org": books.org, "status": 429}).get_json()["entries"]]
    assert entry and entry[0]["fault"]


def test_injected_429_is_the_books_envelope_with_retry_after(client, books):
    client.post("/_lab/faults", json={"product": "books", "path": "/books/v3/items*", "times": 1,
                                      "action": {"type": "rate_limit", "retry_after": 9}})
    r = books.get("/items")
    assert r.status_code == 429 and r.get_json()["code"] == 44 and r.headers["Retry-After"] == "9"
    assert books.get("/items").status_code == 200


# -- internal state ----------------------------------------------------------------------------------


def test_internal_settings_and_crm_integration(client, books):
    r = client.put(f"/_lab/books/orgs/{books.org}/crm-integration", json={"enabled": True, "sync_type": "III"})
    assert r.status_code == 200 and r.get_json()["sync_type"] == "III"
    assert client.put(f"/_lab/books/orgs/{books.org}/crm-integration", json={"sync_type": "V"}).status_code == 400
    assert client.put(f"/_lab/invoice/orgs/{books.org}/crm-integration", json={"enabled": True}).status_code == 404
    client.patch(f"/_lab/books/orgs/{books.org}/crm-integration", json={"sync_in_progress": True})
    new_contact(books, "Counted")
    s = books.get("/_internal/settings").get_json()["settings"]
    assert s["crm_integration"] == {"enabled": True, "sync_type": "III", "sync_in_progress": True, "crm_org_id": None}
    assert s["counts"] == {"customers": 1, "items": 0} and s["tax_enabled"] is False
    assert client.get("/books/v3/_internal/settings", query_string={"organization_id": books.org}).status_code == 401


def test_custom_fields_defined_then_written(client, books):
    r = client.post(f"/_lab/books/orgs/{books.org}/customfields", json={"entity": "contact", "label": "FSM Id"})
    assert r.status_code == 201
    cf = r.get_json()
    assert cf["api_name"] == "cf_fsm_id"
    c = new_contact(books, "Linked", custom_fields=[{"api_name": "cf_fsm_id", "value": "4560000000012345"}])
    assert c["custom_fields"][0]["value"] == "4560000000012345" and c["custom_fields"][0]["label"] == "FSM Id"
    assert books.post("/contacts", {"contact_name": "Y", "custom_fields": [{"label": "Nope", "value": 1}]}).get_json()["code"] == 4
    listed = books.get("/contacts").get_json()["contacts"][0]
    assert listed["custom_fields"][0]["customfield_id"] == cf["customfield_id"]


# -- seeding ------------------------------------------------------------------------------------------


def _dump(client, tenant):
    b = Books(client, tenant)
    rows = b.get("/contacts", params={"per_page": 200}).get_json()["contacts"]
    return [(r["contact_name"], r["email"], r["customer_sub_type"]) for r in rows]


def test_seeding_is_deterministic_by_seed_and_chunking(client):
    a, b, c = make_tenant(client), make_tenant(client), make_tenant(client)
    one = client.post("/_lab/seed", json={"org_id": a.orgs["books"], "modules": {"contacts": 40, "items": 10}, "seed": 5})
    assert one.status_code == 201 and one.get_json()["created"] == {"items": 10, "contacts": 40}
    for start in (0, 25):  # same records, made in two chunks
        client.post("/_lab/seed", json={"org_id": b.orgs["books"], "modules": {"contacts": 25 if start == 0 else 15},
                                        "seed": 5, "start": start})
    client.post("/_lab/seed", json={"org_id": c.orgs["books"], "modules": {"contacts": 40}, "seed": 6})
    assert _dump(client, a) == _dump(client, b)
    assert _dump(client, a) != _dump(client, c)
    assert len({n for n, _, _ in _dump(client, a)}) == 40  # display names stay unique


def test_seed_input_errors(client, tenant):
    org = tenant.orgs["books"]
    assert client.post("/_lab/seed", json={"org_id": org, "modules": {"widgets": 1}}).status_code == 400
    assert client.post("/_lab/seed", json={"org_id": org, "modules": {"contacts": 10001}}).status_code == 400
    assert client.post("/_lab/seed", json={"org_id": "1", "modules": {"contacts": 1}}).status_code == 404
    assert client.post("/_lab/seed", json={"modules": {"contacts": 1}}).status_code == 400
    assert "contacts" in client.get("/_lab/seed").get_json()["modules"]["books"]
