"""The fake Zoho CRM API, as a client written for real Zoho CRM sees it.

Runs on SQLite and PostgreSQL (the ``client``/``tenant`` fixtures are parametrised by backend);
the 2,000+ record paging test runs on SQLite only (seeding is the slow part on PostgreSQL).
"""

from __future__ import annotations

import pytest

from tests.conftest import Tenant, make_tenant


class Crm:
    """A thin test client: the token in the header, paths under /crm/<version>."""

    def __init__(self, client, tenant: Tenant, version: str = "v8") -> None:
        self.c = client
        self.t = tenant
        self.org = tenant.orgs["crm"]
        self.version = version

    def call(self, method: str, path: str, *, body=None, params=None, headers=None, version=None, **kw):
        root = f"/crm/{version or self.version}"
        return self.c.open(root + path, method=method, query_string=params, headers={**self.t.auth, **(headers or {})},
                           json=body, **kw)

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body=body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)

    def create(self, module: str, *records: dict, **kw) -> list[str]:
        r = self.post(f"/{module}", {"data": list(records), **kw})
        assert r.status_code == 201, r.get_json()
        return [e["details"]["id"] for e in r.get_json()["data"]]


@pytest.fixture
def crm(client, tenant) -> Crm:
    return Crm(client, tenant)


def refresh_token(client, t: Tenant) -> None:
    """A new access token (after the lab clock moved past the old one's hour)."""
    r = client.post("/oauth/v2/token", data={"grant_type": "refresh_token", "client_id": t.client_id,
                                             "client_secret": t.client_secret, "refresh_token": t.refresh_token})
    t.access_token = r.get_json()["access_token"]


def lab_patch_org(client, org_id: str, **body):
    r = client.patch(f"/_lab/orgs/{org_id}", json=body)
    assert r.status_code == 200, r.get_json()


# -- records ----------------------------------------------------------------------------------------


def test_create_answers_201_with_audit_details_and_19_digit_ids(crm):
    r = crm.post("/Contacts", {"data": [{"First_Name": "Ann", "Last_Name": "Lee", "Email": "ann@zylker.com"}]})
    assert r.status_code == 201
    assert r.content_type.startswith("application/json")
    entry = r.get_json()["data"][0]
    assert entry["code"] == "SUCCESS" and entry["status"] == "success" and entry["message"] == "record added"
    d = entry["details"]
    assert len(d["id"]) == 19 and d["id"].isdigit()
    assert set(d) == {"Modified_Time", "Modified_By", "Created_Time", "id", "Created_By"}
    # CRM datetime format in the org's time zone: 2021-05-02T11:17:33+05:30
    assert d["Created_Time"][-6] in "+-" and d["Created_Time"][-3] == ":"
    got = crm.get(f"/Contacts/{d['id']}").get_json()["data"][0]
    assert got["Full_Name"] == "Ann Lee" and got["Email"] == "ann@zylker.com"
    assert got["Owner"]["id"] and got["Created_By"]["name"]


def test_datetimes_follow_the_org_time_zone(client):
    t = make_tenant(client, time_zone="Asia/Kolkata")
    crm = Crm(client, t)
    [cid] = crm.create("Contacts", {"Last_Name": "Tz"})
    assert crm.get(f"/Contacts/{cid}").get_json()["data"][0]["Created_Time"].endswith("+05:30")


def test_batch_with_one_bad_record_answers_207(crm):
    r = crm.post("/Contacts", {"data": [{"Last_Name": "Good"}, {"First_Name": "No last name"},
                                        {"Last_Name": "Bad mail", "Email": "not-an-email"}]})
    assert r.status_code == 207
    d = r.get_json()["data"]
    assert d[0]["status"] == "success"
    assert d[1] == {"code": "MANDATORY_NOT_FOUND", "details": {"api_name": "Last_Name",
                                                                "json_path": "$.data[1].Last_Name"},
                    "message": "required field not found", "status": "error"}
    assert d[2]["code"] == "INVALID_DATA" and d[2]["details"]["api_name"] == "Email"
    assert d[2]["details"]["json_path"] == "$.data[2].Email"
    # all bad: 400, same per-record envelope
    r = crm.post("/Contacts", {"data": [{"First_Name": "x"}]})
    assert r.status_code == 400 and r.get_json()["data"][0]["code"] == "MANDATORY_NOT_FOUND"


def test_more_than_100_records_is_refused(crm):
    r = crm.post("/Contacts", {"data": [{"Last_Name": f"n{i}"} for i in range(101)]})
    assert r.status_code == 400
    assert r.get_json() == {"code": "LIMIT_EXCEEDED", "details": {"limit": 100}, "message": "Record count exceeded",
                            "status": "error"}
    r = crm.delete("/Contacts", params={"ids": ",".join(str(10**18 + i) for i in range(101))})
    assert r.status_code == 400 and r.get_json()["code"] == "LIMIT_EXCEEDED"


