"""Revocation and expiry take effect at once on every worker of ``zlab serve --workers 4``.

Each worker caches access tokens, orgs, the lab clock and the fault rules (no query per request
for them); a change made through one worker reaches the others through the shared change stamp
(``fakes/core/change_stamp.py``) before their next request. Calls go on fresh connections, so
they spread over the workers; each worker has the token cached before the change (issue 9,
item 5).
"""

from __future__ import annotations

import http.client
import signal
from urllib.parse import urlsplit

import httpx
import pytest

from tests.test_cli import start_serve, stop

CALLS = 24  # fresh connections: with 4 workers each one gets several


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    srv = start_serve(tmp_path_factory.mktemp("auth"), "--workers", "4", timeout=60)
    yield srv
    stop(srv.proc, signal.SIGKILL, group=True)  # a graceful stop of 4 workers takes ~10 s


def _token(url: str, tenant: dict) -> str:
    return httpx.post(f"{url}/oauth/v2/token", data={
        "grant_type": "refresh_token", "client_id": tenant["client_id"],
        "client_secret": tenant["client_secret"], "refresh_token": tenant["refresh_token"]}).json()["access_token"]


def _statuses(url: str, token: str) -> list[int]:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    out = []
    for _ in range(CALLS):
        conn = http.client.HTTPConnection(host, port, timeout=30)  # a new connection: any worker may take it
        try:
            conn.request("GET", "/crm/v8/Accounts?fields=Account_Name",
                         headers={"Authorization": f"Zoho-oauthtoken {token}"})
            out.append(conn.getresponse().status)
        finally:
            conn.close()
    return out


def test_a_revoked_token_is_refused_at_once_by_every_worker(served):
    tenant = httpx.post(f"{served.url}/_lab/tenants", json={"products": ["crm"]}).json()
    doomed, kept = _token(served.url, tenant), _token(served.url, tenant)
    assert set(_statuses(served.url, doomed)) == {204}  # cached everywhere now
    assert httpx.post(f"{served.url}/oauth/v2/token/revoke", params={"token": doomed}).status_code == 200
    assert _statuses(served.url, doomed) == [401] * CALLS
    assert set(_statuses(served.url, kept)) == {204}


def test_an_expired_token_is_refused_at_once_by_every_worker(served):
    tenant = httpx.post(f"{served.url}/_lab/tenants", json={"products": ["crm"]}).json()
    token = _token(served.url, tenant)
    assert set(_statuses(served.url, token)) == {204}
    try:
        assert httpx.post(f"{served.url}/_lab/clock/advance", json={"seconds": 3600}).status_code == 200
        assert _statuses(served.url, token) == [401] * CALLS
        assert set(_statuses(served.url, _token(served.url, tenant))) == {204}  # a new one works
    finally:
        httpx.post(f"{served.url}/_lab/clock/reset")


def test_a_deactivated_org_and_a_new_fault_reach_every_worker_at_once(served):
    tenant = httpx.post(f"{served.url}/_lab/tenants", json={"products": ["crm"]}).json()
    token = _token(served.url, tenant)
    assert set(_statuses(served.url, token)) == {204}
    rule = httpx.post(f"{served.url}/_lab/faults", json={"product": "crm", "action": {"type": "error", "status": 503}})
    assert rule.status_code == 201, rule.text
    assert _statuses(served.url, token) == [503] * CALLS
    httpx.delete(f"{served.url}/_lab/faults")
    assert set(_statuses(served.url, token)) == {204}
    org = tenant["orgs"]["crm"]
    assert httpx.patch(f"{served.url}/_lab/orgs/{org}", json={"active": False}).status_code == 200
    assert _statuses(served.url, token) == [401] * CALLS


def _fresh(method: str, url: str, path: str, headers: dict | None = None) -> tuple[int, bytes]:
    """One call on a new connection: any of the workers may take it."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request(method, path, headers=headers or {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_every_worker_reads_back_one_journal_with_every_call(served):
    """Issue 15: with 4 workers, 20 calls, then 20 journal reads: each read shows all 20 (one
    journal in the database; a read waits for the other workers' buffered entries)."""
    import json

    tenant = httpx.post(f"{served.url}/_lab/tenants", json={"products": ["crm"]}).json()
    token = _token(served.url, tenant)
    sent = [f"journal-{i:02d}" for i in range(20)]
    for rid in sent:
        status, _ = _fresh("GET", served.url, "/crm/v8/Accounts?fields=Account_Name",
                           {"Authorization": f"Zoho-oauthtoken {token}", "X-Request-Id": rid})
        assert status == 204
    query = f"/_lab/journal?email={tenant['email']}&product=crm&limit=100"
    for _ in range(20):
        status, body = _fresh("GET", served.url, query)
        assert status == 200
        entries = json.loads(body)["entries"]
        assert sorted(e["request_id"] for e in entries) == sent
        assert len({e["id"] for e in entries}) == 20  # one id each, from the shared table
    status, _ = _fresh("DELETE", served.url, "/_lab/journal")
    assert status == 200
    for _ in range(8):  # emptied for every worker
        assert json.loads(_fresh("GET", served.url, query)[1])["entries"] == []
