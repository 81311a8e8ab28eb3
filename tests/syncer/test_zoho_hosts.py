"""The syncer sends an integration's credentials only to Zoho's hosts or the configured lab, with
a short connect time-out, and never echoes the body of an answer that is not Zoho's."""

from __future__ import annotations

import time

import httpx
import pytest

from syncer.clients import AccountsClient, ZohoAuthError
from syncer.clients.hosts import zoho_url_problem

LAB = "http://127.0.0.1:8700"


@pytest.mark.parametrize("url", [
    "https://accounts.zoho.com", "https://accounts.zoho.eu/", "https://accounts.zoho.com.au",
    "https://accounts.zoho.in", "https://accounts.zoho.jp", "https://accounts.zoho.com.cn",
    "https://accounts.zoho.sa", "https://accounts.zohocloud.ca", "https://www.zohoapis.com",
    "https://www.zohoapis.eu", "https://zohoapis.ca", "https://books.zoho.com", "https://ACCOUNTS.ZOHO.COM",
    "https://accounts.zoho.com:443", LAB, LAB + "/",
])
def test_zoho_and_the_lab_are_accepted(url):
    assert zoho_url_problem(url, also=(LAB,)) is None


@pytest.mark.parametrize("url", [
    "accounts.zoho.com",                      # no scheme: used to hold a thread for 45 s
    "http://accounts.zoho.com",               # Zoho is https only
    "https://accounts.zoho.com.evil.example", "https://evilzoho.com", "https://zoho.com@evil.example",
    "https://accounts.zoho.com:8443", "https://169.254.169.254/latest/meta-data", "http://127.0.0.1:8701",
    "https://127.0.0.1:8700", "ftp://accounts.zoho.com", "https://", "http://[::1", "",
])
def test_anything_else_is_refused(url):
    assert zoho_url_problem(url, also=(LAB, None)) is not None


def test_the_api_refuses_a_foreign_accounts_url_at_once(zlab_lab):
    syncer = zlab_lab.syncer
    t = zlab_lab.tenant(products=["fsm", "books"])
    base = {"fsm_org_id": t.org("fsm"), "books_org_id": t.org("books"), "client_id": t.client_id,
            "client_secret": t.client_secret, "refresh_token": t.refresh_token}
    started = time.monotonic()
    for field, url in (("accounts_url", "accounts.zoho.com"), ("accounts_url", "http://127.0.0.1:9"),
                       ("api_domain", "https://evil.example"), ("accounts_url", "https://zoho.com.evil.example")):
        for path, body in (("/api/v1/integrations", base),
                           ("/api/v1/onboarding/offered-orgs",
                            {k: base[k] for k in ("client_id", "client_secret", "refresh_token")})):
            r = syncer.request("POST", path, json={**body, field: url})
            assert r.status_code == 400 and r.json()["error"] == "invalid_value", (path, url, r.text)
            assert field in r.json()["message"]
    assert time.monotonic() - started < 10  # refused before any connection is tried
    ok = syncer.request("POST", "/api/v1/integrations", json={**base, "accounts_url": zlab_lab.url,
                                                              "api_domain": zlab_lab.url})
    assert ok.status_code == 201, ok.text  # the lab the syncer was configured with


def test_a_foreign_answer_is_not_echoed():
    def html(environ, start_response):
        start_response("400 Bad Request", [("Content-Type", "text/html")])
        return [b"<html>internal admin page: secret=hunter2</html>"]

    auth = AccountsClient("http://intranet", "id", "secret", "refresh",
                          http=httpx.Client(transport=httpx.WSGITransport(app=html)))
    with pytest.raises(ZohoAuthError) as exc:
        auth.refresh()
    assert "hunter2" not in exc.value.message and "not a Zoho Accounts answer" in exc.value.message