def test_update_single_and_bulk_and_delete(crm):
    a, b = crm.create("Contacts", {"Last_Name": "A"}, {"Last_Name": "B"})
    r = crm.put(f"/Contacts/{a}", {"data": [{"Phone": "555-0101"}]})
    assert r.status_code == 200 and r.get_json()["data"][0]["message"] == "record updated"
    r = crm.put("/Contacts", {"data": [{"id": a, "Title": "CEO"}, {"id": b, "Title": "CTO"}]})
    assert r.status_code == 200
    assert crm.get(f"/Contacts/{a}").get_json()["data"][0]["Title"] == "CEO"
    r = crm.put("/Contacts", {"data": [{"id": a, "Title": "x"}, {"Title": "no id"}, {"id": "123", "Title": "y"}]})
    assert r.status_code == 207
    assert [e["code"] for e in r.get_json()["data"]] == ["SUCCESS", "MANDATORY_NOT_FOUND", "INVALID_DATA"]
    r = crm.delete("/Contacts", params={"ids": f"{a},{b}"})
    assert r.status_code == 200
    assert [e["message"] for e in r.get_json()["data"]] == ["record deleted", "record deleted"]
    assert crm.get(f"/Contacts/{a}").status_code == 204
    assert crm.delete(f"/Contacts/{a}").status_code == 400  # already deleted


def test_lookups_show_the_display_name_and_must_exist(crm):
    [acc] = crm.create("Accounts", {"Account_Name": "Zylker"})
    [cid] = crm.create("Contacts", {"Last_Name": "Lee", "Account_Name": {"id": acc}})
    assert crm.get(f"/Contacts/{cid}").get_json()["data"][0]["Account_Name"] == {"name": "Zylker", "id": acc}
    r = crm.post("/Contacts", {"data": [{"Last_Name": "x", "Account_Name": {"id": "1234567890123456789"}}]})
    assert r.status_code == 400 and r.get_json()["data"][0]["details"]["api_name"] == "Account_Name"
    # Account_Name is unique in Accounts
    r = crm.post("/Accounts", {"data": [{"Account_Name": "Zylker"}]})
    assert r.get_json()["data"][0]["code"] == "DUPLICATE_DATA"
    dup = r.get_json()["data"][0]["details"]["duplicate_record"]
    assert dup["id"] == acc
    # module.id is the module's id as /settings/modules shows it, not "" (record.json Minified_Module)
    modules = {m["api_name"]: m["id"] for m in crm.get("/settings/modules").get_json()["modules"]}
    assert dup["module"] == {"api_name": "Accounts", "id": modules["Accounts"]} and modules["Accounts"]


def test_product_type_is_a_custom_picklist_service_or_goods(crm):
    [p] = crm.create("Products", {"Product_Name": "Install", "Type": "Service", "Unit_Price": 90})
    assert crm.get(f"/Products/{p}").get_json()["data"][0]["Type"] == "Service"
    r = crm.post("/Products", {"data": [{"Product_Name": "Bolt", "Type": "Part"}]})
    assert r.status_code == 400 and r.get_json()["data"][0]["details"]["api_name"] == "Type"
    fields = {f["api_name"]: f for f in crm.get("/settings/fields", params={"module": "Products"}).get_json()["fields"]}
    assert [v["actual_value"] for v in fields["Type"]["pick_list_values"]] == ["Service", "Goods"]
    assert fields["Type"]["custom_field"] is True


def test_sales_order_line_items_and_totals(crm):
    [acc] = crm.create("Accounts", {"Account_Name": "Buyer"})
    [p] = crm.create("Products", {"Product_Name": "Widget", "Unit_Price": 10})
    [so] = crm.create("Sales_Orders", {"Subject": "SO-1", "Account_Name": {"id": acc},
                                       "Ordered_Items": [{"Product_Name": {"id": p}, "Quantity": 3, "List_Price": 10}]})
    got = crm.get(f"/Sales_Orders/{so}").get_json()["data"][0]
    assert got["Ordered_Items"][0]["Product_Name"] == {"name": "Widget", "id": p}
    assert got["Sub_Total"] == 30 and got["Grand_Total"] == 30


# -- reading lists ---------------------------------------------------------------------------------


def test_fields_param_is_required_from_v3_on(crm):
    crm.create("Contacts", {"Last_Name": "Lee"})
    r = crm.get("/Contacts")
    assert r.status_code == 400
    assert r.get_json() == {"code": "REQUIRED_PARAM_MISSING", "details": {"param": "fields"},
                            "message": "One of the expected parameter is missing", "status": "error"}
    r = crm.get("/Contacts", version="v2")
    assert r.status_code == 200 and r.get_json()["data"][0]["Last_Name"] == "Lee"
    r = crm.get("/Contacts", params={"fields": ",".join(f"F{i}" for i in range(51))})
    assert r.status_code == 400 and r.get_json()["code"] == "LIMIT_EXCEEDED"
    data = crm.get("/Contacts", params={"fields": "Last_Name,Email"}).get_json()["data"]
    assert set(data[0]) == {"id", "Last_Name", "Email"}


