"""Tenants and orgs through the control API (``/_lab/tenants``, ``/_lab/orgs``), and how the
auth/org layer of the chain sees them."""

from __future__ import annotations

import pytest

from fakes.core.tenants import DEFAULT_EDITION, EDITIONS, PRODUCTS
from tests.core.probe import build_probe_app, call, new_tenant


def test_empty_body_creates_a_tenant_with_one_org_per_served_product(c):
    r = c.post("/_lab/tenants", json={})
    assert r.status_code == 201
    t = r.get_json()
    for key in ("email", "client_id", "client_secret", "refresh_token", "user_id"):
        assert isinstance(t[key], str) and t[key]
    assert "@" in t["email"]
    assert t["client_id"].startswith("1000.") and t["refresh_token"].startswith("1000.")
    assert set(t["orgs"]) == {"crm", "fsm"}
    assert all(v.isdigit() for v in t["orgs"].values())
    assert t["api_domain"] == "http://localhost"
    for product, details in t["org_details"].items():
        assert details["id"] == t["orgs"][product]
        assert details["edition"] == DEFAULT_EDITION and details["edition"] != "free"
        assert details["currency_code"] == "USD" and details["time_zone"] == "UTC"
        assert details["rate_limits"] is False and details["active"] is True
    # no body at all is the same as an empty one
    r = c.post("/_lab/tenants")
    assert r.status_code == 201 and set(r.get_json()["orgs"]) == {"crm", "fsm"}


def test_create_app_serves_every_product_it_has(client, fakes_app):
    """The real app factory: one org per product the server serves (books brings invoice)."""
    r = client.post("/_lab/tenants", json={})
    assert r.status_code == 201
    served = {p for p in PRODUCTS if p in fakes_app.extensions["zlab"].products}
    assert {"books", "invoice"} <= served
    assert set(r.get_json()["orgs"]) == served


def test_options_choose_products_editions_zone_currencies_tax_limits(c):
    r = c.post("/_lab/tenants", json={
        "email": "Owner@Example.com", "name": "Asha Rao", "company": "Rao Traders",
        "products": ["crm", "fsm"], "editions": {"crm": "enterprise", "fsm": "premium"},
        "time_zone": "Asia/Kolkata", "currency_code": "inr", "currencies": ["eur", "INR", "usd"],
        "tax_enabled": True, "rate_limits": True,
        "orgs": {"fsm": {"name": "Rao Field Service", "edition": "free", "settings": {"pii_api_access": False}}},
    })
    assert r.status_code == 201, r.get_data(as_text=True)
    t = r.get_json()
    assert t["email"] == "Owner@Example.com" and t["name"] == "Asha Rao"
    crm, fsm = t["org_details"]["crm"], t["org_details"]["fsm"]
    assert crm["edition"] == "enterprise" and crm["name"] == "Rao Traders"  # company names the orgs
    assert fsm["edition"] == "free" and fsm["name"] == "Rao Field Service"  # per-org options win
    assert fsm["settings"] == {"pii_api_access": False} and crm["settings"] == {}
    for org in (crm, fsm):
        assert org["time_zone"] == "Asia/Kolkata" and org["currency_code"] == "INR"
        assert org["currencies"] == ["EUR", "USD"]  # the base currency is not repeated
        assert org["tax_enabled"] is True and org["rate_limits"] is True
    # the stored org says the same
    assert c.get(f"/_lab/orgs/{t['orgs']['crm']}").get_json() == crm


def test_products_subset(c):
    t = c.post("/_lab/tenants", json={"products": ["fsm"]}).get_json()
    assert list(t["orgs"]) == ["fsm"]


