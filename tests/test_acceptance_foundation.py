"""The foundation's acceptance, end to end over real HTTP: ``zlab serve`` (gunicorn) in a
subprocess, driven with httpx exactly as a Zoho client would be."""

from __future__ import annotations

import httpx
import pytest

from tests.test_cli import start_serve, stop


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    served = start_serve(tmp_path_factory.mktemp("acceptance"))
    yield served.url
    stop(served.proc)


def tenant(lab: str) -> tuple[dict, dict]:
    t = httpx.post(f"{lab}/_lab/tenants", json={}).json()
    tok = httpx.post(f"{lab}/oauth/v2/token", params={
        "grant_type": "refresh_token", "client_id": t["client_id"], "client_secret": t["client_secret"],
        "refresh_token": t["refresh_token"]})
    assert tok.status_code == 200
    body = tok.json()
    assert body["api_domain"] == lab and body["expires_in"] == 3600 and body["token_type"] == "Bearer"
    return t, {"Authorization": f"Zoho-oauthtoken {body['access_token']}"}


def test_the_foundation_acceptance_sequence(lab):
    t, auth = tenant(lab)
    org = {"organization_id": t["orgs"]["books"]}
    r = httpx.post(f"{lab}/books/v3/contacts", params=org, headers=auth, json={"contact_name": "Bowman and Co"})
    assert r.status_code == 201
    assert r.json()["message"] == "The contact has been created"
    assert isinstance(r.json()["contact"]["contact_id"], str)
    listing = httpx.get(f"{lab}/books/v3/contacts", params=org, headers=auth).json()
    assert [c["contact_name"] for c in listing["contacts"]] == ["Bowman and Co"]
    assert listing["page_context"]["has_more_page"] is False
    dup = httpx.post(f"{lab}/books/v3/contacts", params=org, headers=auth, json={"contact_name": "Bowman and Co"})
    assert dup.status_code == 400 and dup.json()["code"] == 3062
    anon = httpx.get(f"{lab}/books/v3/contacts", params=org)
    assert anon.status_code == 401 and anon.json()["code"] == 57
    other, _ = tenant(lab)
    foreign = httpx.get(f"{lab}/books/v3/contacts", params={"organization_id": other["orgs"]["books"]}, headers=auth)
    assert foreign.status_code == 401 and foreign.json()["code"] == 6041
    bad = httpx.post(f"{lab}/books/v3/contacts", params=org, headers={**auth, "Content-Type": "application/json"},
                     content=b"{not json")
    assert bad.status_code == 400 and bad.json()["code"] == 1038


def test_fault_on_the_second_item_post_and_clock_expiry(lab):
    t, auth = tenant(lab)
    org = {"organization_id": t["orgs"]["books"]}
    rule = httpx.post(f"{lab}/_lab/faults", json={"product": "books", "method": "POST", "path": "/books/v3/items",
                                                  "org": t["orgs"]["books"], "nth": 2,
                                                  "action": {"type": "rate_limit", "retry_after": 5}})
    assert rule.status_code == 201
    answers = [httpx.post(f"{lab}/books/v3/items", params=org, headers=auth, json={"name": f"Part {i}", "rate": 2})
               for i in range(3)]
    assert [a.status_code for a in answers] == [201, 429, 201]
    assert answers[1].json()["code"] == 44 and answers[1].headers["Retry-After"] == "5"
    httpx.delete(f"{lab}/_lab/faults/{rule.json()['id']}")
    httpx.post(f"{lab}/_lab/clock/freeze")
    try:
        assert httpx.get(f"{lab}/books/v3/items", params=org, headers=auth).status_code == 200
        httpx.post(f"{lab}/_lab/clock/advance", json={"seconds": 3601})
        expired = httpx.get(f"{lab}/books/v3/items", params=org, headers=auth)
        assert expired.status_code == 401 and expired.json()["code"] == 57
    finally:
        httpx.post(f"{lab}/_lab/clock/reset")