def test_every_version_serves_records(crm):
    [cid] = crm.create("Contacts", {"Last_Name": "V"})
    for version in ("v2", "v3", "v4", "v5", "v6", "v7", "v8"):
        r = crm.get(f"/Contacts/{cid}", version=version)
        assert r.status_code == 200 and r.get_json()["data"][0]["id"] == cid, version
        info = crm.get("/Contacts", version=version, params={"fields": "Last_Name"}).get_json()["info"]
        assert ("next_page_token" in info) == (version not in ("v2", "v3", "v4")), version
    assert crm.c.get("/crm/v9/Contacts", headers=crm.t.auth).status_code == 404


def test_empty_lists_answer_204_with_no_body(crm):
    for path, params in [("/Contacts", {"fields": "Last_Name"}), ("/Contacts/search", {"word": "nobody"}),
                         ("/Contacts/deleted", None), ("/actions/watch", None)]:
        r = crm.get(path, params=params)
        assert r.status_code == 204 and r.get_data() == b"", path


def test_sorting_and_info_block(crm):
    ids = crm.create("Contacts", *[{"Last_Name": f"n{i}"} for i in range(5)])
    body = crm.get("/Contacts", params={"fields": "Last_Name", "sort_by": "id", "sort_order": "asc",
                                        "per_page": 2}).get_json()
    assert [d["id"] for d in body["data"]] == sorted(ids)[:2]
    info = body["info"]
    assert info["per_page"] == 2 and info["count"] == 2 and info["page"] == 1 and info["more_records"] is True
    assert info["sort_by"] == "id" and info["sort_order"] == "asc"
    assert isinstance(info["next_page_token"], str) and info["page_token_expiry"]
    desc = crm.get("/Contacts", params={"fields": "Last_Name", "sort_by": "Created_Time",
                                        "sort_order": "desc"}).get_json()["data"]
    assert len(desc) == 5
    r = crm.get("/Contacts", params={"fields": "Last_Name", "sort_by": "Last_Name"})
    assert r.status_code == 400 and r.get_json()["details"]["param_name"] == "sort_by"


def test_if_modified_since_answers_304_or_only_newer_records(client, crm):
    client.post("/_lab/clock/freeze", json={"at": "2026-03-01T10:00:00Z"})
    [old] = crm.create("Contacts", {"Last_Name": "Old"})
    client.post("/_lab/clock/advance", json={"seconds": 1800})
    h = {"If-Modified-Since": "2026-03-01T10:15:00+00:00"}
    r = crm.get("/Contacts", params={"fields": "Last_Name"}, headers=h)
    assert r.status_code == 304 and r.get_data() == b""
    assert crm.get(f"/Contacts/{old}", headers=h).status_code == 304
    [new] = crm.create("Contacts", {"Last_Name": "New"})
    r = crm.get("/Contacts", params={"fields": "Last_Name"}, headers=h)
    assert r.status_code == 200 and [d["id"] for d in r.get_json()["data"]] == [new]
    r = crm.get("/Contacts", params={"fields": "Last_Name"}, headers={"If-Modified-Since": "Sun, 01 Mar 2026 10:15:00 GMT"})
    assert r.status_code == 200
    r = crm.get("/Contacts", params={"fields": "Last_Name"}, headers={"If-Modified-Since": "yesterday"})
    assert r.status_code == 400 and r.get_json()["code"] == "INVALID_DATA"


def test_page_reaches_2000_records_then_page_token_goes_on(sqlite_app):
    client = sqlite_app.test_client()
    t = make_tenant(client)
    crm = Crm(client, t)
    r = client.post("/_lab/seed", json={"org_id": t.orgs["crm"], "modules": {"contacts": 2150}, "seed": 7})
    assert r.status_code == 201 and r.get_json()["created"] == {"contacts": 2150}
    q = {"fields": "Last_Name", "sort_by": "id", "sort_order": "asc", "per_page": 200}
    seen: list[str] = []
    token = None
    for page in range(1, 11):
        body = crm.get("/Contacts", params={**q, "page": page}).get_json()
        seen += [d["id"] for d in body["data"]]
        token = body["info"]["next_page_token"]
    assert len(seen) == 2000 and body["info"]["more_records"] is True
    r = crm.get("/Contacts", params={**q, "page": 11})
    assert r.status_code == 400
    assert r.get_json() == {"code": "DISCRETE_PAGINATION_LIMIT_EXCEEDED", "details": {"limit": 2000},
                            "message": "You can only get the first 2000 records without using page_token param.",
                            "status": "error"}
    r = crm.get("/Contacts", params={"fields": "Last_Name", "page_token": token, "page": 11})
    assert r.get_json()["code"] == "AMBIGUITY_DURING_PROCESSING"
    body = crm.get("/Contacts", params={"fields": "Last_Name", "page_token": token}).get_json()
    seen += [d["id"] for d in body["data"]]
    assert body["info"]["more_records"] is False and body["info"]["next_page_token"] is None
    assert len(seen) == 2150 == len(set(seen)) and seen == sorted(seen)
    # a token from another module, a forged one, and an expired one are refused
    assert crm.get("/Accounts", params={"fields": "Account_Name", "page_token": token}).status_code == 400
    forged = token[:-1] + ("1" if token[-1] != "1" else "2")  # always differs from the real signature
    assert crm.get("/Contacts", params={"fields": "Last_Name", "page_token": forged}).status_code == 400
    client.post("/_lab/clock/advance", json={"seconds": 24 * 3600 + 1})
    refresh_token(client, t)
    r = crm.get("/Contacts", params={"fields": "Last_Name", "page_token": token})
    assert r.status_code == 400 and r.get_json()["details"]["param_name"] == "page_token"