@pytest.mark.parametrize("body, words", [
    ({"colour": "red"}, ["colour"]),
    ({"products": ["salesforce"]}, ["products"]),
    ({"products": "crm"}, ["products"]),
    ({"products": ["crm", "books"]}, ["books"]),  # not served by this server
    ({"editions": {"crm": "galactic"}}, ["orgs.crm.edition", "enterprise"]),
    ({"editions": {"fsm": "enterprise"}}, ["orgs.fsm.edition"]),  # FSM has no Enterprise
    ({"editions": {"salesforce": "free"}}, ["editions"]),
    ({"editions": ["free"]}, ["editions"]),
    ({"time_zone": "Mars/Olympus"}, ["time_zone", "Mars/Olympus"]),
    ({"orgs": {"crm": {"time_zone": "Nowhere"}}}, ["time_zone"]),
    ({"orgs": {"crm": {"shoe_size": 9}}}, ["orgs.crm", "shoe_size"]),
    ({"orgs": {"crm": "free"}}, ["orgs.crm"]),
    ({"orgs": {"erp": {}}}, ["orgs"]),
    ({"orgs": {"crm": {"name": ""}}}, ["orgs.crm.name"]),
    ({"currency_code": "EURO"}, ["currency_code"]),
    ({"currencies": "EUR"}, ["currencies"]),
    ({"currencies": ["EURO"]}, ["currencies"]),
    ({"tax_enabled": "yes"}, ["tax_enabled"]),
    ({"rate_limits": 1}, ["rate_limits"]),
    ({"orgs": {"fsm": {"active": "no"}}}, ["active"]),
    ({"scopes": "ZohoCRM.modules.ALL"}, ["scopes"]),
    ({"scopes": [1, 2]}, ["scopes"]),
    ({"email": "not-an-email"}, ["email"]),
    ({"email": 42}, ["email"]),
    ({"name": 5}, ["name"]),
    ({"company": ["Acme"]}, ["company"]),
])
def test_bad_options_are_400_naming_the_field(c, body, words):
    r = c.post("/_lab/tenants", json=body)
    assert r.status_code == 400, r.get_data(as_text=True)
    msg = r.get_json()["error"]
    for w in words:
        assert w in msg, msg
    assert c.get("/_lab/tenants").get_json()["tenants"] == []  # nothing half-made


@pytest.mark.parametrize("raw", ["[]", "\"x\"", "{bad json"])
def test_body_must_be_a_json_object(c, raw):
    r = c.post("/_lab/tenants", data=raw, content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]


