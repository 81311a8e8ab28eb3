"""The fake Zoho Accounts (RESEARCH-API.md, "Accounts (OAuth)"): token grants, errors,
throttling, refresh-token limits, revocation and the authorization flow."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from fakes import create_app
from tests.core.probe import call

TOKEN_RE = re.compile(r"1000\.[0-9a-f]{32}\.[0-9a-f]{32}")
THROTTLED = {"error": "Access Denied",
             "error_description": "You have made too many requests continuously. Please try again after some time.",
             "status": "failure"}


def new_t(c, **body) -> dict:
    r = c.post("/_lab/tenants", json=body)
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()


def refresh_params(t: dict, **over) -> dict:
    return {"grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
            "refresh_token": t["refresh_token"], **over}


def refresh(c, t: dict, **over):
    return c.post("/oauth/v2/token", data=refresh_params(t, **over))


def new_code(c, t: dict, scopes=("ZohoCRM.modules.ALL",), **body) -> str:
    r = c.post("/_lab/oauth/codes", json={"client_id": t["client_id"], "scopes": list(scopes), **body})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()["code"]


def exchange(c, t: dict, code: str, **over):
    return c.post("/oauth/v2/token", data={"grant_type": "authorization_code", "client_id": t["client_id"],
                                           "client_secret": t["client_secret"], "code": code, **over})


def as_tenant(t: dict, token: str) -> dict:
    return {**t, "token": token}


# -- refresh grant ----------------------------------------------------------------------------

def test_refresh_grant_answer_shape(c):
    t = new_t(c)
    r = refresh(c, t)
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = r.get_json()
    assert list(body) == ["access_token", "scope", "api_domain", "token_type", "expires_in"]
    assert TOKEN_RE.fullmatch(body["access_token"])
    assert body["api_domain"] == "http://localhost"
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "refresh_token" not in body
    assert set(body["scope"].split()) == set(t["scope"].split(","))
    assert refresh(c, t).get_json()["access_token"] != body["access_token"]
    assert call(c, as_tenant(t, body["access_token"])).status_code == 200


def test_api_domain_is_the_servers_own_base_url(app, sqlite_url):
    c = app.test_client()
    t = new_t(c)
    r = c.post("/oauth/v2/token", data=refresh_params(t), base_url="http://127.0.0.1:8700")
    assert r.get_json()["api_domain"] == "http://127.0.0.1:8700"
    configured = create_app(sqlite_url, base_url="https://fakes.example.test/")
    try:
        cc = configured.test_client()
        t2 = cc.post("/_lab/tenants", json={}).get_json()
        assert t2["api_domain"] == "https://fakes.example.test"
        assert cc.post("/oauth/v2/token", data=refresh_params(t2)).get_json()["api_domain"] == \
            "https://fakes.example.test"
    finally:
        configured.extensions["zlab"].db.dispose()


def test_params_in_query_string_form_or_multipart(c):
    t = new_t(c)
    by_query = c.post("/oauth/v2/token", query_string=refresh_params(t))
    assert by_query.status_code == 200 and TOKEN_RE.fullmatch(by_query.get_json()["access_token"])
    by_form = c.post("/oauth/v2/token", data=refresh_params(t))
    assert TOKEN_RE.fullmatch(by_form.get_json()["access_token"])
    by_multipart = c.post("/oauth/v2/token", data=refresh_params(t), content_type="multipart/form-data")
    assert TOKEN_RE.fullmatch(by_multipart.get_json()["access_token"])
    p = refresh_params(t)
    mixed = c.post("/oauth/v2/token", query_string={"grant_type": p.pop("grant_type"), "client_id": p.pop("client_id")},
                   data=p)
    assert TOKEN_RE.fullmatch(mixed.get_json()["access_token"])


@pytest.mark.parametrize("over", [
    {"client_secret": "wrong"}, {"client_secret": ""}, {"client_id": "1000.NOPE"}, {"client_id": ""},
])
def test_wrong_client_is_http_200_invalid_client(c, over):
    t = new_t(c)
    r = refresh(c, t, **over)
    assert r.status_code == 200 and r.get_json() == {"error": "invalid_client"}


def test_unknown_or_foreign_refresh_token_is_http_200_invalid_code(c):
    a, b = new_t(c), new_t(c)
    r = refresh(c, a, refresh_token="1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef")
    assert r.status_code == 200 and r.get_json() == {"error": "invalid_code"}
    r = refresh(c, a, refresh_token=b["refresh_token"])  # b's token with a's client
    assert r.status_code == 200 and r.get_json() == {"error": "invalid_code"}
    r = refresh(c, a, refresh_token="")
    assert r.get_json() == {"error": "invalid_code"}


@pytest.mark.parametrize("grant", ["password", "implicit", ""])
def test_unsupported_grant(c, grant):
    t = new_t(c)
    r = refresh(c, t, grant_type=grant)
    assert r.status_code == 200 and r.get_json() == {"error": "unsupported_grant_type"}
    r = c.post("/oauth/v2/token")
    assert r.get_json() == {"error": "unsupported_grant_type"}


def test_wrong_method_and_unknown_path_get_json_errors(c):
    r = c.get("/oauth/v2/token")
    assert r.status_code == 405 and r.get_json()["error"] == "invalid_request"
    r = c.post("/oauth/v2/nothing")
    assert r.status_code == 404 and r.get_json()["error"] == "invalid_request"


# -- throttling -------------------------------------------------------------------------------

def test_eleventh_token_in_ten_lab_minutes_is_denied_until_the_window_passes(c):
    c.post("/_lab/clock/freeze", json={"at": "2030-01-01T00:00:00Z"})
    t, other = new_t(c), new_t(c)
    for _ in range(10):
        assert "access_token" in refresh(c, t).get_json()
    r = refresh(c, t)
    assert r.status_code == 400 and r.get_json() == THROTTLED
    assert "access_token" in refresh(c, other).get_json()  # per refresh token
    c.post("/_lab/clock/advance", json={"seconds": 599})
    assert refresh(c, t).get_json() == THROTTLED
    c.post("/_lab/clock/advance", json={"seconds": 1})  # ten minutes after the first ten
    r = refresh(c, t)
    assert r.status_code == 200 and "access_token" in r.get_json()


def test_throttle_window_rolls(c):
    c.post("/_lab/clock/freeze", json={"at": "2030-01-01T00:00:00Z"})
    t = new_t(c)
    for _ in range(5):
        assert "access_token" in refresh(c, t).get_json()
    c.post("/_lab/clock/advance", json={"seconds": 300})
    for _ in range(5):
        assert "access_token" in refresh(c, t).get_json()
    assert refresh(c, t).get_json() == THROTTLED
    c.post("/_lab/clock/advance", json={"seconds": 300})  # the first five left the window
    for _ in range(5):
        assert "access_token" in refresh(c, t).get_json()
    assert refresh(c, t).get_json() == THROTTLED


def test_denied_attempts_do_not_extend_the_throttle(c):
    c.post("/_lab/clock/freeze")
    t = new_t(c)
    for _ in range(10):
        refresh(c, t)
    for _ in range(5):
        assert refresh(c, t).status_code == 400
    c.post("/_lab/clock/advance", json={"seconds": 600})
    assert [("access_token" in refresh(c, t).get_json()) for _ in range(11)] == [True] * 10 + [False]


# -- authorization code -------------------------------------------------------------------------

def test_self_client_code_exchange_returns_a_refresh_token(c):
    t = new_t(c)
    r = c.post("/_lab/oauth/codes", json={"client_id": t["client_id"], "scopes": "ZohoCRM.modules.ALL,ZohoCRM.users.ALL",
                                          "minutes": 10})
    assert r.status_code == 201
    grant = r.get_json()
    assert grant["expires_in"] == 600 and grant["scope"] == "ZohoCRM.modules.ALL,ZohoCRM.users.ALL"
    r = exchange(c, t, grant["code"])
    assert r.status_code == 200
    body = r.get_json()
    assert list(body) == ["access_token", "refresh_token", "scope", "api_domain", "token_type", "expires_in"]
    assert TOKEN_RE.fullmatch(body["access_token"]) and TOKEN_RE.fullmatch(body["refresh_token"])
    assert body["refresh_token"] != t["refresh_token"]
    assert body["scope"].split() == ["ZohoCRM.modules.ALL", "ZohoCRM.users.ALL"]
    assert (body["api_domain"], body["token_type"], body["expires_in"]) == ("http://localhost", "Bearer", 3600)
    # the token carries the code's scopes only
    assert call(c, as_tenant(t, body["access_token"])).status_code == 200
    r = call(c, as_tenant(t, body["access_token"]), product="fsm")
    assert r.status_code == 401 and r.get_json()["code"] == "SCOPE_MISMATCH"
    # and the new refresh token works
    again = refresh(c, t, refresh_token=body["refresh_token"]).get_json()
    assert again["scope"] == body["scope"] and "refresh_token" not in again


def test_code_is_single_use_and_bound_to_its_client(c):
    a, b = new_t(c), new_t(c)
    code = new_code(c, a)
    assert exchange(c, b, code).get_json() == {"error": "invalid_code"}  # another client
    assert exchange(c, a, code, client_secret="nope").get_json() == {"error": "invalid_client"}
    assert "refresh_token" in exchange(c, a, code).get_json()
    r = exchange(c, a, code)
    assert r.status_code == 200 and r.get_json() == {"error": "invalid_code"}
    assert exchange(c, a, "1000.unknown.code").get_json() == {"error": "invalid_code"}


def test_expired_code_is_invalid_code(c):
    c.post("/_lab/clock/freeze")
    t = new_t(c)
    fresh, stale = new_code(c, t), new_code(c, t)  # 3 minutes by default
    c.post("/_lab/clock/advance", json={"seconds": 179})
    assert "access_token" in exchange(c, t, fresh).get_json()
    c.post("/_lab/clock/advance", json={"seconds": 1})
    assert exchange(c, t, stale).get_json() == {"error": "invalid_code"}


def test_code_redirect_uri_must_match_when_given(c):
    t = new_t(c)
    code = new_code(c, t, redirect_uri="https://app.example/cb")
    assert exchange(c, t, code, redirect_uri="https://evil.example/cb").get_json() == {"error": "invalid_redirect_uri"}
    assert "access_token" in exchange(c, t, code, redirect_uri="https://app.example/cb").get_json()


@pytest.mark.parametrize("body, status", [
    ({"scopes": []}, 400), ({"scopes": ""}, 400), ({"scopes": 5}, 400), ({}, 400),
    ({"scopes": ["ZohoCRM.modules.ALL"], "minutes": 4}, 400),
    ({"scopes": ["ZohoCRM.modules.ALL"], "client_id": "1000.NOPE"}, 404),
])
def test_self_client_code_validation(c, body, status):
    t = new_t(c)
    r = c.post("/_lab/oauth/codes", json={"client_id": t["client_id"], **body})
    assert r.status_code == status and r.get_json()["error"]


def test_auth_endpoint_redirects_with_code_and_state(c):
    t = new_t(c)
    r = c.get("/oauth/v2/auth", query_string={
        "response_type": "code", "client_id": t["client_id"], "scope": "ZohoCRM.modules.ALL",
        "redirect_uri": "https://app.example/callback?x=1", "state": "xyz-42", "access_type": "offline"})
    assert r.status_code == 302
    loc = urlsplit(r.headers["Location"])
    assert (loc.scheme, loc.netloc, loc.path) == ("https", "app.example", "/callback")
    q = parse_qs(loc.query)
    assert q["state"] == ["xyz-42"] and q["x"] == ["1"] and q["accounts-server"] == ["http://localhost"]
    code = q["code"][0]
    body = exchange(c, t, code, redirect_uri="https://app.example/callback?x=1").get_json()
    assert "refresh_token" in body and TOKEN_RE.fullmatch(body["access_token"])


def test_auth_endpoint_online_access_and_no_redirect(c):
    c.post("/_lab/clock/freeze")
    t = new_t(c)
    r = c.get("/oauth/v2/auth", query_string={"client_id": t["client_id"], "scope": "ZohoCRM.modules.ALL"})
    assert r.status_code == 200
    code = r.get_json()["code"]
    body = exchange(c, t, code).get_json()
    assert "access_token" in body and "refresh_token" not in body  # online access: no refresh token
    # codes from the auth endpoint live two minutes
    r = c.get("/oauth/v2/auth", query_string={"client_id": t["client_id"], "scope": "ZohoCRM.modules.ALL"})
    c.post("/_lab/clock/advance", json={"seconds": 120})
    assert exchange(c, t, r.get_json()["code"]).get_json() == {"error": "invalid_code"}


@pytest.mark.parametrize("params, error", [
    ({"client_id": "1000.NOPE", "scope": "ZohoCRM.modules.ALL"}, "invalid_client"),
    ({"scope": ""}, "invalid_scope"),
    ({"scope": "ZohoCRM.modules.ALL", "response_type": "token"}, "unsupported_response_type"),
])
def test_auth_endpoint_errors(c, params, error):
    t = new_t(c)
    r = c.get("/oauth/v2/auth", query_string={"client_id": t["client_id"], **params})
    assert r.get_json()["error"] == error


# -- client credentials ---------------------------------------------------------------------------

def test_client_credentials_with_soid(c):
    t, other = new_t(c), new_t(c)
    r = c.post("/oauth/v2/token", data={"grant_type": "client_credentials", "client_id": t["client_id"],
                                        "client_secret": t["client_secret"], "scope": "ZohoCRM.modules.ALL",
                                        "soid": f"ZohoCRM.{t['orgs']['crm']}"})
    body = r.get_json()
    assert r.status_code == 200 and list(body) == ["access_token", "scope", "api_domain", "token_type", "expires_in"]
    assert body["scope"] == "ZohoCRM.modules.ALL"
    assert call(c, as_tenant(t, body["access_token"])).status_code == 200

    def cc(soid, **over):
        return c.post("/oauth/v2/token", data={"grant_type": "client_credentials", "client_id": t["client_id"],
                                               "client_secret": t["client_secret"], "scope": "ZohoCRM.modules.ALL",
                                               "soid": soid, **over}).get_json()

    assert cc(f"ZohoCRM.{other['orgs']['crm']}") == {"error": "invalid_soid"}  # not the client's org
    assert cc(f"ZohoFSM.{t['orgs']['crm']}") == {"error": "invalid_soid"}  # wrong service
    assert cc("ZohoCRM.42") == {"error": "invalid_soid"}
    assert cc(f"ZohoCRM.{t['orgs']['crm']}", scope="") == {"error": "invalid_scope"}
    assert cc(f"ZohoCRM.{t['orgs']['crm']}", client_secret="x") == {"error": "invalid_client"}
    # without soid: the client's own user
    assert "access_token" in cc("")


# -- revocation and the refresh-token limit ----------------------------------------------------------

def test_revoke_refresh_token_kills_it_and_its_access_tokens(c):
    t = new_t(c)
    access = refresh(c, t).get_json()["access_token"]
    assert call(c, as_tenant(t, access)).status_code == 200  # now cached by the auth layer
    r = c.post("/oauth/v2/token/revoke", query_string={"token": t["refresh_token"]})
    assert r.status_code == 200
    assert refresh(c, t).get_json() == {"error": "invalid_code"}
    r = call(c, as_tenant(t, access))
    assert r.status_code == 401 and r.get_json()["code"] == "AUTH_INVALID"


def test_revoke_an_access_token_only(c):
    t = new_t(c)
    a1 = refresh(c, t).get_json()["access_token"]
    a2 = refresh(c, t).get_json()["access_token"]
    assert call(c, as_tenant(t, a1)).status_code == 200
    assert c.post("/oauth/v2/token/revoke", data={"token": a1}).status_code == 200
    assert call(c, as_tenant(t, a1)).status_code == 401
    assert call(c, as_tenant(t, a2)).status_code == 200
    assert "access_token" in refresh(c, t).get_json()


def test_revoke_needs_a_token(c):
    r = c.post("/oauth/v2/token/revoke")
    assert r.status_code == 400 and r.get_json()["error"] == "invalid_request"


@pytest.mark.parametrize("frozen", [True, False], ids=["frozen-clock", "running-clock"])
def test_twenty_first_refresh_token_deletes_the_oldest(c, frozen):
    if frozen:
        c.post("/_lab/clock/freeze")
    t = new_t(c)
    oldest_access = refresh(c, t).get_json()["access_token"]
    assert call(c, as_tenant(t, oldest_access)).status_code == 200
    newer = []
    for i in range(20):
        body = exchange(c, t, new_code(c, t)).get_json()
        newer.append(body["refresh_token"])
        if i < 19:  # 20 tokens so far: the oldest still works
            assert call(c, as_tenant(t, oldest_access)).status_code == 200
    assert refresh(c, t).get_json() == {"error": "invalid_code"}  # t["refresh_token"] is the oldest
    assert call(c, as_tenant(t, oldest_access)).status_code == 401
    for rt in newer:
        assert "access_token" in refresh(c, t, refresh_token=rt).get_json()


def test_tokens_of_the_real_app_factory(client, tenant):
    """Smoke test through ``fakes.create_app`` and the shared conftest fixtures."""
    r = client.post("/oauth/v2/token", query_string={
        "grant_type": "refresh_token", "client_id": tenant.client_id, "client_secret": tenant.client_secret,
        "refresh_token": tenant.refresh_token})
    body = r.get_json()
    assert body["api_domain"] == "http://localhost" and body["expires_in"] == 3600
    assert set(tenant.orgs) >= {"books", "invoice"}
    assert tenant.auth == {"Authorization": f"Zoho-oauthtoken {tenant.access_token}"}