def test_page_tokens_work_across_workers(sqlite_url):
    """Tokens are stateless (HMAC keyed by the lab seed): another app on the same database reads them."""
    from fakes import create_app

    a, b = create_app(sqlite_url, seed=3), create_app(sqlite_url, seed=3)
    try:
        ca, cb = a.test_client(), b.test_client()
        t = make_tenant(ca)
        crm_a, crm_b = Crm(ca, t), Crm(cb, t)
        crm_a.create("Contacts", *[{"Last_Name": f"n{i}"} for i in range(5)])
        q = {"fields": "Last_Name", "sort_by": "id", "sort_order": "asc", "per_page": 2}
        first = crm_a.get("/Contacts", params=q).get_json()
        second = crm_b.get("/Contacts", params={"fields": "Last_Name",
                                                "page_token": first["info"]["next_page_token"]}).get_json()
        assert second["info"]["page"] == 2 and len(second["data"]) == 2
        assert {d["id"] for d in first["data"]}.isdisjoint(d["id"] for d in second["data"])
    finally:
        a.extensions["zlab"].db.dispose()
        b.extensions["zlab"].db.dispose()


# -- upsert, deleted, search, count, COQL ----------------------------------------------------------------


def test_upsert_uses_duplicate_check_fields(crm):
    [cid] = crm.create("Contacts", {"Last_Name": "Lee", "Email": "ann@zylker.com"})
    r = crm.post("/Contacts/upsert", {"data": [{"Last_Name": "Lee", "Email": "ANN@zylker.com", "Title": "CEO"},
                                               {"Last_Name": "New", "Email": "new@zylker.com"}]})
    assert r.status_code == 200
    d = r.get_json()["data"]
    assert (d[0]["action"], d[0]["duplicate_field"], d[0]["details"]["id"]) == ("update", "Email", cid)
    assert d[0]["message"] == "record updated"
    assert (d[1]["action"], d[1]["duplicate_field"], d[1]["message"]) == ("insert", None, "record added")
    r = crm.post("/Contacts/upsert", {"data": [{"Last_Name": "Lee", "Phone": "1"}],
                                      "duplicate_check_fields": ["Last_Name"]})
    assert r.get_json()["data"][0]["details"]["id"] == cid
    r = crm.post("/Contacts/upsert", {"data": [{"Last_Name": "x"}], "duplicate_check_fields": ["Nope"]})
    assert r.status_code == 400 and r.get_json()["code"] == "INVALID_DATA"


def test_deleted_records_recycle_then_permanent(client, crm):
    client.post("/_lab/clock/freeze", json={"at": "2026-01-01T00:00:00Z"})
    a, b = crm.create("Contacts", {"First_Name": "Ann", "Last_Name": "Lee"}, {"Last_Name": "Bo"})
    crm.delete(f"/Contacts/{a}")
    body = crm.get("/Contacts/deleted", params={"type": "recycle"}).get_json()
    row = body["data"][0]
    assert (row["id"], row["display_name"], row["type"]) == (a, "Ann Lee", "recycle")
    assert row["deleted_by"]["id"] and row["created_by"]["id"] and row["deleted_time"].startswith("2026-01-01")
    client.post("/_lab/clock/advance", json={"seconds": 61 * 86400})
    refresh_token(client, crm.t)
    crm.delete(f"/Contacts/{b}")
    assert [r["id"] for r in crm.get("/Contacts/deleted", params={"type": "permanent"}).get_json()["data"]] == [a]
    assert [r["id"] for r in crm.get("/Contacts/deleted", params={"type": "recycle"}).get_json()["data"]] == [b]
    assert len(crm.get("/Contacts/deleted").get_json()["data"]) == 2
    assert crm.get("/Contacts/deleted", params={"type": "bogus"}).status_code == 400


def test_search_by_criteria_email_phone_word(crm):
    crm.create("Contacts", {"First_Name": "Ann", "Last_Name": "Lee", "Email": "ann@zylker.com", "Phone": "555-0101"},
               {"First_Name": "Bob", "Last_Name": "Burns, Jr", "Email": "bob@acme.com", "Mobile": "555-0202"},
               {"First_Name": "Cy", "Last_Name": "Lemon", "Email": "cy@acme.com"})

    def names(**params):
        r = crm.get("/Contacts/search", params=params)
        return sorted(d["Last_Name"] for d in r.get_json()["data"]) if r.status_code == 200 else r.status_code

    assert names(criteria="(Last_Name:starts_with:Le)") == ["Lee", "Lemon"]
    assert names(criteria="((Last_Name:starts_with:Le)and(Email:equals:cy@acme.com))") == ["Lemon"]
    assert names(criteria="((Last_Name:equals:Lee)or(Last_Name:equals:Burns\\, Jr))") == ["Burns, Jr", "Lee"]
    assert names(criteria="(Last_Name:in:Lee,Lemon)") == ["Lee", "Lemon"]
    assert names(email="bob@acme.com") == ["Burns, Jr"]
    assert names(phone="555-0202") == ["Burns, Jr"]
    assert names(word="acme") == ["Burns, Jr", "Lemon"]
    # criteria wins over email, email over word
    assert names(criteria="(Last_Name:equals:Lee)", email="bob@acme.com") == ["Lee"]
    assert names(criteria="(Last_Name:equals:Nobody)") == 204
    r = crm.get("/Contacts/search", params={"criteria": "(Last_Name:bogus_op:x)"})
    assert r.status_code == 400 and r.get_json()["code"] == "INVALID_QUERY"
    r = crm.get("/Contacts/search", params={"criteria": "Last_Name:equals:x"})
    assert r.status_code == 400 and r.get_json()["code"] == "INVALID_QUERY"
    r = crm.get("/Contacts/search")
    assert r.status_code == 400 and r.get_json()["code"] == "REQUIRED_PARAM_MISSING"