def test_duplicate_email_is_409_and_leaves_no_trace(c, tmp_path):
    a = c.post("/_lab/tenants", json={"email": "dup@example.com"}).get_json()
    r = c.post("/_lab/tenants", json={"email": "DUP@example.com"})
    assert r.status_code == 409 and "dup@example.com" in r.get_json()["error"].lower()
    b = c.post("/_lab/tenants", json={}).get_json()
    assert len(c.get("/_lab/tenants").get_json()["tenants"]) == 2
    # the failed attempt used no ids: b gets what the 2nd tenant of a fresh lab gets
    fresh = build_probe_app(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        fc = fresh.test_client()
        fa = fc.post("/_lab/tenants", json={"email": "dup@example.com"}).get_json()
        fb = fc.post("/_lab/tenants", json={}).get_json()
    finally:
        fresh.extensions["zlab"].db.dispose()
    assert (fa["user_id"], fa["orgs"]) == (a["user_id"], a["orgs"])
    assert (fb["user_id"], fb["orgs"], fb["email"]) == (b["user_id"], b["orgs"], b["email"])


def test_list_and_get_tenants(c):
    a = new_tenant(c)
    b = new_tenant(c, products=["crm"])
    listed = c.get("/_lab/tenants").get_json()["tenants"]
    assert [x["email"] for x in listed] == [a["email"], b["email"]]
    assert listed[1]["orgs"] == b["orgs"]
    one = c.get(f"/_lab/tenants/{a['email']}").get_json()
    assert one["user_id"] == a["user_id"]
    assert {o["id"] for o in one["orgs"]} == set(a["orgs"].values())
    assert one["clients"] == [{"client_id": a["client_id"], "client_secret": a["client_secret"]}]
    assert c.get("/_lab/tenants/ghost@example.com").status_code == 404


# -- orgs ------------------------------------------------------------------------------------

def test_add_an_org_usable_at_once_with_the_existing_token(c):
    t = new_tenant(c)
    assert call(c, t).status_code == 200  # caches the token's org list
    r = c.post("/_lab/orgs", json={"email": t["email"], "product": "crm", "name": "Second CRM",
                                   "edition": "free", "time_zone": "Asia/Kolkata"})
    assert r.status_code == 201, r.get_data(as_text=True)
    org = r.get_json()
    assert org["product"] == "crm" and org["name"] == "Second CRM" and org["edition"] == "free"
    assert org["id"] not in t["orgs"].values()
    ok = call(c, t, org=org["id"])
    assert ok.status_code == 200 and ok.get_json()["org"] == org["id"]
    assert org["id"] in {o["id"] for o in c.get(f"/_lab/tenants/{t['email']}").get_json()["orgs"]}


@pytest.mark.parametrize("body, status, word", [
    ({"product": "crm"}, 404, "tenant"),
    ({"email": "ghost@example.com", "product": "crm"}, 404, "ghost"),
    ({"product": "books"}, 400, "product"),  # not served here
    ({"product": "erp"}, 400, "product"),
    ({"product": "crm", "edition": "galactic"}, 400, "edition"),
    ({"product": "crm", "wings": 2}, 400, "wings"),
    ({"product": "crm", "name": ""}, 400, "name"),
])
def test_add_org_validation(c, body, status, word):
    t = new_tenant(c)
    body = {"email": t["email"], **body} if "email" not in body and status != 404 else body
    r = c.post("/_lab/orgs", json=body)
    assert r.status_code == status, r.get_data(as_text=True)
    assert word in r.get_json()["error"]


def test_get_org(c):
    t = new_tenant(c)
    assert c.get(f"/_lab/orgs/{t['orgs']['fsm']}").get_json()["product"] == "fsm"
    assert c.get("/_lab/orgs/123").status_code == 404


def test_patch_org_is_seen_by_the_chain_immediately(c):
    t = new_tenant(c)
    first = call(c, t)
    assert first.get_json()["settings"] == {} and first.get_json()["edition"] == DEFAULT_EDITION
    org = t["orgs"]["crm"]
    r = c.patch(f"/_lab/orgs/{org}", json={"settings": {"allow_duplicate_names": True}, "edition": "ultimate",
                                          "name": "Renamed"})
    assert r.status_code == 200
    assert r.get_json()["settings"] == {"allow_duplicate_names": True} and r.get_json()["name"] == "Renamed"
    seen = call(c, t).get_json()
    assert seen["settings"] == {"allow_duplicate_names": True} and seen["edition"] == "ultimate"
    # settings merge; PUT works as PATCH
    c.put(f"/_lab/orgs/{org}", json={"settings": {"crm_integration": "two_way"}})
    assert call(c, t).get_json()["settings"] == {"allow_duplicate_names": True, "crm_integration": "two_way"}
    # deactivation bites on the next call, and reactivation too
    c.patch(f"/_lab/orgs/{org}", json={"active": False})
    r = call(c, t)
    assert r.status_code == 403 and r.get_json()["code"] == "ORG_INACTIVE"
    c.patch(f"/_lab/orgs/{org}", json={"active": True})
    assert call(c, t).status_code == 200
    assert c.get(f"/_lab/orgs/{org}").get_json()["edition"] == "ultimate"


@pytest.mark.parametrize("body, word", [
    ({"edition": "galactic"}, "edition"),
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"time_zone": 5}, "time_zone"),
    ({"active": "no"}, "active"),
    ({"rate_limits": 1}, "rate_limits"),
    ({"settings": [1]}, "settings"),
    ({"name": ""}, "name"),
    ({"owner_id": "x"}, "owner_id"),
    ({"product": "fsm"}, "product"),
])
def test_patch_org_validation(c, body, word):
    t = new_tenant(c)
    org = t["orgs"]["crm"]
    before = c.get(f"/_lab/orgs/{org}").get_json()
    r = c.patch(f"/_lab/orgs/{org}", json=body)
    assert r.status_code == 400 and word in r.get_json()["error"]
    assert c.get(f"/_lab/orgs/{org}").get_json() == before