def test_count(crm):
    crm.create("Contacts", {"Last_Name": "Lee"}, {"Last_Name": "Lemon"}, {"Last_Name": "Bo"})
    assert crm.get("/Contacts/actions/count").get_json() == {"count": 3}
    assert crm.get("/Contacts/actions/count", params={"criteria": "(Last_Name:starts_with:Le)"}).get_json() == {"count": 2}
    assert crm.get("/Accounts/actions/count").get_json() == {"count": 0}


def test_coql(crm):
    [acc] = crm.create("Accounts", {"Account_Name": "Zylker", "Employees": 50})
    crm.create("Contacts", {"Last_Name": "Lee", "Email": "ann@zylker.com", "Account_Name": {"id": acc}},
               {"Last_Name": "Lemon", "Email": "cy@acme.com"}, {"Last_Name": "Bo"})

    def q(text):
        return crm.post("/coql", {"select_query": text})

    r = q("select Last_Name, Email, Account_Name, Account_Name.Account_Name from Contacts "
          "where Last_Name like 'Le%' order by Last_Name desc limit 10")
    assert r.status_code == 200
    body = r.get_json()
    assert [d["Last_Name"] for d in body["data"]] == ["Lemon", "Lee"]
    lee = body["data"][1]
    assert lee["Account_Name"] == {"id": acc} and lee["Account_Name.Account_Name"] == "Zylker" and lee["id"]
    assert body["info"] == {"count": 2, "more_records": False}
    assert len(q("select Last_Name from Contacts where (Email is null or Email like '%acme%') "
                 "limit 0, 1").get_json()["data"]) == 1
    assert len(q("select Last_Name from Contacts where Last_Name in ('Lee', 'Bo') limit 1 offset 1")
               .get_json()["data"]) == 1
    assert q("select Last_Name from Contacts where Account_Name.Account_Name = 'Zylker'").get_json()["data"][0][
        "Last_Name"] == "Lee"
    assert q("select Account_Name from Accounts where Employees between 10 and 100").status_code == 200
    assert q("select Last_Name from Contacts where Last_Name = 'Nobody'").status_code == 204
    bad = q("select Nope from Contacts where Last_Name = 'x'")
    assert bad.status_code == 400 and bad.get_json()["code"] == "INVALID_QUERY"
    assert q("select Last_Name Contacts").get_json()["code"] == "SYNTAX_ERROR"
    assert q("select Last_Name from Leads where Last_Name = 'x'").status_code == 400
    assert q("select Last_Name from Contacts where Last_Name = 'x' limit 5000").get_json()["code"] == "LIMIT_EXCEEDED"
    assert crm.post("/coql", {"query": "x"}).get_json()["code"] == "REQUIRED_PARAM_MISSING"


# -- metadata, users, org --------------------------------------------------------------------------------


def test_field_metadata_is_complete_and_marks_personal_data(crm):
    r = crm.get("/settings/fields", params={"module": "Contacts"})
    fields = {f["api_name"]: f for f in r.get_json()["fields"]}
    assert fields["Last_Name"]["system_mandatory"] is True and fields["First_Name"]["system_mandatory"] is False
    assert fields["Account_Name"]["lookup"]["module"]["api_name"] == "Accounts"
    assert fields["Email"]["private"] == {"restricted": True, "export": False, "type": "low"}
    assert fields["Date_of_Birth"]["private"]["type"] == "high"
    assert fields["Title"]["private"] is None
    assert [v["actual_value"] for v in fields["Salutation"]["pick_list_values"]][:2] == ["-None-", "Mr."]
    assert len({f["id"] for f in fields.values()}) == len(fields)
    assert crm.get("/settings/fields").get_json()["code"] == "REQUIRED_PARAM_MISSING"
    assert crm.get("/settings/fields", params={"module": "Leads"}).get_json()["code"] == "INVALID_MODULE"
    one = crm.get(f"/settings/fields/{fields['Email']['id']}", params={"module": "Contacts"}).get_json()
    assert one["fields"][0]["api_name"] == "Email"


def test_every_seeded_picklist_value_is_in_the_metadata(client, crm):
    r = client.post("/_lab/seed", json={"org_id": crm.org, "seed": 1, "modules": {
        "products": 20, "accounts": 10, "contacts": 20, "deals": 20, "sales_orders": 10}})
    assert r.status_code == 201
    for module in ("Products", "Accounts", "Contacts", "Deals", "Sales_Orders"):
        meta = crm.get("/settings/fields", params={"module": module}).get_json()["fields"]
        picks = {f["api_name"]: {v["actual_value"] for v in f["pick_list_values"]} for f in meta
                 if f["data_type"] == "picklist"}
        rows = crm.get(f"/{module}", version="v2").get_json()["data"]
        assert rows
        for row in rows:
            for name, allowed in picks.items():
                assert row.get(name) is None or row[name] in allowed, (module, name, row[name])


def test_modules_users_org(crm):
    mods = crm.get("/settings/modules").get_json()["modules"]
    assert [m["api_name"] for m in mods] == ["Accounts", "Contacts", "Products", "Deals", "Sales_Orders"]
    one = crm.get("/settings/modules/Contacts").get_json()["modules"][0]
    assert one["api_name"] == "Contacts" and one["id"] == mods[1]["id"]
    me = crm.get("/users", params={"type": "CurrentUser"}).get_json()
    assert me["users"][0]["email"] == crm.t.email and me["info"]["count"] == 1
    org = crm.get("/org").get_json()["org"][0]
    assert org["zgid"] == crm.org and org["currency"] == "USD"
    assert org["license_details"]["paid_type"] == "Standard"


def test_user_and_org_ids_are_record_ids_distinct_from_zuid_and_zgid(crm):
    """Real CRM: user id 1386586000000078001 vs zuid 400000; org id 2019230000000452658 vs zgid
    74822955 (issue 14). Created_By, Modified_By and Owner carry the user's record id."""
    me = crm.get("/users", params={"type": "CurrentUser"}).get_json()["users"][0]
    assert me["id"] != me["zuid"] and len(me["id"]) == 19 and me["id"].endswith(me["zuid"])
    org = crm.get("/org").get_json()["org"][0]
    assert org["id"] != org["zgid"] and len(org["id"]) == 19 and org["primary_zuid"] == me["zuid"]
    assert crm.get(f"/users/{me['id']}").get_json()["users"][0]["zuid"] == me["zuid"]
    r = crm.post("/Contacts", {"data": [{"Last_Name": "Ids", "Owner": {"id": me["id"]}}]})
    details = r.get_json()["data"][0]["details"]
    assert details["Created_By"]["id"] == me["id"] and details["Modified_By"]["id"] == me["id"]
    rec = crm.get(f"/Contacts/{details['id']}").get_json()["data"][0]
    assert rec["Owner"]["id"] == rec["Created_By"]["id"] == rec["Modified_By"]["id"] == me["id"]
    found = crm.get("/Contacts/search", params={"criteria": f"(Owner:equals:{me['id']})"}).get_json()["data"]
    assert [x["id"] for x in found] == [details["id"]]


# -- auth, scopes, limits ----------------------------------------------------------------------------------