def test_patch_unknown_org_is_404(c):
    assert c.patch("/_lab/orgs/999", json={"active": False}).status_code == 404
    assert c.patch("/_lab/orgs/999", data="nope", content_type="application/json").status_code == 400


def test_editions_of_each_product_are_accepted(c):
    for product in ("crm", "fsm"):
        for edition in EDITIONS[product]:
            r = c.post("/_lab/tenants", json={"products": [product], "editions": {product: edition}})
            assert r.status_code == 201 and r.get_json()["org_details"][product]["edition"] == edition


# -- the org layer of the chain ----------------------------------------------------------------

def test_another_tenants_org_is_refused(c):
    a, b = new_tenant(c), new_tenant(c)
    r = call(c, a, org=b["orgs"]["crm"])
    assert r.status_code == 403 and r.get_json()["code"] == "ORG_FORBIDDEN"
    assert call(c, b, org=b["orgs"]["crm"]).status_code == 200


def test_unknown_or_wrong_product_org_is_invalid(c):
    t = new_tenant(c)
    for org in ("123456789", t["orgs"]["fsm"]):  # unknown; and an FSM org on the CRM API
        r = call(c, t, org=org)
        assert r.status_code == 400 and r.get_json()["code"] == "ORG_INVALID"
    r = call(c, t, method="POST", org="", json={})
    assert r.status_code == 400 and r.get_json()["code"] == "ORG_MISSING"


@pytest.mark.parametrize("header, code", [
    (None, "AUTH_MISSING"), ("Bearer abc", "AUTH_INVALID"), ("Zoho-oauthtoken ", "AUTH_INVALID"),
    ("Zoho-oauthtoken 1000.unknown.token", "AUTH_INVALID"),
])
def test_auth_header_is_checked(c, header, code):
    t = new_tenant(c)
    headers = {"Authorization": header} if header is not None else {}
    r = c.get("/probe/crm/things", query_string={"organization_id": t["orgs"]["crm"]}, headers=headers)
    assert r.status_code == 401 and r.get_json()["code"] == code


def test_scopes_are_checked(c):
    t = new_tenant(c, scopes=["ZohoCRM.modules.ALL"])
    assert call(c, t).status_code == 200
    r = call(c, t, product="fsm")
    assert r.status_code == 401 and r.get_json()["code"] == "SCOPE_MISMATCH"


def test_rate_limits_switched_on_per_org_follow_the_lab_clock(c):
    c.post("/_lab/clock/freeze", json={"at": "2030-01-01T00:00:10Z"})
    t = new_tenant(c, orgs={"crm": {"rate_limits": True, "settings": {"per_minute": 3}}})
    got = [call(c, t) for _ in range(4)]
    assert [r.status_code for r in got] == [200, 200, 200, 429]
    assert [r.headers["X-Rate-Limit-Remaining"] for r in got[:3]] == ["2", "1", "0"]
    assert got[0].headers["X-Rate-Limit-Limit"] == "3" and got[0].headers["X-Rate-Limit-Reset"] == "50"
    assert got[3].get_json()["code"] == "RATE_MINUTE" and got[3].headers["Retry-After"] == "50"
    assert call(c, t, product="fsm").status_code == 200  # limits are per org; fsm's are off
    c.post("/_lab/clock/advance", json={"seconds": 50})  # the next minute window
    assert call(c, t).status_code == 200
    # switched off: no limit at all
    c.patch(f"/_lab/orgs/{t['orgs']['crm']}", json={"rate_limits": False})
    assert {call(c, t).status_code for _ in range(6)} == {200}


def test_health_and_openapi(c):
    r = c.get("/_lab/health")
    assert r.status_code == 200 and r.get_json()["status"] == "ok"
    doc = c.get("/_lab/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path in ("/_lab/tenants", "/_lab/orgs", "/_lab/clock", "/_lab/faults", "/_lab/journal", "/_lab/reset"):
        assert path in doc["paths"], path


def test_unknown_lab_path_is_a_json_404(c):
    r = c.get("/_lab/nothing-here")
    assert r.status_code == 404 and r.is_json