def test_bad_tokens_answer_401_invalid_token(crm):
    r = crm.get("/Contacts", params={"fields": "Last_Name"}, headers={"Authorization": "Zoho-oauthtoken 1000.x.y"})
    assert r.status_code == 401
    assert r.get_json() == {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    r = crm.c.get("/crm/v8/Contacts?fields=Last_Name")
    assert r.status_code == 401 and r.get_json()["code"] == "AUTHENTICATION_FAILURE"


def test_expired_token_is_invalid(client, crm):
    client.post("/_lab/clock/advance", json={"seconds": 3601})
    assert crm.get("/org").get_json()["code"] == "INVALID_TOKEN"


def test_scopes_are_checked_per_module_and_operation(client):
    t = make_tenant(client, scopes=["ZohoCRM.modules.contacts.READ", "ZohoCRM.settings.fields.READ"])
    crm = Crm(client, t)
    assert crm.get("/Contacts", params={"fields": "Last_Name"}).status_code == 204
    assert crm.get("/settings/fields", params={"module": "Contacts"}).status_code == 200
    for r in (crm.post("/Contacts", {"data": [{"Last_Name": "x"}]}), crm.get("/Accounts", params={"fields": "x"}),
              crm.get("/users"), crm.post("/coql", {"select_query": "x"}), crm.get("/actions/watch")):
        assert r.status_code == 401 and r.get_json()["code"] == "OAUTH_SCOPE_MISMATCH"


def test_limit_headers_on_every_answer_with_limits_off(client, crm):
    client.post("/_lab/clock/freeze", json={"at": "2026-02-01T09:30:00Z"})
    r = crm.get("/org")  # limits off: the edition's credits shown, none counted
    assert r.headers["X-RATELIMIT-LIMIT"] == r.headers["X-RATELIMIT-REMAINING"]
    assert int(r.headers["X-RATELIMIT-LIMIT"]) >= 50000 and r.headers["X-RATELIMIT-RESET"] == "1800"
    assert crm.get("/Nope", params={"fields": "x"}).headers["X-RATELIMIT-LIMIT"]  # errors too


def test_credits_run_out_with_429_and_come_back_after_24_hours(client, crm):
    client.post("/_lab/clock/freeze", json={"at": "2026-02-01T09:00:00Z"})
    lab_patch_org(client, crm.org, rate_limits=True, settings={"credits_limit": 3})
    r = crm.get("/org")
    assert r.status_code == 200
    assert (r.headers["X-RATELIMIT-LIMIT"], r.headers["X-RATELIMIT-REMAINING"]) == ("3", "2")
    assert crm.get("/org").status_code == 200
    client.post("/_lab/clock/advance", json={"seconds": 12 * 3600})  # 21:00
    refresh_token(client, crm.t)
    assert crm.get("/org").status_code == 200
    r = crm.get("/org")
    assert r.status_code == 429
    assert r.get_json() == {"code": "TOO_MANY_REQUESTS", "details": {}, "message": "too many requests continuously",
                            "status": "error"}
    assert int(r.headers["Retry-After"]) > 0
    # a rolling 24 h: at 10:00 next day the 9:00 credits are free again, the 21:00 ones are not
    client.post("/_lab/clock/advance", json={"seconds": 13 * 3600})
    refresh_token(client, crm.t)
    assert crm.get("/org").status_code == 200
    assert crm.get("/org").status_code == 429


def test_credits_per_edition():
    from fakes.core.tenants import Org
    from fakes.crm_api import limits_for
    from fakes.crm_api import metadata as md

    assert md.credits("free") == 5000 and md.credits("standard") == 50_250 and md.credits("enterprise") == 51_000
    assert md.credits("standard", {"user_licenses": 1000}) == 100_000  # Standard's maximum
    assert [md.concurrency(e) for e in ("free", "standard", "professional", "enterprise", "ultimate")] == \
        [5, 10, 15, 20, 25]
    rules = {r.name: r for r in limits_for(Org(id="1", product="crm", name="x", edition="ultimate", owner_id="u",
                                              currency_code="USD", time_zone="UTC"))}
    assert rules["concurrency"].limit == 25 and rules["credits"].window == 86400 and rules["credits"].slots == 24


def test_concurrency_limit_answers_429(client, crm):
    lab = client.application.extensions["zlab"]
    lab_patch_org(client, crm.org, rate_limits=True, edition="free")
    for _ in range(5):  # five calls of this org in flight
        lab.counters.gauge(f"rl:{crm.org}:concurrency", 1)
    try:
        r = crm.get("/org")
        assert r.status_code == 429 and r.get_json()["code"] == "TOO_MANY_REQUESTS"
    finally:
        for _ in range(5):
            lab.counters.gauge(f"rl:{crm.org}:concurrency", -1)
    assert crm.get("/org").status_code == 200


# -- workflows and the trigger array ---------------------------------------------------------------------


def test_trigger_array_controls_workflow_rules(client, crm):
    r = client.post("/_lab/workflows", json={"org_id": crm.org, "module": "Contacts", "event": "create",
                                             "action": {"type": "field_update", "field": "Title", "value": "Lead"}})
    assert r.status_code == 201
    [a] = crm.create("Contacts", {"Last_Name": "Runs"})
    [b] = crm.create("Contacts", {"Last_Name": "Quiet"}, trigger=[])
    [c] = crm.create("Contacts", {"Last_Name": "Named"}, trigger=["workflow"])
    titles = {i: crm.get(f"/Contacts/{i}").get_json()["data"][0]["Title"] for i in (a, b, c)}
    assert titles == {a: "Lead", b: None, c: "Lead"}
    runs = client.get("/_lab/workflows/runs", query_string={"org_id": crm.org}).get_json()["runs"]
    assert sorted(r["record_id"] for r in runs) == sorted([a, c])


# -- internal surface ----------------------------------------------------------------------------------------


def test_internal_settings_read_with_oauth_and_set_on_the_lab(client, crm):
    base = f"/_lab/crm/orgs/{crm.org}"
    r = client.put(f"{base}/books-integration", json={"linked_org_id": "60001", "product": "invoice",
                                                      "sync_type": "III", "sync_in_progress": True})
    assert r.status_code == 200
    assert client.put(f"{base}/books-integration", json={"sync_type": "V"}).status_code == 400
    r = client.patch(f"{base}/data-transfer", json={"Contacts": {"level": "sensitive",
                                                                 "fields": {"Mobile": "sensitive", "Phone": "none"}}})
    assert r.status_code == 200
    assert client.patch(f"{base}/data-transfer", json={"Leads": {"level": "normal"}}).status_code == 400
    assert client.post(f"{base}/extensions", json={"name": "Zoho Books", "profiles": ["Administrator"]}).status_code == 201
    assert client.post(f"{base}/extensions", json={"name": "x", "profiles": 5}).status_code == 400
    lab_patch_org(client, crm.org, edition="enterprise")
    s = crm.get("/_internal/settings").get_json()["settings"]
    assert s["edition"] == "enterprise"
    assert s["books_integration"] == {"enabled": True, "linked_org_id": "60001", "product": "invoice",
                                      "sync_type": "III", "sync_in_progress": True}
    contacts = s["restrict_data_transfer"]["Contacts"]
    assert contacts["level"] == "sensitive" and contacts["fields"]["Mobile"] == "sensitive"
    assert "Phone" not in contacts["fields"] and contacts["restricted_fields"] == ["Date_of_Birth", "Mobile"]
    assert s["extensions"] == [{"name": "Zoho Books", "namespace": "zohobooks", "profiles": ["Administrator"]}]
    assert s["limits"]["concurrency"] == 20
    # the field metadata shows the org's marks
    fields = {f["api_name"]: f for f in crm.get("/settings/fields", params={"module": "Contacts"}).get_json()["fields"]}
    assert fields["Mobile"]["private"]["type"] == "high" and fields["Phone"]["private"] is None
    assert client.delete(f"{base}/extensions/Zoho Books").status_code == 200
    assert client.get("/_lab/crm/orgs/1/books-integration").status_code == 404


# -- seeding ---------------------------------------------------------------------------------------------------


def test_seeding_is_deterministic_by_seed(client):
    def seeded():
        t = make_tenant(client)
        r = client.post("/_lab/seed", json={"org_id": t.orgs["crm"], "seed": 42, "modules": {
            "products": 5, "accounts": 5, "contacts": 10, "deals": 5, "sales_orders": 3}})
        assert r.status_code == 201
        assert r.get_json()["created"] == {"products": 5, "accounts": 5, "contacts": 10, "deals": 5, "sales_orders": 3}
        crm = Crm(client, t)
        rows = crm.get("/Contacts", params={"fields": "Last_Name,Email,Account_Name", "sort_by": "id",
                                            "sort_order": "asc"}).get_json()["data"]
        return [(r["Last_Name"], r["Email"], (r["Account_Name"] or {}).get("name")) for r in rows]

    first, second = seeded(), seeded()
    assert first == second and len(first) == 10
    assert client.get("/_lab/seed").get_json()["modules"]["crm"] == sorted(
        ["products", "accounts", "contacts", "deals", "sales_orders"])


# -- malformed input ------------------------------------------------------------------------------------------


MALFORMED = [
    ("POST", "/Contacts", {"data": "{not json"}),
    ("POST", "/Contacts", {"json": {"data": {"Last_Name": "x"}}}),
    ("POST", "/Contacts", {"json": {"data": []}}),
    ("POST", "/Contacts", {"json": ["x"]}),
    ("POST", "/Contacts", {"json": {"data": [{"Last_Name": 5}]}}),
    ("POST", "/Contacts", {"json": {"data": ["x", None, 3]}}),
    ("POST", "/Contacts", {"json": {"data": [{"Last_Name": "x"}], "trigger": "workflow"}}),
    ("POST", "/Deals", {"json": {"data": [{"Deal_Name": "x", "Stage": "Qualification", "Closing_Date": "31/12/2026",
                                           "Amount": "lots"}]}}),
    ("PUT", "/Contacts/abc", {"json": {"data": [{"Last_Name": "x"}]}}),
    ("GET", "/Contacts/abc", {}),
    ("GET", "/Contacts/99999999999999999999999999999999999", {}),
    ("GET", "/Unknown", {}),
    ("DELETE", "/Contacts", {}),
    ("GET", "/Contacts?fields=Last_Name&page=-1", {}),
    ("GET", "/Contacts?fields=Last_Name&per_page=abc", {}),
    ("GET", "/Contacts?fields=Last_Name&page_token=garbage", {}),
    ("GET", "/Contacts?fields=Last_Name&sort_order=up", {}),
    ("GET", "/Contacts/search?criteria=((((", {}),
    ("GET", "/Contacts/search?criteria=(Created_Time:greater_than:notadate)", {}),
    ("GET", "/Contacts/search?criteria=(Email_Opt_Out:starts_with:x)", {}),
    ("POST", "/coql", {"json": {"select_query": 5}}),
    ("POST", "/coql", {"json": {"select_query": "select Last_Name from Contacts where Created_Time > 'x'"}}),
    ("POST", "/actions/watch", {"json": {"watch": [{"channel_id": "abc", "events": ["Contacts.all"],
                                                     "notify_url": "http://x"}]}}),
    ("POST", "/actions/watch", {"json": {"watch": [{"channel_id": 1, "events": ["Leads.all"],
                                                     "notify_url": "http://x"}]}}),
    ("POST", "/actions/watch", {"json": {"watch": [{"channel_id": 1, "events": ["Contacts.all"],
                                                     "notify_url": "http://x", "channel_expiry": "2099-01-01T00:00:00Z"}]}}),
    ("DELETE", "/actions/watch?channel_ids=5", {}),
    ("POST", "/Contacts/upsert", {"json": {"data": [{"Last_Name": "x"}], "duplicate_check_fields": "Email"}}),
]


def test_malformed_input_gets_a_4xx_zoho_envelope(crm):
    for method, path, kw in MALFORMED:
        r = crm.c.open("/crm/v8" + path, method=method, headers=crm.t.auth, **kw)
        assert 400 <= r.status_code < 500, (method, path, r.get_data(as_text=True))
        body = r.get_json()
        entry = body if "code" in body else (body.get("data") or body.get("watch"))[0]
        assert entry["status"] == "error" and isinstance(entry["code"], str) and isinstance(entry["message"], str)
